//! Sparse Jacobians and Hessians: the detected patterns against the nonzeros of the dense
//! derivatives (on every op of the op database, and on hand-written functions of one and
//! several, plain and structured, arguments), the sparse values against the dense ones, the
//! prepared form, given patterns and the dense check, and the errors.

use functorch::{
    Argnums, DType, Result, SparsityPattern, Tensor, Tree, dynamic, hessian, jacfwd, jacrev,
};
use std::collections::BTreeSet;

mod common;
use common::opinfo::{Arg, Grad, ops};
use common::{ANY, Rng, t};

type DynFn = Box<dyn Fn(&[Tree]) -> Result<Tree>>;

/// The dense Jacobian of `f` (which returns a tuple of tensors) with respect to all its
/// arguments, as a row-major matrix: rows the output elements, columns the inputs' elements.
fn dense_jacobian(f: &DynFn, xs: &[Tensor]) -> (Vec<f64>, usize, usize) {
    let args: Vec<Tree> = xs.iter().cloned().map(Tree::Leaf).collect();
    let outs = f(&args).unwrap().into_tuple().unwrap();
    let out_n: Vec<usize> = outs
        .iter()
        .map(|o| o.clone().into_tensor().unwrap().numel())
        .collect();
    let in_n: Vec<usize> = xs.iter().map(|x| x.numel()).collect();
    let (nr, nc) = (out_n.iter().sum::<usize>(), in_n.iter().sum::<usize>());
    let all: Vec<i64> = (0..xs.len() as i64).collect();
    let jac = jacfwd(dynamic(|a: &[Tree]| f(a)))
        .argnums(Argnums::Many(all))
        .call_dyn(args)
        .unwrap()
        .into_tuple()
        .unwrap();
    let mut d = vec![0.0; nr * nc];
    let mut r0 = 0;
    for (row, &rn) in jac.into_iter().zip(&out_n) {
        let mut c0 = 0;
        for (b, &cn) in row.into_tuple().unwrap().into_iter().zip(&in_n) {
            let v = b.into_tensor().unwrap().to_vec_f64().unwrap();
            for i in 0..rn {
                for j in 0..cn {
                    d[(r0 + i) * nc + c0 + j] = v[i * cn + j];
                }
            }
            c0 += cn;
        }
        r0 += rn;
    }
    (d, nr, nc)
}

/// The dense Hessian of the scalar `f` with respect to all its arguments (one matrix).
fn dense_hessian(f: &DynFn, xs: &[Tensor]) -> (Vec<f64>, usize) {
    let args: Vec<Tree> = xs.iter().cloned().map(Tree::Leaf).collect();
    let in_n: Vec<usize> = xs.iter().map(|x| x.numel()).collect();
    let n: usize = in_n.iter().sum();
    let all: Vec<i64> = (0..xs.len() as i64).collect();
    let h = hessian(dynamic(|a: &[Tree]| f(a)))
        .argnums(Argnums::Many(all))
        .call_dyn(args)
        .unwrap()
        .into_tuple()
        .unwrap();
    let mut d = vec![0.0; n * n];
    let mut r0 = 0;
    for (row, &rn) in h.into_iter().zip(&in_n) {
        let mut c0 = 0;
        for (b, &cn) in row.into_tuple().unwrap().into_iter().zip(&in_n) {
            let v = b.into_tensor().unwrap().to_vec_f64().unwrap();
            for i in 0..rn {
                for j in 0..cn {
                    d[(r0 + i) * n + c0 + j] = v[i * cn + j];
                }
            }
            c0 += cn;
        }
        r0 += rn;
    }
    (d, n)
}

/// `n` values from `start`, 0.1 apart.
fn ramp(start: f64, n: usize) -> Tensor {
    Tensor::from_vec((0..n).map(|i| start + 0.1 * i as f64).collect(), &[n]).unwrap()
}

fn nonzeros(d: &[f64], ncols: usize) -> BTreeSet<(usize, usize)> {
    d.iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(k, _)| (k / ncols, k % ncols))
        .collect()
}

fn entries(p: &SparsityPattern) -> BTreeSet<(usize, usize)> {
    p.entries().collect()
}

/// How a detected pattern compares with the dense nonzeros.
#[derive(Debug, PartialEq, Eq)]
enum Fit {
    Exact,
    /// Holds every nonzero and more (a conservative rule, or a derivative that vanishes at
    /// this point only).
    Superset,
    /// Misses a nonzero: always a bug.
    Misses((usize, usize)),
}

fn fit(p: &SparsityPattern, dense: &[f64], ncols: usize) -> Fit {
    let (pat, nz) = (entries(p), nonzeros(dense, ncols));
    if let Some(&m) = nz.difference(&pat).next() {
        return Fit::Misses(m);
    }
    if pat == nz { Fit::Exact } else { Fit::Superset }
}

fn all_argnums(k: usize) -> Argnums {
    Argnums::Many((0..k as i64).collect())
}

/// Check the sparse Jacobians (forward and reverse) and their pattern against the dense
/// Jacobian; returns how the pattern fits.
fn check_jacobian(name: &str, f: &DynFn, xs: &[Tensor]) -> Fit {
    let args: Vec<Tree> = xs.iter().cloned().map(Tree::Leaf).collect();
    let (d, nr, nc) = dense_jacobian(f, xs);
    let g = || dynamic(|a: &[Tree]| f(a));
    let s = jacfwd(g()).argnums(all_argnums(xs.len())).sparse();
    let p = s.detect_dyn(args.clone()).unwrap();
    assert_eq!((p.nrows(), p.ncols()), (nr, nc), "{name}");
    let fit = fit(&p, &d, nc);
    assert!(!matches!(fit, Fit::Misses(_)), "{name}: {fit:?}");
    for (mode, m) in [
        ("jacfwd", s.call_dyn(args.clone()).unwrap()),
        (
            "jacrev",
            jacrev(g())
                .argnums(all_argnums(xs.len()))
                .sparse()
                .call_dyn(args.clone())
                .unwrap(),
        ),
    ] {
        let got = m.to_dense().unwrap().to_vec_f64().unwrap();
        for (k, (a, b)) in got.iter().zip(&d).enumerate() {
            let tol = if m.dtype() == DType::F64 { 1e-10 } else { 1e-4 };
            assert!(
                (a - b).abs() <= tol * (1.0 + b.abs()),
                "{name} {mode}: entry {:?}: sparse {a}, dense {b}",
                (k / nc, k % nc)
            );
        }
    }
    fit
}

/// Check the sparse Hessian and its pattern against the dense Hessian.
fn check_hessian(name: &str, f: &DynFn, xs: &[Tensor]) -> Fit {
    let args: Vec<Tree> = xs.iter().cloned().map(Tree::Leaf).collect();
    let (d, n) = dense_hessian(f, xs);
    let s = hessian(dynamic(|a: &[Tree]| f(a)))
        .argnums(all_argnums(xs.len()))
        .sparse();
    let p = s.detect_dyn(args.clone()).unwrap();
    let fit = fit(&p, &d, n);
    assert!(!matches!(fit, Fit::Misses(_)), "{name}: {fit:?}");
    let got = s
        .call_dyn(args)
        .unwrap()
        .to_dense()
        .unwrap()
        .to_vec_f64()
        .unwrap();
    for (k, (a, b)) in got.iter().zip(&d).enumerate() {
        assert!(
            (a - b).abs() <= 1e-8 * (1.0 + b.abs()),
            "{name}: Hessian entry {:?}: sparse {a}, dense {b}",
            (k / n, k % n)
        );
    }
    fit
}

/// The differentiable samples of the op database as functions of their float inputs (index
/// and mask inputs drawn once and held fixed), with the drawn float inputs.
fn op_cases() -> Vec<(String, DynFn, Vec<Tensor>)> {
    let mut cases = Vec::new();
    for op in ops() {
        if !matches!(op.grad, Grad::Checked) {
            continue;
        }
        for s in &op.samples {
            if !s.grad || s.has_f32_input() {
                continue;
            }
            let name = format!("{}{}", op.name, s.name);
            let mut r = Rng::for_name(&name);
            let drawn = s.draw(&mut r);
            let float: Vec<bool> = s
                .args
                .iter()
                .zip(&drawn)
                .map(|(a, x)| x.dtype().is_float() && !matches!(a, Arg::Index(..) | Arg::Mask(..)))
                .collect();
            let xs: Vec<Tensor> = drawn
                .iter()
                .zip(&float)
                .filter(|(_, f)| **f)
                .map(|(x, _)| x.clone())
                .collect();
            if xs.is_empty() || xs.iter().any(|x| x.numel() == 0) {
                continue;
            }
            let (call, fixed) = (s.f.clone(), drawn.clone());
            let f: DynFn = Box::new(move |a: &[Tree]| {
                let mut it = a.iter();
                let inputs: Vec<Tensor> = fixed
                    .iter()
                    .zip(&float)
                    .map(|(x, &fl)| {
                        if fl {
                            it.next().unwrap().clone().into_tensor()
                        } else {
                            Ok(x.clone())
                        }
                    })
                    .collect::<Result<_>>()?;
                let outs = call(&inputs)?;
                Ok(Tree::Tuple(
                    outs.into_iter()
                        .filter(|o| o.dtype().is_float())
                        .map(Tree::Leaf)
                        .collect(),
                ))
            });
            // only samples with a float output that is not empty
            let probe = f(&xs.iter().cloned().map(Tree::Leaf).collect::<Vec<_>>());
            match probe.map(|t| t.leaves().iter().map(|l| l.numel()).sum::<usize>()) {
                Ok(n) if n > 0 => cases.push((name, f, xs)),
                _ => {}
            }
        }
    }
    cases
}

/// The cases whose global pattern is larger than the nonzeros at the point drawn, and why
/// (`op*`: every sample of the op, or of the ops whose name starts so).
const JACOBIAN_SUPERSETS: &[(&str, &str)] = &[
    ("relu*", "the derivative is zero for negative inputs"),
    ("clamp*", "the derivative is zero on the clamped side"),
    (
        "maximum*",
        "the derivative is zero for the operand that loses",
    ),
    (
        "minimum*",
        "the derivative is zero for the operand that loses",
    ),
    (
        "amax*",
        "a max reads one element of each group, which one depends on x",
    ),
    (
        "amin*",
        "a min reads one element of each group, which one depends on x",
    ),
    ("max*", "a max reads one element, which one depends on x"),
    ("min*", "a min reads one element, which one depends on x"),
    (
        "norm_dimspinf*",
        "a max reads one element of each row, which one depends on x",
    ),
    (
        "prod*",
        "a zero factor zeroes the other factors' derivatives",
    ),
    (
        "gatherat_argmax",
        "an index computed from x: conservative by design",
    ),
    (
        "cholesky*",
        "a factorization is conservative within each matrix (its upper triangle is zero)",
    ),
];

const HESSIAN_SUPERSETS: &[(&str, &str)] = &[
    ("softpluslinear_region*", "softplus is linear above 20"),
    (
        "prod*",
        "a zero factor zeroes the other factors' derivatives",
    ),
    (
        "std_dims[-1]",
        "the std of two elements, |a - b|/√2, is piecewise linear",
    ),
    (
        "gatherat_argmax",
        "an index computed from x: conservative by design",
    ),
    (
        "det*",
        "det is linear in each row and column: conservative within each matrix",
    ),
    (
        "solve*",
        "solve is linear in the right-hand side: conservative within each matrix",
    ),
];

fn allowed(list: &[(&str, &str)], name: &str) -> bool {
    list.iter().any(|(n, _)| match n.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => *n == name,
    })
}

#[test]
fn jacobian_patterns_hold_every_nonzero_of_every_op() {
    let cases = op_cases();
    assert!(cases.len() > 100, "only {} cases", cases.len());
    let mut exact = 0;
    let mut loose = Vec::new();
    for (name, f, xs) in &cases {
        match check_jacobian(name, f, xs) {
            Fit::Exact => exact += 1,
            Fit::Superset if allowed(JACOBIAN_SUPERSETS, name) => {}
            other => loose.push(format!("{name}: {other:?}")),
        }
    }
    assert!(
        loose.is_empty(),
        "patterns larger than the nonzeros: {loose:#?}"
    );
    assert!(
        exact * 10 > cases.len() * 7,
        "{exact} exact of {}",
        cases.len()
    );
}

#[test]
fn hessian_patterns_hold_every_nonzero_of_every_op() {
    let mut exact = 0;
    let mut n = 0;
    let mut loose = Vec::new();
    for (name, f, xs) in op_cases() {
        if xs.iter().map(|x| x.numel()).sum::<usize>() > 40 {
            continue;
        }
        // a scalar of every output: sum(out · w) with fixed weights
        let h: DynFn = Box::new(move |a: &[Tree]| {
            let outs = f(a)?;
            let mut total = Tensor::scalar(0.0);
            for (k, o) in outs.leaves().into_iter().enumerate() {
                let o = o.to_dtype(DType::F64)?;
                let w = ramp(0.5 + k as f64, o.numel())
                    .reshape(&o.shape().iter().map(|&s| s as i64).collect::<Vec<_>>())?;
                total = total.add(&o.mul(&w)?.sum()?)?;
            }
            Ok(Tree::Leaf(total))
        });
        n += 1;
        match check_hessian(&name, &h, &xs) {
            Fit::Exact => exact += 1,
            Fit::Superset if allowed(HESSIAN_SUPERSETS, &name) => {}
            other => loose.push(format!("{name}: {other:?}")),
        }
    }
    assert!(
        loose.is_empty(),
        "patterns larger than the nonzeros: {loose:#?}"
    );
    assert!(exact * 10 > n * 7, "{exact} exact of {n}");
}

fn rosenbrock(x: &Tensor) -> Result<Tensor> {
    let n = x.numel();
    let (a, b) = (x.narrow(0, 0, n - 1)?, x.narrow(0, 1, n - 1)?);
    let t1 = b.sub(&a.square()?)?.square()?.mul_scalar(100.0)?;
    let t2 = a.rsub_scalar(1.0)?.square()?;
    t1.add(&t2)?.sum()
}

/// r(u) = 4u − (the four neighbours, zero outside) + u³ − 1 on an m×m grid.
fn pde(u: &Tensor) -> Result<Tensor> {
    let m = u.shape()[0];
    let row = Tensor::from_vec(vec![0.0; m], &[1, m])?;
    let col = Tensor::from_vec(vec![0.0; m], &[m, 1])?;
    let up = Tensor::cat(&[u.narrow(0, 1, m - 1)?, row.clone()], 0)?;
    let down = Tensor::cat(&[row, u.narrow(0, 0, m - 1)?], 0)?;
    let left = Tensor::cat(&[u.narrow(1, 1, m - 1)?, col.clone()], 1)?;
    let right = Tensor::cat(&[col, u.narrow(1, 0, m - 1)?], 1)?;
    let nb = up.add(&down)?.add(&left)?.add(&right)?;
    u.mul_scalar(4.0)?
        .sub(&nb)?
        .add(&u.pow_scalar(3.0)?)?
        .add_scalar(-1.0)
}

/// `x` shifted by one along dim 0, a zero in front.
trait PadFront {
    fn pad_front(&self) -> Result<Tensor>;
}
impl PadFront for Tensor {
    fn pad_front(&self) -> Result<Tensor> {
        Tensor::cat(&[Tensor::from_vec(vec![0.0], &[1])?, self.clone()], 0)
    }
}

fn dynf(f: fn(&Tensor) -> Result<Tensor>) -> DynFn {
    Box::new(move |a: &[Tree]| {
        Ok(Tree::Tuple(vec![Tree::Leaf(f(&a[0]
            .clone()
            .into_tensor()?)?)]))
    })
}

#[test]
fn rosenbrock_hessian_is_tridiagonal_and_three_colored() {
    let mut r = Rng::new(3);
    let x = t(&mut r, &[12], ANY);
    let f: DynFn = Box::new(|a: &[Tree]| Ok(Tree::Leaf(rosenbrock(&a[0].clone().into_tensor()?)?)));
    assert_eq!(
        check_hessian("rosenbrock", &f, std::slice::from_ref(&x)),
        Fit::Exact
    );
    let h = hessian(rosenbrock).sparse().prepare(&x).unwrap();
    assert_eq!(h.pattern().nnz(), 12 + 2 * 11);
    assert_eq!(h.colors(), 3);
    // at another point, against the dense Hessian
    let y = t(&mut r, &[12], ANY);
    let dense: Tensor = hessian(rosenbrock).call(&y).unwrap();
    let got = h.call(&y).unwrap().to_dense().unwrap();
    assert!(
        got.sub(&dense)
            .unwrap()
            .abs()
            .unwrap()
            .max()
            .unwrap()
            .item()
            .unwrap()
            < 1e-9
    );
}

#[test]
fn pde_jacobian_has_five_nonzeros_a_row_and_few_colors() {
    let mut r = Rng::new(4);
    let u = t(&mut r, &[6, 6], ANY);
    assert_eq!(
        check_jacobian("pde", &dynf(pde), std::slice::from_ref(&u)),
        Fit::Exact
    );
    let j = jacfwd(pde).sparse().prepare(&u).unwrap();
    // 36 rows, five a row less the 4·6 missing neighbours at the border
    assert_eq!(j.pattern().nnz(), 5 * 36 - 4 * 6);
    // greedy in the natural order: 5 is the optimum for this stencil
    assert!((5..=7).contains(&j.colors()), "{}", j.colors());
    let jr = jacrev(pde).sparse().prepare(&u).unwrap();
    assert!((5..=7).contains(&jr.colors()), "{}", jr.colors());
    let u2 = t(&mut r, &[6, 6], ANY);
    let a = j.call(&u2).unwrap();
    let b = jr.call(&u2).unwrap();
    let dense: Tensor = jacfwd(pde).call(&u2).unwrap();
    let dense = dense.reshape(&[36, 36]).unwrap().to_vec_f64().unwrap();
    assert_eq!(a.pattern(), b.pattern());
    for m in [a, b] {
        let got = m.to_dense().unwrap().to_vec_f64().unwrap();
        for (x, y) in got.iter().zip(&dense) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}

#[test]
fn hand_written_functions_give_exact_patterns() {
    let mut r = Rng::new(5);
    let x = t(&mut r, &[7], ANY);
    let y = t(&mut r, &[7], ANY);
    let m = t(&mut r, &[3, 7], ANY);
    type F = fn(&[Tree]) -> Result<Tree>;
    let tup = |v: Vec<Tensor>| Tree::Tuple(v.into_iter().map(Tree::Leaf).collect());
    let get = |a: &[Tree], i: usize| a[i].clone().into_tensor();
    let _ = (tup, get);
    let cases: Vec<(&str, F, Vec<Tensor>)> = vec![
        (
            "product of two arguments",
            |a| {
                let (x, y) = (a[0].clone().into_tensor()?, a[1].clone().into_tensor()?);
                Ok(Tree::Tuple(vec![
                    Tree::Leaf(x.mul(&y)?.sin()?),
                    Tree::Leaf(x.div(&y.exp()?)?.sum()?),
                ]))
            },
            vec![x.clone(), y.clone()],
        ),
        (
            "flip, cat and cumsum",
            |a| {
                let x = a[0].clone().into_tensor()?;
                let c = Tensor::cat(&[x.flip(&[0])?, x.narrow(0, 2, 3)?.tanh()?], 0)?;
                Ok(Tree::Tuple(vec![Tree::Leaf(
                    c.mul(&c.narrow(0, 0, 9)?.pad_front()?.cos()?)?,
                )]))
            },
            vec![x.clone()],
        ),
        (
            "broadcast outer product",
            |a| {
                let x = a[0].clone().into_tensor()?;
                let o = x.unsqueeze(1)?.mul(&x.narrow(0, 0, 3)?.unsqueeze(0)?)?;
                Ok(Tree::Tuple(vec![Tree::Leaf(o)]))
            },
            vec![x.clone()],
        ),
        (
            "matmul with a variable matrix",
            |a| {
                let (m, x) = (a[0].clone().into_tensor()?, a[1].clone().into_tensor()?);
                Ok(Tree::Tuple(vec![Tree::Leaf(m.matmul(&x.sigmoid()?)?)]))
            },
            vec![m.clone(), x.clone()],
        ),
        (
            "row sums of a 2-d argument",
            |a| {
                let m = a[0].clone().into_tensor()?;
                Ok(Tree::Tuple(vec![Tree::Leaf(
                    m.square()?.sum_dims(&[1], false)?,
                )]))
            },
            vec![m.clone()],
        ),
    ];
    for (name, f, xs) in cases {
        let f: DynFn = Box::new(f);
        assert_eq!(check_jacobian(name, &f, &xs), Fit::Exact, "{name}");
        let s: DynFn = Box::new(move |a: &[Tree]| {
            let mut total = Tensor::scalar(0.0);
            for o in f(a)?.leaves() {
                total = total.add(&o.sin()?.sum()?)?;
            }
            Ok(Tree::Leaf(total))
        });
        assert_eq!(check_hessian(name, &s, &xs), Fit::Exact, "{name}");
    }
}

#[test]
fn a_product_with_a_constant_sparse_matrix_stays_exact() {
    // a tridiagonal matrix held as a dense constant
    let n = 8;
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n + i] = 2.0;
        if i > 0 {
            a[i * n + i - 1] = -1.0;
            a[(i - 1) * n + i] = -1.0;
        }
    }
    let a = Tensor::from_vec(a, &[n, n]).unwrap();
    let f = |x: &Tensor| a.matmul(&x.square()?);
    let p = jacfwd(f).sparse().detect(&ramp(0.5, n)).unwrap();
    assert_eq!(p.nnz(), 3 * n - 2);
    // a data-dependent index mixes everything: conservative
    let g = |x: &Tensor| {
        let i = x.argmax(Some(0), false)?.unsqueeze(0)?;
        x.index_select(0, &i)
    };
    let p = jacfwd(g).sparse().detect(&ramp(0.5, n)).unwrap();
    assert_eq!(p.nnz(), n);
}

#[derive(Clone, functorch::Pytree)]
struct Params {
    w: Tensor,
    b: Tensor,
}

#[test]
fn structured_and_several_arguments() {
    // columns: w's elements then b's; rows: the output's elements
    let f = |(p, x): &(Params, Tensor)| p.w.mul(x)?.add(&p.b)?.tanh();
    let p = Params {
        w: Tensor::from_slice(&[1.0, 2.0, 3.0]),
        b: Tensor::from_slice(&[0.1, 0.2, 0.3]),
    };
    let x = Tensor::from_slice(&[0.5, -0.5, 0.25]);
    let j = jacfwd(f).sparse().call(&(p.clone(), x.clone())).unwrap();
    assert_eq!((j.nrows(), j.ncols()), (3, 6));
    assert_eq!(j.nnz(), 6);
    for i in 0..3 {
        let y = (p.w.to_vec_f64().unwrap()[i] * x.to_vec_f64().unwrap()[i]
            + p.b.to_vec_f64().unwrap()[i])
            .tanh();
        let d = 1.0 - y * y;
        assert!((j.get(i, i) - d * x.to_vec_f64().unwrap()[i]).abs() < 1e-12);
        assert!((j.get(i, 3 + i) - d).abs() < 1e-12);
    }
    // argnums (0, 1): x's columns follow the struct's
    let j2 = jacrev(f)
        .argnums((0, 1))
        .sparse()
        .call(&(p.clone(), x.clone()))
        .unwrap();
    assert_eq!((j2.nrows(), j2.ncols(), j2.nnz()), (3, 9, 9));
    let h = hessian(|a: &(Params, Tensor)| f(a)?.sum())
        .argnums(1)
        .sparse()
        .call(&(p, x))
        .unwrap();
    assert_eq!((h.nrows(), h.nnz()), (3, 3));
}

#[test]
fn chunking_and_prepared_calls_give_the_same_values() {
    let mut r = Rng::new(6);
    let u = t(&mut r, &[5, 5], ANY);
    let a = jacfwd(pde).sparse().call(&u).unwrap();
    let b = jacfwd(pde).chunk_size(2).sparse().call(&u).unwrap();
    let c = jacfwd(pde)
        .sparse()
        .chunk_size(1)
        .prepare(&u)
        .unwrap()
        .call(&u)
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    let h1 = hessian(rosenbrock)
        .sparse()
        .call(&t(&mut r, &[9], ANY))
        .unwrap();
    assert_eq!(h1.nnz(), 25);
}

#[test]
fn f32_inputs_keep_their_dtype() {
    let x = Tensor::from_slice(&[0.5f32, 1.0, 1.5]);
    let j = jacfwd(|x: &Tensor| x.exp()).sparse().call(&x).unwrap();
    assert_eq!(j.dtype(), DType::F32);
    assert_eq!(j.to_dense().unwrap().dtype(), DType::F32);
    assert!((j.get(1, 1) - 1f64.exp()).abs() < 1e-6);
}

#[test]
fn given_patterns_are_used_and_checked() {
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0]);
    let lower =
        Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0], &[3, 3]).unwrap();
    let cumsum = |x: &Tensor| lower.matmul(x);
    let tri =
        SparsityPattern::from_entries(3, 3, &[(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)])
            .unwrap();
    let j = jacfwd(cumsum)
        .sparse()
        .with_pattern(tri.clone())
        .check(true)
        .call(&x)
        .unwrap();
    assert_eq!(j.values(), &[1.0; 6]);
    assert_eq!(jacfwd(cumsum).sparse().detect(&x).unwrap(), tri);
    // a pattern that misses entries gives wrong values silently, and check finds it
    let diag = SparsityPattern::from_entries(3, 3, &[(0, 0), (1, 1), (2, 2)]).unwrap();
    let wrong = jacfwd(cumsum)
        .sparse()
        .with_pattern(diag.clone())
        .call(&x)
        .unwrap();
    assert_eq!(wrong.values(), &[1.0, 2.0, 3.0]);
    let e = jacfwd(cumsum)
        .sparse()
        .with_pattern(diag)
        .check(true)
        .call(&x)
        .unwrap_err();
    assert!(
        e.to_string().contains("outside the sparsity pattern"),
        "{e}"
    );
    // a pattern of the wrong shape
    let small = SparsityPattern::from_entries(2, 3, &[(0, 0)]).unwrap();
    let e = jacrev(cumsum)
        .sparse()
        .with_pattern(small)
        .call(&x)
        .unwrap_err();
    assert!(e.to_string().contains("2×3"), "{e}");
    // hessian with check
    let h = hessian(rosenbrock)
        .sparse()
        .check(true)
        .call(&Tensor::from_slice(&[0.5, 1.0, -1.0, 2.0]))
        .unwrap();
    assert_eq!(h.nnz(), 10);
}

#[test]
fn bad_inputs_are_errors() {
    let x = Tensor::from_slice(&[1.0, 2.0]);
    // a Hessian of a vector function
    let e = hessian(|x: &Tensor| x.sin()).sparse().call(&x).unwrap_err();
    assert!(e.to_string().contains("one scalar"), "{e}");
    // integer inputs
    let i = Tensor::from_slice(&[1i64, 2]);
    assert!(
        jacfwd(|x: &Tensor| x.add_scalar(1.0))
            .sparse()
            .call(&i)
            .is_err()
    );
    // argnums out of range
    assert!(
        jacfwd(|x: &Tensor| x.sin())
            .argnums(3)
            .sparse()
            .call(&x)
            .is_err()
    );
    // has_aux
    let e = jacfwd(|x: &Tensor| Ok((x.sin()?, x.cos()?)))
        .has_aux(true)
        .sparse()
        .call(&x)
        .unwrap_err();
    assert!(e.to_string().contains("has_aux"), "{e}");
    // a prepared derivative called with other shapes
    let p = jacfwd(|x: &Tensor| x.sin()).sparse().prepare(&x).unwrap();
    let e = p.call(&Tensor::from_slice(&[1.0, 2.0, 3.0])).unwrap_err();
    assert!(e.to_string().contains("prepared for"), "{e}");
    // chunk_size 0
    assert!(
        jacfwd(|x: &Tensor| x.sin())
            .sparse()
            .chunk_size(0)
            .call(&x)
            .is_err()
    );
    // bad patterns
    assert!(SparsityPattern::from_entries(2, 2, &[(2, 0)]).is_err());
    assert!(SparsityPattern::new(2, 2, vec![0, 1], vec![0]).is_err());
    assert!(SparsityPattern::new(2, 2, vec![0, 2, 2], vec![1, 0]).is_err());
    assert!(
        functorch::SparseMatrix::new(
            SparsityPattern::from_entries(1, 1, &[(0, 0)]).unwrap(),
            vec![]
        )
        .is_err()
    );
}

#[test]
fn a_dense_derivative_is_an_error_not_an_exhausted_memory() {
    // the inverse of a 128×128 matrix: each of its 2¹⁴ elements depends on all 2¹⁴ inputs,
    // 2²⁸ entries, over the limit (found before anything is allocated)
    let n = 128;
    let a: Vec<f64> = (0..n * n)
        .map(|k| if k / n == k % n { 4.0 } else { 0.01 })
        .collect();
    let a = Tensor::from_vec(a, &[n, n]).unwrap();
    let e = jacfwd(|a: &Tensor| a.inv())
        .sparse()
        .detect(&a)
        .unwrap_err();
    assert!(e.to_string().contains("too dense"), "{e}");
    // a smaller dense derivative is fine
    let f = |x: &Tensor| x.mul(&x.sum()?);
    assert_eq!(jacfwd(f).sparse().detect(&ramp(0.0, 4)).unwrap().nnz(), 16);
}

#[test]
fn auto_mode_picks_the_direction_with_fewer_products() {
    let x = ramp(0.5, 12);
    // a dense row (the sum): reverse mode, 2 colors instead of 12
    let row = |x: &Tensor| Tensor::cat(&[x.sin()?, x.sum()?.unsqueeze(0)?], 0);
    let p = jacrev(row).sparse().auto_mode(true).prepare(&x).unwrap();
    assert_eq!((p.mode(), p.colors()), ("reverse", 2));
    let p = jacfwd(row).sparse().auto_mode(true).prepare(&x).unwrap();
    assert_eq!((p.mode(), p.colors()), ("reverse", 2));
    assert_eq!(jacfwd(row).sparse().prepare(&x).unwrap().colors(), 12);
    // a dense column (every output reads x[0]): forward mode, 2 colors instead of 12
    let col = |x: &Tensor| x.mul(&x.narrow(0, 0, 1)?);
    let p = jacrev(col).sparse().auto_mode(true).prepare(&x).unwrap();
    assert_eq!((p.mode(), p.colors()), ("forward", 2));
    assert_eq!(jacrev(col).sparse().prepare(&x).unwrap().colors(), 12);
    // the same values in every mode, against the dense Jacobian
    for f in [&row as &dyn Fn(&Tensor) -> Result<Tensor>, &col] {
        let dense: Tensor = jacfwd(f).call(&x).unwrap();
        let a = jacfwd(f).sparse().auto_mode(true).call(&x).unwrap();
        let b = jacrev(f).sparse().call(&x).unwrap();
        let d = dense.to_vec_f64().unwrap();
        for m in [a, b] {
            for (u, v) in m.to_dense().unwrap().to_vec_f64().unwrap().iter().zip(&d) {
                assert!((u - v).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn value_checks_pass_patterns_through() {
    // normal's std goes through a value check (the identity on std): the draw is
    // mean + std * noise elementwise, so its Jacobian in std is diagonal
    let n = 6;
    let std = ramp(0.5, n);
    let mean = Tensor::zeros(&[n], DType::F64).unwrap();
    let f = move |s: &Tensor| Tensor::normal(&mean, s);
    let p = jacfwd(&f)
        .randomness(functorch::Randomness::Same)
        .sparse()
        .detect(&std)
        .unwrap();
    assert_eq!(entries(&p), (0..n).map(|i| (i, i)).collect());
    // the dense Jacobian's nonzeros (the draws' noise) are that diagonal
    let dense: Tensor = jacfwd(&f)
        .randomness(functorch::Randomness::Same)
        .call(&std)
        .unwrap();
    assert_eq!(nonzeros(&dense.to_vec_f64().unwrap(), n), entries(&p));
    // checked indices: the selected elements only, in a Jacobian and a Hessian
    let idx = Tensor::from_slice(&[4i64, 0, 2]);
    let g = move |x: &Tensor| x.index_select(0, &idx)?.sin();
    let x = ramp(0.1, n);
    let p = jacrev(&g).sparse().detect(&x).unwrap();
    assert_eq!(entries(&p), BTreeSet::from([(0, 4), (1, 0), (2, 2)]));
    let h = hessian(move |x: &Tensor| g(x)?.sum())
        .sparse()
        .detect(&x)
        .unwrap();
    assert_eq!(entries(&h), BTreeSet::from([(0, 0), (2, 2), (4, 4)]));
}
