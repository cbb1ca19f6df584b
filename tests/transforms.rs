//! The transforms' options and errors, as torch.func has them: `argnums` (int, tuple,
//! negative; duplicate, empty and out-of-range rejected), `has_aux` for every transform that
//! takes it, `chunk_size`, vmap's `in_dims`/`out_dims`, the shapes of Hessians and of Jacobians
//! of tuples, the errors a user's mistakes get (each an [`Error::Transform`] naming the call),
//! and the soundness of levels: no perturbation confusion, escaped tracers treated as
//! torch.func treats them, and a panic in a user's function leaves the library usable.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use functorch::{
    DType, Dims, Error, Pullback, Randomness, Result, Tensor, Tree, grad, grad_and_value, hessian,
    hvp, jacfwd, jacrev, jvp, linearize, vhp, vjp, vmap,
};

mod common;
use common::{mat, vals, vec1};

#[track_caller]
fn close_vals(got: &[f64], want: &[f64], what: &str) {
    common::close_vals(got, want, 1e-12, what);
}

// ------------------------------------------------------------------------------- helpers

#[track_caller]
fn close(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    close_vals(&vals(got), &vals(want), what);
}

/// The result is an `Error::Transform` whose call contains `call` and whose message contains
/// each of `msg`; returns the rendered error.
#[track_caller]
fn transform_err<T>(r: Result<T>, call: &str, msg: &[&str]) -> String {
    match r {
        Err(e @ Error::Transform { .. }) => {
            let Error::Transform { call: c, msg: m } = &e else {
                unreachable!()
            };
            assert!(
                c.contains(call),
                "the error should name the call {call:?}, got {e}"
            );
            for s in msg {
                assert!(m.contains(s), "the error should say {s:?}, got {e}");
            }
            e.to_string()
        }
        Err(e) => panic!("expected Error::Transform from {call}, got {e:?}"),
        Ok(_) => panic!("expected Error::Transform from {call}, got Ok"),
    }
}

/// `f(a, b, c) = Σ a·b² + sin(c)·a`: gradients `b² + sin c`, `2ab`, `a cos c`.
fn three(args: &(Tensor, Tensor, Tensor)) -> Result<Tensor> {
    let (a, b, c) = args;
    a.mul(&b.square()?)?.add(&c.sin()?.mul(a)?)?.sum()
}

fn three_args() -> (Tensor, Tensor, Tensor) {
    (vec1(&[1.0, -2.0]), vec1(&[0.5, 3.0]), vec1(&[0.25, -1.0]))
}

fn three_grads() -> [Vec<f64>; 3] {
    let (a, b, c) = ([1.0f64, -2.0], [0.5f64, 3.0], [0.25f64, -1.0]);
    [
        (0..2).map(|i| b[i] * b[i] + c[i].sin()).collect(),
        (0..2).map(|i| 2.0 * a[i] * b[i]).collect(),
        (0..2).map(|i| a[i] * c[i].cos()).collect(),
    ]
}

// ------------------------------------------------------------------------------- argnums

#[test]
fn argnums_int_tuple_negative() -> Result<()> {
    let args = three_args();
    let want = three_grads();
    let g: Tensor = grad(three).call(&args)?;
    close_vals(&vals(&g), &want[0], "default argnums=0");
    let g: Tensor = grad(three).argnums(1).call(&args)?;
    close_vals(&vals(&g), &want[1], "argnums=1");
    let g: Tensor = grad(three).argnums(-1).call(&args)?;
    close_vals(&vals(&g), &want[2], "argnums=-1");
    let g: Tensor = grad(three).argnums(-3).call(&args)?;
    close_vals(&vals(&g), &want[0], "argnums=-3");
    let (g2, g0): (Tensor, Tensor) = grad(three).argnums((2, 0)).call(&args)?;
    close_vals(&vals(&g2), &want[2], "argnums=(2, 0)[0]");
    close_vals(&vals(&g0), &want[0], "argnums=(2, 0)[1]");
    let (g1, g2): (Tensor, Tensor) = grad(three).argnums((-2, -1)).call(&args)?;
    close_vals(&vals(&g1), &want[1], "argnums=(-2, -1)[0]");
    close_vals(&vals(&g2), &want[2], "argnums=(-2, -1)[1]");
    // a one-element tuple gives a one-element tuple
    let (g1,): (Tensor,) = grad(three).argnums((1,)).call(&args)?;
    close_vals(&vals(&g1), &want[1], "argnums=(1,)");
    let g: Vec<Tensor> = grad(three).argnums(vec![0i64, 1, 2]).call(&args)?;
    for (k, gk) in g.iter().enumerate() {
        close_vals(&vals(gk), &want[k], &format!("argnums=[0, 1, 2][{k}]"));
    }
    // the other transforms take argnums the same way
    let (g, v): (Tensor, Tensor) = grad_and_value(three).argnums(-1).call(&args)?;
    close_vals(&vals(&g), &want[2], "grad_and_value argnums=-1");
    close_vals(
        &[v.item()?],
        &[vals(&three(&args)?)[0]],
        "grad_and_value value",
    );
    let j: Tensor = jacrev(three).argnums(1).call(&args)?;
    close_vals(&vals(&j), &want[1], "jacrev argnums=1");
    let (j0, j2): (Tensor, Tensor) = jacfwd(three).argnums((0, -1)).call(&args)?;
    close_vals(&vals(&j0), &want[0], "jacfwd argnums=(0, -1)[0]");
    close_vals(&vals(&j2), &want[2], "jacfwd argnums=(0, -1)[1]");
    // f is linear in a, so its Hessian in a is zero; in b it is diag(2a)
    let h: Tensor = hessian(three).argnums(1).call(&args)?;
    close_vals(&vals(&h), &[2.0, 0.0, 0.0, -4.0], "hessian argnums=1");
    let hv: Tensor = hvp(three).argnums(-2).call(&args, &vec1(&[1.0, 1.0]))?;
    close_vals(&vals(&hv), &[2.0, -4.0], "hvp argnums=-2");
    Ok(())
}

#[test]
fn bad_argnums_are_rejected() {
    let args = three_args();
    // duplicate
    let e = transform_err(
        grad(three)
            .argnums((0, 0))
            .call::<_, (Tensor, Tensor)>(&args),
        "grad(f, argnums=(0, 0))",
        &["more than once"],
    );
    assert!(e.starts_with("grad(f, argnums=(0, 0))"), "{e}");
    transform_err(
        grad(three)
            .argnums((0, -3))
            .call::<_, (Tensor, Tensor)>(&args),
        "grad(f, argnums=(0, -3))",
        &["more than once"],
    );
    // empty
    transform_err(
        grad(three)
            .argnums(Vec::<i64>::new())
            .call::<_, Tree>(&args),
        "grad(f, argnums=())",
        &["non-empty"],
    );
    // out of range, both ways
    transform_err(
        grad(three).argnums(3).call::<_, Tensor>(&args),
        "grad(f, argnums=3)",
        &["argnums=3", "3 positional argument"],
    );
    transform_err(
        grad(three).argnums(-4).call::<_, Tensor>(&args),
        "grad(f, argnums=-4)",
        &["argnums=-4"],
    );
    transform_err(
        grad(three).argnums((1, 5)).call::<_, Tree>(&args),
        "grad",
        &["(1, 5)"],
    );
    // every transform that takes argnums checks them
    transform_err(
        grad_and_value(three).argnums(7).call::<_, Tree>(&args),
        "grad_and_value(f, argnums=7)",
        &["argnums=7"],
    );
    transform_err(
        jacrev(three).argnums((2, 2)).call::<_, Tree>(&args),
        "jacrev(f, argnums=(2, 2))",
        &["more than once"],
    );
    transform_err(
        jacfwd(three).argnums(3).call::<_, Tree>(&args),
        "jacfwd(f, argnums=3)",
        &["argnums=3"],
    );
    transform_err(
        hessian(three)
            .argnums(Vec::<i64>::new())
            .call::<_, Tree>(&args),
        "hessian",
        &["non-empty"],
    );
    transform_err(
        hvp(three)
            .argnums(4)
            .call::<_, _, Tree>(&args, &vec1(&[1.0, 1.0])),
        "hvp(f, argnums=4)",
        &["argnums=4"],
    );
    transform_err(
        vhp(three)
            .argnums((0, 0))
            .call::<_, _, Tree>(&args, &(vec1(&[1.0, 1.0]),)),
        "vhp",
        &["more than once"],
    );
    // a one-argument function: argnums=1 is out of range
    transform_err(
        grad(|x: &Tensor| x.sum())
            .argnums(1)
            .call::<_, Tensor>(&vec1(&[1.0])),
        "grad(f, argnums=1)",
        &["1 positional argument"],
    );
}

// ------------------------------------------------------------------------------- has_aux

/// `(Σ x², (sin x, x·x))`: the aux is a structure computed from the input.
fn with_aux(x: &Tensor) -> Result<(Tensor, (Tensor, Tensor))> {
    Ok((x.square()?.sum()?, (x.sin()?, x.mul(x)?)))
}

fn vec_with_aux(x: &Tensor) -> Result<(Tensor, Tensor)> {
    Ok((x.square()?, x.cos()?))
}

#[track_caller]
fn check_aux(aux: &(Tensor, Tensor), x: &Tensor, what: &str) {
    assert!(
        aux.0.is_concrete() && aux.1.is_concrete(),
        "{what}: aux is a tracer"
    );
    close(&aux.0, &x.sin().unwrap(), &format!("{what}: aux.0"));
    close(&aux.1, &x.square().unwrap(), &format!("{what}: aux.1"));
}

#[test]
fn has_aux_returns_aux_undifferentiated() -> Result<()> {
    let xv = [0.5, -1.0, 2.0];
    let x = vec1(&xv);
    let two_x = vec1(&[1.0, -2.0, 4.0]);

    let (g, aux): (Tensor, (Tensor, Tensor)) = grad(with_aux).has_aux(true).call(&x)?;
    close(&g, &two_x, "grad");
    check_aux(&aux, &x, "grad");

    let (g, (v, aux)): (Tensor, (Tensor, (Tensor, Tensor))) =
        grad_and_value(with_aux).has_aux(true).call(&x)?;
    close(&g, &two_x, "grad_and_value");
    close_vals(&[v.item()?], &[5.25], "grad_and_value value");
    check_aux(&aux, &x, "grad_and_value");

    let (y, pb, aux): (Tensor, Pullback, (Tensor, Tensor)) =
        vjp(with_aux).has_aux(true).call_aux(&x)?;
    close_vals(&[y.item()?], &[5.25], "vjp value");
    check_aux(&aux, &x, "vjp");
    let (g,): (Tensor,) = pb.call(&Tensor::scalar(2.0))?;
    close(&g, &two_x.mul_scalar(2.0)?, "vjp pullback");

    let v = vec1(&[1.0, 0.0, -1.0]);
    let (y, t, aux): (Tensor, Tensor, (Tensor, Tensor)) =
        jvp(with_aux).has_aux(true).call(&x, &v)?;
    close_vals(&[y.item()?], &[5.25], "jvp value");
    close_vals(&[t.item()?], &[1.0 - 4.0], "jvp tangent");
    check_aux(&aux, &x, "jvp");

    let (j, aux): (Tensor, (Tensor, Tensor)) = jacrev(with_aux).has_aux(true).call(&x)?;
    close(&j, &two_x, "jacrev");
    check_aux(&aux, &x, "jacrev");
    let (j, aux): (Tensor, (Tensor, Tensor)) =
        jacrev(with_aux).has_aux(true).chunk_size(1).call(&x)?;
    close(&j, &two_x, "jacrev chunked");
    check_aux(&aux, &x, "jacrev chunked");

    let (j, aux): (Tensor, (Tensor, Tensor)) = jacfwd(with_aux).has_aux(true).call(&x)?;
    close(&j, &two_x, "jacfwd");
    check_aux(&aux, &x, "jacfwd");
    let (j, aux): (Tensor, (Tensor, Tensor)) =
        jacfwd(with_aux).has_aux(true).chunk_size(2).call(&x)?;
    close(&j, &two_x, "jacfwd chunked");
    check_aux(&aux, &x, "jacfwd chunked");

    let (h, aux): (Tensor, (Tensor, Tensor)) = hessian(with_aux).has_aux(true).call(&x)?;
    close(&h, &Tensor::eye(3, DType::F64)?.mul_scalar(2.0)?, "hessian");
    check_aux(&aux, &x, "hessian");

    // a vector output with a tensor aux
    let (j, aux): (Tensor, Tensor) = jacrev(vec_with_aux).has_aux(true).call(&x)?;
    close(&j, &two_x.diag()?, "jacrev vector");
    close(&aux, &x.cos()?, "jacrev vector aux");
    let (j, aux): (Tensor, Tensor) = jacfwd(vec_with_aux).has_aux(true).call(&x)?;
    close(&j, &two_x.diag()?, "jacfwd vector");
    close(&aux, &x.cos()?, "jacfwd vector aux");

    // under vmap, the aux comes out batched
    let xs = mat(vec![0.5, -1.0, 2.0, 1.0, 0.0, 3.0], &[2, 3]);
    let (gs, (s, q)): (Tensor, (Tensor, Tensor)) = vmap(grad(with_aux).has_aux(true)).call(&xs)?;
    close(&gs, &xs.mul_scalar(2.0)?, "vmap(grad) gradient");
    close(&s, &xs.sin()?, "vmap(grad) aux.0");
    close(&q, &xs.square()?, "vmap(grad) aux.1");

    // nested: the inner aux of grad(grad) is the value at the inner level only
    let inner = |x: &Tensor| -> Result<(Tensor, Tensor)> {
        let (g, aux): (Tensor, Tensor) = grad(|y: &Tensor| -> Result<(Tensor, Tensor)> {
            Ok((y.pow_scalar(3.0)?, y.square()?))
        })
        .has_aux(true)
        .call(x)?;
        // aux = x² is still a function of x at the outer level: return it as the output
        Ok((g.add(&aux)?, aux))
    };
    let (d, aux): (Tensor, Tensor) = grad(inner).has_aux(true).call(&Tensor::scalar(2.0))?;
    // d/dx (3x² + x²) = 8x
    close_vals(&[d.item()?], &[16.0], "grad(grad, has_aux) nested");
    close_vals(&[aux.item()?], &[4.0], "nested aux");
    Ok(())
}

#[test]
fn has_aux_without_a_pair_is_an_error() {
    let x = vec1(&[1.0, 2.0]);
    let scalar = |x: &Tensor| x.sum();
    let triple =
        |x: &Tensor| -> Result<(Tensor, Tensor, Tensor)> { Ok((x.sum()?, x.clone(), x.clone())) };
    let want = ["has_aux", "(output, aux)"];
    transform_err(
        grad(scalar).has_aux(true).call::<_, Tree>(&x),
        "grad(f, argnums=0, has_aux=True)",
        &want,
    );
    transform_err(
        grad(triple).has_aux(true).call::<_, Tree>(&x),
        "grad",
        &want,
    );
    transform_err(
        grad_and_value(scalar).has_aux(true).call::<_, Tree>(&x),
        "grad_and_value(f, argnums=0, has_aux=True)",
        &want,
    );
    transform_err(
        vjp(scalar)
            .has_aux(true)
            .call_aux::<_, Tensor, Tree>(&x)
            .map(|_| ()),
        "vjp",
        &want,
    );
    transform_err(
        jvp(scalar).has_aux(true).call::<_, Tree>(&x, &x),
        "jvp",
        &want,
    );
    transform_err(
        jacrev(scalar).has_aux(true).call::<_, Tree>(&x),
        "jacrev(f, argnums=0, has_aux=True)",
        &want,
    );
    transform_err(
        jacfwd(scalar).has_aux(true).call::<_, Tree>(&x),
        "jacfwd(f, argnums=0, has_aux=True)",
        &want,
    );
    transform_err(
        hessian(scalar).has_aux(true).call::<_, Tree>(&x),
        "hessian(f, argnums=0, has_aux=True)",
        &want,
    );
    // and call_aux without has_aux
    assert!(vjp(scalar).call_aux::<_, Tensor, Tree>(&x).is_err());
}

// ------------------------------------------------------------------- grad, jvp, vjp errors

#[test]
fn grad_of_non_scalar_suggests_jacrev_or_vjp() {
    let x = vec1(&[1.0, 2.0]);
    let e = transform_err(
        grad(|x: &Tensor| x.sin()).call::<_, Tensor>(&x),
        "grad(f, argnums=0)",
        &["scalar", "[2]", "jacrev", "vjp"],
    );
    assert!(e.starts_with("grad(f"), "{e}");
    transform_err(
        grad(|x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.sum()?, x.sum()?)) })
            .call::<_, Tree>(&x),
        "grad",
        &["jacrev"],
    );
    transform_err(
        grad_and_value(|x: &Tensor| x.reshape(&[1, 2])).call::<_, Tree>(&x),
        "grad_and_value",
        &["[1, 2]", "jacrev"],
    );
    // an integer scalar output cannot be differentiated either
    transform_err(
        grad(|x: &Tensor| x.argmax(None, false)).call::<_, Tensor>(&x),
        "grad",
        &["float"],
    );
}

#[test]
fn jvp_tangents_must_match_primals() {
    let x = vec1(&[1.0, 2.0, 3.0]);
    let f = |x: &Tensor| x.sin();
    // wrong shape
    transform_err(
        jvp(f).call::<_, Tree>(&x, &vec1(&[1.0, 1.0])),
        "jvp",
        &["shape", "[2]", "[3]"],
    );
    // wrong dtype
    transform_err(
        jvp(f).call::<_, Tree>(&x, &x.to_dtype(DType::F32).unwrap()),
        "jvp",
        &["dtype"],
    );
    // wrong structure: lists of different lengths
    let g = |v: &Vec<Tensor>| v[0].mul(&v[1]);
    transform_err(
        jvp(g).call::<_, Tree>(
            &vec![x.clone(), x.clone()],
            &vec![x.clone(), x.clone(), x.clone()],
        ),
        "jvp",
        &["structure"],
    );
    // wrong number of positional tangents
    let h = |(a, b): &(Tensor, Tensor)| a.mul(b);
    transform_err(
        jvp(h).call_dyn(
            vec![Tree::Leaf(x.clone()), Tree::Leaf(x.clone())],
            vec![Tree::Leaf(x.clone())],
        ),
        "jvp",
        &["2 primals", "1 tangents"],
    );
    // a tuple where the primal is a tensor
    transform_err(
        jvp(h).call_dyn(
            vec![Tree::Leaf(x.clone()), Tree::Leaf(x.clone())],
            vec![
                Tree::Leaf(x.clone()),
                Tree::Tuple(vec![Tree::Leaf(x.clone())]),
            ],
        ),
        "jvp",
        &["structure"],
    );
    // linearize checks its tangents too
    let (_, lin): (Tensor, _) = linearize(h).call(&(x.clone(), x.clone())).unwrap();
    assert!(lin.call::<_, Tensor>(&x).is_err());
    assert!(
        lin.call::<_, Tensor>(&(x.clone(), vec1(&[1.0]))).is_err(),
        "a tangent of the wrong shape"
    );
}

#[test]
fn pullback_checks_its_cotangent() {
    let x = vec1(&[1.0, 2.0, 3.0]);
    let (_, pb): (Tensor, Pullback) = vjp(|x: &Tensor| x.sin()).call(&x).unwrap();
    transform_err(
        pb.call::<_, (Tensor,)>(&vec1(&[1.0, 1.0])),
        "pullback",
        &["shape", "[2]", "[3]"],
    );
    transform_err(
        pb.call::<_, (Tensor,)>(&Tensor::ones(&[3], DType::F32).unwrap()),
        "pullback",
        &["dtype"],
    );
    transform_err(
        pb.call::<_, (Tensor,)>(&(x.clone(), x.clone())),
        "pullback",
        &["structure"],
    );
    // the right cotangent still works afterwards
    let (g,): (Tensor,) = pb.call(&vec1(&[1.0, 1.0, 1.0])).unwrap();
    close(&g, &x.cos().unwrap(), "pullback after errors");
    // a tuple output needs a tuple cotangent
    let (_, pb2): ((Tensor, Tensor), Pullback) =
        vjp(|x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.sin()?, x.sum()?)) })
            .call(&x)
            .unwrap();
    transform_err(pb2.call::<_, (Tensor,)>(&x), "pullback", &["structure"]);
    let (g,): (Tensor,) = pb2
        .call(&(vec1(&[1.0, 0.0, 0.0]), Tensor::scalar(2.0)))
        .unwrap();
    close_vals(&vals(&g), &[1f64.cos() + 2.0, 2.0, 2.0], "tuple cotangent");
}

#[test]
fn chunk_size_zero_is_an_error() {
    let x = vec1(&[1.0, 2.0]);
    let xs = mat(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let f = |x: &Tensor| x.sin();
    let s = |x: &Tensor| x.sin()?.sum();
    let want = ["chunk_size", "positive", "0"];
    transform_err(vmap(f).chunk_size(0).call::<_, Tensor>(&xs), "vmap", &want);
    transform_err(
        jacrev(f).chunk_size(0).call::<_, Tensor>(&x),
        "jacrev",
        &want,
    );
    transform_err(
        jacfwd(f).chunk_size(0).call::<_, Tensor>(&x),
        "jacfwd",
        &want,
    );
    transform_err(
        hessian(s).chunk_size(0).call::<_, Tensor>(&x),
        "hessian",
        &want,
    );
    // chunk sizes larger than the problem are fine
    let a: Tensor = jacrev(f).chunk_size(100).call(&x).unwrap();
    close(
        &a,
        &x.cos().unwrap().diag().unwrap(),
        "jacrev chunk_size=100",
    );
    let a: Tensor = vmap(f).chunk_size(100).call(&xs).unwrap();
    close(&a, &xs.sin().unwrap(), "vmap chunk_size=100");
}

// ------------------------------------------------------------------------------- vmap

#[test]
fn vmap_errors() {
    let a = Tensor::zeros(&[3, 2], DType::F64).unwrap();
    let b = Tensor::zeros(&[4, 2], DType::F64).unwrap();
    let add = |(x, y): &(Tensor, Tensor)| x.add(y);
    // mismatched batch sizes: the message lists the sizes
    let e = transform_err(
        vmap(add).call::<_, Tensor>(&(a.clone(), b.clone())),
        "vmap(f, in_dims=0",
        &["same size", "[3, 4]"],
    );
    assert!(e.starts_with("vmap("), "{e}");
    // the same sizes, mapped at different dims, are fine; different ones are not
    let ok: Tensor = vmap(add)
        .in_dims([Some(0), Some(1)])
        .call(&(a.clone(), Tensor::zeros(&[2, 3], DType::F64).unwrap()))
        .unwrap();
    assert_eq!(ok.shape(), &[3, 2]);
    transform_err(
        vmap(add)
            .in_dims([Some(1), Some(0)])
            .call::<_, Tensor>(&(a.clone(), b.clone())),
        "vmap(f, in_dims=(1, 0)",
        &["[2, 4]"],
    );
    // in_dim out of range
    transform_err(
        vmap(|x: &Tensor| x.sum()).in_dims(2).call::<_, Tensor>(&a),
        "vmap(f, in_dims=2",
        &["in_dim=2", "out of bounds", "[3, 2]"],
    );
    transform_err(
        vmap(|x: &Tensor| x.sum()).in_dims(-3).call::<_, Tensor>(&a),
        "vmap",
        &["in_dim=-3"],
    );
    // a 0-d input cannot be mapped
    transform_err(
        vmap(|x: &Tensor| x.sin()).call::<_, Tensor>(&Tensor::scalar(1.0)),
        "vmap",
        &["out of bounds"],
    );
    // nothing mapped
    transform_err(
        vmap(add)
            .in_dims(Dims::none())
            .call::<_, Tensor>(&(a.clone(), a.clone())),
        "vmap(f, in_dims=None",
        &["at least one input"],
    );
    transform_err(
        vmap(add)
            .in_dims([None, None])
            .call::<_, Tensor>(&(a.clone(), a.clone())),
        "vmap(f, in_dims=(None, None)",
        &["at least one input"],
    );
    // in_dims whose structure does not match the arguments
    transform_err(
        vmap(add)
            .in_dims([Some(0), None, Some(0)])
            .call::<_, Tensor>(&(a.clone(), a.clone())),
        "vmap(f, in_dims=(0, None, 0)",
        &["in_dims", "3 entries", "2"],
    );
    transform_err(
        vmap(add)
            .in_dims(Dims::Tuple(vec![
                Dims::from(0),
                Dims::from(vec![Some(0), Some(0)]),
            ]))
            .call::<_, Tensor>(&(a.clone(), a.clone())),
        "vmap",
        &["in_dims"],
    );
    // out_dims None for an output that is batched
    transform_err(
        vmap(|x: &Tensor| x.sin())
            .out_dims(Dims::none())
            .call::<_, Tensor>(&a),
        "vmap(f, in_dims=0, out_dims=None)",
        &["out_dims=None"],
    );
    // out_dim out of range for the output
    transform_err(
        vmap(|x: &Tensor| x.sum()).out_dims(2).call::<_, Tensor>(&a),
        "vmap",
        &["out_dim=2"],
    );
    // out_dims whose structure does not match the output
    transform_err(
        vmap(|x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.sin()?, x.cos()?)) })
            .out_dims([Some(0), Some(0), Some(0)])
            .call::<_, Tree>(&a),
        "vmap",
        &["out_dims"],
    );
    // randomness="error" by default
    let e = vmap(|x: &Tensor| x.randn_like())
        .call::<_, Tensor>(&a)
        .unwrap_err();
    assert!(matches!(e, Error::Randomness { .. }), "{e:?}");
}

#[test]
fn vmap_in_dims_and_out_dims() -> Result<()> {
    let xv: Vec<f64> = (0..6).map(|v| v as f64).collect();
    let x = mat(xv.clone(), &[2, 3]);
    let sum = |x: &Tensor| x.sum();
    // negative in_dims: map over the last dim (the columns)
    let c: Tensor = vmap(sum).in_dims(-1).call(&x)?;
    close_vals(&vals(&c), &[3.0, 5.0, 7.0], "in_dims=-1");
    let r: Tensor = vmap(sum).in_dims(-2).call(&x)?;
    close_vals(&vals(&r), &[3.0, 12.0], "in_dims=-2");
    // per argument, with None: the unmapped argument is passed whole to every call
    let w = vec1(&[1.0, 10.0]);
    let dot = |(a, b): &(Tensor, Tensor)| a.dot(b);
    let d: Tensor = vmap(dot)
        .in_dims([Some(1), None])
        .call(&(x.clone(), w.clone()))?;
    close_vals(&vals(&d), &[30.0, 41.0, 52.0], "in_dims=(1, None)");
    let d: Tensor = vmap(dot)
        .in_dims([None, Some(-1)])
        .call(&(w.clone(), x.clone()))?;
    close_vals(&vals(&d), &[30.0, 41.0, 52.0], "in_dims=(None, -1)");
    // one Dims for all arguments
    let m: Tensor = vmap(|(a, b): &(Tensor, Tensor)| a.mul(b))
        .in_dims(1)
        .call(&(x.clone(), x.clone()))?;
    close(&m, &x.square()?.t()?, "in_dims=1 for both");

    // out_dims per output of a tuple output
    let pair = |x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.sin()?, x.mul_scalar(2.0)?)) };
    let (s, d): (Tensor, Tensor) = vmap(pair).out_dims([Some(0), Some(1)]).call(&x)?;
    close(&s, &x.sin()?, "out_dims=(0, 1)[0]");
    close(&d, &x.mul_scalar(2.0)?.t()?, "out_dims=(0, 1)[1]");
    let (s, d): (Tensor, Tensor) = vmap(pair).out_dims([Some(-1), Some(0)]).call(&x)?;
    close(&s, &x.sin()?.t()?, "out_dims=(-1, 0)[0]");
    close(&d, &x.mul_scalar(2.0)?, "out_dims=(-1, 0)[1]");
    // a single Dims applies to every output
    let (s, d): (Tensor, Tensor) = vmap(pair).out_dims(1).call(&x)?;
    close(&s, &x.sin()?.t()?, "out_dims=1[0]");
    close(&d, &x.mul_scalar(2.0)?.t()?, "out_dims=1[1]");
    // a one-element tuple for a single output
    let s: Tensor = vmap(|x: &Tensor| x.sin()).out_dims([Some(1)]).call(&x)?;
    close(&s, &x.sin()?.t()?, "out_dims=(1,)");
    // nested outputs with nested out_dims, chunked too
    let nested =
        |x: &Tensor| -> Result<(Tensor, (Tensor, Tensor))> { Ok((x.sin()?, (x.cos()?, x.sum()?))) };
    for chunk in [None, Some(1)] {
        let (s, (c, t)): (Tensor, (Tensor, Tensor)) = vmap(nested)
            .out_dims(Dims::Tuple(vec![
                Dims::from(1),
                Dims::from(vec![Some(0), Some(0)]),
            ]))
            .chunk_size(chunk)
            .call(&x)?;
        close(&s, &x.sin()?.t()?, "nested out_dims[0]");
        close(&c, &x.cos()?, "nested out_dims[1][0]");
        close_vals(&vals(&t), &[3.0, 12.0], "nested out_dims[1][1]");
    }

    // an unbatched output with an int out_dim is broadcast along the batch
    let k = vec1(&[7.0, 8.0]);
    let with_const = |x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.sum()?, k.clone())) };
    let (s, c): (Tensor, Tensor) = vmap(with_const).call(&x)?;
    close_vals(&vals(&s), &[3.0, 12.0], "batched output");
    close(
        &c,
        &mat(vec![7.0, 8.0, 7.0, 8.0], &[2, 2]),
        "broadcast output",
    );
    let (_, c): (Tensor, Tensor) = vmap(with_const)
        .in_dims(1)
        .out_dims([Some(0), Some(1)])
        .call(&x)?;
    close(
        &c,
        &mat(vec![7.0, 7.0, 7.0, 8.0, 8.0, 8.0], &[2, 3]),
        "broadcast at out_dim=1",
    );
    // ... and with out_dims None it comes back as it is
    let (_, c): (Tensor, Tensor) = vmap(with_const).out_dims([Some(0), None]).call(&x)?;
    close(&c, &k, "unbatched output with out_dims=None");
    // an unbatched scalar output broadcast under chunking
    let (_, c): (Tensor, Tensor) = vmap(with_const).chunk_size(1).call(&x)?;
    assert_eq!(c.shape(), &[2, 2]);
    Ok(())
}

#[test]
fn vmap_randomness() -> Result<()> {
    let x = Tensor::zeros(&[4, 3], DType::F64)?;
    let noise = |x: &Tensor| x.add(&x.randn_like()?);
    let same: Tensor = vmap(noise).randomness(Randomness::Same).call(&x)?;
    let rows: Vec<Vec<f64>> = vals(&same).chunks(3).map(|r| r.to_vec()).collect();
    assert!(rows.iter().all(|r| r == &rows[0]), "same: {rows:?}");
    assert!(rows[0].iter().any(|v| *v != 0.0));
    let diff: Tensor = vmap(noise).randomness(Randomness::Different).call(&x)?;
    let rows: Vec<Vec<f64>> = vals(&diff).chunks(3).map(|r| r.to_vec()).collect();
    assert!(
        rows[1..].iter().all(|r| r != &rows[0]),
        "different: {rows:?}"
    );
    // same randomness under chunking: every chunk draws the same values
    let chunked: Tensor = vmap(noise)
        .randomness(Randomness::Same)
        .chunk_size(1)
        .call(&x)?;
    let rows: Vec<Vec<f64>> = vals(&chunked).chunks(3).map(|r| r.to_vec()).collect();
    assert!(
        rows.iter().all(|r| r == &rows[0]),
        "same, chunked: {rows:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------- Hessian and Jacobian shapes

#[test]
fn hessian_of_vector_valued_function_has_shape_out_in_in() -> Result<()> {
    // f(x) = (x0² x1, sin x0, x1³): out [3], in [2]
    let f = |x: &Tensor| -> Result<Tensor> {
        let x0 = x.select(0, 0)?;
        let x1 = x.select(0, 1)?;
        Tensor::stack(&[x0.square()?.mul(&x1)?, x0.sin()?, x1.pow_scalar(3.0)?], 0)
    };
    let (a, b) = (0.7, -1.3);
    let x = vec1(&[a, b]);
    let h: Tensor = hessian(f).call(&x)?;
    assert_eq!(h.shape(), &[3, 2, 2]);
    let want = vec![
        2.0 * b,
        2.0 * a,
        2.0 * a,
        0.0, // x0² x1
        -a.sin(),
        0.0,
        0.0,
        0.0, // sin x0
        0.0,
        0.0,
        0.0,
        6.0 * b, // x1³
    ];
    close_vals(&vals(&h), &want, "hessian [3, 2, 2]");
    let h2: Tensor = jacrev(jacrev(f)).call(&x)?;
    close(&h2, &h, "jacrev(jacrev)");

    // a matrix in and a matrix out: every block is out.shape + in.shape + in.shape
    let xm = mat(vec![0.1, 0.2, 0.3, 0.4], &[2, 2]);
    let h: Tensor = hessian(|x: &Tensor| x.sin()).call(&xm)?;
    assert_eq!(h.shape(), &[2, 2, 2, 2, 2, 2]);
    let hv = vals(&h);
    let xs = vals(&xm);
    for (p, v) in hv.iter().enumerate() {
        // index (i, j, k, l, m, n) in a 2×…×2 array: bits of p
        let idx: Vec<usize> = (0..6).rev().map(|b| (p >> b) & 1).collect();
        let o = idx[0] * 2 + idx[1];
        let d1 = idx[2] * 2 + idx[3];
        let d2 = idx[4] * 2 + idx[5];
        let want = if o == d1 && o == d2 {
            -xs[o].sin()
        } else {
            0.0
        };
        assert!((v - want).abs() < 1e-14, "H{idx:?} = {v}, want {want}");
    }
    Ok(())
}

#[test]
fn hessian_with_argnums_tuple_gives_blocks() -> Result<()> {
    // f(x, y) = Σᵢⱼ xᵢ² yⱼ + Σ y³ with x ∈ R², y ∈ R³
    let f = |(x, y): &(Tensor, Tensor)| -> Result<Tensor> {
        x.square()?
            .sum()?
            .mul(&y.sum()?)?
            .add(&y.pow_scalar(3.0)?.sum()?)
    };
    let xv = [0.5, -2.0];
    let yv = [1.0, 0.25, -0.5];
    let args = (vec1(&xv), vec1(&yv));
    let ((h00, h01), (h10, h11)): ((Tensor, Tensor), (Tensor, Tensor)) =
        hessian(f).argnums((0, 1)).call(&args)?;
    assert_eq!(h00.shape(), &[2, 2]);
    assert_eq!(h01.shape(), &[2, 3]);
    assert_eq!(h10.shape(), &[3, 2]);
    assert_eq!(h11.shape(), &[3, 3]);
    let t: f64 = yv.iter().sum();
    close_vals(&vals(&h00), &[2.0 * t, 0.0, 0.0, 2.0 * t], "H00");
    let h01w: Vec<f64> = (0..2).flat_map(|i| [2.0 * xv[i]; 3]).collect();
    close_vals(&vals(&h01), &h01w, "H01");
    let h10w: Vec<f64> = (0..3).flat_map(|_| [2.0 * xv[0], 2.0 * xv[1]]).collect();
    close_vals(&vals(&h10), &h10w, "H10");
    let mut h11w = vec![0.0; 9];
    for j in 0..3 {
        h11w[j * 3 + j] = 6.0 * yv[j];
    }
    close_vals(&vals(&h11), &h11w, "H11");
    // argnums in the other order swaps the blocks
    let ((g11, g10), (g01, g00)): ((Tensor, Tensor), (Tensor, Tensor)) =
        hessian(f).argnums((1, 0)).call(&args)?;
    close(&g11, &h11, "swapped H11");
    close(&g10, &h10, "swapped H10");
    close(&g01, &h01, "swapped H01");
    close(&g00, &h00, "swapped H00");
    Ok(())
}

#[test]
fn jacobians_of_tuple_outputs() -> Result<()> {
    let f = |x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.sin()?, x.square()?.sum()?)) };
    let xv = [0.3, -1.2, 2.0];
    let x = vec1(&xv);
    let want0 = x.cos()?.diag()?;
    let want1 = x.mul_scalar(2.0)?;
    let (j0, j1): (Tensor, Tensor) = jacrev(f).call(&x)?;
    close(&j0, &want0, "jacrev[0]");
    close(&j1, &want1, "jacrev[1]");
    let (j0, j1): (Tensor, Tensor) = jacfwd(f).call(&x)?;
    close(&j0, &want0, "jacfwd[0]");
    close(&j1, &want1, "jacfwd[1]");
    for k in 1..=4 {
        let (j0, j1): (Tensor, Tensor) = jacrev(f).chunk_size(k).preallocate(true).call(&x)?;
        close(&j0, &want0, "jacrev chunked[0]");
        close(&j1, &want1, "jacrev chunked[1]");
        let (j0, j1): (Tensor, Tensor) = jacfwd(f).chunk_size(k).call(&x)?;
        close(&j0, &want0, "jacfwd chunked[0]");
        close(&j1, &want1, "jacfwd chunked[1]");
    }
    // a tuple output and a tuple of argnums: outer level the outputs, inner the arguments
    let g = |(a, b): &(Tensor, Tensor)| -> Result<(Tensor, Tensor)> { Ok((a.mul(b)?, a.sum()?)) };
    let args = (vec1(&[1.0, 2.0]), vec1(&[3.0, 4.0]));
    let ((ja, jb), (sa, sb)): ((Tensor, Tensor), (Tensor, Tensor)) =
        jacrev(g).argnums((0, 1)).call(&args)?;
    close_vals(&vals(&ja), &[3.0, 0.0, 0.0, 4.0], "d(ab)/da");
    close_vals(&vals(&jb), &[1.0, 0.0, 0.0, 2.0], "d(ab)/db");
    close_vals(&vals(&sa), &[1.0, 1.0], "d(sum a)/da");
    close_vals(&vals(&sb), &[0.0, 0.0], "d(sum a)/db");
    let ((fa, fb), (ta, tb)): ((Tensor, Tensor), (Tensor, Tensor)) =
        jacfwd(g).argnums((0, 1)).call(&args)?;
    close(&fa, &ja, "jacfwd d(ab)/da");
    close(&fb, &jb, "jacfwd d(ab)/db");
    close(&ta, &sa, "jacfwd d(sum a)/da");
    close(&tb, &sb, "jacfwd d(sum a)/db");
    Ok(())
}

#[test]
fn jacobian_of_integers_is_an_error() {
    let x = vec1(&[0.5, 2.0, 1.0]);
    let argmax = |x: &Tensor| x.argmax(None, false);
    let mask = |x: &Tensor| x.gt_scalar(0.7);
    transform_err(
        jacrev(argmax).call::<_, Tree>(&x),
        "jacrev",
        &["float", "int64"],
    );
    transform_err(
        jacfwd(argmax).call::<_, Tree>(&x),
        "jacfwd",
        &["float", "int64"],
    );
    transform_err(jacrev(mask).call::<_, Tree>(&x), "jacrev", &["float"]);
    transform_err(jacfwd(mask).call::<_, Tree>(&x), "jacfwd", &["float"]);
    transform_err(hessian(argmax).call::<_, Tree>(&x), "hessian", &["float"]);
    // with respect to an integer input
    let xi = Tensor::from_vec(vec![1i64, 2, 3], &[3]).unwrap();
    let cast = |x: &Tensor| x.to_dtype(DType::F64)?.sin();
    transform_err(
        jacrev(cast).call::<_, Tree>(&xi),
        "jacrev",
        &["float", "int64"],
    );
    transform_err(
        jacfwd(cast).call::<_, Tree>(&xi),
        "jacfwd",
        &["float", "int64"],
    );
    transform_err(
        grad(|x: &Tensor| cast(x)?.sum()).call::<_, Tree>(&xi),
        "grad",
        &["float"],
    );
    // an integer argument that is not differentiated is fine
    let scale = |(x, k): &(Tensor, Tensor)| x.mul(&k.to_dtype(DType::F64)?);
    let j: Tensor = jacrev(scale).call(&(x.clone(), xi.clone())).unwrap();
    close(
        &j,
        &mat(vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0], &[3, 3]),
        "int side argument",
    );
    let j: Tensor = jacfwd(scale).call(&(x, xi)).unwrap();
    close(
        &j,
        &mat(vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0], &[3, 3]),
        "jacfwd int side argument",
    );
}

// ------------------------------------------------------------------------------- levels

#[test]
fn no_perturbation_confusion() -> Result<()> {
    let one = Tensor::scalar(1.0);
    // d/dx [x · d/dy (x + y)] = d/dx [x · 1] = 1 (confusion gives 2)
    let f = |x: &Tensor| -> Result<Tensor> {
        let inner: Tensor = grad(|y: &Tensor| x.add(y)).call(&one)?;
        x.mul(&inner)
    };
    let d: Tensor = grad(f).call(&one)?;
    assert_eq!(d.item()?, 1.0, "grad∘grad");

    // the same with jvp at both levels
    let f = |x: &Tensor| -> Result<Tensor> {
        let (_, inner): (Tensor, Tensor) = jvp(|y: &Tensor| x.add(y)).call(&one, &one)?;
        x.mul(&inner)
    };
    let (_, d): (Tensor, Tensor) = jvp(f).call(&one, &one)?;
    assert_eq!(d.item()?, 1.0, "jvp∘jvp");

    // mixed: jvp outside, grad inside, and grad outside, jvp inside
    let f = |x: &Tensor| -> Result<Tensor> {
        let inner: Tensor = grad(|y: &Tensor| x.add(y)).call(&one)?;
        x.mul(&inner)
    };
    let (_, d): (Tensor, Tensor) = jvp(f).call(&one, &one)?;
    assert_eq!(d.item()?, 1.0, "jvp∘grad");
    let f = |x: &Tensor| -> Result<Tensor> {
        let (_, inner): (Tensor, Tensor) = jvp(|y: &Tensor| x.add(y)).call(&one, &one)?;
        x.mul(&inner)
    };
    let d: Tensor = grad(f).call(&one)?;
    assert_eq!(d.item()?, 1.0, "grad∘jvp");

    // a product: d/dx [x · d/dy (x · y)] = d/dx x² = 2x
    let three = Tensor::scalar(3.0);
    let f = |x: &Tensor| -> Result<Tensor> {
        let inner: Tensor = grad(|y: &Tensor| x.mul(y)).call(&one)?;
        x.mul(&inner)
    };
    let d: Tensor = grad(f).call(&three)?;
    assert_eq!(d.item()?, 6.0, "grad∘grad of a product");
    let (_, d): (Tensor, Tensor) = jvp(f).call(&three, &one)?;
    assert_eq!(d.item()?, 6.0, "jvp∘grad of a product");

    // inside vmap: the batch level is not confused with the inner grad either
    let xs = vec1(&[1.0, 2.0, 3.0]);
    let g = |x: &Tensor| -> Result<Tensor> {
        let inner: Tensor = grad(|y: &Tensor| x.mul(y)).call(&one)?;
        x.mul(&inner)
    };
    let d: Tensor = vmap(grad(g)).call(&xs)?;
    close_vals(&vals(&d), &[2.0, 4.0, 6.0], "vmap(grad∘grad)");
    // an inner vmap over a captured outer tracer
    let h = |x: &Tensor| -> Result<Tensor> {
        let inner: Tensor = vmap(|y: &Tensor| x.mul(y)).call(&vec1(&[1.0, 2.0]))?;
        inner.sum()
    };
    let d: Tensor = grad(h).call(&three)?;
    assert_eq!(d.item()?, 3.0, "grad∘vmap with a captured tracer");
    Ok(())
}

#[test]
fn escaped_tracers_follow_torch() {
    // a grad or jvp tracer that escapes its transform is its value; a vmap one is refused
    // (more cases in tests/parity.rs)
    let x = vec1(&[1.0, 2.0]);
    let xs = mat(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let cell: RefCell<Option<Tensor>> = RefCell::new(None);
    let smuggle = |x: &Tensor| -> Result<Tensor> {
        *cell.borrow_mut() = Some(x.sin()?);
        x.sum()
    };

    let _: Tensor = grad(smuggle).call(&x).unwrap();
    let leaked = cell.borrow_mut().take().unwrap();
    close(
        &leaked.add(&x).unwrap(),
        &x.sin().unwrap().add(&x).unwrap(),
        "escaped grad tracer",
    );
    // inside a fresh transform it is a constant
    let g: Tensor = grad(|y: &Tensor| y.mul(&leaked)?.sum()).call(&x).unwrap();
    close(&g, &x.sin().unwrap(), "escaped grad tracer in a new grad");

    let _: (Tensor, Tensor) = jvp(smuggle).call(&x, &x).unwrap();
    let leaked = cell.borrow_mut().take().unwrap();
    close(
        &leaked.exp().unwrap(),
        &x.sin().unwrap().exp().unwrap(),
        "escaped jvp tracer",
    );

    let _: Tensor = vmap(smuggle).call(&xs).unwrap();
    let leaked = cell.borrow_mut().take().unwrap();
    let e = leaked.sum().unwrap_err();
    assert!(
        matches!(e, Error::EscapedTracer { kind: "vmap", .. }),
        "{e:?}"
    );
    let e = vmap(|y: &Tensor| y.add(&leaked))
        .call::<_, Tensor>(&xs)
        .unwrap_err();
    assert!(matches!(e, Error::EscapedTracer { .. }), "{e:?}");

    // the library still works
    let g: Tensor = grad(|x: &Tensor| x.square()?.sum()).call(&x).unwrap();
    close_vals(&vals(&g), &[2.0, 4.0], "after escaped tracers");
}

#[test]
fn panic_in_user_function_leaves_library_usable() -> Result<()> {
    let x = vec1(&[0.5, 1.5]);
    let xs = mat(vec![0.5, 1.5, -1.0, 2.0], &[2, 2]);
    let boom = |x: &Tensor| -> Result<Tensor> {
        let y = x.sin()?;
        if y.ndim() < 100 {
            panic!("a panic in the user's function");
        }
        y.sum()
    };
    let r = catch_unwind(AssertUnwindSafe(|| grad(boom).call::<_, Tensor>(&x)));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| vmap(boom).call::<_, Tensor>(&xs)));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        vmap(jacfwd(grad(boom)))
            .chunk_size(1)
            .call::<_, Tensor>(&xs)
    }));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        jvp(hessian(boom)).call::<_, Tree>(&x, &x)
    }));
    assert!(r.is_err());

    // nothing is left on the level stack: a random op outside vmap is not "inside vmap"
    let noise = Tensor::randn(&[3], DType::F64)?;
    assert_eq!(noise.shape(), &[3]);
    // grad, vmap and their compositions give correct values
    let f = |x: &Tensor| x.sin()?.sum();
    let g: Tensor = grad(f).call(&x)?;
    close(&g, &x.cos()?, "grad after panics");
    let gs: Tensor = vmap(grad(f)).call(&xs)?;
    close(&gs, &xs.cos()?, "vmap(grad) after panics");
    let h: Tensor = vmap(hessian(f)).call(&xs)?;
    let hv = vals(&h);
    let xv = vals(&xs);
    let want: Vec<f64> = (0..2)
        .flat_map(|b| {
            let (a, c) = (xv[2 * b], xv[2 * b + 1]);
            [-a.sin(), 0.0, 0.0, -c.sin()]
        })
        .collect();
    close_vals(&hv, &want, "vmap(hessian) after panics");
    // perturbation confusion is still avoided (levels are sound)
    let one = Tensor::scalar(1.0);
    let p = |x: &Tensor| -> Result<Tensor> {
        let inner: Tensor = grad(|y: &Tensor| x.add(y)).call(&one)?;
        x.mul(&inner)
    };
    let d: Tensor = grad(p).call(&one)?;
    assert_eq!(d.item()?, 1.0);
    // an error (not a panic) in the user's function comes back as it is
    let fails = |x: &Tensor| -> Result<Tensor> { x.reshape(&[5])?.sum() };
    let e = grad(fails).call::<_, Tensor>(&x).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
    let g: Tensor = grad(f).call(&x)?;
    close(&g, &x.cos()?, "grad after an error");
    Ok(())
}
