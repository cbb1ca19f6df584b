//! One table-driven gradient checker, applied to every primitive and every public
//! differentiable op, in f64.
//!
//! The cases are the samples of the op database (`tests/common/opinfo.rs`): every sample of
//! every op flagged `Grad::Checked` that has a float input and a float output, at a point drawn
//! from its input domain; index and mask inputs are held fixed. An op left out of the checks
//! (and not flagged with the reason, or with the test here that checks it) fails
//! `every_op_is_gradchecked_or_says_why`.
//!
//! For each case `f: [Tensor] -> [Tensor]` at a random point `x` (kept away from the points where
//! `f` is not differentiable):
//!
//! - **JVP against central finite differences**, in two random directions `v` (normal entries
//!   scaled to max-norm 1): step `h = 1e-6 · max(1, ‖x‖∞)`, and the check
//!   `‖J v − (f(x + h v) − f(x − h v)) / 2h‖∞ ≤ 1e-6 · max(1, ‖FD‖∞)`.
//!   (Central differences err by `h²/6 · f'''` + `ε·|f|/h`, about `1e-10` here.)
//! - **VJP by the dot-product identity** `⟨u, J v⟩ = ⟨Jᵀ u, v⟩` for random `u`, `v`:
//!   `|⟨u, J v⟩ − ⟨Jᵀu, v⟩| ≤ 1e-10 · (1 + Σ|u·Jv| + Σ|Jᵀu·v|)` (both sides are exact up to
//!   rounding), and `⟨Jᵀ u, v⟩` against `⟨u, FD⟩` at the finite-difference tolerance.
//! - **Order 2**: both checks again on the derivative itself, i.e. on
//!   `x ↦ jvp(f)(x, v).tangent` (forward-over-forward and reverse-over-forward) and on
//!   `x ↦ vjp(f)(x).pullback(u)` (forward-over-reverse and reverse-over-reverse), so every
//!   second-order rule runs.
//!
//! Cases that go through f32 (casts) use `h = 1e-2`, a finite-difference tolerance of `1e-4`
//! and a dot-product tolerance of `1e-5`.
//!
//! Every case runs a second time through `vmap` (two nearby points stacked at the last dim),
//! so the derivative rules also see the physical operands the batch rules produce.
//!
//! Inputs come from a small SplitMix64 generator seeded by the case name, so a failure
//! reproduces exactly. Apart from the database: `detach` and integer casts (no derivative by
//! design), dropout (reseeded, so deterministic), the conventions at non-differentiable points
//! (PyTorch's subgradients), a test that the checker does reject a wrong derivative, and
//! property tests (proptest) of broadcasting and of `sum_to_size` as the transpose of
//! `broadcast_to`.

use functorch::{DType, Dims, Pullback, Result, Tensor, grad, jvp, vjp, vmap};

mod common;
use common::opinfo::{self, Family, Grad, OpInfo, Sample, ops};
use common::{ANY, Dom, POS, Rng, t};
use proptest::prelude::*;

type Fun<'a> = dyn Fn(&[Tensor]) -> Result<Vec<Tensor>> + 'a;
type BoxFun = Box<Fun<'static>>;

// ------------------------------------------------------------------------------- the checker

#[derive(Clone, Copy, Debug)]
struct Tol {
    /// Finite-difference step, relative to max(1, ‖x‖∞).
    h: f64,
    /// Tolerance of J·v against finite differences, relative to max(1, ‖FD‖∞).
    fd: f64,
    /// Tolerance of the dot-product identity, relative to the sum of the magnitudes.
    dot: f64,
    /// Whether to check the derivative's derivative too.
    order2: bool,
}

const F64_TOL: Tol = Tol {
    h: 1e-6,
    fd: 1e-6,
    dot: 1e-10,
    order2: true,
};

const F32_TOL: Tol = Tol {
    h: 1e-2,
    fd: 1e-4,
    dot: 1e-5,
    order2: true,
};

struct Case {
    name: String,
    xs: Vec<Tensor>,
    f: BoxFun,
    tol: Tol,
}

fn case(name: &str, xs: Vec<Tensor>, f: BoxFun) -> Case {
    Case {
        name: name.to_string(),
        xs,
        f,
        tol: F64_TOL,
    }
}

/// A single-output function.
fn one(f: impl Fn(&[Tensor]) -> Result<Tensor> + 'static) -> BoxFun {
    Box::new(move |x| Ok(vec![f(x)?]))
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().expect("a concrete tensor")
}

/// A tensor of `like`'s shape and dtype holding `v`.
fn tensor_like(like: &Tensor, v: Vec<f64>) -> Tensor {
    match like.dtype() {
        DType::F32 => Tensor::from_vec(v.into_iter().map(|x| x as f32).collect(), like.shape()),
        _ => Tensor::from_vec(v, like.shape()),
    }
    .unwrap()
}

/// Random entries of max-norm 1, shaped like each tensor.
fn random_like(r: &mut Rng, ts: &[Tensor]) -> Vec<Vec<f64>> {
    ts.iter()
        .map(|t| {
            let v: Vec<f64> = (0..t.numel()).map(|_| r.normal()).collect();
            let m = v.iter().fold(1e-12f64, |m, x| m.max(x.abs()));
            v.into_iter().map(|x| x / m).collect()
        })
        .collect()
}

fn tensors_like(like: &[Tensor], v: &[Vec<f64>]) -> Vec<Tensor> {
    like.iter()
        .zip(v)
        .map(|(t, v)| tensor_like(t, v.clone()))
        .collect()
}

fn shifted(xs: &[Tensor], vs: &[Vec<f64>], h: f64) -> Vec<Tensor> {
    xs.iter()
        .zip(vs)
        .map(|(x, v)| {
            let d = vals(x).iter().zip(v).map(|(a, b)| a + h * b).collect();
            tensor_like(x, d)
        })
        .collect()
}

fn same_shapes(what: &str, got: &[Tensor], want: &[Tensor]) -> std::result::Result<(), String> {
    let g: Vec<(&[usize], DType)> = got.iter().map(|t| (t.shape(), t.dtype())).collect();
    let w: Vec<(&[usize], DType)> = want.iter().map(|t| (t.shape(), t.dtype())).collect();
    if g == w {
        Ok(())
    } else {
        Err(format!("{what}: got shapes/dtypes {g:?}, expected {w:?}"))
    }
}

/// `err ≤ tol`, false for NaN.
fn within(err: f64, tol: f64) -> bool {
    err <= tol
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn dot(a: &[Vec<f64>], b: &[Vec<f64>]) -> (f64, f64) {
    let mut s = 0.0;
    let mut mag = 0.0;
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.iter().zip(y) {
            s += p * q;
            mag += (p * q).abs();
        }
    }
    (s, mag)
}

/// The first-order checks of `f` at `xs` (see the module docs). Err describes the first failure.
fn check_first_order(
    name: &str,
    f: &Fun<'_>,
    xs: &[Tensor],
    tol: Tol,
    r: &mut Rng,
) -> std::result::Result<(), String> {
    let err = |what: &str, e: functorch::Error| format!("{name}: {what} failed: {e}");
    let y = f(xs).map_err(|e| err("f", e))?;
    let yv: Vec<Vec<f64>> = y.iter().map(vals).collect();
    for (k, v) in yv.iter().enumerate() {
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!("{name}: output {k} is not finite: {v:?}"));
        }
    }
    let xmax = xs.iter().map(|x| max_abs(&vals(x))).fold(1.0f64, f64::max);
    let h = tol.h * xmax;
    let g = |a: &Vec<Tensor>| f(a);
    for trial in 0..2 {
        // forward mode against central differences
        let vs = random_like(r, xs);
        let vt = tensors_like(xs, &vs);
        let (y2, tan): (Vec<Tensor>, Vec<Tensor>) =
            jvp(g).call(&xs.to_vec(), &vt).map_err(|e| err("jvp", e))?;
        same_shapes(&format!("{name}: jvp primal"), &y2, &y)?;
        same_shapes(&format!("{name}: jvp tangent"), &tan, &y)?;
        for (k, (a, b)) in y2.iter().zip(&yv).enumerate() {
            let a = vals(a);
            let d = a
                .iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max);
            if d > 1e-12 * (1.0 + max_abs(b)) {
                return Err(format!(
                    "{name}: jvp's primal output {k} differs from f: {a:?} vs {b:?}"
                ));
            }
        }
        let plus = f(&shifted(xs, &vs, h)).map_err(|e| err("f(x + hv)", e))?;
        let minus = f(&shifted(xs, &vs, -h)).map_err(|e| err("f(x - hv)", e))?;
        let fd: Vec<Vec<f64>> = plus
            .iter()
            .zip(&minus)
            .map(|(p, m)| {
                vals(p)
                    .iter()
                    .zip(vals(m))
                    .map(|(a, b)| (a - b) / (2.0 * h))
                    .collect()
            })
            .collect();
        let tv: Vec<Vec<f64>> = tan.iter().map(vals).collect();
        for (k, (a, b)) in tv.iter().zip(&fd).enumerate() {
            let d = a
                .iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max);
            let scale = max_abs(b).max(1.0);
            if !within(d, tol.fd * scale) {
                return Err(format!(
                    "{name}: JVP of output {k} disagrees with central differences (trial {trial}): max error {d:.3e} > {:.1e}·{scale:.3}\n  jvp: {a:?}\n  fd:  {b:?}",
                    tol.fd
                ));
            }
        }
        // reverse mode by the dot-product identity
        let us = random_like(r, &y);
        let ut = tensors_like(&y, &us);
        let (y3, pb): (Vec<Tensor>, Pullback) =
            vjp(g).call(&xs.to_vec()).map_err(|e| err("vjp", e))?;
        same_shapes(&format!("{name}: vjp primal"), &y3, &y)?;
        let (ct,): (Vec<Tensor>,) = pb.call(&ut).map_err(|e| err("pullback", e))?;
        same_shapes(&format!("{name}: vjp cotangent"), &ct, xs)?;
        let cv: Vec<Vec<f64>> = ct.iter().map(vals).collect();
        let (lhs, m1) = dot(&us, &tv);
        let (rhs, m2) = dot(&cv, &vs);
        let (fdd, m3) = dot(&us, &fd);
        if !within((lhs - rhs).abs(), tol.dot * (1.0 + m1 + m2)) {
            return Err(format!(
                "{name}: <u, J v> = {lhs:.15e} but <J^T u, v> = {rhs:.15e} (trial {trial})"
            ));
        }
        let fd_scale = 1.0 + m3 + us.iter().map(|u| max_abs(u)).sum::<f64>();
        if !within((rhs - fdd).abs(), tol.fd * fd_scale) {
            return Err(format!(
                "{name}: <J^T u, v> = {rhs:.15e} but <u, FD> = {fdd:.15e} (trial {trial})"
            ));
        }
    }
    Ok(())
}

/// First order, then (unless disabled) the same checks on `x ↦ J(x) v` and `x ↦ J(x)ᵀ u`.
fn check_case(c: &Case) -> std::result::Result<(), String> {
    let mut r = Rng::for_name(&c.name);
    let f: &Fun<'_> = &*c.f;
    check_first_order(&c.name, f, &c.xs, c.tol, &mut r)?;
    if !c.tol.order2 {
        return Ok(());
    }
    let y = f(&c.xs).map_err(|e| format!("{}: {e}", c.name))?;
    let vs = tensors_like(&c.xs, &random_like(&mut r, &c.xs));
    let us = tensors_like(&y, &random_like(&mut r, &y));
    let jv = |xs: &[Tensor]| -> Result<Vec<Tensor>> {
        let (_, t): (Vec<Tensor>, Vec<Tensor>) =
            jvp(|a: &Vec<Tensor>| f(a)).call(&xs.to_vec(), &vs)?;
        Ok(t)
    };
    check_first_order(
        &format!("{} [order 2: x -> J(x) v]", c.name),
        &jv,
        &c.xs,
        c.tol,
        &mut r,
    )?;
    let jtu = |xs: &[Tensor]| -> Result<Vec<Tensor>> {
        let (_, pb): (Vec<Tensor>, Pullback) = vjp(|a: &Vec<Tensor>| f(a)).call(&xs.to_vec())?;
        let (g,): (Vec<Tensor>,) = pb.call(&us)?;
        Ok(g)
    };
    check_first_order(
        &format!("{} [order 2: x -> J(x)^T u]", c.name),
        &jtu,
        &c.xs,
        c.tol,
        &mut r,
    )
}

fn run(family: &str, cases: Vec<Case>) {
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "duplicate case {}", c.name);
    }
    let failures: Vec<String> = cases.iter().filter_map(|c| check_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} {family} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

// ------------------------------------------------------------------------------- the cases: the op database

type BinaryFn = fn(&Tensor, &Tensor) -> Result<Tensor>;
type ScalarFn = fn(f64, f64) -> f64;

/// The ops whose derivatives `gradcheck.rs` checks in a test of its own, since finite
/// differences do not apply (the op database flags them `Grad::Elsewhere`).
const CHECKED_HERE: [(&str, &str); 2] = [
    ("detach", "detach_stops_derivatives"),
    ("dropout", "gradcheck_dropout"),
];

/// The case of one sample of the op database, or None when it has no float input, no float
/// output, or is not differentiable where it draws. The point is drawn once (seeded by the
/// case name); index and mask inputs are held fixed and only the float inputs vary; outputs
/// that are not float are dropped.
fn sample_case(op: &str, s: &Sample) -> Option<Case> {
    if !s.grad {
        return None;
    }
    let name = if s.name.is_empty() {
        op.to_string()
    } else {
        format!("{op}({})", s.name)
    };
    let all = s.draw(&mut Rng::for_name(&name));
    let float: Vec<bool> = all.iter().map(|x| x.dtype().is_float()).collect();
    if !float.contains(&true) {
        return None;
    }
    // (an error here is reported by the checker, which calls f again)
    if let Ok(ys) = (s.f)(&all)
        && !ys.iter().any(|y| y.dtype().is_float())
    {
        return None;
    }
    let tol = if s.through_f32 || all.iter().any(|x| x.dtype() == DType::F32) {
        F32_TOL
    } else {
        F64_TOL
    };
    let xs: Vec<Tensor> = all
        .iter()
        .zip(&float)
        .filter(|(_, fl)| **fl)
        .map(|(x, _)| x.clone())
        .collect();
    let f = s.f.clone();
    let fun = move |a: &[Tensor]| -> Result<Vec<Tensor>> {
        let mut it = a.iter();
        let full: Vec<Tensor> = all
            .iter()
            .zip(&float)
            .map(|(x, &fl)| if fl { it.next().unwrap() } else { x }.clone())
            .collect();
        Ok(f(&full)?
            .into_iter()
            .filter(|y| y.dtype().is_float())
            .collect())
    };
    Some(Case {
        name,
        xs,
        f: Box::new(fun),
        tol,
    })
}

/// The cases of the ops flagged `Grad::Checked`.
fn op_cases(o: &OpInfo) -> Vec<Case> {
    if o.grad != Grad::Checked {
        return Vec::new();
    }
    o.samples
        .iter()
        .filter_map(|s| sample_case(o.name, s))
        .collect()
}

fn family_cases(families: &[Family]) -> Vec<Case> {
    ops()
        .iter()
        .filter(|o| families.contains(&o.family))
        .flat_map(op_cases)
        .collect()
}

/// Every op of the database is checked here, by a test of its own, or says why it has no
/// derivative: leaving one out fails.
#[test]
fn every_op_is_gradchecked_or_says_why() {
    for o in ops() {
        match o.grad {
            Grad::Checked => assert!(
                !op_cases(&o).is_empty(),
                "{}: flagged Grad::Checked, but none of its samples has a float input, a float \
                 output and `grad` set",
                o.name
            ),
            Grad::Elsewhere(test) => assert!(
                CHECKED_HERE.contains(&(o.name, test)),
                "{}: checked by {test}, which CHECKED_HERE in gradcheck.rs does not list",
                o.name
            ),
            Grad::None(_) => {}
        }
    }
    for (name, test) in CHECKED_HERE {
        assert_eq!(
            opinfo::find(name).grad,
            Grad::Elsewhere(test),
            "{name}: the op database should say it is checked by {test}"
        );
    }
}

#[test]
fn gradcheck_unary() {
    run("unary", family_cases(&[Family::Unary]));
}

#[test]
fn gradcheck_binary_broadcasting() {
    run("binary", family_cases(&[Family::Binary]));
}

#[test]
fn gradcheck_reductions() {
    run("reduction", family_cases(&[Family::Reduction]));
}

#[test]
fn gradcheck_shape() {
    run("shape", family_cases(&[Family::Shape]));
}

#[test]
fn gradcheck_indexing() {
    run("indexing", family_cases(&[Family::Index]));
}

#[test]
fn gradcheck_products() {
    run("product", family_cases(&[Family::Product]));
}

#[test]
fn gradcheck_linalg() {
    run("linalg", family_cases(&[Family::Linalg]));
}

/// Casts, and the `*_like` constructors (constant in their input: a zero derivative).
#[test]
fn gradcheck_casts() {
    run(
        "cast",
        family_cases(&[Family::Cast, Family::Creation, Family::Random]),
    );
}

/// Two examples stacked along a new last dim (by index arithmetic).
fn stack_last(a: &Tensor, b: &Tensor) -> Tensor {
    let (va, vb) = (vals(a), vals(b));
    let data: Vec<f64> = va.iter().zip(&vb).flat_map(|(x, y)| [*x, *y]).collect();
    let mut shape = a.shape().to_vec();
    shape.push(2);
    match a.dtype() {
        DType::F32 => Tensor::from_vec(data.into_iter().map(|x| x as f32).collect(), &shape),
        _ => Tensor::from_vec(data, &shape),
    }
    .unwrap()
}

/// The case run on a batch of two nearby points through `vmap` (in_dims = out_dims = -1): the
/// derivative rules then see the physical, batched operands that the batch rules produce
/// (gathers for batched index_select, broadcast batch dims in matmul, ...), at first and
/// second order.
fn under_vmap(c: Case) -> Case {
    let mut r = Rng::for_name(&format!("{}/vmap", c.name));
    let xs: Vec<Tensor> =
        c.xs.iter()
            .map(|x| {
                // the second example: the first moved by at most 0.02, well inside every margin
                let near = vals(x).iter().map(|v| v + r.range(-0.02, 0.02)).collect();
                stack_last(x, &tensor_like(x, near))
            })
            .collect();
    let n = xs.len();
    let f = c.f;
    let dims = move |d: i64| Dims::Tuple(vec![Dims::Tuple(vec![Dims::Dim(Some(d)); n])]);
    let fv = move |a: &[Tensor]| -> Result<Vec<Tensor>> {
        let g = |b: &Vec<Tensor>| f(b);
        vmap(g)
            .in_dims(dims(-1))
            .out_dims(Dims::Dim(Some(-1)))
            .call(&a.to_vec())
    };
    Case {
        name: format!("vmap({})", c.name),
        xs,
        f: Box::new(fv),
        tol: c.tol,
    }
}

#[test]
fn gradcheck_under_vmap() {
    let all: Vec<Case> = ops().iter().flat_map(op_cases).collect();
    run("vmapped", all.into_iter().map(under_vmap).collect());
}

/// Dropout is random, but reseeding before each call makes it a deterministic function
/// (`x ↦ x · mask / (1 − p)`) that the checker can differentiate. (Not under vmap: there the
/// default randomness is an error; batching.rs covers vmap's randomness.)
#[test]
fn gradcheck_dropout() {
    let mut r = Rng::new(12);
    let x = t(&mut r, &[3, 4], ANY);
    let c = case(
        "dropout",
        vec![x.clone()],
        one(|x| {
            functorch::manual_seed(5);
            x[0].dropout(0.4)?.sin()
        }),
    );
    run("random", vec![c]);
    // and the mask is really random: some elements dropped, some kept and scaled
    functorch::manual_seed(5);
    let y = vals(&x.dropout(0.4).unwrap());
    let xv = vals(&x);
    assert!(y.contains(&0.0));
    assert!(
        y.iter()
            .zip(&xv)
            .any(|(a, b)| (a - b / 0.6).abs() < 1e-12 && *b != 0.0)
    );
}

// ------------------------------------------------------------------------------- detach, and the checker itself

/// `detach` is not differentiable by design, so finite differences do not apply: check that
/// no derivative flows through it at first and second order.
#[test]
fn detach_stops_derivatives() {
    let mut r = Rng::new(9);
    let x = t(&mut r, &[4], ANY);
    let v = t(&mut r, &[4], ANY);
    let f = |x: &Tensor| x.detach()?.mul(&x.square()?);
    // d/dx [c · x²] with c = x held constant: 2 c x v
    let (_, tan): (Tensor, Tensor) = jvp(f).call(&x, &v).unwrap();
    let xv = vals(&x);
    let vv = vals(&v);
    let want: Vec<f64> = xv.iter().zip(&vv).map(|(a, b)| 2.0 * a * a * b).collect();
    assert_close(&vals(&tan), &want, 1e-12);
    let g: Tensor = grad(|x: &Tensor| f(x)?.sum()).call(&x).unwrap();
    let want: Vec<f64> = xv.iter().map(|a| 2.0 * a * a).collect();
    assert_close(&vals(&g), &want, 1e-12);
    // second order: the Hessian of Σ c x² is diag(2c)
    let hv: Tensor = jvp(|x: &Tensor| grad(|x: &Tensor| f(x)?.sum()).call::<Tensor, Tensor>(x))
        .call::<Tensor, (Tensor, Tensor)>(&x, &v)
        .unwrap()
        .1;
    let want: Vec<f64> = xv.iter().zip(&vv).map(|(a, b)| 2.0 * a * b).collect();
    assert_close(&vals(&hv), &want, 1e-12);
    // detach alone: zero tangent and zero cotangent
    let (y, tan): (Tensor, Tensor) = jvp(|x: &Tensor| x.detach()).call(&x, &v).unwrap();
    assert_eq!(vals(&y), xv);
    assert_eq!(vals(&tan), vec![0.0; 4]);
    let (_, pb): (Tensor, Pullback) = vjp(|x: &Tensor| x.detach()).call(&x).unwrap();
    let (ct,): (Tensor,) = pb.call(&v).unwrap();
    assert_eq!(vals(&ct), vec![0.0; 4]);
}

/// Casting to a non-float dtype carries no derivative.
#[test]
fn integer_casts_carry_no_derivative() {
    let x = Tensor::from_slice(&[0.5, 1.5, -2.5]);
    let v = Tensor::from_slice(&[1.0, 1.0, 1.0]);
    let f = |x: &Tensor| x.to_dtype(DType::I64)?.to_dtype(DType::F64)?.add(x);
    let (y, tan): (Tensor, Tensor) = jvp(f).call(&x, &v).unwrap();
    assert_eq!(vals(&y), vec![0.5, 2.5, -4.5]);
    assert_eq!(vals(&tan), vec![1.0, 1.0, 1.0]);
    let g: Tensor = grad(|x: &Tensor| f(x)?.sum()).call(&x).unwrap();
    assert_eq!(vals(&g), vec![1.0, 1.0, 1.0]);
}

/// At the points where a function is not differentiable finite differences say nothing; there
/// the derivative is a convention, and the library follows PyTorch's (derivatives.yaml and
/// FunctionsManual.cpp): relu'(0) = 0, abs'(0) = 0, clamp has slope 0 at its bounds (checked against torch 2.15), ties of
/// maximum/amax share the gradient, pow's partials vanish where PyTorch masks them, and the
/// gradients of norm and std are 0 (not NaN) where the norm or deviation is 0.
#[test]
fn subgradients_at_special_points_follow_pytorch() {
    fn g1(f: fn(&Tensor) -> Result<Tensor>, x: &[f64]) -> Vec<f64> {
        let x = Tensor::from_slice(x);
        let g: Tensor = grad(move |x: &Tensor| f(x)?.sum()).call(&x).unwrap();
        // forward mode agrees with reverse mode, direction by direction
        for i in 0..x.numel() {
            let mut e = vec![0.0; x.numel()];
            e[i] = 1.0;
            let (_, t): (Tensor, Tensor) = jvp(move |x: &Tensor| f(x)?.sum())
                .call(&x, &Tensor::from_slice(&e))
                .unwrap();
            let (a, b) = (t.item().unwrap(), vals(&g)[i]);
            assert!(a == b || (a.is_nan() && b.is_nan()), "jvp {a} vs grad {b}");
        }
        vals(&g)
    }
    assert_eq!(g1(Tensor::relu, &[0.0, 1.0, -1.0]), vec![0.0, 1.0, 0.0]);
    assert_eq!(g1(Tensor::abs, &[0.0, 1.0, -1.0]), vec![0.0, 1.0, -1.0]);
    assert_eq!(g1(Tensor::sign, &[0.0, 1.0]), vec![0.0, 0.0]);
    assert_eq!(
        g1(|x| x.clamp(-0.5, 0.5), &[-0.5, 0.5, 0.0, 1.0, -1.0]),
        vec![0.0, 0.0, 1.0, 0.0, 0.0]
    );
    assert_eq!(
        g1(|x| x.clamp_min(0.0), &[0.0, -1.0, 1.0]),
        vec![0.0, 0.0, 1.0]
    );
    assert_eq!(
        g1(|x| x.clamp_max(0.0), &[0.0, -1.0, 1.0]),
        vec![0.0, 1.0, 0.0]
    );
    assert_eq!(
        g1(|x| x.amax(&[], false), &[1.0, 3.0, 3.0]),
        vec![0.0, 0.5, 0.5]
    );
    assert_eq!(
        g1(|x| x.max(), &[3.0, 3.0, 3.0, 1.0]),
        vec![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0]
    );
    assert_eq!(
        g1(|x| x.amin(&[], false), &[1.0, 1.0, 3.0]),
        vec![0.5, 0.5, 0.0]
    );
    assert_eq!(
        g1(|x| x.maximum_scalar(1.0), &[1.0, 2.0, 0.0]),
        vec![0.5, 1.0, 0.0]
    );
    assert_eq!(
        g1(|x| x.minimum_scalar(1.0), &[1.0, 2.0, 0.0]),
        vec![0.5, 0.0, 1.0]
    );
    assert_eq!(g1(|x| x.softplus(), &[25.0]), vec![1.0]);
    // a zero vector has norm 0 and gradient 0; a constant vector has std 0 and gradient NaN
    // (as in PyTorch: std_backward divides by the std)
    assert_eq!(g1(Tensor::norm, &[0.0, 0.0, 0.0]), vec![0.0, 0.0, 0.0]);
    assert_eq!(
        g1(|x| x.norm_dims(3.0, &[], false), &[0.0, 0.0]),
        vec![0.0, 0.0]
    );
    assert!(g1(Tensor::std, &[2.0, 2.0, 2.0]).iter().all(|g| g.is_nan()));
    assert!(
        g1(|x| x.std_dims(&[0], 0, false), &[-1.0, -1.0])
            .iter()
            .all(|g| g.is_nan())
    );
    // pow(a, b): ∂a is 0 where b = 0 (even at a = 0); ∂b is 0 where a = 0 and b ≥ 0
    let a = Tensor::from_slice(&[0.0, 0.0, 2.0, 0.0]);
    let b = Tensor::from_slice(&[0.0, 2.0, 0.0, 3.0]);
    let (ga, gb): (Tensor, Tensor) = grad(|(a, b): &(Tensor, Tensor)| a.pow(b)?.sum())
        .argnums((0, 1))
        .call(&(a, b))
        .unwrap();
    assert_eq!(vals(&ga), vec![0.0, 0.0, 0.0, 0.0]);
    assert_eq!(vals(&gb), vec![0.0, 0.0, 2f64.ln(), 0.0]);
}

/// The checker must be able to fail: on `x ↦ detach(x) · x` automatic differentiation
/// (rightly) gives `x v`, while finite differences see `2 x v`.
#[test]
fn the_checker_detects_a_wrong_derivative() {
    let mut r = Rng::new(10);
    let x = t(&mut r, &[3], POS);
    let c = case(
        "detach_times_x",
        vec![x],
        one(|x| x[0].detach()?.mul(&x[0])),
    );
    let e = check_case(&c).expect_err("the checker must reject a derivative that is off by 2x");
    assert!(e.contains("central differences"), "{e}");
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (a, b) in got.iter().zip(want) {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{got:?} vs {want:?}"
        );
    }
}

// ------------------------------------------------------------------------------- broadcasting properties

/// NumPy's broadcasting rule, written out independently of the library.
fn numpy_broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
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
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// The flat index into a tensor of `shape` read at position `pos` of the broadcast `out` shape.
fn broadcast_index(shape: &[usize], out: &[usize], pos: &[usize]) -> usize {
    let lead = out.len() - shape.len();
    let mut k = 0;
    for (i, &s) in shape.iter().enumerate() {
        let p = if s == 1 { 0 } else { pos[lead + i] };
        k = k * s + p;
    }
    k
}

fn positions(shape: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|mut k| {
            let mut p = vec![0; shape.len()];
            for i in (0..shape.len()).rev() {
                p[i] = k % shape[i];
                k /= shape[i];
            }
            p
        })
        .collect()
}

/// A broadcast-compatible pair: an output shape, and for each operand a suffix of it with some
/// dims set to 1.
fn compatible_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    (
        proptest::collection::vec(1usize..4, 0..5),
        0usize..5,
        0usize..5,
        proptest::collection::vec(any::<bool>(), 4),
        proptest::collection::vec(any::<bool>(), 4),
    )
        .prop_map(|(out, ra, rb, ma, mb)| {
            let mk = |r: usize, m: &[bool]| -> Vec<usize> {
                let r = r.min(out.len());
                out[out.len() - r..]
                    .iter()
                    .zip(m)
                    .map(|(&s, &one)| if one { 1 } else { s })
                    .collect()
            };
            (out.clone(), mk(ra, &ma), mk(rb, &mb))
        })
}

fn seeded(shape: &[usize], seed: u64, dom: Dom) -> Tensor {
    t(&mut Rng::new(seed), shape, dom)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Binary ops broadcast as NumPy does, and their values equal the explicit elementwise
    /// computation on broadcast operands (both by index arithmetic here and through
    /// `broadcast_to`).
    #[test]
    fn binary_ops_broadcast_like_numpy((_, sa, sb) in compatible_shapes(), seed in any::<u64>()) {
        let want = numpy_broadcast(&sa, &sb).expect("compatible by construction");
        let a = seeded(&sa, seed, POS);
        let b = seeded(&sb, seed ^ 0x5555, Dom::Grid(0.5));
        let (av, bv) = (vals(&a), vals(&b));
        let ops: Vec<(&str, BinaryFn, ScalarFn)> = vec![
            ("add", Tensor::add, |x, y| x + y),
            ("sub", Tensor::sub, |x, y| x - y),
            ("mul", Tensor::mul, |x, y| x * y),
            ("div", Tensor::div, |x, y| x / y),
            ("pow", Tensor::pow, |x: f64, y| x.powf(y)),
            ("maximum", Tensor::maximum, f64::max),
            ("minimum", Tensor::minimum, f64::min),
            ("atan2", Tensor::atan2, f64::atan2),
        ];
        let ab = a.broadcast_to(&want).unwrap();
        let bb = b.broadcast_to(&want).unwrap();
        prop_assert_eq!(ab.shape(), &want[..]);
        for (name, op, scalar) in ops {
            let y = op(&a, &b).unwrap();
            prop_assert_eq!(y.shape(), &want[..], "{} of {:?} and {:?}", name, sa, sb);
            let explicit: Vec<f64> = positions(&want)
                .iter()
                .map(|p| scalar(av[broadcast_index(&sa, &want, p)], bv[broadcast_index(&sb, &want, p)]))
                .collect();
            let got = vals(&y);
            for (g, w) in got.iter().zip(&explicit) {
                prop_assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{}: {:?} vs {:?}", name, got, explicit);
            }
            let via_broadcast = vals(&op(&ab, &bb).unwrap());
            prop_assert_eq!(&via_broadcast, &got, "{}", name);
        }
        // comparisons and where broadcast the same way
        let gt = a.gt(&b).unwrap();
        prop_assert_eq!(gt.shape(), &want[..]);
        let w = Tensor::where_(&gt, &a, &b).unwrap();
        let explicit: Vec<f64> = positions(&want)
            .iter()
            .map(|p| {
                let (x, y) = (av[broadcast_index(&sa, &want, p)], bv[broadcast_index(&sb, &want, p)]);
                if x > y { x } else { y }
            })
            .collect();
        prop_assert_eq!(vals(&w), explicit);
    }

    /// Incompatible shapes are an error, never a panic.
    #[test]
    fn incompatible_shapes_are_an_error(
        (out, sa, _) in compatible_shapes(),
        extra in 2usize..4,
        seed in any::<u64>(),
    ) {
        prop_assume!(!out.is_empty());
        // a dim of b that is neither 1 nor a's
        let mut sb = out.clone();
        let k = out.len() - 1;
        sb[k] = out[k] + extra;
        let mut sa = sa;
        if sa.is_empty() || sa[sa.len() - 1] == 1 {
            sa = out.clone();
        }
        prop_assume!(numpy_broadcast(&sa, &sb).is_none());
        let a = seeded(&sa, seed, ANY);
        let b = seeded(&sb, seed, ANY);
        prop_assert!(a.add(&b).is_err());
        prop_assert!(a.gt(&b).is_err());
        prop_assert!(functorch::broadcast_shapes("add", &sa, &sb).is_err());
    }

    /// `sum_to_size` is the transpose of `broadcast_to`: ⟨broadcast(x), y⟩ = ⟨x, sum_to_size(y)⟩,
    /// and the pullback of `broadcast_to` is `sum_to_size`.
    #[test]
    fn sum_to_size_is_the_transpose_of_broadcast_to((out, sa, _) in compatible_shapes(), seed in any::<u64>()) {
        let x = seeded(&sa, seed, ANY);
        let y = seeded(&out, seed ^ 0xabcd, ANY);
        let bx = x.broadcast_to(&out).unwrap();
        let sy = y.sum_to_size(&sa).unwrap();
        prop_assert_eq!(sy.shape(), &sa[..]);
        let lhs: f64 = vals(&bx).iter().zip(vals(&y)).map(|(a, b)| a * b).sum();
        let rhs: f64 = vals(&x).iter().zip(vals(&sy)).map(|(a, b)| a * b).sum();
        prop_assert!((lhs - rhs).abs() <= 1e-10 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
        // explicit sum: every element of y lands on the element of x it was broadcast from
        let mut want = vec![0.0; x.numel()];
        let yv = vals(&y);
        for (k, p) in positions(&out).iter().enumerate() {
            want[broadcast_index(&sa, &out, p)] += yv[k];
        }
        let got = vals(&sy);
        for (g, w) in got.iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{:?} vs {:?}", got, want);
        }
        let target = out.clone();
        let (_, pb): (Tensor, Pullback) = vjp(move |x: &Tensor| x.broadcast_to(&target)).call(&x).unwrap();
        let (ct,): (Tensor,) = pb.call(&y).unwrap();
        prop_assert_eq!(ct.shape(), &sa[..]);
        prop_assert_eq!(vals(&ct), got);
    }
}
