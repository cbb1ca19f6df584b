//! Reductions and normalizations over dims, against hand-computed values; f32 sums keep f32
//! precision.

use super::*;

// ----------------------------------------------------------------------------- reductions

#[test]
fn sum_and_mean_over_dims() -> R {
    for dt in FLOATS {
        let x = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], dt);
        check(&x.sum()?, dt, &[], &[21.0]);
        check(&x.sum_dims(&[0], false)?, dt, &[3], &[5.0, 7.0, 9.0]);
        check(&x.sum_dims(&[1], true)?, dt, &[2, 1], &[6.0, 15.0]);
        check(&x.sum_dims(&[-1], false)?, dt, &[2], &[6.0, 15.0]);
        check(&x.sum_dims(&[-2], true)?, dt, &[1, 3], &[5.0, 7.0, 9.0]);
        check(&x.sum_dims(&[0, 1], true)?, dt, &[1, 1], &[21.0]);
        check(&x.sum_dims(&[-1, 0], false)?, dt, &[], &[21.0]);
        check(&x.sum_dims(&[], true)?, dt, &[1, 1], &[21.0]);
        check(&x.mean()?, dt, &[], &[3.5]);
        check(&x.mean_dims(&[0], false)?, dt, &[3], &[2.5, 3.5, 4.5]);
        check(&x.mean_dims(&[-1], true)?, dt, &[2, 1], &[2.0, 5.0]);
        check(&x.mean_dims(&[0, 1], false)?, dt, &[], &[3.5]);
        // a transposed view reduces the same elements
        check(&x.t()?.sum_dims(&[0], false)?, dt, &[2], &[6.0, 15.0]);
        // 3-d, middle dim
        let y = seq(&[2, 3, 4]);
        let mut want = vec![0.0; 8];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    want[i * 4 + k] += flat(&[2, 3, 4], &[i, j, k]) as f64;
                }
            }
        }
        exact(&y.sum_dims(&[1], false)?, &[2, 4], &want);
        // a 0-d tensor accepts dims 0 and -1
        check(&mk(&[5.0], &[], dt).sum_dims(&[0], false)?, dt, &[], &[5.0]);
        check(
            &mk(&[5.0], &[], dt).mean_dims(&[-1], true)?,
            dt,
            &[],
            &[5.0],
        );
    }
    // integer and bool sums are i64
    let s = i64s(&[1, 2, 3]).sum()?;
    assert_eq!((s.dtype(), s.to_scalar::<i64>()?), (DType::I64, 6));
    let s = bools(&[true, false, true]).sum()?;
    assert_eq!((s.dtype(), s.to_scalar::<i64>()?), (DType::I64, 2));
    // the sum of nothing is 0, the mean of nothing NaN
    check(&mk(&[], &[0], DType::F64).sum()?, DType::F64, &[], &[0.0]);
    check(
        &mk(&[], &[0], DType::F64).mean()?,
        DType::F64,
        &[],
        &[f64::NAN],
    );
    Ok(())
}

#[test]
fn prod_over_all_and_one_dim() -> R {
    for dt in FLOATS {
        let x = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], dt);
        check(&x.prod()?, dt, &[], &[720.0]);
        check(&x.prod_dim(0, false)?, dt, &[3], &[4.0, 10.0, 18.0]);
        check(&x.prod_dim(-1, true)?, dt, &[2, 1], &[6.0, 120.0]);
        check(&x.prod_dim(1, false)?, dt, &[2], &[6.0, 120.0]);
        // odd and prime lengths, a zero, negatives
        check(
            &mk(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5], dt).prod()?,
            dt,
            &[],
            &[120.0],
        );
        check(
            &mk(&[2.0, -1.0, 3.0, -0.5, 7.0, 1.0, 2.0], &[7], dt).prod()?,
            dt,
            &[],
            &[42.0],
        );
        check(&mk(&[2.0, 0.0, 3.0], &[3], dt).prod()?, dt, &[], &[0.0]);
        // the product of nothing is 1
        check(
            &mk(&[], &[2, 0], dt).prod_dim(1, false)?,
            dt,
            &[2],
            &[1.0, 1.0],
        );
        check(&mk(&[3.0], &[], dt).prod()?, dt, &[], &[3.0]);
    }
    Ok(())
}

#[test]
fn amax_amin_max_min() -> R {
    for dt in [DType::F32, DType::F64, DType::I64] {
        let x = mk(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3], dt);
        let v = |t: Tensor| vals(&t);
        assert_eq!(x.max()?.shape(), &[] as &[usize]);
        assert_eq!(v(x.max()?), vec![6.0]);
        assert_eq!(v(x.min()?), vec![1.0]);
        assert_eq!(x.amax(&[], false)?.dtype(), dt);
        exact(&x.amax(&[0], false)?, &[3], &[4.0, 5.0, 6.0]);
        exact(&x.amax(&[1], true)?, &[2, 1], &[5.0, 6.0]);
        exact(&x.amin(&[-1], false)?, &[2], &[1.0, 2.0]);
        exact(&x.amin(&[-2], true)?, &[1, 3], &[1.0, 2.0, 3.0]);
        exact(&x.amax(&[0, 1], true)?, &[1, 1], &[6.0]);
        exact(&x.amin(&[], false)?, &[], &[1.0]);
    }
    // NaN wins, as in PyTorch
    let n = t64(&[1.0, f64::NAN, 3.0]);
    assert!(f64s(&n.max()?)[0].is_nan());
    assert!(f64s(&n.min()?)[0].is_nan());
    // infinities are ordinary values
    let n = t64(&[f64::NEG_INFINITY, -1.0]);
    assert_eq!(f64s(&n.max()?), vec![-1.0]);
    assert_eq!(f64s(&n.min()?), vec![f64::NEG_INFINITY]);
    Ok(())
}

#[test]
fn argmax_and_argmin() -> R {
    for dt in [DType::F32, DType::F64, DType::I64] {
        let x = mk(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3], dt);
        let a = x.argmax(None, false)?;
        assert_eq!(a.dtype(), DType::I64);
        assert_eq!(a.shape(), &[] as &[usize]);
        assert_eq!(a.to_vec::<i64>()?, vec![5]);
        assert_eq!(x.argmin(None, false)?.to_vec::<i64>()?, vec![0]);
        let k = x.argmax(None, true)?;
        assert_eq!(k.shape(), &[1, 1]);
        assert_eq!(k.to_vec::<i64>()?, vec![5]);
        assert_eq!(x.argmax(Some(1), false)?.to_vec::<i64>()?, vec![1, 2]);
        let k = x.argmax(Some(0), true)?;
        assert_eq!(k.shape(), &[1, 3]);
        assert_eq!(k.to_vec::<i64>()?, vec![1, 0, 1]);
        assert_eq!(x.argmin(Some(-1), false)?.to_vec::<i64>()?, vec![0, 1]);
        assert_eq!(x.argmin(Some(-2), false)?.to_vec::<i64>()?, vec![0, 1, 0]);
        // of a transposed view, along its dims
        assert_eq!(x.t()?.argmax(Some(0), false)?.to_vec::<i64>()?, vec![1, 2]);
        // ties: the first
        let t = mk(&[1.0, 3.0, 3.0, 0.0, 0.0], &[5], dt);
        assert_eq!(t.argmax(Some(0), false)?.to_vec::<i64>()?, vec![1]);
        assert_eq!(t.argmin(None, false)?.to_vec::<i64>()?, vec![3]);
    }
    // NaN counts as the maximum and the minimum, as in PyTorch
    let n = t64(&[1.0, f64::NAN, 3.0]);
    assert_eq!(n.argmax(None, false)?.to_vec::<i64>()?, vec![1]);
    assert_eq!(n.argmin(None, false)?.to_vec::<i64>()?, vec![1]);
    Ok(())
}

#[test]
fn logsumexp_is_stable() -> R {
    for dt in FLOATS {
        let x = mk(&[0.0, LN_2, 5f64.ln(), 1000.0, 1000.0, 1000.0], &[2, 3], dt);
        let want = [8f64.ln(), 1000.0 + 3f64.ln()];
        check(&x.logsumexp(&[1], false)?, dt, &[2], &want);
        check(&x.logsumexp(&[-1], true)?, dt, &[2, 1], &want);
        let y = mk(
            &[0.0, LN_2, 5f64.ln(), -1000.0, -1000.0, -1000.0],
            &[2, 3],
            dt,
        );
        check(
            &y.logsumexp(&[1], false)?,
            dt,
            &[2],
            &[8f64.ln(), -1000.0 + 3f64.ln()],
        );
        // over dim 0 and over everything
        let z = mk(&[0.0, LN_2, LN_2, 0.0], &[2, 2], dt);
        check(
            &z.logsumexp(&[0], false)?,
            dt,
            &[2],
            &[3f64.ln(), 3f64.ln()],
        );
        check(&z.logsumexp(&[], false)?, dt, &[], &[6f64.ln()]);
        // all -inf gives -inf, not NaN
        let m = mk(&[f64::NEG_INFINITY, f64::NEG_INFINITY], &[2], dt);
        check(&m.logsumexp(&[0], false)?, dt, &[], &[f64::NEG_INFINITY]);
    }
    Ok(())
}

#[test]
fn var_std_norm() -> R {
    for dt in FLOATS {
        let x = mk(&[1.0, 2.0, 3.0, 4.0], &[4], dt);
        // squared deviations sum to 5
        check(&x.var()?, dt, &[], &[5.0 / 3.0]);
        check(&x.std()?, dt, &[], &[(5.0f64 / 3.0).sqrt()]);
        check(&x.var_dims(&[], 0, false)?, dt, &[], &[1.25]);
        check(&x.std_dims(&[0], 0, false)?, dt, &[], &[1.25f64.sqrt()]);
        let y = mk(&[1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0], &[2, 4], dt);
        check(
            &y.var_dims(&[1], 1, false)?,
            dt,
            &[2],
            &[5.0 / 3.0, 20.0 / 3.0],
        );
        check(
            &y.var_dims(&[-1], 1, true)?,
            dt,
            &[2, 1],
            &[5.0 / 3.0, 20.0 / 3.0],
        );
        // over dim 0: pairs (1,2) (2,4) (3,6) (4,8): var = (b - a)^2 / 2
        check(
            &y.var_dims(&[0], 1, false)?,
            dt,
            &[4],
            &[0.5, 2.0, 4.5, 8.0],
        );
        check(
            &y.std_dims(&[0], 0, true)?,
            dt,
            &[1, 4],
            &[0.5, 1.0, 1.5, 2.0],
        );
        // one element with Bessel's correction: 0/0
        check(&mk(&[3.0], &[1], dt).var()?, dt, &[], &[f64::NAN]);

        let v = mk(&[3.0, -4.0], &[2], dt);
        check(&v.norm()?, dt, &[], &[5.0]);
        check(&v.norm_dims(1.0, &[], false)?, dt, &[], &[7.0]);
        check(&v.norm_dims(f64::INFINITY, &[], false)?, dt, &[], &[4.0]);
        let m = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        check(
            &m.norm_dims(3.0, &[-1], false)?,
            dt,
            &[2],
            &[9f64.cbrt(), 91f64.cbrt()],
        );
        check(&m.norm()?, dt, &[], &[30f64.sqrt()]);
        let c = mk(&[3.0, 1.0, 4.0, 1.0], &[2, 2], dt);
        check(&c.norm_dims(2.0, &[0], true)?, dt, &[1, 2], &[5.0, SQRT_2]);
        check(
            &c.norm_dims(0.5, &[1], false)?,
            dt,
            &[2],
            &[(3f64.sqrt() + 1.0).powi(2), 9.0],
        );
    }
    Ok(())
}

#[test]
fn softmax_and_log_softmax() -> R {
    for dt in FLOATS {
        let x = mk(&[0.0, LN_2, 3f64.ln()], &[3], dt);
        let want = [1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0];
        check(&x.softmax(0)?, dt, &[3], &want);
        check(&x.softmax(-1)?, dt, &[3], &want);
        let lw: Vec<f64> = want.iter().map(|v| v.ln()).collect();
        check(&x.log_softmax(0)?, dt, &[3], &lw);
        // 2-d along each dim; huge logits do not overflow
        let m = mk(&[1000.0, 1000.0, 0.0, LN_2], &[2, 2], dt);
        check(
            &m.softmax(1)?,
            dt,
            &[2, 2],
            &[0.5, 0.5, 1.0 / 3.0, 2.0 / 3.0],
        );
        check(
            &m.log_softmax(-1)?,
            dt,
            &[2, 2],
            &[-LN_2, -LN_2, -(3f64.ln()), (2.0f64 / 3.0).ln()],
        );
        let s = m.softmax(0)?;
        check(&s, dt, &[2, 2], &[1.0, 1.0, 0.0, 0.0]);
        // a logit of -inf gets probability 0 (and log-probability -inf), the rest are exact
        let n = mk(&[f64::NEG_INFINITY, 0.0, LN_2], &[3], dt);
        check(&n.softmax(0)?, dt, &[3], &[0.0, 1.0 / 3.0, 2.0 / 3.0]);
        check(
            &n.log_softmax(0)?,
            dt,
            &[3],
            &[f64::NEG_INFINITY, -(3f64.ln()), (2.0f64 / 3.0).ln()],
        );
        check(&n.logsumexp(&[0], false)?, dt, &[], &[3f64.ln()]);
        // columns of a softmax over dim 0 sum to 1
        let r = mk(&[0.3, -1.2, 2.0, 0.1, 0.7, -0.4], &[3, 2], dt);
        check(&r.softmax(0)?.sum_dims(&[0], false)?, dt, &[2], &[1.0, 1.0]);
    }
    Ok(())
}

#[test]
fn long_f32_sums_keep_f32_precision() -> R {
    // a running f32 total would drift by about 1% here; PyTorch's sums stay within f32 rounding
    let n = 1usize << 20;
    let want = n as f64 * f64::from(0.1f32);
    let s = Tensor::full(&[n], 0.1, DType::F32)?
        .sum()?
        .to_scalar::<f32>()?;
    assert!((f64::from(s) / want - 1.0).abs() < 1e-6, "{s} vs {want}");
    // over a leading dim (the strided path) and as a mean
    let c = Tensor::full(&[n, 2], 0.1, DType::F32)?.sum_dims(&[0], false)?;
    for v in c.to_vec::<f32>()? {
        assert!((f64::from(v) / want - 1.0).abs() < 1e-6, "{v} vs {want}");
    }
    let m = Tensor::full(&[n], 0.1, DType::F32)?
        .mean()?
        .to_scalar::<f32>()?;
    assert!((m - 0.1).abs() < 1e-7, "{m}");
    Ok(())
}
