//! Elementwise ops: unary math, scalar ops, binary arithmetic with broadcasting, the
//! `+ - * /` operators, comparisons, logic and `where`, against hand-computed values.

use super::*;

// ----------------------------------------------------------------------------- unary

type UnaryFn = fn(&Tensor) -> functorch::Result<Tensor>;

#[test]
fn unary_ops_hand_values() {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    let ln3 = 3f64.ln();
    let cases: Vec<(&str, UnaryFn, Vec<f64>, Vec<f64>)> = vec![
        (
            "neg",
            Tensor::neg,
            vec![1.5, -2.0, 0.0, inf],
            vec![-1.5, 2.0, 0.0, -inf],
        ),
        (
            "abs",
            Tensor::abs,
            vec![-3.0, 2.5, 0.0, -inf],
            vec![3.0, 2.5, 0.0, inf],
        ),
        (
            "sign",
            Tensor::sign,
            vec![-3.0, 2.5, 0.0, -inf],
            vec![-1.0, 1.0, 0.0, -1.0],
        ),
        (
            "exp",
            Tensor::exp,
            vec![0.0, 1.0, LN_2, -inf],
            vec![1.0, E, 2.0, 0.0],
        ),
        (
            "expm1",
            Tensor::expm1,
            vec![0.0, 1.0, LN_2, -inf],
            vec![0.0, E - 1.0, 1.0, -1.0],
        ),
        (
            "log",
            Tensor::log,
            vec![1.0, E, 0.5, 0.0, -1.0, inf],
            vec![0.0, 1.0, -LN_2, -inf, nan, inf],
        ),
        (
            "log1p",
            Tensor::log1p,
            vec![0.0, E - 1.0, -0.5, -1.0],
            vec![0.0, 1.0, -LN_2, -inf],
        ),
        (
            "sqrt",
            Tensor::sqrt,
            vec![0.0, 4.0, 2.0, 0.25, -1.0, inf],
            vec![0.0, 2.0, SQRT_2, 0.5, nan, inf],
        ),
        (
            "rsqrt",
            Tensor::rsqrt,
            vec![4.0, 0.25, 0.0, inf],
            vec![0.5, 2.0, inf, 0.0],
        ),
        (
            "square",
            Tensor::square,
            vec![-3.0, 0.5, 0.0],
            vec![9.0, 0.25, 0.0],
        ),
        (
            "reciprocal",
            Tensor::reciprocal,
            vec![2.0, -0.25, 0.0, inf],
            vec![0.5, -4.0, inf, 0.0],
        ),
        (
            "sin",
            Tensor::sin,
            vec![0.0, FRAC_PI_6, FRAC_PI_2, -FRAC_PI_2],
            vec![0.0, 0.5, 1.0, -1.0],
        ),
        (
            "cos",
            Tensor::cos,
            vec![0.0, FRAC_PI_3, PI],
            vec![1.0, 0.5, -1.0],
        ),
        (
            "tan",
            Tensor::tan,
            vec![0.0, FRAC_PI_4, -FRAC_PI_4],
            vec![0.0, 1.0, -1.0],
        ),
        (
            "asin",
            Tensor::asin,
            vec![0.0, 0.5, 1.0, -1.0, 2.0],
            vec![0.0, FRAC_PI_6, FRAC_PI_2, -FRAC_PI_2, nan],
        ),
        (
            "acos",
            Tensor::acos,
            vec![1.0, 0.5, 0.0, -1.0, -2.0],
            vec![0.0, FRAC_PI_3, FRAC_PI_2, PI, nan],
        ),
        (
            "atan",
            Tensor::atan,
            vec![0.0, 1.0, -1.0, inf],
            vec![0.0, FRAC_PI_4, -FRAC_PI_4, FRAC_PI_2],
        ),
        // sinh(ln 2) = (2 - 1/2) / 2, cosh(ln 2) = (2 + 1/2) / 2, tanh(ln 2) = 1.5 / 2.5
        (
            "sinh",
            Tensor::sinh,
            vec![0.0, LN_2, -LN_2],
            vec![0.0, 0.75, -0.75],
        ),
        (
            "cosh",
            Tensor::cosh,
            vec![0.0, LN_2, -LN_2],
            vec![1.0, 1.25, 1.25],
        ),
        (
            "tanh",
            Tensor::tanh,
            vec![0.0, LN_2, -LN_2, inf, -inf, 1000.0],
            vec![0.0, 0.6, -0.6, 1.0, -1.0, 1.0],
        ),
        // sigmoid(ln 3) = 3/4; no overflow far out
        (
            "sigmoid",
            Tensor::sigmoid,
            vec![0.0, ln3, -ln3, 1000.0, -1000.0],
            vec![0.5, 0.75, 0.25, 1.0, 0.0],
        ),
        (
            "relu",
            Tensor::relu,
            vec![-1.0, 0.0, 2.5, -inf, nan],
            vec![0.0, 0.0, 2.5, 0.0, nan],
        ),
        // softplus(ln 3) = ln 4; PyTorch's softplus is the identity above 20
        (
            "softplus",
            Tensor::softplus,
            vec![0.0, ln3, 30.0, -1000.0, 1000.0],
            vec![LN_2, 2.0 * LN_2, 30.0, 0.0, 1000.0],
        ),
        (
            "erf",
            Tensor::erf,
            vec![0.0, 0.5, 1.0, -1.0, 2.0, inf],
            vec![
                0.0,
                0.520_499_877_813_046_5,
                0.842_700_792_949_714_9,
                -0.842_700_792_949_714_9,
                0.995_322_265_018_952_7,
                1.0,
            ],
        ),
    ];
    for dt in FLOATS {
        for (name, f, x, want) in &cases {
            let y = f(&mk(x, &[x.len()], dt)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(y.dtype(), dt, "{name}");
            assert_eq!(y.shape(), &[x.len()], "{name}");
            let got = vals(&y);
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                let ok = if w.is_nan() {
                    g.is_nan()
                } else if w.is_infinite() {
                    g == w
                } else {
                    (g - w).abs() <= 4.0 * tol(dt) * (1.0 + w.abs())
                };
                assert!(ok, "{name} ({dt}) at {}: got {g}, want {w}", x[i]);
            }
        }
    }
}

#[test]
fn unary_ops_keep_shape_and_read_strided_inputs() -> R {
    // exp of a transposed (non-contiguous) and a flipped view, 2-d
    for dt in FLOATS {
        let x = mk(
            &[0.0, LN_2, 1.0, 2.0 * LN_2, -LN_2, 3.0 * LN_2],
            &[2, 3],
            dt,
        );
        let y = x.t()?.exp()?;
        check(&y, dt, &[3, 2], &[1.0, 4.0, 2.0, 0.5, E, 8.0]);
        let y = x.flip(&[1])?.square()?;
        let l2 = LN_2 * LN_2;
        check(&y, dt, &[2, 3], &[1.0, l2, 0.0, 9.0 * l2, l2, 4.0 * l2]);
        // 0-d in, 0-d out
        check(&mk(&[4.0], &[], dt).sqrt()?, dt, &[], &[2.0]);
    }
    Ok(())
}

#[test]
fn expm1_and_log1p_are_accurate_near_zero() -> R {
    let x = t64(&[1e-10, -1e-12]);
    let y = f64s(&x.expm1()?);
    // exp(x) - 1 would lose about 7 of the 16 digits here
    assert!((y[0] - (1e-10 + 5e-21)).abs() < 1e-25, "{y:?}");
    assert!((y[1] - (-1e-12 + 5e-25)).abs() < 1e-27, "{y:?}");
    let y = f64s(&x.log1p()?);
    assert!((y[0] - (1e-10 - 5e-21)).abs() < 1e-25, "{y:?}");
    assert!((y[1] - (-1e-12 - 5e-25)).abs() < 1e-27, "{y:?}");
    let y = Tensor::from_slice(&[1e-6f32]).expm1()?.to_vec::<f32>()?;
    assert!((y[0] / 1e-6 - 1.0).abs() < 1e-6, "{y:?}");
    Ok(())
}

#[test]
fn unary_ops_refuse_integer_and_bool_tensors() {
    let i = i64s(&[1, 2]);
    let b = bools(&[true]);
    for (name, f) in [
        ("exp", Tensor::exp as UnaryFn),
        ("sin", Tensor::sin),
        ("neg", Tensor::neg),
        ("sqrt", Tensor::sqrt),
        ("relu", Tensor::relu),
    ] {
        for x in [&i, &b] {
            match f(x) {
                Err(Error::DType { op, got, .. }) => {
                    assert_eq!(op, name);
                    assert_eq!(got, x.dtype());
                }
                other => panic!("{name}: expected a DType error, got {other:?}"),
            }
        }
    }
}

// ----------------------------------------------------------------------------- scalar ops

#[test]
fn scalar_ops_hand_values() -> R {
    for dt in FLOATS {
        let x = mk(&[-2.0, 0.5, 3.0], &[3], dt);
        let s = &[3];
        check(&x.add_scalar(1.5)?, dt, s, &[-0.5, 2.0, 4.5]);
        check(&x.sub_scalar(1.5)?, dt, s, &[-3.5, -1.0, 1.5]);
        check(&x.rsub_scalar(1.0)?, dt, s, &[3.0, 0.5, -2.0]);
        check(&x.mul_scalar(-2.0)?, dt, s, &[4.0, -1.0, -6.0]);
        check(&x.div_scalar(4.0)?, dt, s, &[-0.5, 0.125, 0.75]);
        check(&x.div_scalar(3.0)?, dt, s, &[-2.0 / 3.0, 0.5 / 3.0, 1.0]);
        check(&x.rdiv_scalar(3.0)?, dt, s, &[-1.5, 6.0, 1.0]);
        check(&x.pow_scalar(2.0)?, dt, s, &[4.0, 0.25, 9.0]);
        check(&x.pow_scalar(3.0)?, dt, s, &[-8.0, 0.125, 27.0]);
        check(&x.pow_scalar(0.0)?, dt, s, &[1.0, 1.0, 1.0]);
        check(&x.pow_scalar(1.0)?, dt, s, &[-2.0, 0.5, 3.0]);
        check(&x.pow_scalar(-1.0)?, dt, s, &[-0.5, 2.0, 1.0 / 3.0]);
        check(&x.pow_scalar(-2.0)?, dt, s, &[0.25, 4.0, 1.0 / 9.0]);
        check(
            &x.pow_scalar(0.5)?,
            dt,
            s,
            &[f64::NAN, 0.5f64.sqrt(), 3f64.sqrt()],
        );
        let p = mk(&[4.0, 0.25, 9.0], &[3], dt);
        check(&p.pow_scalar(1.5)?, dt, s, &[8.0, 0.125, 27.0]);
        check(&p.pow_scalar(-0.5)?, dt, s, &[0.5, 2.0, 1.0 / 3.0]);
        check(&x.clamp(-1.0, 1.0)?, dt, s, &[-1.0, 0.5, 1.0]);
        check(&x.clamp(0.5, 0.5)?, dt, s, &[0.5, 0.5, 0.5]);
        check(&x.clamp_min(0.0)?, dt, s, &[0.0, 0.5, 3.0]);
        check(&x.clamp_max(0.0)?, dt, s, &[-2.0, 0.0, 0.0]);
        check(&x.maximum_scalar(0.5)?, dt, s, &[0.5, 0.5, 3.0]);
        check(&x.minimum_scalar(0.5)?, dt, s, &[-2.0, 0.5, 0.5]);
    }
    Ok(())
}

#[test]
fn clamp_follows_pytorch_at_the_edges() -> R {
    // NaN passes through clamp
    check(
        &t64(&[f64::NAN, 5.0]).clamp(0.0, 1.0)?,
        DType::F64,
        &[2],
        &[f64::NAN, 1.0],
    );
    // min > max: every element becomes max (torch.clamp's documented rule)
    check(
        &t64(&[-5.0, 1.5, 5.0]).clamp(2.0, 1.0)?,
        DType::F64,
        &[3],
        &[1.0, 1.0, 1.0],
    );
    // infinite bounds are no bounds
    check(
        &t64(&[-1e300, 1e300]).clamp(f64::NEG_INFINITY, f64::INFINITY)?,
        DType::F64,
        &[2],
        &[-1e300, 1e300],
    );
    Ok(())
}

// ----------------------------------------------------------------------------- binary

#[test]
fn binary_ops_broadcast() -> R {
    for dt in FLOATS {
        let a = mk(&[1.0, 2.0], &[2, 1], dt);
        let b = mk(&[0.5, 1.0, 2.0], &[3], dt);
        let s = &[2, 3];
        check(&a.add(&b)?, dt, s, &[1.5, 2.0, 3.0, 2.5, 3.0, 4.0]);
        check(&a.sub(&b)?, dt, s, &[0.5, 0.0, -1.0, 1.5, 1.0, 0.0]);
        check(&b.sub(&a)?, dt, s, &[-0.5, 0.0, 1.0, -1.5, -1.0, 0.0]);
        check(&a.mul(&b)?, dt, s, &[0.5, 1.0, 2.0, 1.0, 2.0, 4.0]);
        check(&a.div(&b)?, dt, s, &[2.0, 1.0, 0.5, 4.0, 2.0, 1.0]);
        check(&a.pow(&b)?, dt, s, &[1.0, 1.0, 1.0, SQRT_2, 2.0, 4.0]);
        let c = mk(&[0.5, 1.5, 3.0], &[3], dt);
        check(&a.maximum(&c)?, dt, s, &[1.0, 1.5, 3.0, 2.0, 2.0, 3.0]);
        check(&a.minimum(&c)?, dt, s, &[0.5, 1.0, 1.0, 0.5, 1.5, 2.0]);
        // a 0-d operand broadcasts against anything
        let z = mk(&[10.0], &[], dt);
        check(&z.sub(&b)?, dt, &[3], &[9.5, 9.0, 8.0]);
        check(&z.add(&z)?, dt, &[], &[20.0]);
        // [2, 1, 3] with [4, 1] gives [2, 4, 3]
        let p = mk(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 1, 3], dt);
        let q = mk(&[0.0, 10.0, 20.0, 30.0], &[4, 1], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            for j in 0..4 {
                for k in 0..3 {
                    want.push((i * 3 + k) as f64 + 10.0 * j as f64);
                }
            }
        }
        check(&p.add(&q)?, dt, &[2, 4, 3], &want);
        // division by zero gives IEEE values
        let d = mk(&[1.0, -1.0, 0.0], &[3], dt).div(&mk(&[0.0], &[], dt))?;
        check(&d, dt, &[3], &[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]);
    }
    Ok(())
}

#[test]
fn atan2_quadrants() -> R {
    for dt in FLOATS {
        let y = mk(&[1.0, 1.0, -1.0, -1.0, 0.0, 1.0], &[6], dt);
        let x = mk(&[1.0, -1.0, -1.0, 1.0, 1.0, 0.0], &[6], dt);
        let want = [
            FRAC_PI_4,
            3.0 * FRAC_PI_4,
            -3.0 * FRAC_PI_4,
            -FRAC_PI_4,
            0.0,
            FRAC_PI_2,
        ];
        check(&y.atan2(&x)?, dt, &[6], &want);
        // broadcast: y [2, 1] against x [2]
        let y = mk(&[1.0, -1.0], &[2, 1], dt);
        let x = mk(&[1.0, -1.0], &[2], dt);
        check(
            &y.atan2(&x)?,
            dt,
            &[2, 2],
            &[FRAC_PI_4, 3.0 * FRAC_PI_4, -FRAC_PI_4, -3.0 * FRAC_PI_4],
        );
    }
    Ok(())
}

#[test]
fn maximum_and_minimum_propagate_nan() -> R {
    let a = t64(&[f64::NAN, 1.0, 2.0]);
    let b = t64(&[0.0, f64::NAN, 1.0]);
    check(
        &a.maximum(&b)?,
        DType::F64,
        &[3],
        &[f64::NAN, f64::NAN, 2.0],
    );
    check(
        &a.minimum(&b)?,
        DType::F64,
        &[3],
        &[f64::NAN, f64::NAN, 1.0],
    );
    Ok(())
}

#[test]
fn integer_arithmetic() -> R {
    let a = Tensor::from_vec(vec![1i64, -2, 3, 4], &[2, 2])?;
    let b = i64s(&[10, 20]);
    let r = a.add(&b)?;
    assert_eq!(r.dtype(), DType::I64);
    assert_eq!(r.to_vec::<i64>()?, vec![11, 18, 13, 24]);
    assert_eq!(a.sub(&b)?.to_vec::<i64>()?, vec![-9, -22, -7, -16]);
    assert_eq!(a.mul(&b)?.to_vec::<i64>()?, vec![10, -40, 30, 80]);
    let c = i64s(&[2, 0]);
    assert_eq!(a.maximum(&c)?.to_vec::<i64>()?, vec![2, 0, 3, 4]);
    assert_eq!(a.minimum(&c)?.to_vec::<i64>()?, vec![1, -2, 2, 0]);
    Ok(())
}

#[test]
fn operators_on_owned_and_borrowed_tensors_and_scalars() {
    for dt in FLOATS {
        let a = mk(&[1.0, 2.0], &[2], dt);
        let b = mk(&[4.0, 8.0], &[2], dt);
        let s = &[2];
        check(&(&a + &b), dt, s, &[5.0, 10.0]);
        check(&(a.clone() + b.clone()), dt, s, &[5.0, 10.0]);
        check(&(&a + b.clone()), dt, s, &[5.0, 10.0]);
        check(&(a.clone() + &b), dt, s, &[5.0, 10.0]);
        check(&(&a - &b), dt, s, &[-3.0, -6.0]);
        check(&(a.clone() - b.clone()), dt, s, &[-3.0, -6.0]);
        check(&(&a - b.clone()), dt, s, &[-3.0, -6.0]);
        check(&(a.clone() - &b), dt, s, &[-3.0, -6.0]);
        check(&(&a * &b), dt, s, &[4.0, 16.0]);
        check(&(a.clone() * b.clone()), dt, s, &[4.0, 16.0]);
        check(&(&a * b.clone()), dt, s, &[4.0, 16.0]);
        check(&(a.clone() * &b), dt, s, &[4.0, 16.0]);
        check(&(&a / &b), dt, s, &[0.25, 0.25]);
        check(&(a.clone() / b.clone()), dt, s, &[0.25, 0.25]);
        check(&(&a / b.clone()), dt, s, &[0.25, 0.25]);
        check(&(a.clone() / &b), dt, s, &[0.25, 0.25]);
        // scalars on either side
        check(&(&a + 1.0), dt, s, &[2.0, 3.0]);
        check(&(a.clone() + 1.0), dt, s, &[2.0, 3.0]);
        check(&(1.0 + &a), dt, s, &[2.0, 3.0]);
        check(&(1.0 + a.clone()), dt, s, &[2.0, 3.0]);
        check(&(&a - 1.0), dt, s, &[0.0, 1.0]);
        check(&(a.clone() - 1.0), dt, s, &[0.0, 1.0]);
        check(&(10.0 - &a), dt, s, &[9.0, 8.0]);
        check(&(10.0 - a.clone()), dt, s, &[9.0, 8.0]);
        check(&(&a * 3.0), dt, s, &[3.0, 6.0]);
        check(&(a.clone() * 3.0), dt, s, &[3.0, 6.0]);
        check(&(3.0 * &a), dt, s, &[3.0, 6.0]);
        check(&(3.0 * a.clone()), dt, s, &[3.0, 6.0]);
        check(&(&a / 2.0), dt, s, &[0.5, 1.0]);
        check(&(a.clone() / 2.0), dt, s, &[0.5, 1.0]);
        check(&(2.0 / &a), dt, s, &[2.0, 1.0]);
        check(&(2.0 / a.clone()), dt, s, &[2.0, 1.0]);
        check(&(-&a), dt, s, &[-1.0, -2.0]);
        check(&(-a.clone()), dt, s, &[-1.0, -2.0]);
        // broadcasting through the operators, chained
        let col = mk(&[1.0, 2.0], &[2, 1], dt);
        check(&(&col * &a + 1.0), dt, &[2, 2], &[2.0, 3.0, 3.0, 5.0]);
    }
}

#[test]
#[should_panic(expected = "add")]
fn add_operator_panics_on_mismatched_shapes() {
    let _ = &t64(&[1.0, 2.0]) + &t64(&[1.0, 2.0, 3.0]);
}

#[test]
#[should_panic(expected = "mul")]
fn mul_operator_panics_on_mismatched_shapes() {
    let _ = m64(&[1.0; 6], &[2, 3]) * m64(&[1.0; 6], &[3, 2]);
}

#[test]
#[should_panic(expected = "sub")]
fn sub_operator_panics_on_booleans() {
    let b = Tensor::from_vec(vec![true], &[1]).unwrap();
    let _ = &b - &b;
}

#[test]
fn sub_operator_promotes_mixed_dtypes() {
    let d = &t64(&[1.5]) - &Tensor::from_slice(&[0.25f32]);
    assert_eq!(d.dtype(), DType::F64);
    assert_eq!(d.to_vec::<f64>().unwrap(), vec![1.25]);
}

#[test]
#[should_panic]
fn scalar_operator_panics_on_an_integer_tensor() {
    let _ = &i64s(&[1, 2]) * 2.0;
}

// ----------------------------------------------------------------------------- comparisons

#[test]
fn comparisons_and_scalar_forms() -> R {
    for dt in [DType::F32, DType::F64, DType::I64] {
        let a = mk(&[1.0, 2.0, 3.0], &[3], dt);
        let b = mk(&[3.0, 2.0, 1.0], &[3], dt);
        let s = &[3];
        mask(&a.gt(&b)?, s, &[false, false, true]);
        mask(&a.ge(&b)?, s, &[false, true, true]);
        mask(&a.lt(&b)?, s, &[true, false, false]);
        mask(&a.le(&b)?, s, &[true, true, false]);
        mask(&a.eq(&b)?, s, &[false, true, false]);
        mask(&a.ne(&b)?, s, &[true, false, true]);
        mask(&a.gt_scalar(2.0)?, s, &[false, false, true]);
        mask(&a.ge_scalar(2.0)?, s, &[false, true, true]);
        mask(&a.lt_scalar(2.0)?, s, &[true, false, false]);
        mask(&a.le_scalar(2.0)?, s, &[true, true, false]);
        mask(&a.eq_scalar(2.0)?, s, &[false, true, false]);
        mask(&a.ne_scalar(2.0)?, s, &[true, false, true]);
        // broadcasting: [3, 1] against [3]
        let col = mk(&[1.0, 2.0, 3.0], &[3, 1], dt);
        mask(
            &col.lt(&a)?,
            &[3, 3],
            &[false, true, true, false, false, true, false, false, false],
        );
    }
    // NaN is unequal to everything, itself included
    let n = t64(&[f64::NAN, 1.0]);
    mask(&n.eq(&n)?, &[2], &[false, true]);
    mask(&n.ne(&n)?, &[2], &[true, false]);
    mask(&n.gt_scalar(0.0)?, &[2], &[false, true]);
    mask(&n.le_scalar(0.0)?, &[2], &[false, false]);
    // bool compare
    mask(
        &bools(&[true, false]).eq(&bools(&[true, true]))?,
        &[2],
        &[true, false],
    );
    Ok(())
}

#[test]
fn logical_ops() -> R {
    let a = bools(&[true, true, false, false]);
    let b = bools(&[true, false, true, false]);
    let s = &[4];
    mask(&a.logical_and(&b)?, s, &[true, false, false, false]);
    mask(&a.logical_or(&b)?, s, &[true, true, true, false]);
    mask(&a.logical_xor(&b)?, s, &[false, true, true, false]);
    mask(&a.logical_not()?, s, &[false, false, true, true]);
    // broadcasting: [2, 1] with [2]
    let c = Tensor::from_vec(vec![true, false], &[2, 1])?;
    let d = bools(&[true, false]);
    mask(&c.logical_and(&d)?, &[2, 2], &[true, false, false, false]);
    mask(&c.logical_or(&d)?, &[2, 2], &[true, true, true, false]);
    Ok(())
}

#[test]
fn where_broadcasts_all_three() -> R {
    for dt in FLOATS {
        let cond = Tensor::from_vec(vec![true, false], &[2, 1])?;
        let a = mk(&[1.0, 2.0, 3.0], &[3], dt);
        let b = mk(&[0.0], &[], dt);
        check(
            &Tensor::where_(&cond, &a, &b)?,
            dt,
            &[2, 3],
            &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0],
        );
        // relu by hand: where(x > 0, x, 0)
        let x = mk(&[-1.0, 0.5, 2.0], &[3], dt);
        check(
            &Tensor::where_(&x.gt_scalar(0.0)?, &x, &b)?,
            dt,
            &[3],
            &[0.0, 0.5, 2.0],
        );
    }
    let r = Tensor::where_(&bools(&[false, true]), &i64s(&[1, 2]), &i64s(&[7, 8]))?;
    assert_eq!(r.to_vec::<i64>()?, vec![7, 2]);
    Ok(())
}
