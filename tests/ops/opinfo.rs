//! The generic checks over the op database (`tests/common/opinfo.rs`), as PyTorch's
//! `test_ops.py` runs over its OpInfos: every sample runs and gives the promised dtype, finite
//! values and the same values twice; f32 agrees with f64; non-contiguous inputs give the same
//! values as contiguous ones; elementwise ops match their scalar reference, broadcasting
//! included; float-only ops refuse integer and bool tensors (and the others accept i64).

use super::*;
use crate::common::Rng;
use crate::common::opinfo::{Batch, Family, OpInfo, Out, Reference, Sample, ops};

// ----------------------------------------------------------------------------- helpers

/// The sample's inputs, drawn from a generator seeded by the op and sample names.
fn draw(o: &OpInfo, s: &Sample) -> Vec<Tensor> {
    s.draw(&mut Rng::for_name(&format!("{}/{}", o.name, s.name)))
}

/// Calls the sample (reseeding first, so that random ops repeat).
fn call(s: &Sample, xs: &[Tensor]) -> functorch::Result<Vec<Tensor>> {
    manual_seed(17);
    (s.f)(xs)
}

fn what(o: &OpInfo, s: &Sample) -> String {
    format!("{} sample {:?}", o.name, s.name)
}

/// Values of any dtype as f64 (exactly, for i64 and bool).
fn any_vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().unwrap()
}

/// `got` and `want` agree: same shape and dtype, floats to `tol` relative to `1 + |want|`
/// (NaN meets NaN), everything else exactly.
fn agree(what: &str, got: &[Tensor], want: &[Tensor], tol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} outputs, want {}",
            got.len(),
            want.len()
        ));
    }
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        if g.shape() != w.shape() {
            return Err(format!(
                "{what}: output {k} has shape {:?}, want {:?}",
                g.shape(),
                w.shape()
            ));
        }
        let (gv, wv) = (any_vals(g), any_vals(w));
        for (i, (a, b)) in gv.iter().zip(&wv).enumerate() {
            let ok = if w.dtype().is_float() {
                (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * (1.0 + b.abs())
            } else {
                a == b
            };
            if !ok {
                return Err(format!(
                    "{what}: output {k}, element {i}: {a} vs {b}\n  got:  {gv:?}\n  want: {wv:?}"
                ));
            }
        }
    }
    Ok(())
}

#[track_caller]
fn no_failures(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The ops that take a tensor, and are deterministic.
fn tensor_ops() -> Vec<OpInfo> {
    ops()
        .into_iter()
        .filter(|o| !o.random && o.batch != Batch::NoTensorInput)
        .collect()
}

// ----------------------------------------------------------------------------- the database itself

#[test]
fn the_database_is_well_formed() {
    let all = ops();
    let mut names = std::collections::HashSet::new();
    for o in &all {
        assert!(names.insert(o.name), "{} has two entries", o.name);
        assert!(!o.samples.is_empty(), "{} has no sample", o.name);
        let mut sample_names = std::collections::HashSet::new();
        for s in &o.samples {
            assert!(
                sample_names.insert(s.name.as_str()),
                "{}: two samples named {:?}",
                o.name,
                s.name
            );
        }
        let has_args = o.samples.iter().any(|s| !s.args.is_empty());
        if o.batch == Batch::NoTensorInput {
            assert!(
                !has_args,
                "{}: takes a tensor, so it can be batched",
                o.name
            );
        } else if !has_args {
            assert!(
                matches!(o.batch, Batch::Elsewhere(_)),
                "{}: takes no tensor: Batch::NoTensorInput, or a test that vmaps it",
                o.name
            );
        }
        if o.random {
            assert!(
                !matches!(o.batch, Batch::Checked),
                "{}: a random op cannot be checked against a loop",
                o.name
            );
        }
        if !matches!(o.reference, Reference::None) {
            assert!(
                o.samples.iter().any(|s| s.plain),
                "{}: a reference but no plain sample to compare it on",
                o.name
            );
        }
        // elementwise ops: a 0-d sample; broadcasting ops: operands of different shapes
        let zero_d = o
            .samples
            .iter()
            .any(|s| s.draw(&mut Rng::new(0)).iter().any(|t| t.ndim() == 0));
        if o.family == Family::Unary {
            assert!(zero_d, "{}: no 0-d sample", o.name);
        }
        if o.family == Family::Binary {
            let broadcasting = o.samples.iter().any(|s| {
                let xs = s.draw(&mut Rng::new(0));
                xs.iter().any(|t| t.shape() != xs[0].shape())
            });
            assert!(zero_d, "{}: no 0-d sample", o.name);
            assert!(broadcasting, "{}: no broadcasting sample", o.name);
        }
    }
}

// ----------------------------------------------------------------------------- every sample

#[test]
fn every_sample_runs_with_the_promised_dtype() {
    let mut failures = Vec::new();
    for o in ops() {
        for s in &o.samples {
            let w = what(&o, s);
            let xs = draw(&o, s);
            let ys = match call(s, &xs) {
                Ok(ys) => ys,
                Err(e) => {
                    failures.push(format!("{w}: {e}"));
                    continue;
                }
            };
            let first_float = xs.iter().find(|x| x.dtype().is_float()).map(Tensor::dtype);
            for (k, y) in ys.iter().enumerate() {
                let want = match (o.output, first_float) {
                    (Out::Like, Some(d)) => Some(d),
                    (Out::I64, _) => Some(DType::I64),
                    (Out::Bool, _) => Some(DType::Bool),
                    _ => None,
                };
                if let Some(d) = want
                    && y.dtype() != d
                {
                    failures.push(format!("{w}: output {k} is {}, want {d}", y.dtype()));
                }
                if y.dtype().is_float() && any_vals(y).iter().any(|v| !v.is_finite()) {
                    failures.push(format!(
                        "{w}: output {k} is not finite inside the domain: {y}"
                    ));
                }
            }
            // the same call again gives the same values (random ops: after the same seed)
            match call(s, &xs) {
                Ok(again) => {
                    if let Err(e) = agree(&format!("{w} (twice)"), &again, &ys, 0.0) {
                        failures.push(e);
                    }
                }
                Err(e) => failures.push(format!("{w} (twice): {e}")),
            }
        }
    }
    no_failures("samples failed", failures);
}

#[test]
fn f32_agrees_with_f64() {
    let mut failures = Vec::new();
    for o in tensor_ops() {
        for s in o.samples.iter().filter(|s| !s.has_f32_input()) {
            let xs = draw(&o, s);
            if !xs.iter().any(|x| x.dtype() == DType::F64) {
                continue;
            }
            let w = format!("{} in f32", what(&o, s));
            // the f64 call on the f32-rounded inputs, against the f32 call
            let x32: Vec<Tensor> = xs
                .iter()
                .map(|x| match x.dtype() {
                    DType::F64 => x.to_dtype(DType::F32).unwrap(),
                    _ => x.clone(),
                })
                .collect();
            let x64: Vec<Tensor> = x32
                .iter()
                .map(|x| match x.dtype() {
                    DType::F32 => x.to_dtype(DType::F64).unwrap(),
                    _ => x.clone(),
                })
                .collect();
            let (y32, y64) = match (call(s, &x32), call(s, &x64)) {
                (Ok(a), Ok(b)) => (a, b),
                (a, b) => {
                    failures.push(format!("{w}: {:?} / f64: {:?}", a.err(), b.err()));
                    continue;
                }
            };
            if o.output == Out::Like {
                for (k, (a, b)) in y32.iter().zip(&y64).enumerate() {
                    if b.dtype() == DType::F64 && a.dtype() != DType::F32 {
                        failures.push(format!("{w}: output {k} is {}, want f32", a.dtype()));
                    }
                }
            }
            if let Err(e) = agree(&w, &y32, &y64, 1e-4) {
                failures.push(e);
            }
        }
    }
    no_failures("f32 samples disagree with f64", failures);
}

/// Whether [`noncontiguous`] applies to `x`.
fn has_view(x: &Tensor, transposed: bool) -> bool {
    let s = x.shape();
    if transposed {
        s.len() >= 2 && s[s.len() - 1] > 1 && s[s.len() - 2] > 1
    } else {
        x.numel() > 1
    }
}

/// `x` as a view with the same values that is not contiguous: every other element of a
/// buffer twice the size, or (`transposed`) the transpose of a contiguous copy of `xᵀ`.
fn noncontiguous(x: &Tensor, transposed: bool) -> Tensor {
    let v = if transposed {
        rebuild(&x.mt().unwrap()).mt().unwrap()
    } else {
        Tensor::stack(&[x.clone(), x.zeros_like().unwrap()], -1)
            .unwrap()
            .select(-1, 0)
            .unwrap()
    };
    assert!(
        !v.array().unwrap().is_contiguous(),
        "the view must not be contiguous"
    );
    v
}

/// A contiguous copy of a concrete tensor, built from its values.
fn rebuild(x: &Tensor) -> Tensor {
    let v = any_vals(x);
    let s = x.shape();
    match x.dtype() {
        DType::F64 => Tensor::from_vec(v, s),
        DType::F32 => Tensor::from_vec(v.iter().map(|&a| a as f32).collect(), s),
        DType::I64 => Tensor::from_vec(v.iter().map(|&a| a as i64).collect(), s),
        DType::Bool => Tensor::from_vec(v.iter().map(|&a| a != 0.0).collect(), s),
    }
    .unwrap()
}

#[test]
fn noncontiguous_inputs_give_the_same_values() {
    let mut failures = Vec::new();
    for o in tensor_ops() {
        for s in &o.samples {
            let xs = draw(&o, s);
            let want = match call(s, &xs) {
                Ok(y) => y,
                Err(_) => continue, // reported by every_sample_runs_with_the_promised_dtype
            };
            for transposed in [false, true] {
                if !xs.iter().any(|x| has_view(x, transposed)) {
                    continue;
                }
                let views: Vec<Tensor> = xs
                    .iter()
                    .map(|x| {
                        if has_view(x, transposed) {
                            noncontiguous(x, transposed)
                        } else {
                            x.clone()
                        }
                    })
                    .collect();
                let w = format!(
                    "{} on {} views",
                    what(&o, s),
                    if transposed { "transposed" } else { "strided" }
                );
                match call(s, &views) {
                    Ok(got) => {
                        if let Err(e) = agree(&w, &got, &want, 1e-12) {
                            failures.push(e);
                        }
                    }
                    Err(e) => failures.push(format!("{w}: {e}")),
                }
            }
        }
    }
    no_failures("samples differ on non-contiguous inputs", failures);
}

/// NumPy's broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let da = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                1
            };
            let db = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                1
            };
            da.max(db)
        })
        .collect()
}

/// The element of a tensor of `shape` that broadcasts to position `k` of `out`.
fn source(shape: &[usize], out: &[usize], mut k: usize) -> usize {
    let mut pos = vec![0; out.len()];
    for i in (0..out.len()).rev() {
        pos[i] = k % out[i];
        k /= out[i];
    }
    let lead = out.len() - shape.len();
    shape.iter().enumerate().fold(0, |acc, (i, &s)| {
        acc * s + if s == 1 { 0 } else { pos[lead + i] }
    })
}

#[test]
fn elementwise_ops_match_their_scalar_reference() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for o in ops() {
        for s in o.samples.iter().filter(|s| s.plain) {
            let xs = draw(&o, s);
            let w = what(&o, s);
            let y = match call(s, &xs) {
                Ok(y) => y[0].clone(),
                Err(e) => {
                    failures.push(format!("{w}: {e}"));
                    continue;
                }
            };
            let want: Vec<f64> = match o.reference {
                Reference::None => continue,
                Reference::Unary(r) => any_vals(&xs[0]).into_iter().map(r).collect(),
                Reference::Binary(r) => {
                    let (a, b) = (any_vals(&xs[0]), any_vals(&xs[1]));
                    let out = broadcast(xs[0].shape(), xs[1].shape());
                    if y.shape() != out {
                        failures.push(format!("{w}: shape {:?}, want {out:?}", y.shape()));
                        continue;
                    }
                    (0..out.iter().product())
                        .map(|k| {
                            r(
                                a[source(xs[0].shape(), &out, k)],
                                b[source(xs[1].shape(), &out, k)],
                            )
                        })
                        .collect()
                }
            };
            checked += 1;
            let got = any_vals(&y);
            for (i, (g, v)) in got.iter().zip(&want).enumerate() {
                if (g - v).abs() > 1e-12 * (1.0 + v.abs()) {
                    failures.push(format!("{w}: element {i} is {g}, the reference {v}"));
                    break;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} samples had a reference");
    no_failures("samples differ from their reference", failures);
}

#[test]
fn float_only_ops_refuse_integer_and_bool_tensors_and_the_others_take_i64() {
    let mut failures = Vec::new();
    for o in tensor_ops() {
        // the first sample with a float input: its float inputs as i64 (and as bool)
        let Some(s) = o
            .samples
            .iter()
            .find(|s| draw(&o, s).iter().any(|x| x.dtype().is_float()))
        else {
            continue;
        };
        let xs = draw(&o, s);
        let cast = |d: DType| -> Vec<Tensor> {
            xs.iter()
                .map(|x| {
                    if x.dtype().is_float() {
                        x.to_dtype(d).unwrap()
                    } else {
                        x.clone()
                    }
                })
                .collect()
        };
        let w = what(&o, s);
        if o.float_only {
            for d in [DType::I64, DType::Bool] {
                match call(s, &cast(d)) {
                    Err(functorch::Error::DType { got, .. }) if got == d => {}
                    other => failures.push(format!(
                        "{w}: float-only, but on {d} inputs gave {other:?} instead of a DType error"
                    )),
                }
            }
        } else if let Err(e) = call(s, &cast(DType::I64)) {
            failures.push(format!(
                "{w}: not flagged float-only, but refuses i64 inputs: {e}"
            ));
        }
    }
    no_failures("ops break their float-only flag", failures);
}
