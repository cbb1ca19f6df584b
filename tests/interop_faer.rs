//! Tensor ⇄ faer `Mat`: round trips in both element types, strided views, and the shape, dtype
//! and tracer errors.
#![cfg(feature = "faer")]

use faer::Mat;
use functorch::{DType, Error, Tensor, hessian, vmap};

#[test]
fn matrices_round_trip() {
    let m = Mat::<f64>::from_fn(3, 4, |i, j| (10 * i + j) as f64);
    let t = Tensor::from(&m);
    assert_eq!(t.shape(), &[3, 4]);
    assert_eq!(t.to_vec::<f64>().unwrap()[..5], [0.0, 1.0, 2.0, 3.0, 10.0]);
    let back: Mat<f64> = t.to_faer().unwrap();
    assert_eq!(back, m);
    // a transposed view of a faer matrix, and a transposed tensor
    let tt = Tensor::from(m.as_ref().transpose());
    assert_eq!(tt.shape(), &[4, 3]);
    assert_eq!(tt.to_faer::<f64>().unwrap(), m.transpose().to_owned());
    assert_eq!(
        t.t().unwrap().to_faer::<f64>().unwrap(),
        m.transpose().to_owned()
    );
    let m32 = Mat::<f32>::from_fn(2, 2, |i, j| (i + 2 * j) as f32);
    assert_eq!(Mat::<f32>::try_from(&Tensor::from(&m32)).unwrap(), m32);
    let col = Tensor::from_slice(&[1.0, 2.0])
        .to_faer_col::<f64>()
        .unwrap();
    assert_eq!((col.nrows(), col.ncols(), col[(1, 0)]), (2, 1, 2.0));
}

#[test]
fn a_hessian_solves_in_faer() {
    // f(x) = 1/2 x^T A x - b^T x has Hessian A; faer's LU solves A x = b at the minimum
    let a = Tensor::from_vec(vec![4.0, 1.0, 0.0, 1.0, 3.0, 1.0, 0.0, 1.0, 2.0], &[3, 3]).unwrap();
    let b = Tensor::from_slice(&[1.0, 2.0, 3.0]);
    let f = |x: &Tensor| x.matmul(&a)?.dot(x)?.mul_scalar(0.5)?.sub(&b.dot(x)?);
    let h: Tensor = hessian(f)
        .call(&Tensor::zeros(&[3], DType::F64).unwrap())
        .unwrap();
    let hm = h.to_faer::<f64>().unwrap();
    use faer::linalg::solvers::Solve;
    let x = hm.partial_piv_lu().solve(b.to_faer_col::<f64>().unwrap());
    let want = a.solve(&b.unsqueeze(-1).unwrap()).unwrap();
    for i in 0..3 {
        assert!((x[(i, 0)] - want.to_vec::<f64>().unwrap()[i]).abs() < 1e-12);
    }
}

#[test]
fn shape_dtype_and_tracer_errors() {
    let v = Tensor::from_slice(&[1.0, 2.0]);
    assert!(matches!(
        v.to_faer::<f64>().unwrap_err(),
        Error::Shape { op: "to_faer", .. }
    ));
    let m = Tensor::zeros(&[2, 2], DType::F64).unwrap();
    assert!(matches!(
        m.to_faer_col::<f64>().unwrap_err(),
        Error::Shape {
            op: "to_faer_col",
            ..
        }
    ));
    assert_eq!(
        m.to_faer::<f32>().unwrap_err(),
        Error::DType {
            op: "to_faer",
            expected: "float32",
            got: DType::F64
        }
    );
    let err = vmap(|x: &Tensor| {
        x.unsqueeze(0)?.to_faer::<f64>()?;
        Ok(x.clone())
    })
    .call::<_, Tensor>(&m)
    .unwrap_err();
    assert!(matches!(err, Error::Traced { op: "to_faer", .. }), "{err}");
}
