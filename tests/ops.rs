//! Every public op checked against hand-computed values or exact identities (never against the
//! library itself), in f32 and f64 where both apply; the views the docs promise; `Display`; and
//! the error policy: bad input is a clear `Err` naming the op (never a panic), except the
//! `+ - * /` operators, which panic.

use functorch::{DType, Error, Tensor, manual_seed};
use std::f64::consts::{E, FRAC_PI_2, FRAC_PI_3, FRAC_PI_4, FRAC_PI_6, LN_2, PI, SQRT_2};

type R = functorch::Result<()>;

const FLOATS: [DType; 2] = [DType::F32, DType::F64];

// ----------------------------------------------------------------------------- helpers

/// A tensor of `dt` holding `v` (converted) in `shape`, built directly from typed data.
fn mk(v: &[f64], shape: &[usize], dt: DType) -> Tensor {
    match dt {
        DType::F64 => Tensor::from_vec(v.to_vec(), shape),
        DType::F32 => Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), shape),
        DType::I64 => Tensor::from_vec(v.iter().map(|&x| x as i64).collect(), shape),
        DType::Bool => Tensor::from_vec(v.iter().map(|&x| x != 0.0).collect(), shape),
    }
    .unwrap()
}

/// 1-d f64 tensor.
fn t64(v: &[f64]) -> Tensor {
    Tensor::from_slice(v)
}

/// f64 tensor of a shape.
fn m64(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn i64s(v: &[i64]) -> Tensor {
    Tensor::from_slice(v)
}

fn bools(v: &[bool]) -> Tensor {
    Tensor::from_slice(v)
}

/// The elements, read with the tensor's own element type, as f64.
fn vals(t: &Tensor) -> Vec<f64> {
    match t.dtype() {
        DType::F32 => t
            .to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        DType::F64 => t.to_vec::<f64>().unwrap(),
        DType::I64 => t
            .to_vec::<i64>()
            .unwrap()
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        DType::Bool => t
            .to_vec::<bool>()
            .unwrap()
            .into_iter()
            .map(|b| b as u8 as f64)
            .collect(),
    }
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

fn tol(dt: DType) -> f64 {
    if dt == DType::F32 { 2e-6 } else { 1e-13 }
}

/// Elementwise closeness, relative to `1 + |want|`; NaN must meet NaN and ±inf must be exact.
#[track_caller]
fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= tol * (1.0 + w.abs())
        };
        assert!(
            ok,
            "element {i}: got {g}, want {w} (tol {tol})\n got: {got:?}\nwant: {want:?}"
        );
    }
}

/// Shape, dtype and values (to the dtype's tolerance).
#[track_caller]
fn check(t: &Tensor, dt: DType, shape: &[usize], want: &[f64]) {
    assert_eq!(t.dtype(), dt, "dtype");
    assert_eq!(t.shape(), shape, "shape");
    assert_close(&vals(t), want, tol(dt));
}

/// Shape and exact values.
#[track_caller]
fn exact(t: &Tensor, shape: &[usize], want: &[f64]) {
    assert_eq!(t.shape(), shape, "shape");
    assert_eq!(vals(t), want);
}

/// Bool mask values.
#[track_caller]
fn mask(t: &Tensor, shape: &[usize], want: &[bool]) {
    assert_eq!(t.dtype(), DType::Bool);
    assert_eq!(t.shape(), shape);
    assert_eq!(t.to_vec::<bool>().unwrap(), want);
}

/// 0, 1, ..., n-1 as f64 of `shape`.
fn seq(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    m64(&(0..n).map(|i| i as f64).collect::<Vec<_>>(), shape)
}

/// Row-major index of `idx` in `shape`.
fn flat(shape: &[usize], idx: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &s)| acc * s + i)
}

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
fn sub_operator_panics_on_mixed_dtypes() {
    let _ = &t64(&[1.0]) - &Tensor::from_slice(&[1.0f32]);
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

// ----------------------------------------------------------------------------- shapes

#[test]
fn reshape_flatten_and_views_of_shape() -> R {
    let x = seq(&[2, 3]);
    let r = x.reshape(&[3, -1])?;
    exact(&r, &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    exact(&x.reshape(&[-1])?, &[6], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    exact(
        &x.reshape(&[1, -1, 1])?,
        &[1, 6, 1],
        &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    );
    exact(&t64(&[7.0]).reshape(&[])?, &[], &[7.0]);
    exact(&Tensor::scalar(7.0).reshape(&[1, 1])?, &[1, 1], &[7.0]);
    // reshape of a transposed view reads in its logical order
    exact(
        &x.t()?.reshape(&[-1])?,
        &[6],
        &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0],
    );
    exact(&x.flatten()?, &[6], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let y = seq(&[2, 3, 4]);
    assert_eq!(y.flatten_dims(1, 2)?.shape(), &[2, 12]);
    assert_eq!(y.flatten_dims(0, -2)?.shape(), &[6, 4]);
    assert_eq!(y.flatten_dims(-1, -1)?.shape(), &[2, 3, 4]);
    assert_eq!(vals(&y.flatten_dims(0, 1)?), vals(&y));
    assert_eq!(Tensor::scalar(1.0).flatten()?.shape(), &[1]);
    Ok(())
}

#[test]
fn transpose_permute_movedim() -> R {
    let x = seq(&[2, 3]);
    exact(
        &x.transpose(0, 1)?,
        &[3, 2],
        &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0],
    );
    exact(
        &x.transpose(-1, -2)?,
        &[3, 2],
        &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0],
    );
    exact(&x.t()?, &[3, 2], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    exact(&t64(&[1.0, 2.0]).t()?, &[2], &[1.0, 2.0]);
    let y = seq(&[2, 3, 4]);
    // permute [2, 0, 1]: out[k, i, j] = y[i, j, k]
    let p = y.permute(&[2, 0, 1])?;
    let mut want = Vec::new();
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                want.push(flat(&[2, 3, 4], &[i, j, k]) as f64);
            }
        }
    }
    exact(&p, &[4, 2, 3], &want);
    exact(&y.permute(&[-1, 0, -2])?, &[4, 2, 3], &want);
    exact(&y.movedim(2, 0)?, &[4, 2, 3], &want);
    // mT swaps the last two: out[i, k, j] = y[i, j, k]
    let mut want = Vec::new();
    for i in 0..2 {
        for k in 0..4 {
            for j in 0..3 {
                want.push(flat(&[2, 3, 4], &[i, j, k]) as f64);
            }
        }
    }
    exact(&y.mt()?, &[2, 4, 3], &want);
    exact(&y.transpose(1, 2)?, &[2, 4, 3], &want);
    // movedim(0, -1): out[j, k, i] = y[i, j, k]
    let mut want = Vec::new();
    for j in 0..3 {
        for k in 0..4 {
            for i in 0..2 {
                want.push(flat(&[2, 3, 4], &[i, j, k]) as f64);
            }
        }
    }
    exact(&y.movedim(0, -1)?, &[3, 4, 2], &want);
    Ok(())
}

#[test]
fn squeeze_and_unsqueeze() -> R {
    let x = seq(&[2, 1, 3]);
    assert_eq!(x.squeeze(1)?.shape(), &[2, 3]);
    assert_eq!(x.squeeze(-2)?.shape(), &[2, 3]);
    assert_eq!(x.squeeze(0)?.shape(), &[2, 1, 3]); // size 2: unchanged
    let y = seq(&[1, 2, 1, 3, 1]);
    assert_eq!(y.squeeze_dims(&[0, 2])?.shape(), &[2, 3, 1]);
    assert_eq!(y.squeeze_dims(&[-1, 1])?.shape(), &[1, 2, 1, 3]);
    assert_eq!(y.squeeze_all()?.shape(), &[2, 3]);
    assert_eq!(vals(&y.squeeze_all()?), vals(&y));
    assert_eq!(
        Tensor::ones(&[1, 1], DType::F64).squeeze_all()?.shape(),
        &[] as &[usize]
    );
    let z = seq(&[2, 3]);
    assert_eq!(z.unsqueeze(0)?.shape(), &[1, 2, 3]);
    assert_eq!(z.unsqueeze(1)?.shape(), &[2, 1, 3]);
    assert_eq!(z.unsqueeze(2)?.shape(), &[2, 3, 1]);
    assert_eq!(z.unsqueeze(-1)?.shape(), &[2, 3, 1]);
    assert_eq!(z.unsqueeze(-2)?.shape(), &[2, 1, 3]);
    assert_eq!(z.unsqueeze(-3)?.shape(), &[1, 2, 3]);
    assert_eq!(Tensor::scalar(1.0).unsqueeze(-1)?.shape(), &[1]);
    exact(
        &z.unsqueeze(1)?,
        &[2, 1, 3],
        &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    );
    Ok(())
}

#[test]
fn expand_and_broadcast_to() -> R {
    let x = m64(&[1.0, 2.0, 3.0], &[3, 1]);
    let e = x.expand(&[2, -1, 4])?;
    let mut want = Vec::new();
    for _ in 0..2 {
        for i in 1..=3 {
            want.extend([i as f64; 4]);
        }
    }
    exact(&e, &[2, 3, 4], &want);
    exact(
        &x.expand(&[3, 2])?,
        &[3, 2],
        &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
    );
    exact(&x.expand(&[-1, -1])?, &[3, 1], &[1.0, 2.0, 3.0]);
    let b = t64(&[1.0, 2.0, 3.0]).broadcast_to(&[2, 3])?;
    exact(&b, &[2, 3], &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    exact(
        &Tensor::scalar(5.0).broadcast_to(&[2, 2])?,
        &[2, 2],
        &[5.0; 4],
    );
    // an expanded tensor computes like its materialized values
    exact(&e.sum_dims(&[0, 2], false)?, &[3], &[8.0, 16.0, 24.0]);
    Ok(())
}

#[test]
fn slice_narrow_select_get() -> R {
    let x = seq(&[10]);
    exact(&x.slice(0, 1, 8, 3)?, &[3], &[1.0, 4.0, 7.0]);
    exact(&x.slice(0, -3, i64::MAX, 1)?, &[3], &[7.0, 8.0, 9.0]);
    exact(&x.slice(0, -100, 100, 4)?, &[3], &[0.0, 4.0, 8.0]);
    exact(&x.slice(0, 2, -2, 2)?, &[3], &[2.0, 4.0, 6.0]);
    exact(&x.slice(0, 5, 2, 1)?, &[0], &[]);
    exact(&x.slice(0, 12, 20, 1)?, &[0], &[]);
    exact(&x.slice(-1, 0, 10, 1)?, &[10], &vals(&x));
    // a slice of a slice
    exact(&x.slice(0, 1, 10, 2)?.slice(0, 1, 4, 2)?, &[2], &[3.0, 7.0]);
    let m = seq(&[3, 4]);
    exact(
        &m.slice(1, 1, 3, 1)?,
        &[3, 2],
        &[1.0, 2.0, 5.0, 6.0, 9.0, 10.0],
    );
    exact(
        &m.slice(0, 0, 3, 2)?,
        &[2, 4],
        &[0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0],
    );
    exact(&m.slice(-1, -1, i64::MAX, 1)?, &[3, 1], &[3.0, 7.0, 11.0]);
    exact(&x.narrow(0, 2, 3)?, &[3], &[2.0, 3.0, 4.0]);
    exact(
        &m.narrow(1, 1, 2)?,
        &[3, 2],
        &[1.0, 2.0, 5.0, 6.0, 9.0, 10.0],
    );
    exact(&m.narrow(-2, 2, 1)?, &[1, 4], &[8.0, 9.0, 10.0, 11.0]);
    exact(&m.narrow(0, 3, 0)?, &[0, 4], &[]);
    exact(&m.select(1, -1)?, &[3], &[3.0, 7.0, 11.0]);
    exact(&m.select(0, 1)?, &[4], &[4.0, 5.0, 6.0, 7.0]);
    exact(&m.select(-1, 0)?, &[3], &[0.0, 4.0, 8.0]);
    exact(&m.get(-1)?, &[4], &[8.0, 9.0, 10.0, 11.0]);
    exact(&m.get(0)?.get(2)?, &[], &[2.0]);
    Ok(())
}

#[test]
fn index_select_gather_scatter_add_index_add() -> R {
    for dt in FLOATS {
        let m = mk(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[3, 3], dt);
        let r = m.index_select(0, &i64s(&[2, 0, 2]))?;
        check(
            &r,
            dt,
            &[3, 3],
            &[6.0, 7.0, 8.0, 0.0, 1.0, 2.0, 6.0, 7.0, 8.0],
        );
        let r = m.index_select(-1, &i64s(&[1, 1]))?;
        check(&r, dt, &[3, 2], &[1.0, 1.0, 4.0, 4.0, 7.0, 7.0]);
        check(&m.index_select(0, &i64s(&[]))?, dt, &[0, 3], &[]);
        // the torch.gather example
        let g = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        let idx = Tensor::from_vec(vec![0i64, 0, 1, 0], &[2, 2])?;
        check(&g.gather(1, &idx)?, dt, &[2, 2], &[1.0, 1.0, 4.0, 3.0]);
        check(&g.gather(0, &idx)?, dt, &[2, 2], &[1.0, 2.0, 3.0, 2.0]);
        // an index smaller than the input along the other dim
        let idx = Tensor::from_vec(vec![1i64, 0, 1], &[1, 3])?;
        check(&m.gather(0, &idx)?, dt, &[1, 3], &[3.0, 1.0, 5.0]);
        // scatter_add (torch's example with a full-size source), onto zeros and onto values
        let idx = Tensor::from_vec(vec![0i64, 1, 2, 0, 0, 0, 1, 2, 2, 2], &[2, 5])?;
        let src = mk(&[1.0; 10], &[2, 5], dt);
        let z = mk(&[0.0; 15], &[3, 5], dt);
        let want = [
            2.0, 0.0, 0.0, 1.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 1.0, 1.0,
        ];
        check(&z.scatter_add(0, &idx, &src)?, dt, &[3, 5], &want);
        let base = mk(&[10.0; 15], &[3, 5], dt);
        let want10: Vec<f64> = want.iter().map(|v| v + 10.0).collect();
        check(&base.scatter_add(0, &idx, &src)?, dt, &[3, 5], &want10);
        // along dim 1
        let idx = Tensor::from_vec(vec![0i64, 0, 1, 2, 2, 2], &[2, 3])?;
        let src = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], dt);
        check(
            &mk(&[0.0; 6], &[2, 3], dt).scatter_add(1, &idx, &src)?,
            dt,
            &[2, 3],
            &[3.0, 3.0, 0.0, 0.0, 0.0, 15.0],
        );
        // the torch.index_add example, and repeated indices accumulating
        let x = mk(&[1.0; 15], &[5, 3], dt);
        let t = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[3, 3], dt);
        let r = x.index_add(0, &i64s(&[0, 4, 2]), &t)?;
        let want = [
            2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 8.0, 9.0, 10.0, 1.0, 1.0, 1.0, 5.0, 6.0, 7.0,
        ];
        check(&r, dt, &[5, 3], &want);
        let r = mk(&[0.0; 6], &[2, 3], dt).index_add(
            1,
            &i64s(&[2, 2]),
            &mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt),
        )?;
        check(&r, dt, &[2, 3], &[0.0, 0.0, 3.0, 0.0, 0.0, 7.0]);
    }
    Ok(())
}

#[test]
fn cat_stack_split_chunk() -> R {
    let a = m64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let b = m64(&[5.0, 6.0], &[1, 2]);
    exact(
        &Tensor::cat(&[a.clone(), b.clone()], 0)?,
        &[3, 2],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    );
    let c = m64(&[7.0, 8.0], &[2, 1]);
    exact(
        &Tensor::cat(&[a.clone(), c.clone(), a.clone()], -1)?,
        &[2, 5],
        &[1.0, 2.0, 7.0, 1.0, 2.0, 3.0, 4.0, 8.0, 3.0, 4.0],
    );
    exact(
        &Tensor::cat(std::slice::from_ref(&a), 0)?,
        &[2, 2],
        &[1.0, 2.0, 3.0, 4.0],
    );
    // cat of a transposed view
    exact(
        &Tensor::cat(&[a.t()?, b.clone()], 0)?,
        &[3, 2],
        &[1.0, 3.0, 2.0, 4.0, 5.0, 6.0],
    );
    let d = m64(&[5.0, 6.0, 7.0, 8.0], &[2, 2]);
    exact(
        &Tensor::stack(&[a.clone(), d.clone()], 0)?,
        &[2, 2, 2],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    );
    exact(
        &Tensor::stack(&[a.clone(), d.clone()], 1)?,
        &[2, 2, 2],
        &[1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0],
    );
    exact(
        &Tensor::stack(&[a.clone(), d.clone()], -1)?,
        &[2, 2, 2],
        &[1.0, 5.0, 2.0, 6.0, 3.0, 7.0, 4.0, 8.0],
    );
    exact(
        &Tensor::stack(&[Tensor::scalar(1.0), Tensor::scalar(2.0)], 0)?,
        &[2],
        &[1.0, 2.0],
    );
    let x = seq(&[5]);
    let parts = x.split(2, 0)?;
    assert_eq!(parts.len(), 3);
    exact(&parts[0], &[2], &[0.0, 1.0]);
    exact(&parts[1], &[2], &[2.0, 3.0]);
    exact(&parts[2], &[1], &[4.0]);
    let parts = x.chunk(3, 0)?;
    assert_eq!(
        parts.iter().map(|p| p.shape()[0]).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let parts = seq(&[6]).chunk(4, 0)?; // as torch.chunk: 3 chunks of 2
    assert_eq!(
        parts.iter().map(|p| p.shape()[0]).collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
    exact(&parts[2], &[2], &[4.0, 5.0]);
    let parts = seq(&[2, 3]).split(2, -1)?;
    exact(&parts[0], &[2, 2], &[0.0, 1.0, 3.0, 4.0]);
    exact(&parts[1], &[2, 1], &[2.0, 5.0]);
    // splitting and concatenating again is the identity
    let y = seq(&[4, 3]);
    assert_eq!(vals(&Tensor::cat(&y.chunk(3, 0)?, 0)?), vals(&y));
    Ok(())
}

#[test]
fn flip_diagonal_diag_trace() -> R {
    let a = m64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    exact(&a.flip(&[0])?, &[2, 2], &[3.0, 4.0, 1.0, 2.0]);
    exact(&a.flip(&[-1])?, &[2, 2], &[2.0, 1.0, 4.0, 3.0]);
    exact(&a.flip(&[0, 1])?, &[2, 2], &[4.0, 3.0, 2.0, 1.0]);
    exact(&a.flip(&[0])?.flip(&[0])?, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);

    let m = seq(&[3, 3]);
    exact(&m.diagonal(0, 0, 1)?, &[3], &[0.0, 4.0, 8.0]);
    exact(&m.diagonal(1, 0, 1)?, &[2], &[1.0, 5.0]);
    exact(&m.diagonal(2, 0, 1)?, &[1], &[2.0]);
    exact(&m.diagonal(3, 0, 1)?, &[0], &[]);
    exact(&m.diagonal(-1, 0, 1)?, &[2], &[3.0, 7.0]);
    exact(&m.diagonal(-2, 0, 1)?, &[1], &[6.0]);
    exact(&m.diagonal(-5, 0, 1)?, &[0], &[]);
    // dims swapped: the diagonal of the transpose
    exact(&m.diagonal(1, 1, 0)?, &[2], &[3.0, 7.0]);
    let r = seq(&[2, 3]);
    exact(&r.diagonal(0, 0, 1)?, &[2], &[0.0, 4.0]);
    exact(&r.diagonal(1, 0, 1)?, &[2], &[1.0, 5.0]);
    exact(&r.diagonal(2, 0, 1)?, &[1], &[2.0]);
    exact(&r.diagonal(-1, 0, 1)?, &[1], &[3.0]);
    // batched: diagonal over dims 1, 2, and over dims 0, 2 (out[j, i] = x[i, j, i])
    let b = seq(&[2, 2, 2]);
    exact(&b.diagonal(0, 1, 2)?, &[2, 2], &[0.0, 3.0, 4.0, 7.0]);
    exact(&b.diagonal(0, -1, -2)?, &[2, 2], &[0.0, 3.0, 4.0, 7.0]);
    exact(&b.diagonal(0, 0, 2)?, &[2, 2], &[0.0, 5.0, 2.0, 7.0]);

    for dt in FLOATS {
        let v = mk(&[1.0, 2.0, 3.0], &[3], dt);
        check(
            &v.diag()?,
            dt,
            &[3, 3],
            &[1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0],
        );
        check(&v.diag()?.diag()?, dt, &[3], &[1.0, 2.0, 3.0]);
        check(
            &mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt).trace()?,
            dt,
            &[],
            &[5.0],
        );
        check(
            &mk(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3], dt).trace()?,
            dt,
            &[],
            &[4.0],
        );
    }
    exact(&seq(&[2, 3]).diag()?, &[2], &[0.0, 4.0]);
    Ok(())
}

#[test]
fn tril_and_triu() -> R {
    let m = m64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[3, 3]);
    exact(
        &m.tril(0)?,
        &[3, 3],
        &[1.0, 0.0, 0.0, 4.0, 5.0, 0.0, 7.0, 8.0, 9.0],
    );
    exact(
        &m.tril(-1)?,
        &[3, 3],
        &[0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 7.0, 8.0, 0.0],
    );
    exact(
        &m.tril(1)?,
        &[3, 3],
        &[1.0, 2.0, 0.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    );
    exact(
        &m.triu(0)?,
        &[3, 3],
        &[1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 0.0, 9.0],
    );
    exact(
        &m.triu(1)?,
        &[3, 3],
        &[0.0, 2.0, 3.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0],
    );
    exact(
        &m.triu(-1)?,
        &[3, 3],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 8.0, 9.0],
    );
    exact(&m.triu(5)?, &[3, 3], &[0.0; 9]);
    exact(&m.tril(-5)?, &[3, 3], &[0.0; 9]);
    // non-square and batched
    let r = m64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    exact(&r.triu(1)?, &[2, 3], &[0.0, 2.0, 3.0, 0.0, 0.0, 6.0]);
    exact(&r.tril(0)?, &[2, 3], &[1.0, 0.0, 0.0, 4.0, 5.0, 0.0]);
    let b = Tensor::stack(&[r.clone(), r.mul_scalar(10.0)?], 0)?;
    exact(
        &b.tril(0)?,
        &[2, 2, 3],
        &[
            1.0, 0.0, 0.0, 4.0, 5.0, 0.0, 10.0, 0.0, 0.0, 40.0, 50.0, 0.0,
        ],
    );
    // a triangle and its complement add up to the matrix
    exact(&m.tril(0)?.add(&m.triu(1)?)?, &[3, 3], &vals(&m));
    // f32 and i64 keep their dtype
    assert_eq!(
        Tensor::from_vec(vec![1.0f32; 4], &[2, 2])?
            .triu(0)?
            .to_vec::<f32>()?,
        vec![1.0, 1.0, 0.0, 1.0]
    );
    assert_eq!(
        Tensor::from_vec(vec![1i64; 4], &[2, 2])?
            .tril(0)?
            .to_vec::<i64>()?,
        vec![1, 0, 1, 1]
    );
    Ok(())
}

#[test]
fn one_hot() -> R {
    let h = i64s(&[0, 2, 1]).one_hot(3)?;
    assert_eq!(h.dtype(), DType::I64);
    assert_eq!(h.shape(), &[3, 3]);
    assert_eq!(h.to_vec::<i64>()?, vec![1, 0, 0, 0, 0, 1, 0, 1, 0]);
    let h = Tensor::from_vec(vec![3i64, 0], &[2, 1])?.one_hot(4)?;
    assert_eq!(h.shape(), &[2, 1, 4]);
    assert_eq!(h.to_vec::<i64>()?, vec![0, 0, 0, 1, 1, 0, 0, 0]);
    let h = Tensor::scalar(1i64).one_hot(2)?;
    assert_eq!(h.shape(), &[2]);
    assert_eq!(h.to_vec::<i64>()?, vec![0, 1]);
    Ok(())
}

// ----------------------------------------------------------------------------- products

/// A plain triple loop: `[n, k] x [k, m]`, for checking batched products.
fn naive_mm(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            for l in 0..k {
                out[i * m + j] += a[i * k + l] * b[l * m + j];
            }
        }
    }
    out
}

#[test]
fn matmul_cases() -> R {
    for dt in FLOATS {
        let v = mk(&[1.0, 2.0, 3.0], &[3], dt);
        let w = mk(&[4.0, 5.0, 6.0], &[3], dt);
        check(&v.matmul(&w)?, dt, &[], &[32.0]);
        let a = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        let u = mk(&[1.0, 1.0], &[2], dt);
        check(&a.matmul(&u)?, dt, &[2], &[3.0, 7.0]);
        check(&u.matmul(&a)?, dt, &[2], &[4.0, 6.0]);
        let b = mk(&[5.0, 6.0, 7.0, 8.0], &[2, 2], dt);
        check(&a.matmul(&b)?, dt, &[2, 2], &[19.0, 22.0, 43.0, 50.0]);
        check(&b.matmul(&a)?, dt, &[2, 2], &[23.0, 34.0, 31.0, 46.0]);
        // [2, 3] x [3, 2]
        let c = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], dt);
        let d = mk(&[7.0, 8.0, 9.0, 10.0, 11.0, 12.0], &[3, 2], dt);
        check(&c.matmul(&d)?, dt, &[2, 2], &[58.0, 64.0, 139.0, 154.0]);
        // transposed operands (non-contiguous): cᵀ cᵀᵀ = cᵀ c
        check(
            &c.t()?.matmul(&c)?,
            dt,
            &[3, 3],
            &[17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0],
        );
        // batched with broadcasting: [2, 1, 2, 3] x [3, 3, 2] -> [2, 3, 2, 2]
        let av: Vec<f64> = (0..12).map(|i| i as f64 - 5.0).collect();
        let bv: Vec<f64> = (0..18).map(|i| (i % 7) as f64 * 0.5).collect();
        let p = mk(&av, &[2, 1, 2, 3], dt);
        let q = mk(&bv, &[3, 3, 2], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            for j in 0..3 {
                want.extend(naive_mm(
                    &av[i * 6..i * 6 + 6],
                    &bv[j * 6..j * 6 + 6],
                    2,
                    3,
                    2,
                ));
            }
        }
        check(&p.matmul(&q)?, dt, &[2, 3, 2, 2], &want);
        // a batch times one matrix
        let bs = mk(&av, &[2, 2, 3], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            want.extend(naive_mm(&av[i * 6..i * 6 + 6], &vals(&d), 2, 3, 2));
        }
        check(&bs.matmul(&d)?, dt, &[2, 2, 2], &want);
        // a batch times a vector, a vector times a batch
        check(
            &bs.matmul(&v)?,
            dt,
            &[2, 2],
            &naive_mm(&av, &[1.0, 2.0, 3.0], 4, 3, 1),
        );
        let e = mk(&bv, &[3, 2, 3], dt);
        let mut want = Vec::new();
        for j in 0..3 {
            want.extend(naive_mm(&[1.0, 1.0], &bv[j * 6..j * 6 + 6], 1, 2, 3));
        }
        check(&u.matmul(&e)?, dt, &[3, 3], &want);
    }
    Ok(())
}

#[test]
fn dot_mv_outer() -> R {
    for dt in FLOATS {
        let v = mk(&[1.0, 2.0, 3.0], &[3], dt);
        let w = mk(&[4.0, -5.0, 6.0], &[3], dt);
        check(&v.dot(&w)?, dt, &[], &[12.0]);
        let a = mk(&[1.0, 0.0, 2.0, 0.0, 1.0, 0.0], &[2, 3], dt);
        check(&a.mv(&v)?, dt, &[2], &[7.0, 2.0]);
        check(
            &v.outer(&mk(&[1.0, 10.0], &[2], dt))?,
            dt,
            &[3, 2],
            &[1.0, 10.0, 2.0, 20.0, 3.0, 30.0],
        );
    }
    Ok(())
}

#[test]
fn einsum_cases() -> R {
    for dt in FLOATS {
        let a = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        let b = mk(&[5.0, 6.0, 7.0, 8.0], &[2, 2], dt);
        let ab = [19.0, 22.0, 43.0, 50.0];
        check(&Tensor::einsum("ij,jk->ik", &[&a, &b])?, dt, &[2, 2], &ab);
        check(&Tensor::einsum("ij,jk", &[&a, &b])?, dt, &[2, 2], &ab);
        check(
            &Tensor::einsum(" ij , jk -> ik ", &[&a, &b])?,
            dt,
            &[2, 2],
            &ab,
        );
        // (AB)ᵀ
        check(
            &Tensor::einsum("ij,jk->ki", &[&a, &b])?,
            dt,
            &[2, 2],
            &[19.0, 43.0, 22.0, 50.0],
        );
        check(&Tensor::einsum("ii->", &[&a])?, dt, &[], &[5.0]);
        check(&Tensor::einsum("ii->i", &[&a])?, dt, &[2], &[1.0, 4.0]);
        check(
            &Tensor::einsum("ij->ji", &[&a])?,
            dt,
            &[2, 2],
            &[1.0, 3.0, 2.0, 4.0],
        );
        // implicit output of one operand: letters in order, so "ji" transposes
        check(
            &Tensor::einsum("ji", &[&a])?,
            dt,
            &[2, 2],
            &[1.0, 3.0, 2.0, 4.0],
        );
        check(&Tensor::einsum("ij->", &[&a])?, dt, &[], &[10.0]);
        check(&Tensor::einsum("ij->j", &[&a])?, dt, &[2], &[4.0, 6.0]);
        // elementwise product summed (Frobenius inner product), dot, outer
        check(&Tensor::einsum("ij,ij->", &[&a, &b])?, dt, &[], &[70.0]);
        check(
            &Tensor::einsum("ij,ij->ij", &[&a, &b])?,
            dt,
            &[2, 2],
            &[5.0, 12.0, 21.0, 32.0],
        );
        let v = mk(&[1.0, 2.0], &[2], dt);
        let w = mk(&[3.0, 4.0, 5.0], &[3], dt);
        check(&Tensor::einsum("i,i->", &[&v, &v])?, dt, &[], &[5.0]);
        check(&Tensor::einsum("i,i", &[&v, &v])?, dt, &[], &[5.0]);
        check(
            &Tensor::einsum("i,j->ij", &[&v, &w])?,
            dt,
            &[2, 3],
            &[3.0, 4.0, 5.0, 6.0, 8.0, 10.0],
        );
        check(
            &Tensor::einsum("ij,j->i", &[&a, &v])?,
            dt,
            &[2],
            &[5.0, 11.0],
        );
        // batched
        let xv: Vec<f64> = (0..12).map(|i| i as f64).collect();
        let yv: Vec<f64> = (0..12).map(|i| (i as f64) * 0.5 - 2.0).collect();
        let x = mk(&xv, &[2, 2, 3], dt);
        let y = mk(&yv, &[2, 3, 2], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            want.extend(naive_mm(
                &xv[i * 6..i * 6 + 6],
                &yv[i * 6..i * 6 + 6],
                2,
                3,
                2,
            ));
        }
        check(
            &Tensor::einsum("bij,bjk->bik", &[&x, &y])?,
            dt,
            &[2, 2, 2],
            &want,
        );
        // bij,bkj->bik contracts with the transpose of y's matrices
        let yt = mk(&yv, &[2, 2, 3], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            let m = &yv[i * 6..i * 6 + 6];
            let mt: Vec<f64> = (0..6).map(|p| m[(p % 2) * 3 + p / 2]).collect();
            want.extend(naive_mm(&xv[i * 6..i * 6 + 6], &mt, 2, 3, 2));
        }
        check(
            &Tensor::einsum("bij,bkj->bik", &[&x, &yt])?,
            dt,
            &[2, 2, 2],
            &want,
        );
    }
    Ok(())
}

// ----------------------------------------------------------------------------- linear algebra

#[test]
fn det_slogdet_logdet() -> R {
    for dt in FLOATS {
        let t = tol(dt) * 4.0;
        let a = mk(&[4.0, 7.0, 2.0, 6.0], &[2, 2], dt);
        assert_close(&vals(&a.det()?), &[10.0], t);
        assert_eq!(a.det()?.shape(), &[] as &[usize]);
        let b = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        assert_close(&vals(&b.det()?), &[-2.0], t);
        let (s, l) = b.slogdet()?;
        assert_close(&vals(&s), &[-1.0], 0.0);
        assert_close(&vals(&l), &[LN_2], t);
        assert!(vals(&b.logdet()?)[0].is_nan());
        assert_close(&vals(&a.logdet()?), &[10f64.ln()], t);
        // a permutation matrix, a diagonal 3x3, a 3x3 needing pivoting
        let p = mk(&[0.0, 1.0, 1.0, 0.0], &[2, 2], dt);
        assert_close(&vals(&p.det()?), &[-1.0], t);
        let d = mk(&[2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 4.0], &[3, 3], dt);
        assert_close(&vals(&d.det()?), &[24.0], t);
        // det [[0,2,1],[1,1,1],[2,1,3]] = 0(3-1) - 2(3-2) + 1(1-2) = -3
        let c = mk(&[0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0], &[3, 3], dt);
        assert_close(&vals(&c.det()?), &[-3.0], t);
        // batched: [3, 2, 2]
        let batch = Tensor::stack(
            &[a.clone(), b.clone(), mk(&[2.0, 0.0, 0.0, 0.5], &[2, 2], dt)],
            0,
        )?;
        let det = batch.det()?;
        assert_eq!(det.shape(), &[3]);
        assert_close(&vals(&det), &[10.0, -2.0, 1.0], t);
        let (s, l) = batch.slogdet()?;
        assert_eq!(vals(&s), vec![1.0, -1.0, 1.0]);
        assert_close(&vals(&l), &[10f64.ln(), LN_2, 0.0], t);
        let ld = vals(&batch.logdet()?);
        assert!(ld[1].is_nan());
        assert_close(&[ld[0], ld[2]], &[10f64.ln(), 0.0], t);
        // a singular matrix: det 0, slogdet (0, -inf), no error
        let z = mk(&[1.0, 2.0, 2.0, 4.0], &[2, 2], dt);
        assert_eq!(vals(&z.det()?), vec![0.0]);
        let (s, l) = z.slogdet()?;
        assert_eq!(vals(&s), vec![0.0]);
        assert_eq!(vals(&l), vec![f64::NEG_INFINITY]);
        // det of a 1x1
        assert_close(&vals(&mk(&[-3.5], &[1, 1], dt).det()?), &[-3.5], t);
    }
    Ok(())
}

#[test]
fn inv_and_solve() -> R {
    for dt in FLOATS {
        let t = tol(dt) * 8.0;
        let a = mk(&[4.0, 7.0, 2.0, 6.0], &[2, 2], dt);
        let ai = a.inv()?;
        assert_eq!(ai.shape(), &[2, 2]);
        assert_close(&vals(&ai), &[0.6, -0.7, -0.2, 0.4], t);
        assert_close(&vals(&ai.matmul(&a)?), &[1.0, 0.0, 0.0, 1.0], t);
        // batched inverse; each times its matrix is the identity
        let b = mk(&[2.0, 1.0, 1.0, 3.0], &[2, 2], dt);
        let batch = Tensor::stack(&[a.clone(), b.clone()], 0)?;
        let bi = batch.inv()?;
        assert_eq!(bi.shape(), &[2, 2, 2]);
        assert_close(&vals(&bi), &[0.6, -0.7, -0.2, 0.4, 0.6, -0.2, -0.2, 0.4], t);
        assert_close(
            &vals(&batch.matmul(&bi)?),
            &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
            t,
        );
        // 2x + y = 3, x + 3y = 5  =>  x = 0.8, y = 1.4
        let rhs = mk(&[3.0, 5.0], &[2], dt);
        let x = b.solve(&rhs)?;
        assert_eq!(x.shape(), &[2]);
        assert_close(&vals(&x), &[0.8, 1.4], t);
        // matrix right-hand side: columns (3, 5) and (1, 2)
        let rhs_m = mk(&[3.0, 1.0, 5.0, 2.0], &[2, 2], dt);
        let x = b.solve(&rhs_m)?;
        assert_eq!(x.shape(), &[2, 2]);
        assert_close(&vals(&x), &[0.8, 0.2, 1.4, 0.6], t);
        // a batch of matrices with one vector (broadcast over the batch)
        let x = batch.solve(&rhs)?;
        assert_eq!(x.shape(), &[2, 2]);
        // a x = (3, 5): x = a⁻¹ (3, 5) = (0.6*3 - 0.7*5, -0.2*3 + 0.4*5) = (-1.7, 1.4)
        assert_close(&vals(&x), &[-1.7, 1.4, 0.8, 1.4], t);
        // a batch of vectors [2, 2] for a batch [2, 2, 2] (B has one dim fewer than A)
        let rhs_b = mk(&[3.0, 5.0, 1.0, 2.0], &[2, 2], dt);
        let x = batch.solve(&rhs_b)?;
        assert_eq!(x.shape(), &[2, 2]);
        assert_close(&vals(&x), &[-1.7, 1.4, 0.2, 0.6], t);
        // one matrix against a batch of matrix right-hand sides [3, 2, 1]
        let rhs3 = mk(&[3.0, 5.0, 1.0, 2.0, 0.0, 5.0], &[3, 2, 1], dt);
        let x = b.solve(&rhs3)?;
        assert_eq!(x.shape(), &[3, 2, 1]);
        assert_close(&vals(&x), &[0.8, 1.4, 0.2, 0.6, -1.0, 2.0], t);
        // 3x3 diagonal
        let d = mk(&[2.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.5], &[3, 3], dt);
        assert_close(
            &vals(&d.solve(&mk(&[1.0, 1.0, 1.0], &[3], dt))?),
            &[0.5, 0.25, 2.0],
            t,
        );
        assert_close(
            &vals(&d.inv()?),
            &[0.5, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 2.0],
            t,
        );
    }
    Ok(())
}

#[test]
fn cholesky_known_factors() -> R {
    for dt in FLOATS {
        let t = tol(dt) * 8.0;
        let a = mk(&[4.0, 2.0, 2.0, 3.0], &[2, 2], dt);
        let l = a.cholesky()?;
        assert_eq!(l.dtype(), dt);
        assert_close(&vals(&l), &[2.0, 0.0, 1.0, SQRT_2], t);
        // the classic 3x3 example with an integer factor
        let b = mk(
            &[4.0, 12.0, -16.0, 12.0, 37.0, -43.0, -16.0, -43.0, 98.0],
            &[3, 3],
            dt,
        );
        let l = b.cholesky()?;
        assert_close(
            &vals(&l),
            &[2.0, 0.0, 0.0, 6.0, 1.0, 0.0, -8.0, 5.0, 3.0],
            t,
        );
        // L Lᵀ gives back the matrix
        assert_close(&vals(&l.matmul(&l.t()?)?), &vals(&b), t);
        // batched
        let i2 = mk(&[9.0, 0.0, 0.0, 16.0], &[2, 2], dt);
        let l = Tensor::stack(&[a.clone(), i2], 0)?.cholesky()?;
        assert_eq!(l.shape(), &[2, 2, 2]);
        assert_close(&vals(&l), &[2.0, 0.0, 1.0, SQRT_2, 3.0, 0.0, 0.0, 4.0], t);
    }
    Ok(())
}

// ----------------------------------------------------------------------------- creation

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
    let z = Tensor::zeros(&[2, 2], DType::I64);
    assert_eq!(z.to_vec::<i64>()?, vec![0; 4]);
    let o = Tensor::ones(&[3], DType::Bool);
    assert_eq!(o.to_vec::<bool>()?, vec![true; 3]);
    let f = Tensor::full(&[2], 1.5, DType::F32);
    assert_eq!(f.to_vec::<f32>()?, vec![1.5; 2]);
    let f = Tensor::full(&[], -2.7, DType::I64);
    assert_eq!(f.to_vec::<i64>()?, vec![-2]);
    assert_eq!(Tensor::zeros(&[0, 3], DType::F64).numel(), 0);
    // *_like keep shape and dtype
    let zl = t.zeros_like();
    assert_eq!((zl.shape(), zl.dtype()), (t.shape(), DType::F32));
    assert_eq!(zl.to_vec::<f32>()?, vec![0.0; 6]);
    assert_eq!(t.ones_like().to_vec::<f32>()?, vec![1.0; 6]);
    assert_eq!(t.full_like(7.0).to_vec::<f32>()?, vec![7.0; 6]);
    // eye
    let e = Tensor::eye(3, DType::F64);
    assert_eq!(e.shape(), &[3, 3]);
    assert_eq!(f64s(&e), vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(
        Tensor::eye(2, DType::I64).to_vec::<i64>()?,
        vec![1, 0, 0, 1]
    );
    assert_eq!(Tensor::eye(0, DType::F32).shape(), &[0, 0]);
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
        &Tensor::linspace(0.0, 1.0, 5, DType::F64),
        &[5],
        &[0.0, 0.25, 0.5, 0.75, 1.0],
    );
    exact(
        &Tensor::linspace(-1.0, 1.0, 3, DType::F64),
        &[3],
        &[-1.0, 0.0, 1.0],
    );
    exact(&Tensor::linspace(2.0, 9.0, 1, DType::F64), &[1], &[2.0]);
    exact(&Tensor::linspace(2.0, 9.0, 0, DType::F64), &[0], &[]);
    let l = Tensor::linspace(0.0, 1.0, 3, DType::F32);
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
    let r = Tensor::zeros(&[2], DType::F32).rand_like()?;
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

// ----------------------------------------------------------------------------- display

#[test]
fn display_like_pytorch() -> R {
    assert_eq!(
        Tensor::from_slice(&[1.5f32, -2.25, 3.0]).to_string(),
        "tensor([ 1.5000, -2.2500,  3.0000])"
    );
    assert_eq!(
        m64(&[1.0, 2.5, -3.0, 4.0], &[2, 2]).to_string(),
        "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]], dtype=float64)"
    );
    assert_eq!(
        Tensor::from_slice(&[1.0f32, 2.0]).to_string(),
        "tensor([1., 2.])"
    );
    assert_eq!(Tensor::scalar(3.0f32).to_string(), "tensor(3.)");
    assert_eq!(
        Tensor::scalar(2.5f64).to_string(),
        "tensor(2.5000, dtype=float64)"
    );
    assert_eq!(Tensor::scalar(3i64).to_string(), "tensor(3)");
    assert_eq!(
        Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], &[2, 3])?.to_string(),
        "tensor([[1, 2, 3],\n        [4, 5, 6]])"
    );
    assert_eq!(
        Tensor::from_vec(vec![-1i64, 20], &[2])?.to_string(),
        "tensor([-1, 20])"
    );
    assert_eq!(bools(&[true, false]).to_string(), "tensor([ True, False])");
    assert_eq!(
        Tensor::from_vec((0..8).collect::<Vec<i64>>(), &[2, 2, 2])?.to_string(),
        "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])"
    );
    assert_eq!(
        Tensor::from_slice(&[f32::NAN, f32::INFINITY, -1.0]).to_string(),
        "tensor([nan, inf, -1.])"
    );
    assert_eq!(
        Tensor::from_slice(&[0.5f32, f32::NEG_INFINITY]).to_string(),
        "tensor([0.5000,   -inf])"
    );
    // a view prints its logical order
    assert_eq!(
        Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2])?
            .t()?
            .to_string(),
        "tensor([[1, 3],\n        [2, 4]])"
    );
    // scientific notation, with PyTorch's two-digit signed exponent
    assert_eq!(
        Tensor::from_slice(&[1e-5f32, 1.0]).to_string(),
        "tensor([1.0000e-05, 1.0000e+00])"
    );
    assert_eq!(
        Tensor::from_slice(&[1.5e10f32, -2.0]).to_string(),
        "tensor([ 1.5000e+10, -2.0000e+00])"
    );
    // PyTorch switches to scientific notation when max / min > 1000, integers too
    assert_eq!(
        Tensor::from_slice(&[1.0f32, 2000.0]).to_string(),
        "tensor([1.0000e+00, 2.0000e+03])"
    );
    assert_eq!(
        Tensor::from_slice(&[0.5f32, 1000.0]).to_string(),
        "tensor([5.0000e-01, 1.0000e+03])"
    );
    assert_eq!(
        Tensor::from_slice(&[1.0f32, 1000.0]).to_string(),
        "tensor([   1., 1000.])"
    );
    assert_eq!(
        Tensor::from_slice(&[0.0f32, 0.001]).to_string(),
        "tensor([0.0000, 0.0010])"
    );
    // empty tensors
    assert_eq!(Tensor::zeros(&[0], DType::F32).to_string(), "tensor([])");
    assert_eq!(
        Tensor::zeros(&[0], DType::I64).to_string(),
        "tensor([], dtype=int64)"
    );
    assert_eq!(
        Tensor::zeros(&[2, 0], DType::F32).to_string(),
        "tensor([], size=(2, 0))"
    );
    assert_eq!(
        Tensor::zeros(&[0, 3], DType::F64).to_string(),
        "tensor([], size=(0, 3), dtype=float64)"
    );
    assert_eq!(
        Tensor::zeros(&[0], DType::Bool).to_string(),
        "tensor([], dtype=bool)"
    );
    // 2-d summary: "  ..." inside a row, "..." on a line of its own
    let big = Tensor::zeros(&[100, 100], DType::F32);
    let row = "[0., 0., 0.,  ..., 0., 0., 0.]";
    let want = format!(
        "tensor([{row},\n        {row},\n        {row},\n        ...,\n        {row},\n        {row},\n        {row}])"
    );
    assert_eq!(big.to_string(), want);
    // nan and inf do not widen the column (PyTorch pads to the widest nonzero finite value)
    assert_eq!(
        Tensor::from_slice(&[1.0f32, f32::NEG_INFINITY]).to_string(),
        "tensor([1., -inf])"
    );
    // i64 values print exactly, beyond f64's 2^53
    assert_eq!(
        Tensor::scalar(9_007_199_254_740_993i64).to_string(),
        "tensor(9007199254740993)"
    );
    // rows wrap at 80 columns, as PyTorch's linewidth
    assert_eq!(
        Tensor::arange(0.0, 20.0, 1.0, DType::F32)?.to_string(),
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n        14., 15., 16., 17., 18., 19.])"
    );
    assert_eq!(
        Tensor::arange(0.0, 40.0, 1.0, DType::F32)?
            .reshape(&[2, 20])?
            .to_string(),
        "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n         14., 15., 16., 17., 18., 19.],\n        [20., 21., 22., 23., 24., 25., 26., 27., 28., 29., 30., 31., 32., 33.,\n         34., 35., 36., 37., 38., 39.]])"
    );
    assert_eq!(
        Tensor::arange(0.0, 20.0, 1.0, DType::I64)?.to_string(),
        "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n        18, 19])"
    );
    // a suffix that would pass 80 columns goes on its own line
    assert_eq!(
        Tensor::arange(0.0, 14.0, 1.0, DType::F64)?.to_string(),
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.],\n       dtype=float64)"
    );
    assert_eq!(
        Tensor::arange(0.0, 4.0, 1.0, DType::F64)?.to_string(),
        "tensor([0., 1., 2., 3.], dtype=float64)"
    );
    // summarized above 1000 elements: first and last three, with "..."
    let big = Tensor::arange(0.0, 2000.0, 1.0, DType::I64)?;
    assert_eq!(
        big.to_string(),
        "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
    );
    Ok(())
}

// ----------------------------------------------------------------------------- views

#[test]
fn views_share_storage_without_copying() -> R {
    let x = seq(&[2, 3]);
    let base = x.array().unwrap();
    assert_eq!(base.strides(), &[3, 1]);
    assert!(base.is_contiguous());

    let t = x.transpose(0, 1)?;
    let ta = t.array().unwrap();
    assert_eq!(ta.shape(), &[3, 2]);
    assert_eq!(ta.strides(), &[1, 3]);
    assert!(!ta.is_contiguous());
    assert_eq!(x.t()?.array().unwrap().strides(), &[1, 3]);

    let y = seq(&[2, 3, 4]);
    let p = y.permute(&[2, 0, 1])?;
    assert_eq!(p.array().unwrap().strides(), &[1, 12, 4]);
    assert_eq!(y.mt()?.array().unwrap().strides(), &[12, 1, 4]);
    assert_eq!(y.movedim(0, -1)?.array().unwrap().strides(), &[4, 1, 12]);

    let e = m64(&[1.0, 2.0, 3.0], &[3, 1]).expand(&[2, 3, 4])?;
    assert_eq!(e.array().unwrap().strides(), &[0, 1, 0]);
    let bt = t64(&[1.0, 2.0, 3.0]).broadcast_to(&[5, 3])?;
    assert_eq!(bt.array().unwrap().strides(), &[0, 1]);

    let s = seq(&[10]).slice(0, 1, 9, 3)?;
    assert_eq!(s.array().unwrap().strides(), &[3]);
    let s2 = y.slice(1, 1, 3, 1)?;
    assert_eq!(s2.array().unwrap().strides(), &[12, 4, 1]);
    let n = x.narrow(1, 1, 2)?;
    assert_eq!(n.array().unwrap().strides(), &[3, 1]);
    let sel = x.select(1, 2)?;
    assert_eq!(sel.array().unwrap().strides(), &[3]);
    let f = x.flip(&[1])?;
    assert_eq!(f.array().unwrap().strides(), &[3, -1]);

    // a view holds one shared buffer, so its data equals the base's buffer: viewing it
    // through the base layout again recovers the base
    let base_view = base.view::<f64>().unwrap();
    let t_view = ta.view::<f64>().unwrap();
    assert!(std::ptr::eq(base_view.data, t_view.data));
    let e_view = e.array().unwrap().view::<f64>().unwrap();
    assert_eq!(e_view.data.len(), 3);
    let s_view = s.array().unwrap().view::<f64>().unwrap();
    assert_eq!((s_view.data.len(), s_view.offset), (10, 1));
    // reshape of a contiguous tensor is a view too
    let r = x.reshape(&[3, 2])?;
    assert!(std::ptr::eq(
        r.array().unwrap().view::<f64>().unwrap().data,
        base_view.data
    ));
    Ok(())
}

// ----------------------------------------------------------------------------- errors

/// The error's message, after checking it names `op`.
#[track_caller]
fn msg_names(e: &Error, op: &str) -> String {
    let s = e.to_string();
    assert!(s.contains(op), "message {s:?} does not name {op:?}");
    s
}

#[test]
fn errors_mismatched_shapes() {
    let a = m64(&[1.0; 6], &[2, 3]);
    let b = m64(&[1.0; 6], &[3, 2]);
    match a.add(&b) {
        Err(e @ Error::Shape { op: "add", .. }) => {
            let s = msg_names(&e, "add");
            assert!(s.contains("[2, 3]") && s.contains("[3, 2]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    match a.matmul(&a) {
        Err(e @ Error::Shape { op: "matmul", .. }) => {
            let s = msg_names(&e, "matmul");
            assert!(s.contains("[2, 3]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    // batch dims that do not broadcast
    let p = m64(&[1.0; 8], &[2, 2, 2]);
    let q = m64(&[1.0; 12], &[3, 2, 2]);
    assert!(matches!(
        p.matmul(&q),
        Err(Error::Shape { op: "matmul", .. })
    ));
    assert!(matches!(
        Tensor::scalar(1.0).matmul(&t64(&[1.0])),
        Err(Error::Shape { op: "matmul", .. })
    ));
    match Tensor::cat(&[a.clone(), b.clone()], 0) {
        Err(e @ Error::Shape { op: "cat", .. }) => {
            let s = msg_names(&e, "cat");
            assert!(s.contains("[2, 3]") && s.contains("[3, 2]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Tensor::cat(&[a.clone(), t64(&[1.0])], 0),
        Err(Error::Shape { op: "cat", .. })
    ));
    assert!(matches!(
        Tensor::cat(&[], 0),
        Err(Error::Invalid { op: "cat", .. })
    ));
    match Tensor::stack(&[a.clone(), b.clone()], 0) {
        Err(e @ Error::Shape { op: "stack", .. }) => {
            let s = msg_names(&e, "stack");
            assert!(s.contains("[2, 3]") && s.contains("[3, 2]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    match a.reshape(&[4, -1]) {
        Err(e @ Error::Shape { op: "reshape", .. }) => {
            let s = msg_names(&e, "reshape");
            assert!(s.contains("[2, 3]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.reshape(&[5]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(
        a.reshape(&[-1, -1]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(
        a.reshape(&[-2, -3]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(
        a.expand(&[4, 3]),
        Err(Error::Shape { op: "expand", .. })
    ));
    assert!(matches!(
        a.expand(&[3]),
        Err(Error::Shape { op: "expand", .. })
    ));
    assert!(matches!(
        a.broadcast_to(&[3, 3]),
        Err(Error::Shape {
            op: "broadcast_to",
            ..
        })
    ));
    assert!(matches!(a.sub(&b), Err(Error::Shape { op: "sub", .. })));
    assert!(matches!(a.gt(&b), Err(Error::Shape { op: "gt", .. })));
    assert!(matches!(
        Tensor::where_(&bools(&[true, false]), &a, &a),
        Err(Error::Shape { op: "where", .. })
    ));
    assert!(matches!(a.dot(&a), Err(Error::Shape { op: "dot", .. })));
    assert!(matches!(
        a.mv(&t64(&[1.0, 2.0])),
        Err(Error::Shape { op: "mv", .. })
    ));
    assert!(matches!(a.outer(&a), Err(Error::Shape { op: "outer", .. })));
    assert!(matches!(a.det(), Err(Error::Shape { op: "det", .. })));
    assert!(matches!(a.inv(), Err(Error::Shape { op: "inv", .. })));
    assert!(matches!(
        t64(&[1.0]).cholesky(),
        Err(Error::Shape { op: "cholesky", .. })
    ));
    let sq = m64(&[1.0, 0.0, 0.0, 1.0], &[2, 2]);
    assert!(matches!(
        sq.solve(&t64(&[1.0, 2.0, 3.0])),
        Err(Error::Shape { op: "solve", .. })
    ));
    assert!(matches!(
        seq(&[2, 2, 2]).t(),
        Err(Error::Shape { op: "t", .. })
    ));
    assert!(matches!(t64(&[1.0]).mt(), Err(Error::Shape { .. })));
    assert!(matches!(
        t64(&[1.0]).tril(0),
        Err(Error::Shape { op: "tril", .. })
    ));
    assert!(matches!(
        seq(&[2, 2, 2]).diag(),
        Err(Error::Shape { op: "diag", .. })
    ));
    assert!(matches!(
        t64(&[1.0]).trace(),
        Err(Error::Shape { op: "trace", .. })
    ));
    assert!(matches!(
        a.permute(&[0]),
        Err(Error::Shape { op: "permute", .. })
    ));
    let idx = Tensor::from_vec(vec![0i64; 4], &[2, 2]);
    assert!(matches!(
        a.index_select(0, &idx.unwrap()),
        Err(Error::Shape {
            op: "index_select",
            ..
        })
    ));
    assert!(matches!(
        a.gather(0, &i64s(&[0, 1])),
        Err(Error::Shape { op: "gather", .. })
    ));
    assert!(matches!(
        a.scatter_add(0, &Tensor::from_vec(vec![0i64; 3], &[1, 3]).unwrap(), &a),
        Err(Error::Shape {
            op: "scatter_add",
            ..
        })
    ));
    assert!(matches!(
        a.index_add(0, &i64s(&[0]), &a),
        Err(Error::Shape {
            op: "index_add",
            ..
        })
    ));
    match Tensor::einsum("ij,jk->ik", &[&a, &a]) {
        Err(e @ Error::Invalid { op: "einsum", .. }) => {
            msg_names(&e, "einsum");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Tensor::einsum("ij->ik", &[&a]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    assert!(matches!(
        Tensor::einsum("ijk", &[&a]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    assert!(matches!(
        Tensor::einsum("ij,jk", &[&a]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
}

#[test]
fn errors_bad_dims() {
    let a = seq(&[2, 3]);
    match a.sum_dims(&[2], false) {
        Err(
            e @ Error::Dim {
                op: "sum",
                dim: 2,
                ndim: 2,
            },
        ) => {
            let s = msg_names(&e, "sum");
            assert_eq!(
                s,
                "sum: dimension 2 is out of range for a tensor of rank 2 (valid: -2..=1)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.sum_dims(&[-3], false),
        Err(Error::Dim {
            op: "sum",
            dim: -3,
            ..
        })
    ));
    assert!(matches!(
        a.mean_dims(&[5], false),
        Err(Error::Dim { op: "mean", .. })
    ));
    assert!(matches!(
        a.amax(&[2], false),
        Err(Error::Dim { op: "amax", .. })
    ));
    assert!(matches!(
        a.argmax(Some(2), false),
        Err(Error::Dim { op: "argmax", .. })
    ));
    assert!(matches!(
        a.prod_dim(3, false),
        Err(Error::Dim { op: "prod", .. })
    ));
    assert!(matches!(a.softmax(2), Err(Error::Dim { .. })));
    assert!(matches!(
        a.logsumexp(&[2], false),
        Err(Error::Dim {
            op: "logsumexp",
            ..
        })
    ));
    assert!(matches!(
        a.transpose(0, 2),
        Err(Error::Dim {
            op: "transpose",
            ..
        })
    ));
    assert!(matches!(
        a.permute(&[0, 2]),
        Err(Error::Dim { op: "permute", .. })
    ));
    match a.permute(&[0, 0]) {
        Err(e @ Error::Invalid { op: "permute", .. }) => {
            msg_names(&e, "permute");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.permute(&[1, -1]),
        Err(Error::Invalid { op: "permute", .. })
    ));
    assert!(matches!(
        a.sum_dims(&[0, -2], false),
        Err(Error::Invalid { op: "sum", .. })
    ));
    assert!(matches!(
        a.unsqueeze(3),
        Err(Error::Dim {
            op: "unsqueeze",
            ..
        })
    ));
    assert!(matches!(
        a.unsqueeze(-4),
        Err(Error::Dim {
            op: "unsqueeze",
            ..
        })
    ));
    assert!(matches!(
        a.squeeze(2),
        Err(Error::Dim { op: "squeeze", .. })
    ));
    assert!(matches!(a.flip(&[2]), Err(Error::Dim { op: "flip", .. })));
    assert!(matches!(
        a.slice(2, 0, 1, 1),
        Err(Error::Dim { op: "slice", .. })
    ));
    assert!(matches!(
        a.slice(0, 0, 1, 0),
        Err(Error::Invalid { op: "slice", .. })
    ));
    assert!(matches!(
        a.select(-3, 0),
        Err(Error::Dim { op: "select", .. })
    ));
    assert!(matches!(
        Tensor::cat(&[a.clone(), a.clone()], 2),
        Err(Error::Dim { op: "cat", .. })
    ));
    assert!(matches!(
        Tensor::stack(&[a.clone(), a.clone()], 3),
        Err(Error::Dim { op: "stack", .. })
    ));
    assert!(matches!(
        a.diagonal(0, 0, 0),
        Err(Error::Invalid { op: "diagonal", .. })
    ));
    assert!(matches!(
        a.diagonal(0, 0, 2),
        Err(Error::Dim { op: "diagonal", .. })
    ));
    assert!(matches!(
        a.flatten_dims(1, 0),
        Err(Error::Invalid { op: "flatten", .. })
    ));
    assert!(matches!(
        a.split(0, 0),
        Err(Error::Invalid { op: "split", .. })
    ));
    assert!(matches!(
        a.chunk(0, 0),
        Err(Error::Invalid { op: "chunk", .. })
    ));
    assert!(matches!(
        a.movedim(0, 5),
        Err(Error::Dim { op: "movedim", .. })
    ));
    assert!(matches!(a.dim(2), Err(Error::Dim { .. })));
    assert!(matches!(
        a.index_select(2, &i64s(&[0])),
        Err(Error::Dim {
            op: "index_select",
            ..
        })
    ));
    assert!(matches!(
        a.gather(-3, &a.to_dtype(DType::I64).unwrap()),
        Err(Error::Dim { op: "gather", .. })
    ));
    assert!(matches!(
        a.norm_dims(-1.0, &[], false),
        Err(Error::Invalid { op: "norm", .. })
    ));
}

#[test]
fn errors_out_of_range_indices() {
    let a = seq(&[2, 3]);
    match a.index_select(1, &i64s(&[0, 3])) {
        Err(
            e @ Error::Index {
                op: "index_select",
                index: 3,
                dim: 1,
                size: 3,
            },
        ) => {
            let s = msg_names(&e, "index_select");
            assert!(s.contains("index 3") && s.contains("size 3"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.index_select(0, &i64s(&[-1])),
        Err(Error::Index {
            op: "index_select",
            index: -1,
            ..
        })
    ));
    let idx = Tensor::from_vec(vec![0i64, 5, 1, 0], &[2, 2]).unwrap();
    match a.gather(1, &idx) {
        Err(
            e @ Error::Index {
                op: "gather",
                index: 5,
                dim: 1,
                size: 3,
            },
        ) => {
            msg_names(&e, "gather");
        }
        other => panic!("{other:?}"),
    }
    let idx = Tensor::from_vec(vec![0i64, 2, 1], &[1, 3]).unwrap();
    assert!(matches!(
        a.scatter_add(0, &idx, &seq(&[1, 3])),
        Err(Error::Index {
            op: "scatter_add",
            index: 2,
            ..
        })
    ));
    assert!(matches!(
        a.index_add(0, &i64s(&[0, 2]), &seq(&[2, 3])),
        Err(Error::Index {
            op: "index_add",
            index: 2,
            ..
        })
    ));
    match a.select(0, 2) {
        Err(
            e @ Error::Index {
                op: "select",
                index: 2,
                dim: 0,
                size: 2,
            },
        ) => {
            msg_names(&e, "select");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.select(1, -4),
        Err(Error::Index {
            op: "select",
            index: -4,
            ..
        })
    ));
    assert!(matches!(a.get(5), Err(Error::Index { op: "select", .. })));
    match a.narrow(1, 2, 2) {
        Err(e @ Error::Index { op: "narrow", .. }) => {
            msg_names(&e, "narrow");
        }
        other => panic!("{other:?}"),
    }
    match i64s(&[0, 3]).one_hot(3) {
        Err(
            e @ Error::Index {
                op: "one_hot",
                index: 3,
                size: 3,
                ..
            },
        ) => {
            msg_names(&e, "one_hot");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        i64s(&[-1]).one_hot(3),
        Err(Error::Index {
            op: "one_hot",
            index: -1,
            ..
        })
    ));
}

#[test]
fn errors_dtype_mismatches() {
    let f64t = t64(&[1.0, 2.0]);
    let f32t = Tensor::from_slice(&[1.0f32, 2.0]);
    let i = i64s(&[1, 2]);
    match f32t.add(&f64t) {
        Err(
            e @ Error::DType {
                op: "add",
                expected: "float32",
                got: DType::F64,
            },
        ) => {
            let s = msg_names(&e, "add");
            assert_eq!(s, "add: expected float32, got float64");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f64t.mul(&f32t),
        Err(Error::DType { op: "mul", .. })
    ));
    assert!(matches!(f64t.add(&i), Err(Error::DType { op: "add", .. })));
    assert!(matches!(
        f64t.matmul(&f32t),
        Err(Error::DType { op: "matmul", .. })
    ));
    assert!(matches!(
        i.matmul(&i),
        Err(Error::DType { op: "matmul", .. })
    ));
    assert!(matches!(f64t.lt(&f32t), Err(Error::DType { op: "lt", .. })));
    assert!(matches!(
        Tensor::cat(&[f64t.clone(), f32t.clone()], 0),
        Err(Error::DType { op: "cat", .. })
    ));
    assert!(matches!(
        Tensor::stack(&[f64t.clone(), f32t.clone()], 0),
        Err(Error::DType { op: "stack", .. })
    ));
    assert!(matches!(
        Tensor::where_(&bools(&[true, false]), &f64t, &f32t),
        Err(Error::DType { op: "where", .. })
    ));
    assert!(matches!(
        Tensor::where_(&f64t, &f64t, &f64t),
        Err(Error::DType { op: "where", .. })
    ));
    // float ops on integer tensors
    match i.sin() {
        Err(
            e @ Error::DType {
                op: "sin",
                got: DType::I64,
                ..
            },
        ) => {
            msg_names(&e, "sin");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(i.div(&i), Err(Error::DType { op: "div", .. })));
    assert!(matches!(i.pow(&i), Err(Error::DType { op: "pow", .. })));
    assert!(matches!(i.mean(), Err(Error::DType { op: "mean", .. })));
    assert!(matches!(
        i.softmax(0),
        Err(Error::DType { op: "softmax", .. })
    ));
    assert!(matches!(i.var(), Err(Error::DType { op: "var", .. })));
    assert!(matches!(i.norm(), Err(Error::DType { op: "norm", .. })));
    assert!(matches!(i.prod(), Err(Error::DType { op: "prod", .. })));
    assert!(matches!(
        i.logsumexp(&[], false),
        Err(Error::DType {
            op: "logsumexp",
            ..
        })
    ));
    assert!(matches!(i.mul_scalar(2.0), Err(Error::DType { .. })));
    assert!(matches!(
        i.clamp(0.0, 1.0),
        Err(Error::DType { op: "clamp", .. })
    ));
    let im = Tensor::from_vec(vec![1i64, 0, 0, 1], &[2, 2]).unwrap();
    assert!(matches!(im.det(), Err(Error::DType { op: "det", .. })));
    assert!(matches!(im.inv(), Err(Error::DType { op: "inv", .. })));
    assert!(matches!(
        im.cholesky(),
        Err(Error::DType { op: "cholesky", .. })
    ));
    let fm = m64(&[1.0, 0.0, 0.0, 1.0], &[2, 2]);
    assert!(matches!(
        fm.solve(&f32t),
        Err(Error::DType { op: "solve", .. })
    ));
    assert!(matches!(
        bools(&[true]).add(&bools(&[true])),
        Err(Error::DType { op: "add", .. })
    ));
    // logic on non-masks
    assert!(matches!(
        f64t.logical_and(&f64t),
        Err(Error::DType {
            op: "logical_and",
            ..
        })
    ));
    assert!(matches!(
        f64t.logical_not(),
        Err(Error::DType {
            op: "logical_not",
            ..
        })
    ));
    // float (or bool) tensors as indices
    match f64t.index_select(0, &t64(&[0.0])) {
        Err(
            e @ Error::DType {
                op: "index_select",
                got: DType::F64,
                ..
            },
        ) => {
            msg_names(&e, "index_select");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f64t.gather(0, &t64(&[0.0])),
        Err(Error::DType { op: "gather", .. })
    ));
    assert!(matches!(
        f64t.scatter_add(0, &f64t, &f64t),
        Err(Error::DType {
            op: "scatter_add",
            ..
        })
    ));
    assert!(matches!(
        f64t.index_add(0, &bools(&[true, false]), &f64t),
        Err(Error::DType {
            op: "index_add",
            ..
        })
    ));
    assert!(matches!(
        f64t.one_hot(3),
        Err(Error::DType { op: "one_hot", .. })
    ));
    // reading with the wrong element type
    assert!(matches!(
        f64t.to_vec::<f32>(),
        Err(Error::DType { op: "to_vec", .. })
    ));
    assert!(matches!(
        Tensor::scalar(1.0).to_scalar::<i64>(),
        Err(Error::DType { .. })
    ));
    assert!(matches!(f64t.to_ndarray::<i64>(), Err(Error::DType { .. })));
    assert!(matches!(
        Tensor::randn(&[2], DType::I64),
        Err(Error::DType { op: "randn", .. })
    ));
}

#[test]
fn errors_singular_and_not_positive_definite() {
    for dt in FLOATS {
        let z = mk(&[1.0, 2.0, 2.0, 4.0], &[2, 2], dt);
        match z.inv() {
            Err(
                e @ Error::Singular {
                    op: "inv",
                    what: "singular",
                    ..
                },
            ) => {
                let s = msg_names(&e, "inv");
                assert!(s.contains("singular") && s.contains("[2, 2]"), "{s}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            z.solve(&mk(&[1.0, 1.0], &[2], dt)),
            Err(Error::Singular { op: "solve", .. })
        ));
        // one singular matrix in a batch is enough
        let batch = Tensor::stack(&[mk(&[1.0, 0.0, 0.0, 1.0], &[2, 2], dt), z.clone()], 0).unwrap();
        match batch.inv() {
            Err(Error::Singular {
                op: "inv", shape, ..
            }) => assert_eq!(shape, vec![2, 2, 2]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            mk(&[0.0; 9], &[3, 3], dt).solve(&mk(&[1.0; 3], &[3, 1], dt)),
            Err(Error::Singular { op: "solve", .. })
        ));
        // indefinite and negative definite
        for m in [[1.0, 2.0, 2.0, 1.0], [-1.0, 0.0, 0.0, -1.0]] {
            match mk(&m, &[2, 2], dt).cholesky() {
                Err(
                    e @ Error::Singular {
                        op: "cholesky",
                        what: "not positive definite",
                        ..
                    },
                ) => {
                    let s = msg_names(&e, "cholesky");
                    assert!(s.contains("not positive definite"), "{s}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn errors_creation_and_conversion() {
    match Tensor::from_vec(vec![1.0, 2.0, 3.0], &[2, 2]) {
        Err(e @ Error::Shape { op: "from_vec", .. }) => {
            let s = msg_names(&e, "from_vec");
            assert!(s.contains("[2, 2]") && s.contains('3'), "{s}");
        }
        other => panic!("{:?}", other.map(|t| t.shape().to_vec())),
    }
    assert!(matches!(
        Tensor::from_vec(Vec::<f32>::new(), &[1]),
        Err(Error::Shape { op: "from_vec", .. })
    ));
    match t64(&[1.0, 2.0]).to_scalar::<f64>() {
        Err(
            e @ Error::Shape {
                op: "to_scalar", ..
            },
        ) => {
            let s = msg_names(&e, "to_scalar");
            assert!(s.contains("[2]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        t64(&[]).to_scalar::<f64>(),
        Err(Error::Shape {
            op: "to_scalar",
            ..
        })
    ));
    assert!(matches!(
        seq(&[2, 2]).item(),
        Err(Error::Shape { op: "item", .. })
    ));
    assert!(matches!(
        Tensor::arange(0.0, 1.0, 0.0, DType::F64),
        Err(Error::Invalid { op: "arange", .. })
    ));
    assert!(matches!(
        Tensor::arange(0.0, f64::INFINITY, 1.0, DType::F64),
        Err(Error::Invalid { op: "arange", .. })
    ));
    assert!(matches!(
        t64(&[]).max(),
        Err(Error::Shape { op: "amax", .. })
    ));
    assert!(matches!(
        t64(&[]).argmin(None, false),
        Err(Error::Shape { op: "argmin", .. })
    ));
    assert!(matches!(
        t64(&[1.0]).dropout(1.0),
        Err(Error::Invalid { op: "dropout", .. })
    ));
}

#[test]
fn edge_cases_give_values_or_errors_never_panics() -> R {
    // overflowing sizes, steps and offsets
    assert!(matches!(
        seq(&[3]).narrow(0, usize::MAX, 2),
        Err(Error::Index { op: "narrow", .. })
    ));
    exact(&seq(&[3]).slice(0, 0, 3, i64::MAX)?, &[1], &[0.0]);
    exact(&seq(&[3, 3]).diagonal(i64::MIN, 0, 1)?, &[0], &[]);
    exact(&seq(&[3, 3]).diagonal(i64::MAX, 0, 1)?, &[0], &[]);
    assert!(matches!(
        seq(&[3]).reshape(&[i64::MAX, 4]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(
        Tensor::einsum("i->ii", &[&seq(&[3])]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    assert!(matches!(
        Tensor::einsum("i,i,i->", &[&seq(&[2]), &seq(&[2]), &seq(&[2])]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    assert!(matches!(
        Tensor::einsum("i.->i", &[&seq(&[2, 2])]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    // i64 sums wrap, as the i64 add does
    assert_eq!(i64s(&[i64::MAX, 1]).sum()?.to_scalar::<i64>()?, i64::MIN);
    // empty operands
    exact(&seq(&[2, 0]).matmul(&seq(&[0, 3]))?, &[2, 3], &[0.0; 6]);
    assert_eq!(seq(&[0, 2]).matmul(&seq(&[2, 3]))?.shape(), &[0, 3]);
    exact(&seq(&[0, 0]).det()?, &[], &[1.0]);
    assert_eq!(seq(&[0, 0]).inv()?.shape(), &[0, 0]);
    assert_eq!(seq(&[0, 2, 2]).det()?.shape(), &[0]);
    exact(&seq(&[0, 0]).trace()?, &[], &[0.0]);
    exact(
        &Tensor::cat(&[seq(&[0, 2]), seq(&[1, 2])], 0)?,
        &[1, 2],
        &[0.0, 1.0],
    );
    // reductions over a non-empty dim of an empty tensor are empty, as in PyTorch
    assert_eq!(seq(&[0, 3]).softmax(1)?.shape(), &[0, 3]);
    assert_eq!(seq(&[0, 3]).log_softmax(-1)?.shape(), &[0, 3]);
    // and over an empty dim, too: nothing to normalize
    assert_eq!(seq(&[2, 0]).softmax(1)?.shape(), &[2, 0]);
    assert_eq!(seq(&[2, 0]).log_softmax(1)?.shape(), &[2, 0]);
    assert_eq!(seq(&[2, 0]).amax(&[0], false)?.shape(), &[0]);
    assert_eq!(seq(&[0, 2]).argmax(Some(1), false)?.shape(), &[0]);
    // over an empty dim: no extreme, but logsumexp is log 0
    assert!(matches!(
        seq(&[2, 0]).amax(&[1], false),
        Err(Error::Shape { op: "amax", .. })
    ));
    assert!(matches!(
        seq(&[2, 0]).argmax(Some(1), false),
        Err(Error::Shape { op: "argmax", .. })
    ));
    exact(
        &seq(&[0]).logsumexp(&[0], false)?,
        &[],
        &[f64::NEG_INFINITY],
    );
    exact(
        &seq(&[2, 0]).logsumexp(&[1], true)?,
        &[2, 1],
        &[f64::NEG_INFINITY; 2],
    );
    // 0-d operands
    exact(&Tensor::scalar(1.0).log_softmax(0)?, &[], &[0.0]);
    exact(&Tensor::scalar(1.0).softmax(-1)?, &[], &[1.0]);
    assert!(matches!(
        Tensor::scalar(1.0).sum_dims(&[1], false),
        Err(Error::Dim { op: "sum", .. })
    ));
    assert!(matches!(
        Tensor::scalar(1.0).chunk(2, 0),
        Err(Error::Dim { op: "chunk", .. })
    ));
    assert_eq!(Tensor::stack(&[Tensor::scalar(1.0)], -1)?.shape(), &[1]);
    Ok(())
}

#[test]
fn long_f32_sums_keep_f32_precision() -> R {
    // a running f32 total would drift by about 1% here; PyTorch's sums stay within f32 rounding
    let n = 1usize << 20;
    let want = n as f64 * f64::from(0.1f32);
    let s = Tensor::full(&[n], 0.1, DType::F32)
        .sum()?
        .to_scalar::<f32>()?;
    assert!((f64::from(s) / want - 1.0).abs() < 1e-6, "{s} vs {want}");
    // over a leading dim (the strided path) and as a mean
    let c = Tensor::full(&[n, 2], 0.1, DType::F32).sum_dims(&[0], false)?;
    for v in c.to_vec::<f32>()? {
        assert!((f64::from(v) / want - 1.0).abs() < 1e-6, "{v} vs {want}");
    }
    let m = Tensor::full(&[n], 0.1, DType::F32)
        .mean()?
        .to_scalar::<f32>()?;
    assert!((m - 0.1).abs() < 1e-7, "{m}");
    Ok(())
}

#[test]
fn ops_read_any_layout() -> R {
    for dt in FLOATS {
        // [[0, 1, 2], [3, 4, 5]]
        let x = mk(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3], dt);
        // xᵀ (strides [1, 3]) + flipped rows of a [3, 2] (negative stride)
        let y = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2], dt).flip(&[0])?;
        check(
            &x.t()?.add(&y)?,
            dt,
            &[3, 2],
            &[5.0, 9.0, 4.0, 8.0, 3.0, 7.0],
        );
        check(
            &x.t()?.mul(&y)?,
            dt,
            &[3, 2],
            &[0.0, 18.0, 3.0, 16.0, 2.0, 10.0],
        );
        mask(
            &x.t()?.gt(&y)?,
            &[3, 2],
            &[false, false, false, false, true, true],
        );
        // a stepped slice against a broadcast (zero-stride) operand
        let s = mk(&(0..10).map(f64::from).collect::<Vec<_>>(), &[10], dt).slice(0, 1, 10, 4)?;
        let b = mk(&[10.0], &[1], dt).expand(&[3])?;
        check(&s.sub(&b)?, dt, &[3], &[-9.0, -5.0, -1.0]);
        check(
            &Tensor::where_(&s.gt_scalar(4.0)?, &s, &b)?,
            dt,
            &[3],
            &[10.0, 5.0, 9.0],
        );
        // indexing of views
        check(
            &x.t()?.index_select(0, &i64s(&[2, 0]))?,
            dt,
            &[2, 2],
            &[2.0, 5.0, 0.0, 3.0],
        );
        let idx = Tensor::from_vec(vec![1i64, 0, 0], &[1, 3])?;
        check(
            &x.flip(&[1])?.gather(0, &idx)?,
            dt,
            &[1, 3],
            &[5.0, 1.0, 0.0],
        );
        // matmul of transposed, flipped and expanded operands
        let a = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        check(&a.t()?.matmul(&a)?, dt, &[2, 2], &[10.0, 14.0, 14.0, 20.0]);
        // flip(a) = [[3, 4], [1, 2]]
        check(
            &a.flip(&[0])?.matmul(&a)?,
            dt,
            &[2, 2],
            &[15.0, 22.0, 7.0, 10.0],
        );
        check(
            &a.matmul(&a.flip(&[1])?)?,
            dt,
            &[2, 2],
            &[10.0, 7.0, 22.0, 15.0],
        );
        let ones = mk(&[1.0], &[1, 1], dt).expand(&[2, 2])?;
        check(&a.matmul(&ones)?, dt, &[2, 2], &[3.0, 3.0, 7.0, 7.0]);
        let batch = a.unsqueeze(0)?.expand(&[3, -1, -1])?;
        check(
            &batch.matmul(&a)?,
            dt,
            &[3, 2, 2],
            &[
                7.0, 10.0, 15.0, 22.0, 7.0, 10.0, 15.0, 22.0, 7.0, 10.0, 15.0, 22.0,
            ],
        );
        // a strided column vector
        let v = mk(&[1.0, 9.0, 1.0, 9.0], &[4], dt).slice(0, 0, 4, 2)?;
        check(&a.matmul(&v)?, dt, &[2], &[3.0, 7.0]);
        // reductions of views
        check(&x.t()?.sum_dims(&[1], false)?, dt, &[3], &[3.0, 5.0, 7.0]);
        check(&x.flip(&[0, 1])?.amax(&[1], false)?, dt, &[2], &[5.0, 2.0]);
        assert_eq!(
            x.flip(&[1])?.argmax(Some(1), false)?.to_vec::<i64>()?,
            vec![0, 0]
        );
        check(&batch.det()?, dt, &[3], &[-2.0, -2.0, -2.0]);
        check(&a.t()?.inv()?, dt, &[2, 2], &[-2.0, 1.5, 1.0, -0.5]);
    }
    Ok(())
}
