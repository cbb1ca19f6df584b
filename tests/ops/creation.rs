//! Constructors, conversions (to_vec, item, ndarray), casts and seeded random draws.

use super::*;

// ----------------------------------------------------------------------------- creation

#[test]
fn from_aligned_vec_and_large_vectors() -> R {
    let v: functorch::AlignedVec<f64> = (0..6).map(f64::from).collect();
    let t = Tensor::from_aligned_vec(v, &[3, 2])?;
    assert_eq!(t.shape(), &[3, 2]);
    assert_eq!(t.to_vec::<f64>()?, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let five = functorch::AlignedVec::from(vec![1.0f32; 5]);
    assert!(matches!(
        Tensor::from_aligned_vec(five, &[2, 3]),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        Tensor::from_vec(vec![1.0f32; 5], &[2, 3]),
        Err(Error::Shape { .. })
    ));
    // small, copied onto a cache line (or adopted if it starts on one), and too large to be
    // aligned: the same elements every way
    for n in [1000usize, 100_000, 5_000_000] {
        let v: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 - 0.5).collect();
        let t = Tensor::from_vec(v.clone(), &[n])?;
        assert_eq!(t.to_vec::<f32>()?, v, "{n}");
        // summed in f64, rounded once to f32
        let sum = ((n / 1000) as f64 * 499_000.0) as f32;
        assert_eq!(t.sum()?.item()?, sum as f64, "{n}");
    }
    Ok(())
}

#[test]
fn creation_functions() -> R {
    let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    assert_eq!(
        (t.shape(), t.dtype(), t.ndim(), t.numel()),
        (&[2usize, 3][..], DType::F32, 2, 6)
    );
    assert_eq!(t.dim(-1)?, 3);
    assert_eq!(t.dim(0)?, 2);
    let s = Tensor::scalar(2.5f64);
    assert_eq!((s.shape(), s.ndim(), s.numel()), (&[][..], 0, 1));
    assert!(s.is_concrete());
    let z = Tensor::zeros(&[2, 2], DType::I64)?;
    assert_eq!(z.to_vec::<i64>()?, vec![0; 4]);
    let o = Tensor::ones(&[3], DType::Bool)?;
    assert_eq!(o.to_vec::<bool>()?, vec![true; 3]);
    let f = Tensor::full(&[2], 1.5, DType::F32)?;
    assert_eq!(f.to_vec::<f32>()?, vec![1.5; 2]);
    let f = Tensor::full(&[], -2.7, DType::I64)?;
    assert_eq!(f.to_vec::<i64>()?, vec![-2]);
    assert_eq!(Tensor::zeros(&[0, 3], DType::F64)?.numel(), 0);
    // *_like keep shape and dtype
    let zl = t.zeros_like()?;
    assert_eq!((zl.shape(), zl.dtype()), (t.shape(), DType::F32));
    assert_eq!(zl.to_vec::<f32>()?, vec![0.0; 6]);
    assert_eq!(t.ones_like()?.to_vec::<f32>()?, vec![1.0; 6]);
    assert_eq!(t.full_like(7.0)?.to_vec::<f32>()?, vec![7.0; 6]);
    // eye
    let e = Tensor::eye(3, DType::F64)?;
    assert_eq!(e.shape(), &[3, 3]);
    assert_eq!(f64s(&e), vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(
        Tensor::eye(2, DType::I64)?.to_vec::<i64>()?,
        vec![1, 0, 0, 1]
    );
    assert_eq!(Tensor::eye(0, DType::F32)?.shape(), &[0, 0]);
    // arange: end excluded, fractional and negative steps, dtypes
    exact(
        &Tensor::arange(0.0, 5.0, 1.0, DType::F64)?,
        &[5],
        &[0.0, 1.0, 2.0, 3.0, 4.0],
    );
    exact(
        &Tensor::arange(1.0, 2.0, 0.25, DType::F64)?,
        &[4],
        &[1.0, 1.25, 1.5, 1.75],
    );
    exact(
        &Tensor::arange(5.0, 0.0, -2.0, DType::F64)?,
        &[3],
        &[5.0, 3.0, 1.0],
    );
    exact(&Tensor::arange(3.0, 3.0, 1.0, DType::F64)?, &[0], &[]);
    exact(&Tensor::arange(3.0, 0.0, 1.0, DType::F64)?, &[0], &[]);
    let ai = Tensor::arange(0.0, 4.0, 1.0, DType::I64)?;
    assert_eq!(ai.to_vec::<i64>()?, vec![0, 1, 2, 3]);
    let af = Tensor::arange(0.0, 1.0, 0.5, DType::F32)?;
    assert_eq!(af.to_vec::<f32>()?, vec![0.0, 0.5]);
    // linspace: both ends included
    exact(
        &Tensor::linspace(0.0, 1.0, 5, DType::F64)?,
        &[5],
        &[0.0, 0.25, 0.5, 0.75, 1.0],
    );
    exact(
        &Tensor::linspace(-1.0, 1.0, 3, DType::F64)?,
        &[3],
        &[-1.0, 0.0, 1.0],
    );
    exact(&Tensor::linspace(2.0, 9.0, 1, DType::F64)?, &[1], &[2.0]);
    exact(&Tensor::linspace(2.0, 9.0, 0, DType::F64)?, &[0], &[]);
    let l = Tensor::linspace(0.0, 1.0, 3, DType::F32)?;
    assert_eq!(l.to_vec::<f32>()?, vec![0.0, 0.5, 1.0]);
    Ok(())
}

#[test]
fn conversions() -> R {
    let t = m64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(t.to_vec::<f64>()?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // to_vec of a view is in logical order
    assert_eq!(t.t()?.to_vec::<f64>()?, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_eq!(t.to_vec_f64()?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(i64s(&[3, -1]).to_vec_f64()?, vec![3.0, -1.0]);
    assert_eq!(bools(&[true, false]).to_vec_f64()?, vec![1.0, 0.0]);
    assert_eq!(Tensor::scalar(2.5f32).to_scalar::<f32>()?, 2.5);
    assert_eq!(Tensor::scalar(7i64).to_scalar::<i64>()?, 7);
    assert_eq!(m64(&[4.0], &[1, 1]).to_scalar::<f64>()?, 4.0);
    assert!(Tensor::scalar(true).to_scalar::<bool>()?);
    assert_eq!(Tensor::scalar(7i64).item()?, 7.0);
    assert_eq!(Tensor::scalar(1.5f32).item()?, 1.5);
    assert_eq!(Tensor::scalar(true).item()?, 1.0);
    assert_eq!(t.sum()?.item()?, 21.0);

    // ndarray round trip
    let a = t.to_ndarray::<f64>()?;
    assert_eq!(a.shape(), &[2, 3]);
    assert_eq!(a[[1, 0]], 4.0);
    assert_eq!(a[[0, 2]], 3.0);
    let back = Tensor::from(a.clone());
    assert_eq!(back.shape(), &[2, 3]);
    assert_eq!(back.to_vec::<f64>()?, t.to_vec::<f64>()?);
    // a transposed ndarray (not in standard layout) comes over in logical order
    let at = a.reversed_axes();
    let from_t = Tensor::from(at);
    assert_eq!(from_t.shape(), &[3, 2]);
    assert_eq!(from_t.to_vec::<f64>()?, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    // the ndarray of a view
    let av = t.t()?.to_ndarray::<f64>()?;
    assert_eq!(av[[2, 1]], 6.0);
    assert_eq!(av[[0, 1]], 4.0);
    // other dtypes
    let ai =
        Tensor::from(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2]), vec![1i64, 2]).unwrap());
    assert_eq!((ai.dtype(), ai.to_vec::<i64>()?), (DType::I64, vec![1, 2]));
    let af = Tensor::from_slice(&[1.5f32]).to_ndarray::<f32>()?;
    assert_eq!(af[[0]], 1.5);
    let a0 = Tensor::scalar(3.0).to_ndarray::<f64>()?;
    assert_eq!((a0.ndim(), a0[[]]), (0, 3.0));
    Ok(())
}

#[test]
fn to_dtype_casts() -> R {
    let x = t64(&[1.7, -1.7, 0.0, 2.5]);
    // to integer: truncation toward zero, as PyTorch
    let i = x.to_dtype(DType::I64)?;
    assert_eq!(i.to_vec::<i64>()?, vec![1, -1, 0, 2]);
    let b = x.to_dtype(DType::Bool)?;
    assert_eq!(b.to_vec::<bool>()?, vec![true, true, false, true]);
    let f = x.to_dtype(DType::F32)?;
    assert_eq!(f.to_vec::<f32>()?, vec![1.7f32, -1.7, 0.0, 2.5]);
    assert_eq!(
        f.to_dtype(DType::F64)?.to_vec::<f64>()?,
        vec![1.7f32 as f64, -1.7f32 as f64, 0.0, 2.5]
    );
    assert_eq!(
        bools(&[true, false])
            .to_dtype(DType::F32)?
            .to_vec::<f32>()?,
        vec![1.0, 0.0]
    );
    assert_eq!(
        i64s(&[-3, 4]).to_dtype(DType::F64)?.to_vec::<f64>()?,
        vec![-3.0, 4.0]
    );
    assert_eq!(
        i64s(&[0, 4]).to_dtype(DType::Bool)?.to_vec::<bool>()?,
        vec![false, true]
    );
    // same dtype: same values; a cast of a view reads it in logical order
    assert_eq!(x.to_dtype(DType::F64)?.to_vec::<f64>()?, x.to_vec::<f64>()?);
    let m = m64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    assert_eq!(
        m.t()?.to_dtype(DType::I64)?.to_vec::<i64>()?,
        vec![1, 3, 2, 4]
    );
    Ok(())
}

#[test]
fn random_reproducible_with_manual_seed() -> R {
    manual_seed(42);
    let a = Tensor::randn(&[4, 3], DType::F64)?;
    let u = Tensor::rand(&[5], DType::F32)?;
    manual_seed(42);
    let b = Tensor::randn(&[4, 3], DType::F64)?;
    let v = Tensor::rand(&[5], DType::F32)?;
    assert_eq!(a.shape(), &[4, 3]);
    assert_eq!(f64s(&a), f64s(&b));
    assert_eq!(u.to_vec::<f32>()?, v.to_vec::<f32>()?);
    // the next draw differs, and another seed differs
    let c = Tensor::randn(&[4, 3], DType::F64)?;
    assert_ne!(f64s(&a), f64s(&c));
    manual_seed(43);
    assert_ne!(f64s(&a), f64s(&Tensor::randn(&[4, 3], DType::F64)?));
    // uniform in [0, 1); like-shaped draws
    manual_seed(7);
    let u = Tensor::rand(&[1000], DType::F64)?;
    assert!(f64s(&u).iter().all(|v| (0.0..1.0).contains(v)));
    let r = a.randn_like()?;
    assert_eq!((r.shape(), r.dtype()), (&[4usize, 3][..], DType::F64));
    let r = Tensor::zeros(&[2], DType::F32)?.rand_like()?;
    assert_eq!(r.dtype(), DType::F32);
    // loose moments of 20000 standard normal draws (seeded, so deterministic)
    manual_seed(1);
    let n = Tensor::randn(&[20000], DType::F64)?;
    let mean = n.mean()?.item()?;
    let std = n.std()?.item()?;
    assert!(mean.abs() < 0.03, "mean {mean}");
    assert!((std - 1.0).abs() < 0.03, "std {std}");
    Ok(())
}
