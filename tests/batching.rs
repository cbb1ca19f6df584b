//! Every batching rule against a plain loop over slices.
//!
//! The cases are the samples of the op database (`tests/common/opinfo.rs`): every sample of
//! every op flagged `Batch::Checked`, differentiable or not (comparisons, logic, argmax/argmin,
//! where, one_hot, casts, index ops with a batched index); an op left out (and not flagged with
//! the test here that checks it) fails `every_op_is_batched_or_says_why`. Each case draws `B`
//! independent per-example inputs from the sample's input domains and compares `vmap(op)` with
//! stacking the op applied to each example:
//!
//! - the batch dim of each input at **every** position (`in_dims` 0, 1, …, rank and -1) while
//!   the other inputs are batched at 0, and all inputs at -1;
//! - every mix of batched and unbatched inputs (`in_dims` None for some);
//! - `out_dims` at every position of every output;
//! - the batch handed over as a permuted, a flipped (negative strides) and a broadcast (zero
//!   strides) view;
//! - `chunk_size` 1..=B+1 equal to the unchunked result, also with mixed `in_dims` and
//!   `out_dims` -1;
//! - nested `vmap(vmap(op))` with different `in_dims` (and unmapped inputs) at each level, and
//!   an inner `out_dims` of -1.
//!
//! Each case also yields a derived case, `(x, v, u) ↦ (J(x) v, J(x)ᵀ u)`, checked the same way:
//! that batches every op's jvp and vjp rules (vmap of jvp and of vjp, against loops).
//!
//! The expected values are stacked by index arithmetic here, not by the library's own ops.
//! Floats must agree to 1e-12 (relative; 1e-5 in f32), integers and masks exactly.
//!
//! Then: edge cases (zero-size dims, constant outputs, odd strides into kernels), sizes large
//! enough for the kernels' parallel and folded GEMM paths, vmap of transforms (grad, jvp, vjp,
//! jacrev, jacfwd, hessian) against a loop of the transform, and vmap's `randomness` option.

use std::rc::Rc;

use functorch::{
    DType, Dims, Pullback, Randomness, Result, Tensor, grad, hessian, jacfwd, jacrev, jvp, vjp,
    vmap,
};

mod common;
use common::opinfo::{self, Batch, Family, OpInfo, ops};
use common::{ANY, Dom, Rng, t, well_conditioned};

type Fun<'a> = dyn Fn(&[Tensor]) -> Result<Vec<Tensor>> + 'a;
type Gen = Rc<dyn Fn(&mut Rng) -> Vec<Tensor>>;
type Res<T> = std::result::Result<T, String>;

// ------------------------------------------------------------------------------- generator

/// Random i64 indices in `0..below`.
fn index(r: &mut Rng, shape: &[usize], below: usize) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(
        (0..n).map(|_| r.below(below) as i64).collect::<Vec<_>>(),
        shape,
    )
    .unwrap()
}

// ------------------------------------------------------------------------------- stacking by hand

fn raw(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().expect("a concrete tensor")
}

fn build(v: Vec<f64>, shape: &[usize], dtype: DType) -> Tensor {
    match dtype {
        DType::F64 => Tensor::from_vec(v, shape),
        DType::F32 => Tensor::from_vec(v.into_iter().map(|x| x as f32).collect(), shape),
        DType::I64 => Tensor::from_vec(v.into_iter().map(|x| x as i64).collect(), shape),
        DType::Bool => Tensor::from_vec(v.into_iter().map(|x| x != 0.0).collect(), shape),
    }
    .unwrap()
}

/// A position in a tensor of rank `rank` (negative counts from the end).
fn norm(p: i64, rank: usize) -> usize {
    if p < 0 {
        (p + rank as i64) as usize
    } else {
        p as usize
    }
}

/// `torch.stack(ts, dim)`, by index arithmetic.
fn stack_at(ts: &[Tensor], dim: usize) -> Tensor {
    let shape = ts[0].shape().to_vec();
    let dtype = ts[0].dtype();
    for t in ts {
        assert_eq!(t.shape(), &shape[..], "stacking unequal shapes");
        assert_eq!(t.dtype(), dtype, "stacking unequal dtypes");
    }
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim..].iter().product();
    let data: Vec<Vec<f64>> = ts.iter().map(raw).collect();
    let b = ts.len();
    let mut out = vec![0.0; outer * b * inner];
    for o in 0..outer {
        for (k, d) in data.iter().enumerate() {
            out[(o * b + k) * inner..(o * b + k + 1) * inner]
                .copy_from_slice(&d[o * inner..(o + 1) * inner]);
        }
    }
    let mut s = shape;
    s.insert(dim, b);
    build(out, &s, dtype)
}

fn same(what: &str, got: &Tensor, want: &Tensor) -> Res<()> {
    if got.shape() != want.shape() || got.dtype() != want.dtype() {
        return Err(format!(
            "{what}: got {:?} {:?}, expected {:?} {:?}",
            got.shape(),
            got.dtype(),
            want.shape(),
            want.dtype()
        ));
    }
    let (g, w) = (raw(got), raw(want));
    let exact = !want.dtype().is_float();
    // batched kernels may sum in another order than per-example ones
    let tol = if want.dtype() == DType::F32 {
        1e-5
    } else {
        1e-12
    };
    for (a, b) in g.iter().zip(&w) {
        let ok = if exact {
            a == b
        } else {
            (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * (1.0 + b.abs())
        };
        if !ok {
            return Err(format!(
                "{what}: values differ\n  got:  {g:?}\n  want: {w:?}"
            ));
        }
    }
    Ok(())
}

fn same_all(what: &str, got: &[Tensor], want: &[Tensor]) -> Res<()> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} outputs, expected {}",
            got.len(),
            want.len()
        ));
    }
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        same(&format!("{what}, output {k}"), g, w)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------- the checker

const B: usize = 3;
const B1: usize = 2;
const B2: usize = 3;

struct Case {
    name: String,
    draw: Gen,
    f: Rc<Fun<'static>>,
}

fn case(
    name: &str,
    draw: impl Fn(&mut Rng) -> Vec<Tensor> + 'static,
    f: impl Fn(&[Tensor]) -> Result<Tensor> + 'static,
) -> Case {
    Case {
        name: name.to_string(),
        draw: Rc::new(draw),
        f: Rc::new(move |x| Ok(vec![f(x)?])),
    }
}

fn case_n(
    name: &str,
    draw: impl Fn(&mut Rng) -> Vec<Tensor> + 'static,
    f: impl Fn(&[Tensor]) -> Result<Vec<Tensor>> + 'static,
) -> Case {
    Case {
        name: name.to_string(),
        draw: Rc::new(draw),
        f: Rc::new(f),
    }
}

/// `in_dims` for a function of one `Vec<Tensor>` argument: one entry per tensor.
fn leaf_dims(d: &[Option<i64>]) -> Dims {
    Dims::Tuple(vec![Dims::Tuple(d.iter().map(|&x| Dims::Dim(x)).collect())])
}

fn call_vmap(
    f: &Fun<'_>,
    xs: &[Tensor],
    in_dims: &[Option<i64>],
    out_dims: Option<&[i64]>,
    chunk: Option<usize>,
) -> Result<Vec<Tensor>> {
    let g = |a: &Vec<Tensor>| f(a);
    let mut v = vmap(g).in_dims(leaf_dims(in_dims)).chunk_size(chunk);
    if let Some(od) = out_dims {
        let od: Vec<Option<i64>> = od.iter().map(|&d| Some(d)).collect();
        v = v.out_dims(Dims::from(od));
    }
    v.call(&xs.to_vec())
}

/// `outs[b][k]` → for each output k, the stack of `outs[·][k]` at position `pos[k]`.
fn stack_outputs(outs: &[Vec<Tensor>], pos: &[i64]) -> Vec<Tensor> {
    (0..outs[0].len())
        .map(|k| {
            let col: Vec<Tensor> = outs.iter().map(|o| o[k].clone()).collect();
            stack_at(&col, norm(pos[k], col[0].ndim() + 1))
        })
        .collect()
}

fn check(c: &Case) -> Res<()> {
    let name = &c.name;
    let f: &Fun<'_> = &*c.f;
    let mut r = Rng::for_name(name);
    let ex: Vec<Vec<Tensor>> = (0..B).map(|_| (c.draw)(&mut r)).collect();
    let n = ex[0].len();
    let ranks: Vec<usize> = ex[0].iter().map(|t| t.ndim()).collect();
    let err = |what: String| move |e: functorch::Error| format!("{name}: {what}: {e}");

    // the loop: example b sees input j's slice b where j is batched, its example 0 otherwise
    let looped = |batched: &[bool]| -> Res<Vec<Vec<Tensor>>> {
        (0..B)
            .map(|b| {
                let xs: Vec<Tensor> = (0..n)
                    .map(|j| ex[if batched[j] { b } else { 0 }][j].clone())
                    .collect();
                f(&xs).map_err(err(format!("f on example {b}")))
            })
            .collect()
    };
    let inputs = |dims: &[Option<i64>]| -> Vec<Tensor> {
        (0..n)
            .map(|j| match dims[j] {
                Some(p) => {
                    let col: Vec<Tensor> = ex.iter().map(|e| e[j].clone()).collect();
                    stack_at(&col, norm(p, ranks[j] + 1))
                }
                None => ex[0][j].clone(),
            })
            .collect()
    };

    // in_dims: each input at each position; all at -1; each mix of batched and unbatched
    let mut configs: Vec<Vec<Option<i64>>> = Vec::new();
    for i in 0..n {
        for p in (0..=ranks[i] as i64).chain([-1]) {
            let mut d = vec![Some(0); n];
            d[i] = Some(p);
            configs.push(d);
        }
    }
    configs.push(vec![Some(-1); n]);
    let mixes: Vec<u32> = if n <= 4 {
        (1..(1u32 << n) - 1).collect()
    } else {
        // each input alone unbatched, and each alone batched
        let all = (1u32 << n) - 1;
        (0..n).flat_map(|j| [all ^ (1 << j), 1 << j]).collect()
    };
    for m in mixes {
        configs.push(
            (0..n)
                .map(|j| (m >> j & 1 == 1).then_some(ranks[j] as i64))
                .collect(),
        );
    }
    let all0 = vec![Some(0); n];
    let zeros = vec![0i64; 16];
    let full = looped(&vec![true; n])?;
    for d in &configs {
        let batched: Vec<bool> = d.iter().map(Option::is_some).collect();
        let want = stack_outputs(&looped(&batched)?, &zeros);
        let what = format!("vmap(f, in_dims={d:?})");
        let got = call_vmap(f, &inputs(d), d, None, None).map_err(err(what.clone()))?;
        same_all(&format!("{name}: {what}"), &got, &want)?;
    }

    // the same batches handed over as views: permuted, flipped (negative strides), and
    // broadcast along the batch (zero strides: every example is example 0)
    let views: [(&str, Vec<Tensor>); 3] = [
        (
            "permuted",
            (0..n)
                .map(|j| {
                    let col: Vec<Tensor> = ex.iter().map(|e| e[j].clone()).collect();
                    let r = ranks[j] as i64;
                    stack_at(&col, ranks[j]).movedim(r, 0).unwrap()
                })
                .collect(),
        ),
        (
            "flipped",
            (0..n)
                .map(|j| {
                    let col: Vec<Tensor> = ex.iter().rev().map(|e| e[j].clone()).collect();
                    stack_at(&col, 0).flip(&[0]).unwrap()
                })
                .collect(),
        ),
        (
            "broadcast",
            (0..n)
                .map(|j| {
                    let mut s = vec![B];
                    s.extend_from_slice(ex[0][j].shape());
                    ex[0][j].unsqueeze(0).unwrap().broadcast_to(&s).unwrap()
                })
                .collect(),
        ),
    ];
    for (kind, xs) in &views {
        let base = if *kind == "broadcast" {
            looped(&vec![false; n])?
        } else {
            full.clone()
        };
        let want = stack_outputs(&base, &zeros);
        let what = format!("vmap(f) on {kind} views");
        let got = call_vmap(f, xs, &all0, None, None).map_err(err(what.clone()))?;
        same_all(&format!("{name}: {what}"), &got, &want)?;
    }

    // out_dims: each output at each position
    let xs0 = inputs(&all0);
    for k in 0..full[0].len() {
        let rank = full[0][k].ndim() as i64;
        for p in (0..=rank).chain([-1]) {
            let mut od = vec![0i64; full[0].len()];
            od[k] = p;
            let want = stack_outputs(&full, &od);
            let what = format!("vmap(f, out_dims={od:?})");
            let got = call_vmap(f, &xs0, &all0, Some(&od), None).map_err(err(what.clone()))?;
            same_all(&format!("{name}: {what}"), &got, &want)?;
        }
    }

    // chunk_size, alone and with the last in_dims/out_dims configuration
    let want = stack_outputs(&full, &zeros);
    let dl = configs.last().unwrap();
    let batched: Vec<bool> = dl.iter().map(Option::is_some).collect();
    let last = vec![-1i64; full[0].len()];
    let want_last = stack_outputs(&looped(&batched)?, &last);
    let xsl = inputs(dl);
    for chunk in 1..=B + 1 {
        let what = format!("vmap(f, chunk_size={chunk})");
        let got = call_vmap(f, &xs0, &all0, None, Some(chunk)).map_err(err(what.clone()))?;
        same_all(&format!("{name}: {what}"), &got, &want)?;
        let what = format!("vmap(f, in_dims={dl:?}, out_dims=-1, chunk_size={chunk})");
        let got = call_vmap(f, &xsl, dl, Some(&last), Some(chunk)).map_err(err(what.clone()))?;
        same_all(&format!("{name}: {what}"), &got, &want_last)?;
    }

    check_nested(c)
}

/// Nested vmap: per input (outer in_dim, inner in_dim); the example at (b1, b2) sees input j's
/// example (b1 if mapped by the outer level, else 0; b2 if mapped by the inner one, else 0).
fn check_nested(c: &Case) -> Res<()> {
    let name = &c.name;
    let f: &Fun<'_> = &*c.f;
    let mut r = Rng::for_name(&format!("{name}/nested"));
    let ex: Vec<Vec<Vec<Tensor>>> = (0..B1)
        .map(|_| (0..B2).map(|_| (c.draw)(&mut r)).collect())
        .collect();
    let n = ex[0][0].len();
    let ranks: Vec<usize> = ex[0][0].iter().map(|t| t.ndim()).collect();
    type Spec = (Option<i64>, Option<i64>);
    let mut configs: Vec<(Vec<Spec>, Option<i64>)> = vec![
        (vec![(Some(0), Some(0)); n], None),
        (vec![(Some(0), Some(-1)); n], None),
        (vec![(Some(-1), Some(0)); n], None),
        (vec![(Some(1), Some(0)); n], None),
        (vec![(Some(0), Some(0)); n], Some(-1)),
    ];
    if n >= 2 {
        let mut a = vec![(Some(0), Some(0)); n];
        a[0] = (Some(-1), None);
        configs.push((a, None));
        let mut b = vec![(Some(0), Some(-1)); n];
        b[n - 1] = (None, Some(0));
        configs.push((b, None));
    }
    for (spec, inner_out) in configs {
        let outer_dims: Vec<Option<i64>> = spec.iter().map(|s| s.0).collect();
        let inner_dims: Vec<Option<i64>> = spec.iter().map(|s| s.1).collect();
        let what = format!(
            "vmap(vmap(f, in_dims={inner_dims:?}, out_dims={inner_out:?}), in_dims={outer_dims:?})"
        );
        let pick = |b1: usize, b2: usize, j: usize| {
            ex[if spec[j].0.is_some() { b1 } else { 0 }][if spec[j].1.is_some() { b2 } else { 0 }]
                [j]
                .clone()
        };
        let xs: Vec<Tensor> = (0..n)
            .map(|j| {
                let level = |b1: usize| match spec[j].1 {
                    Some(p2) => {
                        let col: Vec<Tensor> = (0..B2).map(|b2| pick(b1, b2, j)).collect();
                        stack_at(&col, norm(p2, ranks[j] + 1))
                    }
                    None => pick(b1, 0, j),
                };
                match spec[j].0 {
                    Some(p1) => {
                        let col: Vec<Tensor> = (0..B1).map(level).collect();
                        stack_at(&col, norm(p1, col[0].ndim() + 1))
                    }
                    None => level(0),
                }
            })
            .collect();
        let mut want_rows = Vec::new();
        for b1 in 0..B1 {
            let outs: Vec<Vec<Tensor>> = (0..B2)
                .map(|b2| {
                    let a: Vec<Tensor> = (0..n).map(|j| pick(b1, b2, j)).collect();
                    f(&a).map_err(|e| format!("{name}: f: {e}"))
                })
                .collect::<Res<_>>()?;
            let pos = vec![inner_out.unwrap_or(0); outs[0].len()];
            want_rows.push(stack_outputs(&outs, &pos));
        }
        let want = stack_outputs(&want_rows, &vec![0; want_rows[0].len()]);
        let g = |a: &Vec<Tensor>| f(a);
        let mut inner = vmap(&g).in_dims(leaf_dims(&inner_dims));
        if let Some(o) = inner_out {
            inner = inner.out_dims(Dims::Dim(Some(o)));
        }
        let got: Vec<Tensor> = vmap(inner)
            .in_dims(leaf_dims(&outer_dims))
            .call(&xs)
            .map_err(|e| format!("{name}: {what}: {e}"))?;
        same_all(&format!("{name}: {what}"), &got, &want)?;
    }
    Ok(())
}

/// The case's derivatives as an op of their own: `(x, v, u) ↦ (J(x) v, J(x)ᵀ u)`, with `v` for
/// the float inputs and `u` for the float outputs (index and mask inputs ride along as they
/// are). Batching it runs every op's jvp and vjp rules on batched tracers.
fn derivatives(c: &Case) -> Option<Case> {
    let probe = (c.draw)(&mut Rng::new(0));
    let out = (c.f)(&probe).ok()?;
    let fin: Vec<bool> = probe.iter().map(|t| t.dtype().is_float()).collect();
    let fout: Vec<bool> = out.iter().map(|t| t.dtype().is_float()).collect();
    if !fin.contains(&true) || !fout.contains(&true) {
        return None;
    }
    let n = probe.len();
    let (draw, f) = (c.draw.clone(), c.f.clone());
    let (fin2, fout2, f2) = (fin.clone(), fout.clone(), c.f.clone());
    let draw2 = move |r: &mut Rng| {
        let xs = draw(r);
        let ys = f(&xs).expect("the case's function runs on its inputs");
        let mut all = xs.clone();
        for (x, _) in xs.iter().zip(&fin).filter(|(_, fl)| **fl) {
            all.push(t(r, x.shape(), ANY).to_dtype(x.dtype()).unwrap());
        }
        for (y, _) in ys.iter().zip(&fout).filter(|(_, fl)| **fl) {
            all.push(t(r, y.shape(), ANY).to_dtype(y.dtype()).unwrap());
        }
        all
    };
    let h = move |all: &[Tensor]| -> Result<Vec<Tensor>> {
        let xs = &all[..n];
        let nf = fin2.iter().filter(|b| **b).count();
        let vs = all[n..n + nf].to_vec();
        let us_float = &all[n + nf..];
        let fixed: Vec<Tensor> = xs.to_vec();
        let fl = fin2.clone();
        let f2 = f2.clone();
        // f as a function of its float inputs only
        let g = move |a: &Vec<Tensor>| -> Result<Vec<Tensor>> {
            let mut it = a.iter();
            let full: Vec<Tensor> = fixed
                .iter()
                .zip(&fl)
                .map(|(x, &isf)| {
                    if isf {
                        it.next().unwrap().clone()
                    } else {
                        x.clone()
                    }
                })
                .collect();
            f2(&full)
        };
        let floats: Vec<Tensor> = xs
            .iter()
            .zip(&fin2)
            .filter(|(_, fl)| **fl)
            .map(|(x, _)| x.clone())
            .collect();
        let (ys, tans): (Vec<Tensor>, Vec<Tensor>) = jvp(&g).call(&floats, &vs)?;
        let (_, pb): (Vec<Tensor>, Pullback) = vjp(&g).call(&floats)?;
        let mut uit = us_float.iter();
        let us: Vec<Tensor> = ys
            .iter()
            .zip(&fout2)
            .map(|(y, &isf)| {
                if isf {
                    uit.next().unwrap().clone()
                } else {
                    y.zeros_like().unwrap()
                }
            })
            .collect();
        let (cts,): (Vec<Tensor>,) = pb.call(&us)?;
        let mut res: Vec<Tensor> = tans
            .into_iter()
            .zip(&fout2)
            .filter(|(_, fl)| **fl)
            .map(|(t, _)| t)
            .collect();
        res.extend(cts);
        Ok(res)
    };
    Some(Case {
        name: format!("(jvp, vjp)({})", c.name),
        draw: Rc::new(draw2),
        f: Rc::new(h),
    })
}

fn run(family: &str, cases: Vec<Case>) {
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "duplicate case {}", c.name);
    }
    let derived: Vec<Case> = cases.iter().filter_map(derivatives).collect();
    let failures: Vec<String> = cases
        .iter()
        .chain(&derived)
        .filter_map(|c| check(c).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} {family} cases failed:\n\n{}",
        failures.len(),
        cases.len() + derived.len(),
        failures.join("\n\n")
    );
}

// ------------------------------------------------------------------------------- the cases: the op database

type UnaryFn = fn(&Tensor) -> Result<Tensor>;

fn g1(shape: &'static [usize], dom: Dom) -> impl Fn(&mut Rng) -> Vec<Tensor> {
    move |r| vec![t(r, shape, dom)]
}

fn gs(shapes: &'static [&'static [usize]], dom: Dom) -> impl Fn(&mut Rng) -> Vec<Tensor> {
    move |r| shapes.iter().map(|s| t(r, s, dom)).collect()
}

/// The ops whose batching `batching.rs` checks in a test of its own (the op database flags
/// them `Batch::Elsewhere`): random draws, which a loop cannot reproduce.
const CHECKED_HERE: [(&str, &str); 10] = [
    ("randn", "randomness_different_same_and_error"),
    ("rand", "randomness_different_same_and_error"),
    ("randn_like", "randomness_different_same_and_error"),
    ("rand_like", "randomness_different_same_and_error"),
    ("dropout", "randomness_different_same_and_error"),
    ("randint", "randomness_different_same_and_error"),
    ("randint_like", "randomness_different_same_and_error"),
    ("randperm", "randomness_different_same_and_error"),
    ("normal", "randomness_different_same_and_error"),
    ("bernoulli", "randomness_different_same_and_error"),
];

/// The cases of one op of the database flagged `Batch::Checked`: its samples with f32 inputs
/// (`f32`) or the others.
fn op_cases(o: &OpInfo, f32: bool) -> Vec<Case> {
    if o.batch != Batch::Checked {
        return Vec::new();
    }
    o.samples
        .iter()
        .filter(|s| s.has_f32_input() == f32 && !s.args.is_empty())
        .map(|s| {
            let sample = s.clone();
            Case {
                name: if s.name.is_empty() {
                    o.name.to_string()
                } else {
                    format!("{}({})", o.name, s.name)
                },
                draw: Rc::new(move |r| sample.draw(r)),
                f: s.f.clone(),
            }
        })
        .collect()
}

fn family_cases(families: &[Family]) -> Vec<Case> {
    ops()
        .iter()
        .filter(|o| families.contains(&o.family))
        .flat_map(|o| op_cases(o, false))
        .collect()
}

/// Every op of the database is batched here, by a test of its own, or takes no tensor:
/// leaving one out fails.
#[test]
fn every_op_is_batched_or_says_why() {
    for o in ops() {
        match o.batch {
            Batch::Checked => assert!(
                !op_cases(&o, false).is_empty() || !op_cases(&o, true).is_empty(),
                "{}: flagged Batch::Checked, but has no sample with a tensor input",
                o.name
            ),
            Batch::Elsewhere(test) => assert!(
                CHECKED_HERE.contains(&(o.name, test)),
                "{}: batched by {test}, which CHECKED_HERE in batching.rs does not list",
                o.name
            ),
            Batch::NoTensorInput => {}
        }
    }
    for (name, test) in CHECKED_HERE {
        assert_eq!(
            opinfo::find(name).batch,
            Batch::Elsewhere(test),
            "{name}: the op database should say it is batched by {test}"
        );
    }
}

#[test]
fn batching_unary() {
    run("unary", family_cases(&[Family::Unary]));
}

#[test]
fn batching_binary() {
    run("binary", family_cases(&[Family::Binary]));
}

#[test]
fn batching_reductions() {
    run("reduction", family_cases(&[Family::Reduction]));
}

#[test]
fn batching_shape() {
    run("shape", family_cases(&[Family::Shape]));
}

#[test]
fn batching_indexing() {
    run("indexing", family_cases(&[Family::Index]));
}

#[test]
fn batching_products() {
    run("product", family_cases(&[Family::Product]));
}

#[test]
fn batching_linalg() {
    run("linalg", family_cases(&[Family::Linalg]));
}

/// Casts, `detach` and the `*_like` constructors.
#[test]
fn batching_casts() {
    run("cast", family_cases(&[Family::Cast, Family::Creation]));
}

#[test]
fn batching_edge_cases() {
    let cases = vec![
        // zero-size dims
        case("sum_empty_dim", g1(&[0, 3], ANY), |x| {
            x[0].sum_dims(&[0], false)
        }),
        case("prod_empty_dim", g1(&[2, 0], ANY), |x| {
            x[0].prod_dim(1, false)
        }),
        case("reshape_empty", g1(&[0, 3], ANY), |x| x[0].reshape(&[3, 0])),
        case("exp_empty", g1(&[2, 0], ANY), |x| x[0].exp()),
        case("cat_with_empty", gs(&[&[2, 0], &[2, 3]], ANY), |x| {
            Tensor::cat(x, 1)
        }),
        case("slice_empty", g1(&[2, 4], ANY), |x| x[0].slice(1, 2, 2, 1)),
        case("matmul_k0", gs(&[&[2, 0], &[0, 3]], ANY), |x| {
            x[0].matmul(&x[1])
        }),
        case(
            "index_select_empty_index",
            |r| vec![t(r, &[2, 3], ANY), index(r, &[0], 3)],
            |x| x[0].index_select(1, &x[1]),
        ),
        // outputs that do not depend on the mapped inputs, identity, unused inputs
        case_n("constant_and_batched_outputs", g1(&[3], ANY), |x| {
            Ok(vec![Tensor::ones(&[2], DType::F64)?, x[0].sum()?])
        }),
        case("identity", g1(&[2, 3], ANY), |x| Ok(x[0].clone())),
        case("unused_input", gs(&[&[2], &[3]], ANY), |x| x[0].sin()),
        case_n("duplicated_output", g1(&[2], ANY), |x| {
            let y = x[0].exp()?;
            Ok(vec![y.clone(), y])
        }),
        // views with odd strides flowing into kernels
        case("flip_then_matmul", gs(&[&[3, 3], &[3, 2]], ANY), |x| {
            x[0].flip(&[0, 1])?.matmul(&x[1].flip(&[0])?)
        }),
        case(
            "transpose_then_solve",
            |r| vec![well_conditioned(r, &[], 3), t(r, &[3, 2], ANY)],
            |x| x[0].t()?.solve(&x[1].flip(&[1])?),
        ),
        case(
            "flip_then_det_inv",
            |r| vec![well_conditioned(r, &[], 3)],
            |x| x[0].flip(&[0, 1])?.inv()?.det(),
        ),
        case("broadcast_then_matmul", gs(&[&[3], &[3, 2]], ANY), |x| {
            x[0].broadcast_to(&[4, 3])?.matmul(&x[1])
        }),
        case("slice_step_then_sum", g1(&[4, 6], ANY), |x| {
            x[0].slice(1, 1, 6, 2)?.t()?.sum_dims(&[1], false)
        }),
        case(
            "gather_from_flipped",
            |r| vec![t(r, &[2, 3], ANY), index(r, &[2, 2], 3)],
            |x| x[0].flip(&[1])?.gather(1, &x[1]),
        ),
    ];
    run("edge-case", cases);
}

/// f32 operands through the batch rules and kernels: the samples of the op database with f32
/// inputs.
#[test]
fn batching_f32() {
    let cases: Vec<Case> = ops().iter().flat_map(|o| op_cases(o, true)).collect();
    assert!(cases.len() >= 10, "only {} f32 samples", cases.len());
    run("f32", cases);
}

/// Sizes large enough for the kernels' parallel and folded paths (batched GEMM over rayon, one
/// GEMM with the batch folded into its rows, a GEMM against a batch of vectors, parallel
/// reductions and elementwise loops), against results computed here by plain loops.
#[test]
fn batching_large_kernels() {
    let mut r = Rng::new(21);
    let naive = |a: &[f64], b: &[f64], m: usize, k: usize, n: usize| -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for l in 0..k {
                let av = a[i * k + l];
                for j in 0..n {
                    out[i * n + j] += av * b[l * n + j];
                }
            }
        }
        out
    };
    let close = |what: &str, got: &Tensor, want: &[f64], shape: &[usize]| {
        assert_eq!(got.shape(), shape, "{what}");
        let g = raw(got);
        for (i, (a, b)) in g.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-10 * (1.0 + b.abs()),
                "{what}: element {i}: {a} vs {b}"
            );
        }
    };
    let mm = |(a, b): &(Tensor, Tensor)| a.matmul(b);
    for (bsz, m, k, n) in [
        (4usize, 70usize, 70usize, 70usize),
        (16, 40, 40, 40),
        (8, 33, 50, 1),
    ] {
        let a = t(&mut r, &[bsz, m, k], ANY);
        let b = t(&mut r, &[bsz, k, n], ANY);
        let b0 = t(&mut r, &[k, n], ANY);
        let a0 = t(&mut r, &[m, k], ANY);
        let (av, bv, b0v, a0v) = (raw(&a), raw(&b), raw(&b0), raw(&a0));
        let mut both = Vec::new();
        let mut left = Vec::new();
        let mut right = Vec::new();
        for i in 0..bsz {
            let ai = &av[i * m * k..(i + 1) * m * k];
            let bi = &bv[i * k * n..(i + 1) * k * n];
            both.extend(naive(ai, bi, m, k, n));
            left.extend(naive(ai, &b0v, m, k, n));
            right.extend(naive(&a0v, bi, m, k, n));
        }
        let what = format!("B={bsz} [{m}x{k}]@[{k}x{n}]");
        let got: Tensor = vmap(mm).call(&(a.clone(), b.clone())).unwrap();
        close(&what, &got, &both, &[bsz, m, n]);
        // batch dims at other positions: strided operands
        let at = a.movedim(0, 2).unwrap().contiguous_copy();
        let bt = b.movedim(0, 1).unwrap().contiguous_copy();
        let got: Tensor = vmap(mm)
            .in_dims([Some(2), Some(1)])
            .call(&(at, bt))
            .unwrap();
        close(
            &format!("{what}, in_dims=(2, 1)"),
            &got,
            &both,
            &[bsz, m, n],
        );
        // shared right operand: the batch folds into the GEMM's rows
        let got: Tensor = vmap(mm)
            .in_dims([Some(0), None])
            .call(&(a.clone(), b0.clone()))
            .unwrap();
        close(&format!("{what}, shared right"), &got, &left, &[bsz, m, n]);
        // shared left operand
        let got: Tensor = vmap(mm)
            .in_dims([None, Some(0)])
            .call(&(a0.clone(), b.clone()))
            .unwrap();
        close(&format!("{what}, shared left"), &got, &right, &[bsz, m, n]);
        // a batch that is a broadcast view (zero batch stride) against a shared operand
        let ab = a0.unsqueeze(0).unwrap().broadcast_to(&[bsz, m, k]).unwrap();
        let got: Tensor = vmap(mm)
            .in_dims([Some(0), None])
            .call(&(ab, b0.clone()))
            .unwrap();
        let one = naive(&a0v, &b0v, m, k, n);
        let rep: Vec<f64> = (0..bsz).flat_map(|_| one.iter().copied()).collect();
        close(
            &format!("{what}, broadcast batch"),
            &got,
            &rep,
            &[bsz, m, n],
        );
        if n == 1 {
            // vmap of a matrix-vector product against a shared matrix
            let bvec = b.squeeze(-1).unwrap();
            let got: Tensor = vmap(mm)
                .in_dims([None, Some(0)])
                .call(&(a0.clone(), bvec))
                .unwrap();
            close(
                &format!("{what}, shared matrix times vectors"),
                &got,
                &right,
                &[bsz, m],
            );
        }
    }
    // reductions and elementwise ops over more than 2^15 elements per call
    let x = t(&mut r, &[4, 120, 90], ANY);
    let xv = raw(&x);
    let got: Tensor = vmap(|x: &Tensor| x.sum()).call(&x).unwrap();
    let want: Vec<f64> = (0..4)
        .map(|i| xv[i * 10800..(i + 1) * 10800].iter().sum())
        .collect();
    close("vmap(sum)", &got, &want, &[4]);
    let got: Tensor = vmap(|x: &Tensor| x.sum_dims(&[0], false))
        .in_dims(2)
        .call(&x)
        .unwrap();
    let mut want = vec![0.0; 90 * 120];
    for b in 0..4 {
        for i in 0..120 {
            for j in 0..90 {
                want[j * 120 + i] += xv[(b * 120 + i) * 90 + j];
            }
        }
    }
    close("vmap(sum_dims[0], in_dims=2)", &got, &want, &[90, 120]);
    let y = t(&mut r, &[90], ANY);
    let yv = raw(&y);
    let got: Tensor = vmap(|(x, y): &(Tensor, Tensor)| x.mul(y)?.exp())
        .in_dims([Some(1), None])
        .call(&(x.clone(), y))
        .unwrap();
    let mut want = vec![0.0; 120 * 4 * 90];
    for b in 0..4 {
        for i in 0..120 {
            for j in 0..90 {
                want[(i * 4 + b) * 90 + j] = (xv[(b * 120 + i) * 90 + j] * yv[j]).exp();
            }
        }
    }
    close(
        "vmap(exp(x * y), in_dims=(1, None))",
        &got,
        &want,
        &[120, 4, 90],
    );
}

// ------------------------------------------------------------------------------- vmap of transforms

fn rows(x: &Tensor) -> Vec<Tensor> {
    (0..x.shape()[0])
        .map(|i| x.get(i as i64).unwrap())
        .collect()
}

fn assert_same(what: &str, got: &Tensor, want: &Tensor) {
    if let Err(e) = same(what, got, want) {
        panic!("{e}");
    }
}

#[test]
fn vmap_of_grad_matches_a_loop_of_grad() {
    let mut r = Rng::new(11);
    let xs = t(&mut r, &[4, 3], ANY);
    let w = t(&mut r, &[3, 2], ANY);
    let losses: Vec<(&str, UnaryFn)> = vec![
        ("sum_sin_x_times_x", |x| x.sin()?.mul(x)?.sum()),
        ("logsumexp", |x| x.logsumexp(&[], false)),
        ("softmax_dot", |x| x.softmax(0)?.mul(x)?.sum()),
        ("norm", |x| x.norm()),
        ("prod", |x| x.prod()),
        ("outer_trace", |x| x.outer(x)?.tanh()?.trace()),
    ];
    for (name, f) in losses {
        let got: Tensor = vmap(grad(f)).call(&xs).unwrap();
        let want: Vec<Tensor> = rows(&xs).iter().map(|x| grad(f).call(x).unwrap()).collect();
        assert_same(name, &got, &stack_at(&want, 0));
        // batch at dim 1 and the gradients at dim 1
        let got: Tensor = vmap(grad(f))
            .in_dims(1)
            .out_dims(1)
            .call(&xs.t().unwrap().contiguous_copy())
            .unwrap();
        assert_same(
            &format!("{name} (in_dims=1, out_dims=1)"),
            &got,
            &stack_at(&want, 1),
        );
    }
    // two arguments, one of them unbatched, gradient with respect to both
    let loss = |(x, w): &(Tensor, Tensor)| x.matmul(w)?.tanh()?.sum();
    let (gx, gw): (Tensor, Tensor) = vmap(grad(loss).argnums((0, 1)))
        .in_dims([Some(0), None])
        .call(&(xs.clone(), w.clone()))
        .unwrap();
    let mut wx = Vec::new();
    let mut ww = Vec::new();
    for x in rows(&xs) {
        let (a, b): (Tensor, Tensor) = grad(loss).argnums((0, 1)).call(&(x, w.clone())).unwrap();
        wx.push(a);
        ww.push(b);
    }
    assert_same("grad x", &gx, &stack_at(&wx, 0));
    assert_same("grad w (per example)", &gw, &stack_at(&ww, 0));
}

trait ContiguousCopy {
    fn contiguous_copy(&self) -> Tensor;
}
impl ContiguousCopy for Tensor {
    fn contiguous_copy(&self) -> Tensor {
        build(raw(self), self.shape(), self.dtype())
    }
}

#[test]
fn vmap_of_jvp_and_vjp_match_loops() {
    let mut r = Rng::new(12);
    let xs = t(&mut r, &[3, 4], ANY);
    let vs = t(&mut r, &[3, 4], ANY);
    let f = |x: &Tensor| x.sin()?.mul(&x.exp()?)?.cumulative();
    let jf = |(x, v): &(Tensor, Tensor)| -> Result<(Tensor, Tensor)> { jvp(f).call(x, v) };
    let (ys, ts): (Tensor, Tensor) = vmap(jf).call(&(xs.clone(), vs.clone())).unwrap();
    let mut wy = Vec::new();
    let mut wt = Vec::new();
    for (x, v) in rows(&xs).into_iter().zip(rows(&vs)) {
        let (y, t): (Tensor, Tensor) = jvp(f).call(&x, &v).unwrap();
        wy.push(y);
        wt.push(t);
    }
    assert_same("vmap(jvp) primal", &ys, &stack_at(&wy, 0));
    assert_same("vmap(jvp) tangent", &ts, &stack_at(&wt, 0));
    // the tangent batched, the primal not: a batch of directions at one point
    let x0 = rows(&xs)[0].clone();
    let (_, ts): (Tensor, Tensor) = vmap(jf)
        .in_dims([None, Some(0)])
        .call(&(x0.clone(), vs.clone()))
        .unwrap();
    let want: Vec<Tensor> = rows(&vs)
        .iter()
        .map(|v| jvp(f).call::<Tensor, (Tensor, Tensor)>(&x0, v).unwrap().1)
        .collect();
    assert_same("vmap(jvp) over tangents", &ts, &stack_at(&want, 0));
    // vjp: a batch of cotangents through one pullback, and a batch of points
    let (_, pb): (Tensor, Pullback) = vjp(f).call(&x0).unwrap();
    let (cts,): (Tensor,) = vmap(pb.clone()).call(&vs).unwrap();
    let want: Vec<Tensor> = rows(&vs)
        .iter()
        .map(|u| pb.call::<Tensor, (Tensor,)>(u).unwrap().0)
        .collect();
    assert_same("vmap(pullback)", &cts, &stack_at(&want, 0));
    let vf = |(x, u): &(Tensor, Tensor)| -> Result<Tensor> {
        let (_, pb): (Tensor, Pullback) = vjp(f).call(x)?;
        Ok(pb.call::<Tensor, (Tensor,)>(u)?.0)
    };
    let got: Tensor = vmap(vf).call(&(xs.clone(), vs.clone())).unwrap();
    let want: Vec<Tensor> = rows(&xs)
        .into_iter()
        .zip(rows(&vs))
        .map(|(x, u)| vf(&(x, u)).unwrap())
        .collect();
    assert_same("vmap(vjp)", &got, &stack_at(&want, 0));
}

/// A little helper op for the tests above: running sums along the last dim (slices and cat).
trait Cumulative {
    fn cumulative(&self) -> Result<Tensor>;
}
impl Cumulative for Tensor {
    fn cumulative(&self) -> Result<Tensor> {
        let n = self.shape()[self.ndim() - 1];
        let parts: Vec<Tensor> = (1..=n)
            .map(|k| self.slice(-1, 0, k as i64, 1)?.sum_dims(&[-1], true))
            .collect::<Result<_>>()?;
        Tensor::cat(&parts, -1)
    }
}

#[test]
fn vmap_of_jacobians_matches_a_loop() {
    let mut r = Rng::new(13);
    let xs = t(&mut r, &[3, 3], ANY);
    let f = |x: &Tensor| x.sin()?.mul(&x.roll_left()?)?.softmax(0);
    let s = |x: &Tensor| x.sin()?.mul(&x.roll_left()?)?.logsumexp(&[], false);
    let jr: Tensor = vmap(jacrev(f)).call(&xs).unwrap();
    let jf: Tensor = vmap(jacfwd(f)).call(&xs).unwrap();
    let h: Tensor = vmap(hessian(s)).call(&xs).unwrap();
    let jr_chunked: Tensor = vmap(jacrev(f).chunk_size(2))
        .chunk_size(2)
        .call(&xs)
        .unwrap();
    let mut wr = Vec::new();
    let mut wh = Vec::new();
    for x in rows(&xs) {
        wr.push(jacrev(f).call::<Tensor, Tensor>(&x).unwrap());
        wh.push(hessian(s).call::<Tensor, Tensor>(&x).unwrap());
    }
    let wr = stack_at(&wr, 0);
    assert_eq!(wr.shape(), &[3, 3, 3]);
    assert_same("vmap(jacrev)", &jr, &wr);
    assert_same("vmap(jacfwd)", &jf, &wr);
    assert_same("vmap(jacrev, chunked)", &jr_chunked, &wr);
    assert_same("vmap(hessian)", &h, &stack_at(&wh, 0));
    // nested: vmap(vmap(grad)) over a [2, 3, 3] batch with the outer batch at dim 2
    let x3 = t(&mut r, &[3, 3, 2], ANY);
    let g: Tensor = vmap(vmap(grad(s))).in_dims(2).call(&x3).unwrap();
    let mut want = Vec::new();
    for i in 0..2 {
        let xi = x3.select(2, i).unwrap();
        let row: Vec<Tensor> = rows(&xi)
            .iter()
            .map(|x| grad(s).call::<Tensor, Tensor>(x).unwrap())
            .collect();
        want.push(stack_at(&row, 0));
    }
    assert_same("vmap(vmap(grad))", &g, &stack_at(&want, 0));
}

/// Rotate a 1-d tensor by one place (slices and cat).
trait RollLeft {
    fn roll_left(&self) -> Result<Tensor>;
}
impl RollLeft for Tensor {
    fn roll_left(&self) -> Result<Tensor> {
        Tensor::cat(
            &[self.slice(0, 1, i64::MAX, 1)?, self.slice(0, 0, 1, 1)?],
            0,
        )
    }
}

// ------------------------------------------------------------------------------- randomness

fn distinct_rows(x: &Tensor) -> bool {
    let r: Vec<Vec<f64>> = rows(x).iter().map(raw).collect();
    (0..r.len()).all(|i| (i + 1..r.len()).all(|j| r[i] != r[j]))
}

fn equal_rows(x: &Tensor) -> bool {
    let r: Vec<Vec<f64>> = rows(x).iter().map(raw).collect();
    r.iter().all(|v| *v == r[0])
}

#[test]
fn randomness_different_same_and_error() {
    let xs = Tensor::zeros(&[4, 3], DType::F64).unwrap();
    let draws: Vec<(&str, UnaryFn)> = vec![
        ("randn", |x| x.add(&Tensor::randn(&[3], DType::F64)?)),
        ("rand", |x| x.add(&Tensor::rand(&[3], DType::F64)?)),
        ("randn_like", |x| x.add(&x.randn_like()?)),
        ("rand_like", |x| x.add(&x.rand_like()?)),
        ("dropout", |x| {
            x.add_scalar(1.0)?.dropout(0.5)?.add(&x.rand_like()?)
        }),
        ("randint", |x| {
            x.add(&Tensor::randint(0, 1 << 30, &[3])?.to_dtype(DType::F64)?)
        }),
        ("randint_like", |x| x.add(&x.randint_like(0, 1 << 30)?)),
        ("randperm", |x| {
            x.add(
                &Tensor::randperm(1000)?
                    .narrow(0, 0, 3)?
                    .to_dtype(DType::F64)?,
            )
        }),
        ("normal", |x| Tensor::normal(x, &x.ones_like()?)),
        // 30 coin flips per element, read as the bits of a number (so rows rarely repeat)
        ("bernoulli", |x| {
            let bits: Vec<f64> = (0..30).map(|k| 2f64.powi(k)).collect();
            let p = x.unsqueeze(1)?.add_scalar(0.5)?.expand(&[3, 30])?;
            p.bernoulli()?.matmul(&Tensor::from_vec(bits, &[30])?)
        }),
    ];
    // every random op of the op database, and only those
    let mut random: Vec<&str> = ops().iter().filter(|o| o.random).map(|o| o.name).collect();
    let mut here: Vec<&str> = draws.iter().map(|d| d.0).collect();
    random.sort();
    here.sort();
    assert_eq!(here, random, "the random ops of the op database");
    for (name, f) in draws {
        functorch::manual_seed(7);
        let d: Tensor = vmap(f).randomness(Randomness::Different).call(&xs).unwrap();
        assert_eq!(d.shape(), &[4, 3], "{name}");
        assert!(
            distinct_rows(&d),
            "{name}: 'different' gave equal draws: {d}"
        );
        let s: Tensor = vmap(f).randomness(Randomness::Same).call(&xs).unwrap();
        assert_eq!(s.shape(), &[4, 3], "{name}");
        assert!(equal_rows(&s), "{name}: 'same' gave different draws: {s}");
        assert!(!equal_rows(&d), "{name}");
        // the default is "error", and so is an explicit Error
        let e = vmap(f).call::<Tensor, Tensor>(&xs);
        assert!(
            matches!(e, Err(functorch::Error::Randomness { .. })),
            "{name}: expected a randomness error, got {e:?}"
        );
        let e = vmap(f)
            .randomness(Randomness::Error)
            .call::<Tensor, Tensor>(&xs);
        assert!(e.is_err(), "{name}");
        // chunked: "same" is the same across chunks, "different" differs across chunks
        for chunk in 1..=4 {
            let s: Tensor = vmap(f)
                .randomness(Randomness::Same)
                .chunk_size(chunk)
                .call(&xs)
                .unwrap();
            assert!(equal_rows(&s), "{name}: chunk_size={chunk}: {s}");
            let d: Tensor = vmap(f)
                .randomness(Randomness::Different)
                .chunk_size(chunk)
                .call(&xs)
                .unwrap();
            assert!(distinct_rows(&d), "{name}: chunk_size={chunk}: {d}");
        }
    }
    // seeded runs reproduce
    let f = |x: &Tensor| x.add(&x.randn_like()?);
    functorch::manual_seed(3);
    let a: Tensor = vmap(f).randomness(Randomness::Different).call(&xs).unwrap();
    functorch::manual_seed(3);
    let b: Tensor = vmap(f).randomness(Randomness::Different).call(&xs).unwrap();
    assert_eq!(raw(&a), raw(&b));
    // nested: different at both levels gives distinct draws everywhere; "same" inside
    // "different" repeats the draw along the inner batch only
    let x3 = Tensor::zeros(&[2, 3, 2], DType::F64).unwrap();
    let dd: Tensor = vmap(vmap(f).randomness(Randomness::Different))
        .randomness(Randomness::Different)
        .call(&x3)
        .unwrap();
    let flat = dd.reshape(&[6, 2]).unwrap();
    assert!(distinct_rows(&flat), "{dd}");
    let ds: Tensor = vmap(vmap(f).randomness(Randomness::Same))
        .randomness(Randomness::Different)
        .call(&x3)
        .unwrap();
    for outer in rows(&ds) {
        assert!(equal_rows(&outer), "{ds}");
    }
    assert!(distinct_rows(&ds.select(1, 0).unwrap()), "{ds}");
}
