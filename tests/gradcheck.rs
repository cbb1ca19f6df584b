//! One table-driven gradient checker, applied to every primitive and every public
//! differentiable op, in f64.
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
//! reproduces exactly. Apart from the table: `detach` and integer casts (no derivative by
//! design), dropout (reseeded, so deterministic), the conventions at non-differentiable points
//! (PyTorch's subgradients), a test that the checker does reject a wrong derivative, and
//! property tests (proptest) of broadcasting and of `sum_to_size` as the transpose of
//! `broadcast_to`.

use functorch::{DType, Dims, Pullback, Result, Tensor, grad, jvp, vjp, vmap};

mod common;
use common::{ANY, AWAY, Dom, POS, Rng, UNIT, spd, t, well_conditioned};
use proptest::prelude::*;

type Fun<'a> = dyn Fn(&[Tensor]) -> Result<Vec<Tensor>> + 'a;
type BoxFun = Box<Fun<'static>>;

// ------------------------------------------------------------------------------- generator

fn idx(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

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

impl Case {
    fn tol(mut self, tol: Tol) -> Case {
        self.tol = tol;
        self
    }
}

/// A single-output function.
fn one(f: impl Fn(&[Tensor]) -> Result<Tensor> + 'static) -> BoxFun {
    Box::new(move |x| Ok(vec![f(x)?]))
}

/// A function with several outputs.
fn many(f: impl Fn(&[Tensor]) -> Result<Vec<Tensor>> + 'static) -> BoxFun {
    Box::new(f)
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

// ------------------------------------------------------------------------------- the table

type UnaryFn = fn(&Tensor) -> Result<Tensor>;

/// Every elementwise unary op (the primitive family and its decompositions), with its domain.
fn unary_table() -> Vec<(&'static str, Dom, UnaryFn)> {
    vec![
        ("neg", ANY, Tensor::neg),
        ("abs", AWAY, Tensor::abs),
        ("sign", AWAY, Tensor::sign),
        ("exp", ANY, Tensor::exp),
        ("expm1", ANY, Tensor::expm1),
        ("log", POS, Tensor::log),
        ("log1p", Dom::U(-0.5, 2.0), Tensor::log1p),
        ("sqrt", POS, Tensor::sqrt),
        ("rsqrt", POS, Tensor::rsqrt),
        ("square", ANY, Tensor::square),
        ("reciprocal", AWAY, Tensor::reciprocal),
        ("sin", ANY, Tensor::sin),
        ("cos", ANY, Tensor::cos),
        ("tan", Dom::U(-1.0, 1.0), Tensor::tan),
        ("asin", UNIT, Tensor::asin),
        ("acos", UNIT, Tensor::acos),
        ("atan", ANY, Tensor::atan),
        ("sinh", ANY, Tensor::sinh),
        ("cosh", ANY, Tensor::cosh),
        ("tanh", ANY, Tensor::tanh),
        ("sigmoid", Dom::U(-4.0, 4.0), Tensor::sigmoid),
        ("relu", AWAY, Tensor::relu),
        ("softplus", Dom::U(-4.0, 4.0), Tensor::softplus),
        (
            "softplus_linear_region",
            Dom::U(21.0, 25.0),
            Tensor::softplus,
        ),
        ("erf", ANY, Tensor::erf),
        ("add_scalar", ANY, |x| x.add_scalar(0.7)),
        ("sub_scalar", ANY, |x| x.sub_scalar(0.7)),
        ("rsub_scalar", ANY, |x| x.rsub_scalar(0.7)),
        ("mul_scalar", ANY, |x| x.mul_scalar(-1.3)),
        ("div_scalar", ANY, |x| x.div_scalar(-1.3)),
        ("pow_scalar_2", ANY, |x| x.pow_scalar(2.0)),
        ("pow_scalar_3", ANY, |x| x.pow_scalar(3.0)),
        ("pow_scalar_1", ANY, |x| x.pow_scalar(1.0)),
        ("pow_scalar_0", ANY, |x| x.pow_scalar(0.0)),
        ("pow_scalar_0.5", POS, |x| x.pow_scalar(0.5)),
        ("pow_scalar_2.5", POS, |x| x.pow_scalar(2.5)),
        ("pow_scalar_-1.5", POS, |x| x.pow_scalar(-1.5)),
        ("pow_scalar_-1", AWAY, |x| x.pow_scalar(-1.0)),
        ("rdiv_scalar", AWAY, |x| x.rdiv_scalar(1.7)),
        ("clamp", Dom::Avoid(-1.5, 1.5, -0.5, 0.5), |x| {
            x.clamp(-0.5, 0.5)
        }),
        ("clamp_min", Dom::Avoid(-1.5, 1.5, -0.5, 0.5), |x| {
            x.clamp_min(0.5)
        }),
        ("clamp_max", Dom::Avoid(-1.5, 1.5, -0.5, 0.5), |x| {
            x.clamp_max(-0.5)
        }),
        ("maximum_scalar", Dom::Avoid(-1.5, 1.5, 0.3, 0.3), |x| {
            x.maximum_scalar(0.3)
        }),
        ("minimum_scalar", Dom::Avoid(-1.5, 1.5, 0.3, 0.3), |x| {
            x.minimum_scalar(0.3)
        }),
        ("neg_operator", ANY, |x| Ok(-x)),
        ("scalar_operators", AWAY, |x| Ok((2.0 - x) * 3.0 / x + 1.5)),
    ]
}

fn unary_cases() -> Vec<Case> {
    let mut r = Rng::new(1);
    let mut cases = Vec::new();
    for (name, dom, op) in unary_table() {
        for shape in [&[2usize, 3][..], &[][..]] {
            let x = t(&mut r, shape, dom);
            cases.push(case(
                &format!("{name}{shape:?}"),
                vec![x],
                one(move |x| op(&x[0])),
            ));
        }
    }
    cases
}

type BinaryFn = fn(&Tensor, &Tensor) -> Result<Tensor>;
type ScalarFn = fn(f64, f64) -> f64;

fn binary_cases() -> Vec<Case> {
    let table: Vec<(&str, Dom, Dom, BinaryFn)> = vec![
        ("add", ANY, ANY, Tensor::add),
        ("sub", ANY, ANY, Tensor::sub),
        ("mul", ANY, ANY, Tensor::mul),
        ("div", ANY, AWAY, Tensor::div),
        ("pow", POS, ANY, Tensor::pow),
        ("maximum", Dom::Grid(0.0), Dom::Grid(0.5), Tensor::maximum),
        ("minimum", Dom::Grid(0.0), Dom::Grid(0.5), Tensor::minimum),
        ("atan2", AWAY, ANY, Tensor::atan2),
        ("atan2_negative_x", ANY, Dom::U(-2.0, -0.5), |a, b| {
            // away from the branch cut: a never crosses 0 when b < 0
            a.abs()?.add_scalar(0.3)?.atan2(b)
        }),
        ("operators", ANY, AWAY, |a, b| Ok(&(a + b) * &(a - b) / b)),
    ];
    let shapes: [(&[usize], &[usize]); 6] = [
        (&[2, 3], &[2, 3]),
        (&[2, 3], &[3]),
        (&[3], &[2, 3]),
        (&[2, 1], &[1, 3]),
        (&[], &[2, 3]),
        (&[2, 1, 3], &[4, 1]),
    ];
    let mut r = Rng::new(2);
    let mut cases = Vec::new();
    for (name, da, db, op) in table {
        for (sa, sb) in shapes {
            let (a, b) = (t(&mut r, sa, da), t(&mut r, sb, db));
            cases.push(case(
                &format!("{name}{sa:?}{sb:?}"),
                vec![a, b],
                one(move |x| op(&x[0], &x[1])),
            ));
        }
    }
    // where: the mask is a constant, both branches differentiable, all three broadcast
    let m1 = Tensor::from_vec(vec![true, false, true, false, false, true], &[2, 3]).unwrap();
    let (a, b) = (t(&mut r, &[2, 3], ANY), t(&mut r, &[3], ANY));
    cases.push(case(
        "where[2,3][2,3][3]",
        vec![a, b],
        one(move |x| Tensor::where_(&m1, &x[0], &x[1])),
    ));
    let m2 = Tensor::from_vec(vec![true, false, true], &[3]).unwrap();
    let (a, b) = (t(&mut r, &[2, 1], ANY), t(&mut r, &[], ANY));
    cases.push(case(
        "where[3][2,1][]",
        vec![a, b],
        one(move |x| Tensor::where_(&m2, &x[0], &x[1])),
    ));
    // where with a data-dependent mask (a piecewise function, away from its switch)
    let a = t(&mut r, &[2, 3], AWAY);
    cases.push(case(
        "where_data_dependent",
        vec![a],
        one(|x| Tensor::where_(&x[0].gt_scalar(0.0)?, &x[0].sin()?, &x[0].square()?)),
    ));
    cases
}

fn reduction_cases() -> Vec<Case> {
    let mut r = Rng::new(3);
    let x23 = |r: &mut Rng, d: Dom| t(r, &[2, 3], d);
    let x232 = |r: &mut Rng, d: Dom| t(r, &[2, 3, 2], d);
    let mut prod_with_zero = vals(&t(&mut r, &[2, 3], ANY));
    prod_with_zero[1] = 0.0;
    let prod_with_zero = Tensor::from_vec(prod_with_zero, &[2, 3]).unwrap();
    let cases = vec![
        case("sum", vec![x23(&mut r, ANY)], one(|x| x[0].sum())),
        case("sum_0d", vec![t(&mut r, &[], ANY)], one(|x| x[0].sum())),
        case(
            "sum_dims[0]",
            vec![x23(&mut r, ANY)],
            one(|x| x[0].sum_dims(&[0], false)),
        ),
        case(
            "sum_dims[-1]keep",
            vec![x23(&mut r, ANY)],
            one(|x| x[0].sum_dims(&[-1], true)),
        ),
        case(
            "sum_dims[0,2]",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].sum_dims(&[0, 2], false)),
        ),
        case("mean", vec![x23(&mut r, ANY)], one(|x| x[0].mean())),
        case(
            "mean_dims[1]keep",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].mean_dims(&[1], true)),
        ),
        case("prod", vec![x23(&mut r, ANY)], one(|x| x[0].prod())),
        case(
            "prod_with_a_zero",
            vec![prod_with_zero.clone()],
            one(|x| x[0].prod()),
        ),
        case(
            "prod_dim_with_a_zero",
            vec![prod_with_zero],
            one(|x| x[0].prod_dim(1, false)),
        ),
        case(
            "prod_dim[1]",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].prod_dim(1, false)),
        ),
        case(
            "prod_dim[0]keep",
            vec![x23(&mut r, ANY)],
            one(|x| x[0].prod_dim(0, true)),
        ),
        case(
            "amax",
            vec![x23(&mut r, Dom::Distinct)],
            one(|x| x[0].amax(&[], false)),
        ),
        case(
            "amax[1]",
            vec![x232(&mut r, Dom::Distinct)],
            one(|x| x[0].amax(&[1], false)),
        ),
        case(
            "amax[0,2]keep",
            vec![x232(&mut r, Dom::Distinct)],
            one(|x| x[0].amax(&[0, 2], true)),
        ),
        case(
            "amin[0]keep",
            vec![x23(&mut r, Dom::Distinct)],
            one(|x| x[0].amin(&[0], true)),
        ),
        case(
            "amin[-1]",
            vec![x232(&mut r, Dom::Distinct)],
            one(|x| x[0].amin(&[-1], false)),
        ),
        case("max", vec![x23(&mut r, Dom::Distinct)], one(|x| x[0].max())),
        case("min", vec![x23(&mut r, Dom::Distinct)], one(|x| x[0].min())),
        case(
            "logsumexp",
            vec![x23(&mut r, ANY)],
            one(|x| x[0].logsumexp(&[], false)),
        ),
        case(
            "logsumexp[1]",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].logsumexp(&[1], false)),
        ),
        case(
            "logsumexp[0]keep",
            vec![x23(&mut r, ANY)],
            one(|x| x[0].logsumexp(&[0], true)),
        ),
        case("var", vec![x23(&mut r, ANY)], one(|x| x[0].var())),
        case(
            "var_dims[1]c0keep",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].var_dims(&[1], 0, true)),
        ),
        case(
            "var_dims[0,2]c1",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].var_dims(&[0, 2], 1, false)),
        ),
        case("std", vec![x23(&mut r, ANY)], one(|x| x[0].std())),
        case(
            "std_dims[-1]",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].std_dims(&[-1], 1, false)),
        ),
        case("norm", vec![x23(&mut r, ANY)], one(|x| x[0].norm())),
        case(
            "norm_dims_p2[1]",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].norm_dims(2.0, &[1], false)),
        ),
        case(
            "norm_dims_p1",
            vec![x23(&mut r, AWAY)],
            one(|x| x[0].norm_dims(1.0, &[], false)),
        ),
        case(
            "norm_dims_p3[0]",
            vec![x23(&mut r, AWAY)],
            one(|x| x[0].norm_dims(3.0, &[0], true)),
        ),
        case(
            "norm_dims_pinf",
            vec![x23(&mut r, Dom::Distinct)],
            one(|x| {
                // distinct |x|: shift the distinct values to be positive
                x[0].add_scalar(10.0)?.norm_dims(f64::INFINITY, &[1], false)
            }),
        ),
        case(
            "softmax[1]",
            vec![x23(&mut r, ANY)],
            one(|x| x[0].softmax(1)),
        ),
        case(
            "softmax[0]",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].softmax(0)),
        ),
        case(
            "log_softmax[-1]",
            vec![x23(&mut r, ANY)],
            one(|x| x[0].log_softmax(-1)),
        ),
        case(
            "log_softmax[1]",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].log_softmax(1)),
        ),
        case(
            "sum_to_size",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].sum_to_size(&[3, 1])),
        ),
        case(
            "sum_to_size_keep_lead",
            vec![x232(&mut r, ANY)],
            one(|x| x[0].sum_to_size(&[1, 3, 2])),
        ),
    ];
    cases
}

fn shape_cases() -> Vec<Case> {
    let mut r = Rng::new(4);
    let mut g = |s: &[usize]| t(&mut r, s, ANY);
    let cases = vec![
        case("reshape", vec![g(&[2, 3])], one(|x| x[0].reshape(&[3, 2]))),
        case(
            "reshape_infer",
            vec![g(&[6])],
            one(|x| x[0].reshape(&[2, -1, 1])),
        ),
        case(
            "reshape_to_0d",
            vec![g(&[1, 1])],
            one(|x| x[0].reshape(&[])),
        ),
        case(
            "reshape_of_transpose",
            vec![g(&[2, 3])],
            one(|x| x[0].t()?.reshape(&[6])),
        ),
        case("flatten", vec![g(&[2, 3, 2])], one(|x| x[0].flatten())),
        case(
            "flatten_dims",
            vec![g(&[2, 3, 2])],
            one(|x| x[0].flatten_dims(1, 2)),
        ),
        case(
            "permute",
            vec![g(&[2, 3, 4])],
            one(|x| x[0].permute(&[2, 0, 1])),
        ),
        case(
            "transpose",
            vec![g(&[2, 3, 4])],
            one(|x| x[0].transpose(0, 2)),
        ),
        case("t", vec![g(&[2, 3])], one(|x| x[0].t())),
        case("mt", vec![g(&[2, 3, 4])], one(|x| x[0].mt())),
        case("movedim", vec![g(&[2, 3, 4])], one(|x| x[0].movedim(0, -1))),
        case("squeeze", vec![g(&[2, 1, 3])], one(|x| x[0].squeeze(1))),
        case("squeeze_noop", vec![g(&[2, 3])], one(|x| x[0].squeeze(1))),
        case(
            "squeeze_dims",
            vec![g(&[1, 2, 1])],
            one(|x| x[0].squeeze_dims(&[0, 2])),
        ),
        case(
            "squeeze_all",
            vec![g(&[1, 2, 1, 3])],
            one(|x| x[0].squeeze_all()),
        ),
        case("unsqueeze", vec![g(&[2, 3])], one(|x| x[0].unsqueeze(1))),
        case(
            "unsqueeze_last",
            vec![g(&[2, 3])],
            one(|x| x[0].unsqueeze(-1)),
        ),
        case(
            "expand",
            vec![g(&[3, 1])],
            one(|x| x[0].expand(&[2, -1, 4])),
        ),
        case(
            "broadcast_to",
            vec![g(&[3])],
            one(|x| x[0].broadcast_to(&[2, 3])),
        ),
        case(
            "broadcast_to_inner",
            vec![g(&[2, 1, 3])],
            one(|x| x[0].broadcast_to(&[2, 2, 4, 3])),
        ),
        case("slice", vec![g(&[2, 6])], one(|x| x[0].slice(1, 1, 5, 1))),
        case(
            "slice_step",
            vec![g(&[2, 7])],
            one(|x| x[0].slice(1, 1, 7, 2)),
        ),
        case(
            "slice_step3_neg_start",
            vec![g(&[8, 2])],
            one(|x| x[0].slice(0, -7, i64::MAX, 3)),
        ),
        case(
            "slice_of_slice",
            vec![g(&[9])],
            one(|x| x[0].slice(0, 1, 9, 2)?.slice(0, 1, 4, 2)),
        ),
        case("narrow", vec![g(&[2, 5])], one(|x| x[0].narrow(1, 2, 2))),
        case("select", vec![g(&[2, 3, 2])], one(|x| x[0].select(1, -1))),
        case("get", vec![g(&[3, 2])], one(|x| x[0].get(1))),
        case("flip", vec![g(&[2, 3])], one(|x| x[0].flip(&[0, 1]))),
        case("flip_last", vec![g(&[2, 3, 2])], one(|x| x[0].flip(&[-1]))),
        case(
            "cat",
            vec![g(&[2, 1]), g(&[2, 3]), g(&[2, 2])],
            one(|x| Tensor::cat(x, 1)),
        ),
        case(
            "cat_dim0",
            vec![g(&[1, 3]), g(&[2, 3])],
            one(|x| Tensor::cat(x, 0)),
        ),
        case(
            "stack",
            vec![g(&[2, 3]), g(&[2, 3])],
            one(|x| Tensor::stack(x, 1)),
        ),
        case(
            "stack_last",
            vec![g(&[3]), g(&[3]), g(&[3])],
            one(|x| Tensor::stack(x, -1)),
        ),
        case("split", vec![g(&[2, 5])], many(|x| x[0].split(2, 1))),
        case("chunk", vec![g(&[5, 2])], many(|x| x[0].chunk(2, 0))),
        case(
            "diagonal",
            vec![g(&[3, 3])],
            one(|x| x[0].diagonal(0, 0, 1)),
        ),
        case(
            "diagonal_offset",
            vec![g(&[2, 3, 4])],
            one(|x| x[0].diagonal(1, 1, 2)),
        ),
        case(
            "diagonal_negative_offset",
            vec![g(&[3, 4])],
            one(|x| x[0].diagonal(-1, 0, 1)),
        ),
        case(
            "diagonal_swapped_dims",
            vec![g(&[3, 2, 3])],
            one(|x| x[0].diagonal(0, 2, 0)),
        ),
        case("diag_1d", vec![g(&[3])], one(|x| x[0].diag())),
        case("diag_2d", vec![g(&[3, 3])], one(|x| x[0].diag())),
        case("trace", vec![g(&[3, 3])], one(|x| x[0].trace())),
        case("tril", vec![g(&[3, 4])], one(|x| x[0].tril(0))),
        case("tril_-1", vec![g(&[2, 3, 3])], one(|x| x[0].tril(-1))),
        case("triu_1", vec![g(&[3, 4])], one(|x| x[0].triu(1))),
        case("triu", vec![g(&[4, 3])], one(|x| x[0].triu(0))),
    ];
    cases
}

fn indexing_cases() -> Vec<Case> {
    let mut r = Rng::new(5);
    let i3 = idx(&[2, 0, 2], &[3]);
    let i4 = idx(&[1, 1, 0, 2], &[4]);
    let gi = idx(&[0, 2, 1, 1, 2, 2, 0, 1], &[2, 4]);
    let gi0 = idx(&[1, 0, 0, 2, 1, 0], &[2, 3]);
    let si = idx(&[0, 2, 2, 1, 1, 1], &[2, 3]);
    let ai = idx(&[1, 1, 0], &[3]);
    let (ia, ib, ic, id, ie, ig) = (
        i3.clone(),
        i4.clone(),
        gi.clone(),
        gi0.clone(),
        si.clone(),
        ai.clone(),
    );
    let cases = vec![
        case(
            "index_select[1]",
            vec![t(&mut r, &[2, 3], ANY)],
            one(move |x| x[0].index_select(1, &ia)),
        ),
        case(
            "index_select[0]",
            vec![t(&mut r, &[3, 2], ANY)],
            one(move |x| x[0].index_select(0, &ib)),
        ),
        case(
            "gather[1]",
            vec![t(&mut r, &[2, 3], ANY)],
            one(move |x| x[0].gather(1, &ic)),
        ),
        case(
            "gather[0]",
            vec![t(&mut r, &[3, 3], ANY)],
            one(move |x| x[0].gather(0, &id)),
        ),
        case(
            "scatter_add[1]",
            vec![t(&mut r, &[2, 4], ANY), t(&mut r, &[2, 3], ANY)],
            one(move |x| x[0].scatter_add(1, &ie, &x[1])),
        ),
        case(
            "index_add[0]",
            vec![t(&mut r, &[2, 2], ANY), t(&mut r, &[3, 2], ANY)],
            one(move |x| x[0].index_add(0, &ig, &x[1])),
        ),
        case(
            "index_add[1]",
            vec![t(&mut r, &[2, 3], ANY), t(&mut r, &[2, 3], ANY)],
            one(move |x| x[0].index_add(1, &i3, &x[1])),
        ),
        case(
            "gather_of_square",
            vec![t(&mut r, &[2, 3], ANY)],
            one(move |x| x[0].square()?.gather(1, &gi)?.sin()),
        ),
    ];
    cases
}

fn product_cases() -> Vec<Case> {
    let mut r = Rng::new(6);
    let mut g = |s: &[usize]| t(&mut r, s, ANY);
    let cases = vec![
        case(
            "matmul_1d_1d",
            vec![g(&[3]), g(&[3])],
            one(|x| x[0].matmul(&x[1])),
        ),
        case(
            "matmul_2d_1d",
            vec![g(&[2, 3]), g(&[3])],
            one(|x| x[0].matmul(&x[1])),
        ),
        case(
            "matmul_1d_2d",
            vec![g(&[3]), g(&[3, 2])],
            one(|x| x[0].matmul(&x[1])),
        ),
        case(
            "matmul_2d_2d",
            vec![g(&[2, 3]), g(&[3, 4])],
            one(|x| x[0].matmul(&x[1])),
        ),
        case(
            "matmul_batched_broadcast",
            vec![g(&[2, 1, 2, 3]), g(&[3, 3, 2])],
            one(|x| x[0].matmul(&x[1])),
        ),
        case(
            "matmul_batched_1d",
            vec![g(&[2, 2, 3]), g(&[3])],
            one(|x| x[0].matmul(&x[1])),
        ),
        case(
            "matmul_1d_batched",
            vec![g(&[3]), g(&[2, 3, 2])],
            one(|x| x[0].matmul(&x[1])),
        ),
        case("matmul_self", vec![g(&[3, 3])], one(|x| x[0].matmul(&x[0]))),
        case("dot", vec![g(&[4]), g(&[4])], one(|x| x[0].dot(&x[1]))),
        case("mv", vec![g(&[2, 3]), g(&[3])], one(|x| x[0].mv(&x[1]))),
        case("outer", vec![g(&[3]), g(&[2])], one(|x| x[0].outer(&x[1]))),
        case(
            "einsum_ij,jk->ik",
            vec![g(&[2, 3]), g(&[3, 2])],
            one(|x| Tensor::einsum("ij,jk->ik", &[&x[0], &x[1]])),
        ),
        case(
            "einsum_bij,bjk->bik",
            vec![g(&[2, 2, 3]), g(&[2, 3, 2])],
            one(|x| Tensor::einsum("bij,bjk->bik", &[&x[0], &x[1]])),
        ),
        case(
            "einsum_ij,ij->i",
            vec![g(&[2, 3]), g(&[2, 3])],
            one(|x| Tensor::einsum("ij,ij->i", &[&x[0], &x[1]])),
        ),
        case(
            "einsum_i,j->ij",
            vec![g(&[2]), g(&[3])],
            one(|x| Tensor::einsum("i,j->ij", &[&x[0], &x[1]])),
        ),
        case(
            "einsum_ij,jk",
            vec![g(&[2, 3]), g(&[3, 2])],
            one(|x| Tensor::einsum("ij,jk", &[&x[0], &x[1]])),
        ),
        case(
            "einsum_ii->i",
            vec![g(&[3, 3])],
            one(|x| Tensor::einsum("ii->i", &[&x[0]])),
        ),
        case(
            "einsum_ii->",
            vec![g(&[3, 3])],
            one(|x| Tensor::einsum("ii->", &[&x[0]])),
        ),
        case(
            "einsum_ij->",
            vec![g(&[2, 3])],
            one(|x| Tensor::einsum("ij->", &[&x[0]])),
        ),
        case(
            "einsum_ijk->kji",
            vec![g(&[2, 3, 2])],
            one(|x| Tensor::einsum("ijk->kji", &[&x[0]])),
        ),
        case(
            "einsum_ijk,ikl->jl",
            vec![g(&[2, 3, 2]), g(&[2, 2, 3])],
            one(|x| Tensor::einsum("ijk,ikl->jl", &[&x[0], &x[1]])),
        ),
    ];
    cases
}

fn linalg_cases() -> Vec<Case> {
    let mut r = Rng::new(7);
    let mut neg = vals(&well_conditioned(&mut r, &[], 3));
    for v in &mut neg[..3] {
        *v = -*v; // det < 0
    }
    let neg = Tensor::from_vec(neg, &[3, 3]).unwrap();
    let sym = |a: &Tensor| a.add(&a.mt()?)?.mul_scalar(0.5);
    let cases = vec![
        case(
            "det",
            vec![well_conditioned(&mut r, &[], 3)],
            one(|x| x[0].det()),
        ),
        case("det_negative", vec![neg.clone()], one(|x| x[0].det())),
        case(
            "det_batched",
            vec![well_conditioned(&mut r, &[2], 3)],
            one(|x| x[0].det()),
        ),
        case(
            "det_1x1",
            vec![well_conditioned(&mut r, &[], 1)],
            one(|x| x[0].det()),
        ),
        case(
            "slogdet",
            vec![well_conditioned(&mut r, &[], 3)],
            many(|x| {
                let (s, l) = x[0].slogdet()?;
                Ok(vec![s, l])
            }),
        ),
        case(
            "slogdet_negative",
            vec![neg],
            many(|x| {
                let (s, l) = x[0].slogdet()?;
                Ok(vec![s, l])
            }),
        ),
        case(
            "logdet_batched",
            vec![well_conditioned(&mut r, &[2], 3)],
            one(|x| x[0].logdet()),
        ),
        case(
            "inv",
            vec![well_conditioned(&mut r, &[], 3)],
            one(|x| x[0].inv()),
        ),
        case(
            "inv_batched",
            vec![well_conditioned(&mut r, &[2], 2)],
            one(|x| x[0].inv()),
        ),
        case(
            "solve_vector",
            vec![well_conditioned(&mut r, &[], 3), t(&mut r, &[3], ANY)],
            one(|x| x[0].solve(&x[1])),
        ),
        case(
            "solve_matrix",
            vec![well_conditioned(&mut r, &[], 3), t(&mut r, &[3, 2], ANY)],
            one(|x| x[0].solve(&x[1])),
        ),
        case(
            "solve_batched_vector",
            vec![well_conditioned(&mut r, &[2], 3), t(&mut r, &[2, 3], ANY)],
            one(|x| x[0].solve(&x[1])),
        ),
        case(
            "solve_broadcast_batch",
            vec![well_conditioned(&mut r, &[], 3), t(&mut r, &[2, 3, 2], ANY)],
            one(|x| x[0].solve(&x[1])),
        ),
        // cholesky reads a symmetric matrix: symmetrize so that every direction is admissible
        case(
            "cholesky",
            vec![spd(&mut r, &[], 3)],
            one(move |x| sym(&x[0])?.cholesky()),
        ),
        case(
            "cholesky_batched",
            vec![spd(&mut r, &[2], 2)],
            one(move |x| sym(&x[0])?.cholesky()),
        ),
    ];
    cases
}

fn cast_cases() -> Vec<Case> {
    let mut r = Rng::new(8);
    let x32 = t(&mut r, &[2, 3], ANY).to_dtype(DType::F32).unwrap();
    let cases = vec![
        case(
            "to_dtype_f64_noop",
            vec![t(&mut r, &[2, 3], ANY)],
            one(|x| x[0].to_dtype(DType::F64)?.sin()),
        ),
        case(
            "to_dtype_f64_f32_f64",
            vec![t(&mut r, &[2, 3], ANY)],
            one(|x| x[0].to_dtype(DType::F32)?.sin()?.to_dtype(DType::F64)),
        )
        .tol(F32_TOL),
        case(
            "to_dtype_f32_input",
            vec![x32],
            one(|x| x[0].to_dtype(DType::F64)?.exp()),
        )
        .tol(F32_TOL),
    ];
    cases
}

#[test]
fn gradcheck_unary() {
    run("unary", unary_cases());
}

#[test]
fn gradcheck_binary_broadcasting() {
    run("binary", binary_cases());
}

#[test]
fn gradcheck_reductions() {
    run("reduction", reduction_cases());
}

#[test]
fn gradcheck_shape() {
    run("shape", shape_cases());
}

#[test]
fn gradcheck_indexing() {
    run("indexing", indexing_cases());
}

#[test]
fn gradcheck_products() {
    run("product", product_cases());
}

#[test]
fn gradcheck_linalg() {
    run("linalg", linalg_cases());
}

#[test]
fn gradcheck_casts() {
    run("cast", cast_cases());
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
    let all = [
        unary_cases(),
        binary_cases(),
        reduction_cases(),
        shape_cases(),
        indexing_cases(),
        product_cases(),
        linalg_cases(),
        cast_cases(),
    ];
    run(
        "vmapped",
        all.into_iter().flatten().map(under_vmap).collect(),
    );
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
    // a zero vector has norm 0 and gradient 0; a constant vector has std 0 and gradient 0
    assert_eq!(g1(Tensor::norm, &[0.0, 0.0, 0.0]), vec![0.0, 0.0, 0.0]);
    assert_eq!(
        g1(|x| x.norm_dims(3.0, &[], false), &[0.0, 0.0]),
        vec![0.0, 0.0]
    );
    assert_eq!(g1(Tensor::std, &[2.0, 2.0, 2.0]), vec![0.0, 0.0, 0.0]);
    assert_eq!(
        g1(|x| x.std_dims(&[0], 0, false), &[-1.0, -1.0]),
        vec![0.0, 0.0]
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
