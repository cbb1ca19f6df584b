//! Every public op checked against hand-computed values or exact identities (never against the
//! library itself), in f32 and f64 where both apply; the views the docs promise; `Display`; and
//! the error policy: bad input is a clear `Err` naming the op (never a panic), except the
//! `+ - * /` operators, which panic.
//!
//! One test binary, a module per family of ops; `opinfo` runs the generic checks over the op
//! database (`tests/common/opinfo.rs`), and `completeness` fails when a public op is missing
//! from it.

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

#[path = "../common/mod.rs"]
mod common;

mod completeness;
mod creation;
mod display;
mod elementwise;
mod errors;
mod index;
mod layout;
mod linalg;
mod opinfo;
mod reduce;
mod shape;
