//! Structured arguments and outputs: tuples, `Vec`s, fixed arrays, string-keyed maps,
//! `Option`, nested combinations of them, and a user's own parameter structs with
//! `#[derive(functorch::Pytree)]` (named fields, a nested derived struct, a tuple struct, a
//! generic struct), as inputs and outputs of grad, jacrev, jacfwd, hessian, vmap (with nested
//! `in_dims`/`out_dims` for a struct), vjp and jvp. The gradient of a structure comes back as the
//! same Rust type, with the right value in every field: checked against closed forms per
//! field, and against central differences leaf by leaf.

use std::collections::{BTreeMap, HashMap};

use functorch::{
    DType, Dims, Error, Pullback, Pytree, Result, Tensor, Tree, grad, grad_and_value, hessian,
    jacfwd, jacrev, jvp, vjp, vmap,
};

mod common;
use common::{close_vals, mat, vals, vec1};

// ------------------------------------------------------------------------------- helpers

#[track_caller]
fn close(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    close_vals(&vals(got), &vals(want), 1e-12, what);
}

/// Central differences of a scalar function of a pytree, one vector per leaf (in leaf order).
fn fd_grad<P: Pytree>(f: &dyn Fn(&P) -> f64, p: &P) -> Vec<Vec<f64>> {
    let tree = p.to_tree();
    let leaves: Vec<Tensor> = tree.leaves().into_iter().cloned().collect();
    let eps = 1e-6;
    let rebuild = |k: usize, i: usize, d: f64| -> P {
        let mut ls = leaves.clone();
        let mut v = vals(&ls[k]);
        v[i] += d;
        ls[k] = mat(v, leaves[k].shape());
        P::from_tree(tree.with_leaves(&mut ls.into_iter())).unwrap()
    };
    (0..leaves.len())
        .map(|k| {
            (0..leaves[k].numel())
                .map(|i| (f(&rebuild(k, i, eps)) - f(&rebuild(k, i, -eps))) / (2.0 * eps))
                .collect()
        })
        .collect()
}

/// Every leaf of `g` against the finite differences (same structure as the parameters).
#[track_caller]
fn check_fd<P: Pytree>(g: &P, fd: &[Vec<f64>], what: &str) {
    let t = g.to_tree();
    let leaves = t.leaves();
    assert_eq!(leaves.len(), fd.len(), "{what}: number of leaves");
    for (k, (l, want)) in leaves.iter().zip(fd).enumerate() {
        close_vals(&vals(l), want, 1e-6, &format!("{what}: leaf {k} vs FD"));
    }
}

// ------------------------------------------------------------------ the user's own structs

/// A layer: named fields, generic so that a Hessian (a `Linear` of `Linear`s) has a type too.
#[derive(Clone, Debug, functorch::Pytree)]
struct Linear<T> {
    w: T,
    b: T,
}

/// A tuple struct.
#[derive(Clone, Debug, functorch::Pytree)]
struct Affine(Tensor, Tensor);

/// Nested derived structs.
#[derive(Clone, Debug, functorch::Pytree)]
struct Model {
    l1: Linear<Tensor>,
    l2: Linear<Tensor>,
    out: Affine,
}

/// A struct holding other kinds of pytrees.
#[derive(Clone, Debug, functorch::Pytree)]
struct Mixed {
    layers: Vec<Linear<Tensor>>,
    extra: Option<Tensor>,
    named: BTreeMap<String, Tensor>,
    pair: (Tensor, [Tensor; 2]),
}

type Lin = Linear<Tensor>;

fn model() -> Model {
    Model {
        l1: Linear {
            w: mat(vec![0.5, -0.3, 0.8, 0.1, -0.6, 0.4], &[3, 2]),
            b: vec1(&[0.1, -0.2, 0.05]),
        },
        l2: Linear {
            w: mat(vec![0.7, -0.5, 0.2], &[1, 3]),
            b: vec1(&[0.3]),
        },
        out: Affine(vec1(&[1.5]), vec1(&[-0.25])),
    }
}

/// The data: 4 points in R², targets in R¹.
fn data() -> (Tensor, Tensor) {
    (
        mat(vec![1.0, 0.5, -0.5, 2.0, 0.3, -1.0, -1.5, 0.2], &[4, 2]),
        mat(vec![0.2, -0.4, 0.9, 0.0], &[4, 1]),
    )
}

/// Works for a batch `x [m, 2]` and for one example `x [2]`.
fn forward(p: &Model, x: &Tensor) -> Result<Tensor> {
    let h = x.matmul(&p.l1.w.t()?)?.add(&p.l1.b)?.tanh()?;
    let o = h.matmul(&p.l2.w.t()?)?.add(&p.l2.b)?;
    o.mul(&p.out.0)?.add(&p.out.1)
}

fn loss((p, x, y): &(Model, Tensor, Tensor)) -> Result<Tensor> {
    forward(p, x)?.sub(y)?.square()?.mean()
}

fn loss_of(p: &Model) -> f64 {
    let (x, y) = data();
    loss(&(p.clone(), x, y)).unwrap().item().unwrap()
}

// ------------------------------------------------------------------------------- std types

#[test]
fn gradients_of_std_containers_keep_their_type() -> Result<()> {
    let a = vec1(&[1.0, -2.0, 0.5]);
    let b = vec1(&[0.3, 0.7, -1.1]);

    // a tuple as one argument: f((a, b)) = Σ a² b
    let f = |(p,): &((Tensor, Tensor),)| p.0.square()?.mul(&p.1)?.sum();
    let (ga, gb): (Tensor, Tensor) = grad(f).call(&((a.clone(), b.clone()),))?;
    close(&ga, &a.mul(&b)?.mul_scalar(2.0)?, "tuple: d/da");
    close(&gb, &a.square()?, "tuple: d/db");

    // a Vec: f(v) = Σₖ (k+1) Σ vₖ²
    let f = |v: &Vec<Tensor>| -> Result<Tensor> {
        let mut s = Tensor::scalar(0.0);
        for (k, t) in v.iter().enumerate() {
            s = s.add(&t.square()?.sum()?.mul_scalar(k as f64 + 1.0)?)?;
        }
        Ok(s)
    };
    let v = vec![a.clone(), b.clone(), Tensor::scalar(3.0)];
    let g: Vec<Tensor> = grad(f).call(&v)?;
    assert_eq!(g.len(), 3);
    for (k, (gk, vk)) in g.iter().zip(&v).enumerate() {
        close(
            gk,
            &vk.mul_scalar(2.0 * (k as f64 + 1.0))?,
            &format!("vec: d/dv{k}"),
        );
    }

    // a fixed array: f([a, b]) = Σ a·b
    let f = |p: &[Tensor; 2]| p[0].mul(&p[1])?.sum();
    let [ga, gb]: [Tensor; 2] = grad(f).call(&[a.clone(), b.clone()])?;
    close(&ga, &b, "array: d/da");
    close(&gb, &a, "array: d/db");

    // string-keyed maps: f({x, y}) = Σ x·y + Σ sin x
    let f = |m: &BTreeMap<String, Tensor>| m["x"].mul(&m["y"])?.add(&m["x"].sin()?)?.sum();
    let m: BTreeMap<String, Tensor> =
        [("x".to_string(), a.clone()), ("y".to_string(), b.clone())].into();
    let g: BTreeMap<String, Tensor> = grad(f).call(&m)?;
    assert_eq!(g.keys().collect::<Vec<_>>(), ["x", "y"]);
    close(&g["x"], &b.add(&a.cos()?)?, "btreemap: d/dx");
    close(&g["y"], &a, "btreemap: d/dy");
    let f = |m: &HashMap<String, Tensor>| m["x"].mul(&m["y"])?.add(&m["x"].sin()?)?.sum();
    let hm: HashMap<String, Tensor> =
        [("y".to_string(), b.clone()), ("x".to_string(), a.clone())].into();
    let g: HashMap<String, Tensor> = grad(f).call(&hm)?;
    assert_eq!(g.len(), 2);
    close(&g["x"], &b.add(&a.cos()?)?, "hashmap: d/dx");
    close(&g["y"], &a, "hashmap: d/dy");

    // Option: a present and an absent argument
    let f = |(x, s): &(Tensor, Option<Tensor>)| match s {
        Some(s) => x.mul(s)?.sum(),
        None => x.square()?.sum(),
    };
    let (gx, gs): (Tensor, Option<Tensor>) = grad(f)
        .argnums((0, 1))
        .call(&(a.clone(), Some(b.clone())))?;
    close(&gx, &b, "option some: d/dx");
    close(&gs.expect("a gradient for Some"), &a, "option some: d/ds");
    let (gx, gs): (Tensor, Option<Tensor>) = grad(f).argnums((0, 1)).call(&(a.clone(), None))?;
    close(&gx, &a.mul_scalar(2.0)?, "option none: d/dx");
    assert!(gs.is_none(), "no gradient for None");

    // nested: a list of (tensor, map) pairs
    type Nested = Vec<(Tensor, BTreeMap<String, Tensor>)>;
    let f = |v: &Nested| -> Result<Tensor> {
        let mut s = Tensor::scalar(0.0);
        for (t, m) in v {
            s = s.add(&t.mul(&m["k"])?.sum()?)?;
        }
        Ok(s)
    };
    let nested: Nested = vec![
        (a.clone(), [("k".to_string(), b.clone())].into()),
        (b.clone(), [("k".to_string(), a.clone())].into()),
    ];
    let g: Nested = grad(f).call(&nested)?;
    close(&g[0].0, &b, "nested [0].0");
    close(&g[0].1["k"], &a, "nested [0].1.k");
    close(&g[1].0, &a, "nested [1].0");
    close(&g[1].1["k"], &b, "nested [1].1.k");
    Ok(())
}

#[test]
fn jacobians_and_hessians_of_std_containers() -> Result<()> {
    let a = vec1(&[1.0, -2.0]);
    let b = vec1(&[0.5, 3.0]);
    // a Vec input, a tuple output
    let f = |v: &Vec<Tensor>| -> Result<(Tensor, Tensor)> { Ok((v[0].mul(&v[1])?, v[0].sum()?)) };
    let want_prod = [b.diag()?, a.diag()?];
    type J = (Vec<Tensor>, Vec<Tensor>);
    let check = |j: J, what: &str| {
        let (jp, js) = j;
        close(&jp[0], &want_prod[0], &format!("{what}: d(ab)/da"));
        close(&jp[1], &want_prod[1], &format!("{what}: d(ab)/db"));
        close(&js[0], &vec1(&[1.0, 1.0]), &format!("{what}: d(sum a)/da"));
        close(&js[1], &vec1(&[0.0, 0.0]), &format!("{what}: d(sum a)/db"));
    };
    check(jacrev(f).call(&vec![a.clone(), b.clone()])?, "jacrev");
    check(jacfwd(f).call(&vec![a.clone(), b.clone()])?, "jacfwd");
    check(
        jacrev(f).chunk_size(1).call(&vec![a.clone(), b.clone()])?,
        "jacrev chunked",
    );

    // the Hessian of a function of a map: a map of maps
    let g = |m: &BTreeMap<String, Tensor>| m["x"].square()?.mul(&m["y"])?.sum();
    let m: BTreeMap<String, Tensor> =
        [("x".to_string(), a.clone()), ("y".to_string(), b.clone())].into();
    let h: BTreeMap<String, BTreeMap<String, Tensor>> = hessian(g).call(&m)?;
    close(&h["x"]["x"], &b.mul_scalar(2.0)?.diag()?, "H_xx");
    close(&h["x"]["y"], &a.mul_scalar(2.0)?.diag()?, "H_xy");
    close(&h["y"]["x"], &a.mul_scalar(2.0)?.diag()?, "H_yx");
    close(&h["y"]["y"], &Tensor::zeros(&[2, 2], DType::F64)?, "H_yy");
    Ok(())
}

#[test]
fn vmap_over_std_containers() -> Result<()> {
    let xs = mat(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    let ys = mat(vec![0.5, -1.0, 2.0], &[3]);
    // a map argument with a per-key in_dims (keys in sorted order: "s", "x")
    let f = |m: &BTreeMap<String, Tensor>| m["x"].sum()?.mul(&m["s"]);
    let m: BTreeMap<String, Tensor> = [
        ("x".to_string(), xs.clone()),
        ("s".to_string(), vec1(&[10.0])),
    ]
    .into();
    let r: Tensor = vmap(f)
        .in_dims(Dims::Tuple(vec![Dims::from(vec![None, Some(0)])]))
        .call(&m)?;
    close_vals(&vals(&r), &[30.0, 70.0, 110.0], 1e-12, "map in_dims");
    // a Vec output: each element batched
    let g = |(x, y): &(Tensor, Tensor)| -> Result<Vec<Tensor>> { Ok(vec![x.mul(y)?, y.sin()?]) };
    let out: Vec<Tensor> = vmap(g).call(&(xs.clone(), ys.clone()))?;
    close(&out[0], &xs.mul(&ys.unsqueeze(1)?)?, "vec output [0]");
    close(&out[1], &ys.sin()?, "vec output [1]");
    // per-element out_dims for a Vec output
    let out: Vec<Tensor> = vmap(g)
        .out_dims([Some(1), Some(0)])
        .call(&(xs.clone(), ys.clone()))?;
    close(
        &out[0],
        &xs.mul(&ys.unsqueeze(1)?)?.t()?,
        "vec output, out_dims=(1, 0)",
    );
    // a map output
    let h = |x: &Tensor| -> Result<BTreeMap<String, Tensor>> {
        Ok([("sum".to_string(), x.sum()?), ("neg".to_string(), x.neg()?)].into())
    };
    let out: BTreeMap<String, Tensor> = vmap(h).call(&xs)?;
    close_vals(
        &vals(&out["sum"]),
        &[3.0, 7.0, 11.0],
        1e-12,
        "map output sum",
    );
    close(&out["neg"], &xs.neg()?, "map output neg");
    Ok(())
}

// ------------------------------------------------------------------------ derived structs

#[test]
fn gradient_of_a_struct_is_the_same_struct() -> Result<()> {
    let p = model();
    let (x, y) = data();
    let g: Model = grad(loss).call(&(p.clone(), x.clone(), y.clone()))?;

    // closed forms for the output layer: L = mean((s·o + t − y)²)
    let o = vals(&forward(
        &Model {
            out: Affine(vec1(&[1.0]), vec1(&[0.0])),
            ..p.clone()
        },
        &x,
    )?);
    let (s, t) = (1.5, -0.25);
    let yv = vals(&y);
    let r: Vec<f64> = (0..4).map(|k| s * o[k] + t - yv[k]).collect();
    let ds: f64 = (0..4).map(|k| 2.0 * r[k] * o[k]).sum::<f64>() / 4.0;
    let dt: f64 = r.iter().map(|r| 2.0 * r).sum::<f64>() / 4.0;
    close_vals(&vals(&g.out.0), &[ds], 1e-12, "d/d out.0");
    close_vals(&vals(&g.out.1), &[dt], 1e-12, "d/d out.1");
    // and l2.b: ∂L/∂b₂ = s · ∂L/∂t
    close_vals(&vals(&g.l2.b), &[s * dt], 1e-12, "d/d l2.b");
    // every field has its parameter's shape
    assert_eq!(g.l1.w.shape(), &[3, 2]);
    assert_eq!(g.l1.b.shape(), &[3]);
    assert_eq!(g.l2.w.shape(), &[1, 3]);
    // every leaf against central differences
    let fd = fd_grad(&loss_of, &p);
    check_fd(&g, &fd, "grad(loss)");

    // grad_and_value, jacrev, jacfwd with a struct argument give the same
    let (g2, v): (Model, Tensor) = grad_and_value(loss).call(&(p.clone(), x.clone(), y.clone()))?;
    check_fd(&g2, &fd, "grad_and_value");
    close_vals(&[v.item()?], &[loss_of(&p)], 1e-14, "value");
    let j: Model = jacrev(loss).call(&(p.clone(), x.clone(), y.clone()))?;
    check_fd(&j, &fd, "jacrev");
    let j: Model = jacfwd(loss).call(&(p.clone(), x.clone(), y.clone()))?;
    check_fd(&j, &fd, "jacfwd");
    let j: Model = jacfwd(loss)
        .chunk_size(4)
        .call(&(p.clone(), x.clone(), y.clone()))?;
    check_fd(&j, &fd, "jacfwd chunked");
    // several argnums: the struct and the data
    let (gp, gx): (Model, Tensor) =
        grad(loss)
            .argnums((0, 1))
            .call(&(p.clone(), x.clone(), y.clone()))?;
    check_fd(&gp, &fd, "grad argnums=(0, 1)");
    assert_eq!(gx.shape(), &[4, 2]);

    // a struct of structs with Vec, Option, map and tuple fields
    let mixed = Mixed {
        layers: vec![p.l1.clone(), p.l2.clone()],
        extra: Some(vec1(&[2.0])),
        named: [("u".to_string(), vec1(&[1.0, -1.0]))].into(),
        pair: (vec1(&[0.5]), [vec1(&[3.0]), vec1(&[-2.0, 1.0])]),
    };
    let mf = |m: &Mixed| -> Result<Tensor> {
        let mut s = Tensor::scalar(0.0);
        for l in &m.layers {
            s = s.add(&l.w.square()?.sum()?)?.add(&l.b.sum()?)?;
        }
        let e = m.extra.as_ref().unwrap();
        s = s.mul(e)?.sum()?;
        s = s.add(&m.named["u"].mul(&m.pair.1[1])?.sum()?)?;
        s.add(&m.pair.0.mul(&m.pair.1[0])?.sum()?)
    };
    let g: Mixed = grad(mf).call(&mixed)?;
    close(
        &g.layers[0].w,
        &p.l1.w.mul_scalar(4.0)?,
        "mixed layers[0].w",
    );
    close(&g.layers[1].b, &vec1(&[2.0]), "mixed layers[1].b");
    let sum_sq = vals(&p.l1.w.square()?.sum()?)[0]
        + vals(&p.l1.b.sum()?)[0]
        + vals(&p.l2.w.square()?.sum()?)[0]
        + vals(&p.l2.b.sum()?)[0];
    close_vals(
        &vals(g.extra.as_ref().unwrap()),
        &[sum_sq],
        1e-12,
        "mixed extra",
    );
    close(&g.named["u"], &vec1(&[-2.0, 1.0]), "mixed named.u");
    close(&g.pair.0, &vec1(&[3.0]), "mixed pair.0");
    close(&g.pair.1[0], &vec1(&[0.5]), "mixed pair.1[0]");
    close(&g.pair.1[1], &vec1(&[1.0, -1.0]), "mixed pair.1[1]");

    // a result type of the wrong structure is an error naming the call
    let e = grad(loss)
        .call::<_, Lin>(&(p.clone(), x.clone(), y.clone()))
        .unwrap_err();
    match &e {
        Error::Structure(m) => assert!(
            m.contains("grad(f, argnums=0)") && m.contains("Model"),
            "{e}"
        ),
        e => panic!("expected a structure error, got {e:?}"),
    }
    Ok(())
}

#[test]
fn per_example_gradients_of_a_struct() -> Result<()> {
    let p = model();
    let (x, y) = data();
    // vmap over the data, the parameters unbatched: one Model of gradients per example
    let per = |(p, x, y): &(Model, Tensor, Tensor)| -> Result<Model> {
        let one = |(p, x, y): &(Model, Tensor, Tensor)| forward(p, x)?.sub(y)?.square()?.sum();
        grad(one).call(&(p.clone(), x.clone(), y.clone()))
    };
    let g: Model =
        vmap(per)
            .in_dims([None, Some(0), Some(0)])
            .call(&(p.clone(), x.clone(), y.clone()))?;
    assert_eq!(g.l1.w.shape(), &[4, 3, 2]);
    assert_eq!(g.out.1.shape(), &[4, 1]);
    // their mean is the gradient of the mean loss
    let full: Model = grad(loss).call(&(p.clone(), x.clone(), y.clone()))?;
    for (k, (a, b)) in g
        .to_tree()
        .leaves()
        .iter()
        .zip(full.to_tree().leaves())
        .enumerate()
    {
        close(
            &a.mean_dims(&[0], false)?,
            b,
            &format!("mean of per-example leaf {k}"),
        );
    }
    // and each row is the gradient at that example alone
    for k in 0..4 {
        let xk = x.select(0, k)?.unsqueeze(0)?;
        let yk = y.select(0, k)?.unsqueeze(0)?;
        let gk: Model = grad(loss).call(&(p.clone(), xk, yk))?;
        for (a, b) in g.to_tree().leaves().iter().zip(gk.to_tree().leaves()) {
            close(&a.select(0, k)?, b, &format!("example {k}"));
        }
    }
    // the same through vmap(grad(f)) directly, chunked
    let one = |(p, x, y): &(Model, Tensor, Tensor)| forward(p, x)?.sub(y)?.square()?.sum();
    let g2: Model = vmap(grad(one))
        .in_dims([None, Some(0), Some(0)])
        .chunk_size(3)
        .call(&(p.clone(), x.clone(), y.clone()))?;
    for (a, b) in g.to_tree().leaves().iter().zip(g2.to_tree().leaves()) {
        close(a, b, "vmap(grad) chunked");
    }
    Ok(())
}

#[test]
fn vmap_with_nested_in_dims_for_a_struct() -> Result<()> {
    // a batch of layers sharing their bias: w batched along dim 0, b not
    let ws = mat((0..12).map(|v| v as f64 * 0.1 - 0.5).collect(), &[3, 2, 2]);
    let b = vec1(&[1.0, -1.0]);
    let x = vec1(&[0.5, 2.0]);
    let apply = |(l, x): &(Lin, Tensor)| l.w.matmul(x)?.add(&l.b);
    let layers = Linear {
        w: ws.clone(),
        b: b.clone(),
    };
    let in_dims = Dims::Tuple(vec![
        Dims::Tuple(vec![Dims::from(0), Dims::none()]),
        Dims::none(),
    ]);
    let out: Tensor = vmap(apply)
        .in_dims(in_dims.clone())
        .call(&(layers.clone(), x.clone()))?;
    assert_eq!(out.shape(), &[3, 2]);
    let wv = vals(&ws);
    let want: Vec<f64> = (0..3)
        .flat_map(|k| {
            let w = &wv[4 * k..4 * k + 4];
            [w[0] * 0.5 + w[1] * 2.0 + 1.0, w[2] * 0.5 + w[3] * 2.0 - 1.0]
        })
        .collect();
    close_vals(&vals(&out), &want, 1e-12, "vmap over a struct's field");
    // the batch at dim 2 of w instead (a column-major stack)
    let layers_t = Linear {
        w: ws.permute(&[1, 2, 0])?,
        b: b.clone(),
    };
    let in_dims_t = Dims::Tuple(vec![
        Dims::Tuple(vec![Dims::from(-1), Dims::none()]),
        Dims::none(),
    ]);
    let out_t: Tensor = vmap(apply)
        .in_dims(in_dims_t)
        .call(&(layers_t, x.clone()))?;
    close(&out_t, &out, "in_dims -1 inside the struct");

    // nested derived structs: only model.l1.b batched, everything else shared
    let p = model();
    let bs = mat(vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[2, 3]);
    let batched = Model {
        l1: Linear {
            w: p.l1.w.clone(),
            b: bs.clone(),
        },
        ..p.clone()
    };
    let dims = Dims::Tuple(vec![
        Dims::Tuple(vec![
            Dims::Tuple(vec![Dims::none(), Dims::from(0)]),
            Dims::none(),
            Dims::none(),
        ]),
        Dims::none(),
    ]);
    let (xd, _) = data();
    let fwd = |(p, x): &(Model, Tensor)| forward(p, x);
    let out: Tensor = vmap(fwd).in_dims(dims).call(&(batched, xd.clone()))?;
    assert_eq!(out.shape(), &[2, 4, 1]);
    for k in 0..2 {
        let pk = Model {
            l1: Linear {
                w: p.l1.w.clone(),
                b: bs.select(0, k)?,
            },
            ..p.clone()
        };
        close(
            &out.select(0, k)?,
            &forward(&pk, &xd)?,
            &format!("model {k}"),
        );
    }
    // an in_dims that does not fit the struct is an error naming vmap
    let bad = Dims::Tuple(vec![
        Dims::Tuple(vec![Dims::from(0), Dims::none(), Dims::none()]),
        Dims::none(),
    ]);
    let e = vmap(apply)
        .in_dims(bad)
        .call::<_, Tensor>(&(layers, x))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Transform { call, .. } if call.starts_with("vmap")),
        "{e:?}"
    );
    Ok(())
}

#[test]
fn struct_outputs() -> Result<()> {
    let xv = [0.3, -1.2, 2.0];
    let x = vec1(&xv);
    let make = |x: &Tensor| -> Result<Lin> {
        Ok(Linear {
            w: x.outer(x)?,
            b: x.sin()?,
        })
    };
    // vmap: each field batched, out_dims per field
    let xs = mat(vec![0.3, -1.2, 2.0, 1.0, 0.5, -0.7], &[2, 3]);
    let out: Lin = vmap(make).call(&xs)?;
    assert_eq!(out.w.shape(), &[2, 3, 3]);
    close(&out.b, &xs.sin()?, "vmap struct output b");
    close(
        &out.w.select(0, 1)?,
        &xs.select(0, 1)?.outer(&xs.select(0, 1)?)?,
        "vmap struct output w[1]",
    );
    let out_t: Lin = vmap(make)
        .out_dims(Dims::Tuple(vec![Dims::from(2), Dims::from(1)]))
        .call(&xs)?;
    close(&out_t.w, &out.w.permute(&[1, 2, 0])?, "out_dims w=2");
    close(&out_t.b, &out.b.t()?, "out_dims b=1");

    // jacrev and jacfwd of a struct-valued function: a struct of Jacobians
    let n = xv.len();
    let mut jw = vec![0.0; n * n * n];
    for i in 0..n {
        for j in 0..n {
            // d(xᵢ xⱼ)/dx_k
            jw[(i * n + j) * n + i] += xv[j];
            jw[(i * n + j) * n + j] += xv[i];
        }
    }
    let jb = x.cos()?.diag()?;
    for (name, j) in [
        ("jacrev", jacrev(make).call::<_, Lin>(&x)?),
        ("jacfwd", jacfwd(make).call::<_, Lin>(&x)?),
        (
            "jacrev chunked",
            jacrev(make).chunk_size(4).call::<_, Lin>(&x)?,
        ),
    ] {
        assert_eq!(j.w.shape(), &[n, n, n], "{name}");
        close_vals(&vals(&j.w), &jw, 1e-12, &format!("{name}: w"));
        close(&j.b, &jb, &format!("{name}: b"));
    }

    // jvp of a struct-valued function: the tangent is the same struct
    let v = vec1(&[1.0, 0.0, -1.0]);
    let (prim, tan): (Lin, Lin) = jvp(make).call(&x, &v)?;
    close(&prim.b, &x.sin()?, "jvp primal b");
    close(&tan.w, &v.outer(&x)?.add(&x.outer(&v)?)?, "jvp tangent w");
    close(&tan.b, &x.cos()?.mul(&v)?, "jvp tangent b");

    // vjp of a struct-valued function takes a struct cotangent
    let (_, pb): (Lin, Pullback) = vjp(make).call(&x)?;
    let ct = Linear {
        w: Tensor::eye(3, DType::F64)?,
        b: vec1(&[1.0, 1.0, 1.0]),
    };
    let (g,): (Tensor,) = pb.call(&ct)?;
    // d/dx [Σ xᵢ² + Σ sin xᵢ] = 2x + cos x
    close(
        &g,
        &x.mul_scalar(2.0)?.add(&x.cos()?)?,
        "vjp with a struct cotangent",
    );
    Ok(())
}

#[test]
fn struct_inputs_through_vjp_jvp_and_hessian() -> Result<()> {
    let l = Linear {
        w: mat(vec![0.5, -1.0, 2.0, 0.25], &[2, 2]),
        b: vec1(&[0.1, -0.3]),
    };
    let xv = [1.5, -0.5];
    let x = vec1(&xv);
    let apply = |(l, x): &(Lin, Tensor)| l.w.matmul(x)?.add(&l.b);

    // vjp: the pullback gives the same struct
    let (y, pb): (Tensor, Pullback) = vjp(apply).call(&(l.clone(), x.clone()))?;
    close(&y, &l.w.matmul(&x)?.add(&l.b)?, "vjp value");
    let u = vec1(&[2.0, -1.0]);
    let (gl, gx): (Lin, Tensor) = pb.call(&u)?;
    close(&gl.w, &u.outer(&x)?, "vjp d/dw = u xᵀ");
    close(&gl.b, &u, "vjp d/db = u");
    close(&gx, &l.w.t()?.matmul(&u)?, "vjp d/dx = Wᵀu");

    // jvp: struct primals and tangents
    let dl = Linear {
        w: mat(vec![1.0, 0.0, 0.0, -1.0], &[2, 2]),
        b: vec1(&[0.5, 0.5]),
    };
    let dx = vec1(&[0.0, 1.0]);
    let (_, t): (Tensor, Tensor) =
        jvp(apply).call(&(l.clone(), x.clone()), &(dl.clone(), dx.clone()))?;
    let want = dl.w.matmul(&x)?.add(&l.w.matmul(&dx)?)?.add(&dl.b)?;
    close(&t, &want, "jvp with struct tangents");

    // jacrev w.r.t. the struct with a vector output: blocks out.shape + field.shape
    let j: Lin = jacrev(apply).call(&(l.clone(), x.clone()))?;
    assert_eq!(j.w.shape(), &[2, 2, 2]);
    let mut jw = vec![0.0; 8];
    for i in 0..2 {
        for k in 0..2 {
            jw[(i * 2 + i) * 2 + k] = xv[k];
        }
    }
    close_vals(&vals(&j.w), &jw, 1e-12, "jacrev d(Wx+b)/dW");
    close(&j.b, &Tensor::eye(2, DType::F64)?, "jacrev d(Wx+b)/db");
    let jf: Lin = jacfwd(apply).call(&(l.clone(), x.clone()))?;
    close(&jf.w, &j.w, "jacfwd d/dW");
    close(&jf.b, &j.b, "jacfwd d/db");

    // hessian w.r.t. a struct: a struct of structs, each block field.shape + field.shape
    let sq = |(l, x): &(Lin, Tensor)| l.w.matmul(x)?.add(&l.b)?.square()?.sum();
    let h: Linear<Lin> = hessian(sq).call(&(l.clone(), x.clone()))?;
    assert_eq!(h.w.w.shape(), &[2, 2, 2, 2]);
    assert_eq!(h.w.b.shape(), &[2, 2, 2]);
    assert_eq!(h.b.w.shape(), &[2, 2, 2]);
    assert_eq!(h.b.b.shape(), &[2, 2]);
    // ∂²/∂w_ij∂w_kl = 2 δ_ik x_j x_l; ∂²/∂w_ij∂b_k = 2 δ_ik x_j; ∂²/∂b_i∂b_k = 2 δ_ik
    let mut hww = vec![0.0; 16];
    let mut hwb = vec![0.0; 8];
    for i in 0..2 {
        for j in 0..2 {
            for l2 in 0..2 {
                hww[((i * 2 + j) * 2 + i) * 2 + l2] = 2.0 * xv[j] * xv[l2];
            }
            hwb[(i * 2 + j) * 2 + i] = 2.0 * xv[j];
        }
    }
    close_vals(&vals(&h.w.w), &hww, 1e-12, "H_ww");
    close_vals(&vals(&h.w.b), &hwb, 1e-12, "H_wb");
    let hbw: Vec<f64> = (0..2)
        .flat_map(|k| (0..2).flat_map(move |i| (0..2).map(move |j| (k, i, j))))
        .map(|(k, i, j)| if i == k { 2.0 * xv[j] } else { 0.0 })
        .collect();
    close_vals(&vals(&h.b.w), &hbw, 1e-12, "H_bw");
    close(
        &h.b.b,
        &Tensor::eye(2, DType::F64)?.mul_scalar(2.0)?,
        "H_bb",
    );
    // the same through jacrev(jacrev) and chunked
    let h2: Linear<Lin> = jacrev(jacrev(sq)).call(&(l.clone(), x.clone()))?;
    let h3: Linear<Lin> = hessian(sq).chunk_size(1).call(&(l.clone(), x.clone()))?;
    for (a, (b, c)) in h
        .to_tree()
        .leaves()
        .iter()
        .zip(h2.to_tree().leaves().iter().zip(h3.to_tree().leaves()))
    {
        close(b, a, "jacrev(jacrev) vs hessian");
        close(c, a, "chunked hessian");
    }
    // the Tree form names the struct and its fields
    let t: Tree = grad(sq).call(&(l.clone(), x.clone()))?;
    assert!(
        t.describe()
            .starts_with("Linear { w: tensor[2, 2], b: tensor[2] }"),
        "{}",
        t.describe()
    );
    // a tuple struct as an argument
    let af = |a: &Affine| a.0.mul(&a.1)?.sum();
    let g: Affine = grad(af).call(&Affine(vec1(&[2.0, 3.0]), vec1(&[5.0, 7.0])))?;
    close(&g.0, &vec1(&[5.0, 7.0]), "tuple struct .0");
    close(&g.1, &vec1(&[2.0, 3.0]), "tuple struct .1");
    Ok(())
}

#[test]
fn has_aux_with_structs() -> Result<()> {
    let l = Linear {
        w: mat(vec![0.5, -1.0, 2.0, 0.25], &[2, 2]),
        b: vec1(&[0.1, -0.3]),
    };
    let x = vec1(&[1.5, -0.5]);
    let f = |(l, x): &(Lin, Tensor)| -> Result<(Tensor, Lin)> {
        let y = l.w.matmul(x)?.add(&l.b)?;
        Ok((
            y.square()?.sum()?,
            Linear {
                w: y.clone(),
                b: y.sin()?,
            },
        ))
    };
    let (g, aux): (Lin, Lin) = grad(f).has_aux(true).call(&(l.clone(), x.clone()))?;
    let y = l.w.matmul(&x)?.add(&l.b)?;
    assert!(aux.w.is_concrete() && aux.b.is_concrete());
    close(&aux.w, &y, "aux.w");
    close(&aux.b, &y.sin()?, "aux.b");
    close(&g.b, &y.mul_scalar(2.0)?, "grad b with aux");
    close(&g.w, &y.mul_scalar(2.0)?.outer(&x)?, "grad w with aux");
    Ok(())
}
