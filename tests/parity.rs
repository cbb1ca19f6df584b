//! Behaviours torch.func's own tests (`test_eager_transforms.py`, `test_vmap.py`) pin down,
//! kept as tests of ours: tracers that escape their transform, `out_dims`/`in_dims` structure
//! checks, `has_aux` on every transform, and `debug_unwrap`.

mod common;

use common::{close_to, mat, vals, vec1};
use functorch::{
    DType, Dims, Error, Generator, Result, Tensor, grad, jacfwd, jacrev, jit, jvp, vjp, vmap,
};
use std::cell::RefCell;

#[track_caller]
fn close(got: &Tensor, want: &Tensor, what: &str) {
    close_to(got, want, 1e-12, what);
}

#[track_caller]
fn escaped_vmap(r: Result<Tensor>, what: &str) {
    match r {
        Err(Error::EscapedTracer { kind: "vmap", .. }) => {}
        Err(e) => panic!("{what}: expected an escaped vmap tracer error, got {e:?}"),
        Ok(t) => panic!("{what}: expected an escaped vmap tracer error, got a tensor {t}"),
    }
}

// ------------------------------------------------------------------------ escaped tracers

/// A grad tracer saved inside the transform is its value afterwards, on every path: ops,
/// ops that return their input unchanged, value accessors, and a new transform's output.
#[test]
fn escaped_grad_tracer_is_its_value() -> Result<()> {
    let x = vec1(&[0.5, 1.0, 2.0]);
    let saved: RefCell<Vec<Tensor>> = RefCell::new(Vec::new());
    let f = |x: &Tensor| -> Result<Tensor> {
        saved.borrow_mut().push(x.clone());
        saved.borrow_mut().push(x.sum()?); // 0-d
        x.sin()?.sum()
    };
    let _: Tensor = grad(f).call(&x)?;
    let (esc, esc0) = {
        let s = saved.borrow();
        (s[0].clone(), s[1].clone())
    };
    // as torch: esc.sin().sum() works
    close(&esc.sin()?.sum()?, &x.sin()?.sum()?, "esc.sin().sum()");
    assert!(esc.is_concrete());
    assert_eq!(vals(&esc), vals(&x));
    assert_eq!(esc0.item()?, 3.5);
    // ops that return their input unchanged give the value too
    for (what, t) in [
        ("sum of 0-d", esc0.sum()?),
        ("reshape to the same shape", esc.reshape(&[3])?),
        ("cat of one", Tensor::cat(std::slice::from_ref(&esc), 0)?),
        ("to_dtype to the same dtype", esc.to_dtype(DType::F64)?),
        ("slice of everything", esc.slice(0, 0, i64::MAX, 1)?),
        ("transpose of a dim with itself", esc.transpose(0, 0)?),
    ] {
        assert!(t.is_concrete(), "{what}");
        assert_eq!(t.to_vec_f64()?.len(), t.numel(), "{what}");
    }
    // as a new transform's output: a constant, so the gradient is zero and the value is concrete
    let (out, pb): (Tensor, _) =
        vjp(|_: &Tensor| -> Result<Tensor> { Ok(esc.clone()) }).call(&x)?;
    assert!(out.is_concrete());
    assert_eq!(vals(&out), vals(&x));
    let (g,): (Tensor,) = pb.call(&x.ones_like()?)?;
    assert_eq!(vals(&g), vec![0.0; 3]);
    let (o, t): (Tensor, Tensor) =
        jvp(|_: &Tensor| -> Result<Tensor> { Ok(esc0.clone()) }).call(&x, &x)?;
    assert_eq!((o.item()?, t.item()?), (3.5, 0.0));
    // and as a constant inside one
    let g: Tensor = grad(|y: &Tensor| y.mul(&esc)?.sum()).call(&x)?;
    close(&g, &x, "d/dy sum(esc * y)");
    // vmapped over: a constant broadcast
    let xs = mat(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let r: Tensor = vmap(|y: &Tensor| y.mul(&esc)).call(&xs)?;
    close(&r, &xs.mul(&x)?, "vmap with an escaped grad tracer");
    Ok(())
}

#[test]
fn escaped_jvp_tracer_is_its_value() -> Result<()> {
    let x = vec1(&[0.5, 1.0]);
    let saved: RefCell<Option<Tensor>> = RefCell::new(None);
    let f = |x: &Tensor| -> Result<Tensor> {
        *saved.borrow_mut() = Some(x.exp()?);
        x.sin()
    };
    let _: (Tensor, Tensor) = jvp(f).call(&x, &x.ones_like()?)?;
    let esc = saved.borrow_mut().take().unwrap();
    close(&esc.log()?, &x, "log(esc)");
    close(&esc.reshape(&[2])?, &x.exp()?, "reshape to the same shape");
    Ok(())
}

/// torch: inside a still-running outer grad, a saved inner tracer keeps its outer derivative:
/// `grad(x ↦ sum(saved · x))` with `saved` the inner grad's input is `2x`.
#[test]
fn escaped_inner_tracer_keeps_outer_derivative() -> Result<()> {
    let x = vec1(&[0.5, 1.0, -2.0]);
    let outer = |x: &Tensor| -> Result<Tensor> {
        let saved: RefCell<Option<Tensor>> = RefCell::new(None);
        let _: Tensor = grad(|y: &Tensor| -> Result<Tensor> {
            *saved.borrow_mut() = Some(y.clone());
            y.sin()?.sum()
        })
        .call(x)?;
        let s = saved.borrow_mut().take().unwrap();
        s.mul(x)?.sum()
    };
    let g: Tensor = grad(outer).call(&x)?;
    close(&g, &x.mul_scalar(2.0)?, "grad(x ↦ sum(saved · x))");

    // the same through jvp inside grad, and with the dead tracer returned as the output itself
    let scalar = Tensor::scalar(1.5);
    let returns_saved = |x: &Tensor| -> Result<Tensor> {
        let saved: RefCell<Option<Tensor>> = RefCell::new(None);
        let _: (Tensor, Tensor) = jvp(|y: &Tensor| -> Result<Tensor> {
            *saved.borrow_mut() = Some(y.square()?);
            Ok(y.clone())
        })
        .call(x, &x.ones_like()?)?;
        let s = saved.borrow_mut().take().unwrap();
        // a no-op on the dead tracer, returned as the output
        s.sum()
    };
    let g: Tensor = grad(returns_saved).call(&scalar)?;
    assert_eq!(g.item()?, 3.0, "d/dx x² through a dead jvp tracer");
    // jacrev and jacfwd of the same agree
    let jr: Tensor = jacrev(returns_saved).call(&scalar)?;
    let jf: Tensor = jacfwd(returns_saved).call(&scalar)?;
    assert_eq!((jr.item()?, jf.item()?), (3.0, 3.0));
    Ok(())
}

/// An escaped vmap tracer stands for a whole batch: every path refuses it.
#[test]
fn escaped_vmap_tracer_is_an_error_on_every_path() -> Result<()> {
    let xs = mat(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let saved: RefCell<Vec<Tensor>> = RefCell::new(Vec::new());
    let f = |x: &Tensor| -> Result<Tensor> {
        let s = x.sum()?;
        saved.borrow_mut().push(x.clone());
        saved.borrow_mut().push(s.clone());
        Ok(s)
    };
    let _: Tensor = vmap(f).call(&xs)?;
    let (esc, esc0) = {
        let s = saved.borrow();
        (s[0].clone(), s[1].clone())
    };
    escaped_vmap(esc.sin(), "sin");
    escaped_vmap(esc0.sum(), "sum of 0-d");
    escaped_vmap(esc.reshape(&[2]), "reshape to the same shape");
    escaped_vmap(Tensor::cat(std::slice::from_ref(&esc), 0), "cat of one");
    escaped_vmap(esc.to_dtype(DType::F64), "to_dtype to the same dtype");
    assert!(matches!(
        esc.to_vec::<f64>(),
        Err(Error::EscapedTracer { kind: "vmap", .. })
    ));
    assert!(!esc.is_concrete());
    // as an input and as an output of a new transform
    escaped_vmap(
        grad(|_: &Tensor| -> Result<Tensor> { Ok(esc0.clone()) }).call(&xs),
        "grad output",
    );
    escaped_vmap(
        vmap(|_: &Tensor| -> Result<Tensor> { Ok(esc.clone()) }).call(&xs),
        "vmap output",
    );
    escaped_vmap(vmap(|y: &Tensor| y.sin()).call(&esc), "vmap input");
    escaped_vmap(grad(|y: &Tensor| y.sum()).call(&esc), "grad input");
    // its debug value is still there to look at
    assert_eq!(esc.debug_unwrap().shape(), &[2, 2]);
    Ok(())
}

/// A tracer of a finished jit trace holds the tracing call's value, not what a later call of
/// the compiled function would compute: refused, as a vmap tracer is.
#[test]
fn escaped_jit_tracer_is_an_error() -> Result<()> {
    let x = vec1(&[1.0, 2.0]);
    let saved: RefCell<Option<Tensor>> = RefCell::new(None);
    let f = |x: &Tensor| -> Result<Tensor> {
        *saved.borrow_mut() = Some(x.exp()?);
        x.sin()
    };
    let _: Tensor = jit(f).call(&x)?;
    let esc = saved.borrow_mut().take().unwrap();
    assert!(matches!(
        esc.sin(),
        Err(Error::EscapedTracer { kind: "jit", .. })
    ));
    assert!(matches!(
        esc.reshape(&[2]),
        Err(Error::EscapedTracer { kind: "jit", .. })
    ));
    assert!(matches!(
        grad(|y: &Tensor| y.sum()).call::<_, Tensor>(&esc),
        Err(Error::EscapedTracer { kind: "jit", .. })
    ));
    // a grad tracer escaping into a jit-compiled function is its value there
    let g_saved: RefCell<Option<Tensor>> = RefCell::new(None);
    let _: Tensor = grad(|y: &Tensor| -> Result<Tensor> {
        *g_saved.borrow_mut() = Some(y.square()?);
        y.sum()
    })
    .call(&x)?;
    let esc = g_saved.borrow_mut().take().unwrap();
    let r: Tensor = jit(|y: &Tensor| y.add(&esc)).call(&x)?;
    close(&r, &x.add(&x.square()?)?, "jit with an escaped grad tracer");
    let r: Tensor = jit(|_: &Tensor| -> Result<Tensor> { Ok(esc.clone()) }).call(&x)?;
    close(&r, &x.square()?, "jit returning an escaped grad tracer");
    Ok(())
}

// ----------------------------------------------------------------- in_dims and out_dims

#[track_caller]
fn structure_err<T>(r: Result<T>, what: &str) -> String {
    match r {
        Err(e @ Error::Transform { .. }) => {
            let s = e.to_string();
            assert!(
                s.contains(&format!("{what} is not compatible with the structure of")),
                "{s}"
            );
            s
        }
        Err(e) => panic!("expected a transform error, got {e:?}"),
        Ok(_) => panic!("expected an error about {what}"),
    }
}

#[test]
fn out_dims_must_match_the_outputs() -> Result<()> {
    let x = mat(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    let pair = |x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.clone(), x.clone())) };
    // torch: vmap(lambda x: (x, x), out_dims=(0,)) raises
    let m = structure_err(
        vmap(pair)
            .out_dims([Some(0)])
            .call::<_, (Tensor, Tensor)>(&x),
        "out_dims",
    );
    assert!(
        m.contains("out_dims has structure (0,) but outputs has structure"),
        "{m}"
    );
    structure_err(
        vmap(pair)
            .out_dims([Some(0), Some(0), Some(0)])
            .call::<_, (Tensor, Tensor)>(&x),
        "out_dims",
    );
    // a single tensor takes an int, None or a one-element tuple, nothing else
    let s: Tensor = vmap(|x: &Tensor| x.sin()).out_dims([Some(1)]).call(&x)?;
    close(&s, &x.sin()?.t()?, "out_dims=(1,)");
    structure_err(
        vmap(|x: &Tensor| x.sin())
            .out_dims([Some(0), Some(0)])
            .call::<_, Tensor>(&x),
        "out_dims",
    );
    // nested: the inner tuple must match the inner output
    let nested = |x: &Tensor| -> Result<(Tensor, (Tensor, Tensor))> {
        Ok((x.clone(), (x.clone(), x.clone())))
    };
    structure_err(
        vmap(nested)
            .out_dims(Dims::Tuple(vec![Dims::from(0), Dims::from(vec![Some(0)])]))
            .call::<_, (Tensor, (Tensor, Tensor))>(&x),
        "out_dims",
    );
    structure_err(
        vmap(pair)
            .out_dims(Dims::Tuple(vec![Dims::from(0), Dims::from(vec![Some(0)])]))
            .call::<_, (Tensor, Tensor)>(&x),
        "out_dims",
    );
    // a tuple broadcast over a subtree: one dim for the whole inner pair
    let (a, (b, c)): (Tensor, (Tensor, Tensor)) = vmap(nested)
        .out_dims(Dims::Tuple(vec![Dims::from(0), Dims::from(1)]))
        .call(&x)?;
    close(&a, &x, "nested[0]");
    close(&b, &x.t()?, "nested[1][0]");
    close(&c, &x.t()?, "nested[1][1]");
    Ok(())
}

#[test]
fn in_dims_must_match_the_inputs() {
    let x = mat(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let add = |(a, b): &(Tensor, Tensor)| a.add(b);
    let m = structure_err(
        vmap(add)
            .in_dims([Some(0)])
            .call::<_, Tensor>(&(x.clone(), x.clone())),
        "in_dims",
    );
    assert!(
        m.contains("in_dims has structure (0,) but inputs has structure"),
        "{m}"
    );
    structure_err(
        vmap(add)
            .in_dims([Some(0), Some(0), Some(0)])
            .call::<_, Tensor>(&(x.clone(), x.clone())),
        "in_dims",
    );
    // a tuple for a tensor argument
    structure_err(
        vmap(|x: &Tensor| x.sin())
            .in_dims(Dims::Tuple(vec![Dims::from(vec![Some(0)])]))
            .call::<_, Tensor>(&x),
        "in_dims",
    );
}

// ------------------------------------------------------------------------------ has_aux

#[test]
fn has_aux_is_never_dropped() -> Result<()> {
    let x = vec1(&[1.0, 2.0]);
    let f = |x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.square()?, x.sum()?)) };
    // vjp: call cannot hold the aux, so it refuses and points to call_aux
    let Err(e) = vjp(f).has_aux(true).call::<_, Tensor>(&x) else {
        panic!("vjp(f).has_aux(true).call must not drop the aux");
    };
    assert!(
        matches!(&e, Error::Transform { msg, .. } if msg.contains("call_aux")),
        "{e:?}"
    );
    let (y, pb, aux): (Tensor, _, Tensor) = vjp(f).has_aux(true).call_aux(&x)?;
    close(&y, &x.square()?, "vjp output");
    assert_eq!(aux.item()?, 3.0);
    let (g,): (Tensor,) = pb.call(&x.ones_like()?)?;
    close(&g, &x.mul_scalar(2.0)?, "vjp pullback with aux");
    // call_aux without has_aux is an error too
    assert!(
        vjp(|x: &Tensor| x.sin())
            .call_aux::<_, Tensor, Tensor>(&x)
            .is_err()
    );
    // the others put the aux in the result; a result type without room for it is an error
    let fs = |x: &Tensor| -> Result<(Tensor, Tensor)> { Ok((x.square()?.sum()?, x.sum()?)) };
    assert!(grad(fs).has_aux(true).call::<_, Tensor>(&x).is_err());
    let (g, aux): (Tensor, Tensor) = grad(fs).has_aux(true).call(&x)?;
    close(&g, &x.mul_scalar(2.0)?, "grad with aux");
    assert_eq!(aux.item()?, 3.0);
    assert!(
        jvp(f)
            .has_aux(true)
            .call::<_, (Tensor, Tensor)>(&x, &x)
            .is_err()
    );
    let (_, t, aux): (Tensor, Tensor, Tensor) = jvp(f).has_aux(true).call(&x, &x)?;
    close(&t, &x.square()?.mul_scalar(2.0)?, "jvp with aux");
    assert_eq!(aux.item()?, 3.0);
    assert!(jacrev(f).has_aux(true).call::<_, Tensor>(&x).is_err());
    let (j, aux): (Tensor, Tensor) = jacfwd(f).has_aux(true).call(&x)?;
    close(&j, &x.mul_scalar(2.0)?.diag()?, "jacfwd with aux");
    assert_eq!(aux.item()?, 3.0);
    Ok(())
}

// ------------------------------------------------------------------------- debug_unwrap

#[test]
fn debug_unwrap_shows_values_without_changing_results() -> Result<()> {
    let xs = mat(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let seen: RefCell<Vec<Tensor>> = RefCell::new(Vec::new());
    let f = |x: &Tensor| -> Result<Tensor> {
        let u = x.debug_unwrap();
        assert!(u.is_concrete());
        seen.borrow_mut().push(u);
        x.square()?.sum()
    };
    // vmap(grad(f)): the unwrapped value is the whole batch of primals
    let g: Tensor = vmap(grad(f)).call(&xs)?;
    close(&g, &xs.mul_scalar(2.0)?, "vmap(grad) with debug_unwrap");
    let u = seen.borrow_mut().pop().unwrap();
    close(&u, &xs, "debug_unwrap under vmap(grad)");
    // outside every transform: the tensor itself
    close(&xs.debug_unwrap(), &xs, "debug_unwrap of a concrete tensor");
    // computing with it gives no derivative
    let h = |x: &Tensor| x.mul(&x.debug_unwrap())?.sum();
    let g: Tensor = grad(h).call(&vec1(&[3.0]))?;
    assert_eq!(vals(&g), vec![3.0]);
    Ok(())
}

// ------------------------------------------------------------------------------- random

/// Rows of a [n, k] tensor, as vectors.
fn rows_of(t: &Tensor) -> Vec<Vec<f64>> {
    let k = t.shape()[1];
    t.to_vec_f64()
        .unwrap()
        .chunks(k)
        .map(|c| c.to_vec())
        .collect()
}

#[test]
fn random_api_values() -> Result<()> {
    functorch::manual_seed(11);
    let k = Tensor::randint(-2, 3, &[200])?;
    assert_eq!(k.dtype(), DType::I64);
    let v = k.to_vec::<i64>()?;
    assert!(v.iter().all(|x| (-2..3).contains(x)));
    assert!((-2..3).all(|x| v.contains(&x)), "every value drawn: {v:?}");
    let mut p = Tensor::randperm(7)?.to_vec::<i64>()?;
    p.sort();
    assert_eq!(p, (0..7).collect::<Vec<i64>>());
    assert!(Tensor::randint(3, 3, &[1]).is_err());
    let like = vec1(&[0.5; 4]).randint_like(0, 2)?;
    assert_eq!(like.dtype(), DType::F64);
    // bernoulli: the mean of many draws is near p; p outside [0, 1] is an error
    let b = Tensor::full(&[4000], 0.25, DType::F64)?.bernoulli()?;
    assert!((b.mean()?.item()? - 0.25).abs() < 0.03);
    assert!(vec1(&[1.5]).bernoulli().is_err());
    // normal(mean, std) is mean + std·ε: differentiable in both (the reparameterization)
    let mean = vec1(&[1.0, -1.0, 3.0]);
    let std = vec1(&[0.5, 2.0, 1.0]);
    functorch::manual_seed(5);
    let x = Tensor::normal(&mean, &std)?;
    functorch::manual_seed(5);
    let eps = Tensor::randn(&[3], DType::F64)?;
    close(&x, &mean.add(&std.mul(&eps)?)?, "normal = mean + std·ε");
    functorch::manual_seed(5);
    let (gm, gs): (Tensor, Tensor) = grad(|(m, s): &(Tensor, Tensor)| Tensor::normal(m, s)?.sum())
        .argnums((0, 1))
        .call(&(mean.clone(), std.clone()))?;
    close(&gm, &mean.ones_like()?, "d normal / d mean");
    close(&gs, &eps, "d normal / d std");
    assert!(Tensor::normal(&mean, &vec1(&[-1.0])).is_err());
    Ok(())
}

#[test]
fn generators_have_their_own_state() -> Result<()> {
    let g = Generator::new(42);
    functorch::manual_seed(1);
    let t1 = Tensor::randn(&[3], DType::F64)?;
    let a = g.randn(&[4], DType::F64)?;
    // drawing from g did not move the thread-local generator, and vice versa
    functorch::manual_seed(1);
    let t2 = Tensor::randn(&[3], DType::F64)?;
    let _ = Tensor::randn(&[10], DType::F64)?;
    assert_eq!(vals(&t1), vals(&t2));
    g.manual_seed(42);
    assert_eq!(vals(&a), vals(&g.randn(&[4], DType::F64)?));
    // clones share the state; a new generator with the seed starts over
    let h = g.clone();
    g.manual_seed(42);
    let _ = h.randn(&[4], DType::F64)?;
    let next = g.randn(&[4], DType::F64)?;
    assert_ne!(vals(&next), vals(&a));
    assert_eq!(vals(&Generator::new(42).randn(&[4], DType::F64)?), vals(&a));
    // the other draws
    let mut p = g.randperm(5)?.to_vec::<i64>()?;
    p.sort();
    assert_eq!(p, vec![0, 1, 2, 3, 4]);
    assert!(
        g.randint(0, 4, &[9])?
            .to_vec::<i64>()?
            .iter()
            .all(|v| (0..4).contains(v))
    );
    assert_eq!(
        g.bernoulli(&vec1(&[0.0, 1.0]))?.to_vec::<f64>()?,
        vec![0.0, 1.0]
    );
    assert_eq!(
        g.normal(&vec1(&[0.0]), &vec1(&[0.0]))?.to_vec::<f64>()?,
        vec![0.0]
    );
    assert_eq!(g.rand_like(&vec1(&[0.0; 2]))?.shape(), &[2]);
    Ok(())
}

/// A function that draws.
type Draw<'a> = Box<dyn Fn(&Tensor) -> Result<Tensor> + 'a>;

/// Draws from an explicit generator honour vmap's randomness and chunking as the thread-local
/// ones do.
#[test]
fn generator_draws_follow_vmap_randomness() -> Result<()> {
    use functorch::Randomness;
    let g = Generator::new(9);
    let xs = Tensor::zeros(&[4, 3], DType::F64)?;
    let fs: Vec<(&str, Draw<'_>)> = vec![
        (
            "randn",
            Box::new(|x: &Tensor| x.add(&g.randn(&[3], DType::F64)?)),
        ),
        (
            "randint",
            Box::new(|x: &Tensor| x.add(&g.randint(0, 1 << 30, &[3])?.to_dtype(DType::F64)?)),
        ),
        (
            "randperm",
            Box::new(|x: &Tensor| x.add(&g.randperm(1000)?.narrow(0, 0, 3)?.to_dtype(DType::F64)?)),
        ),
        (
            "normal",
            Box::new(|x: &Tensor| g.normal(x, &x.ones_like()?)),
        ),
    ];
    for (name, f) in &fs {
        let f = |x: &Tensor| f(x);
        for chunk in [None, Some(1), Some(3)] {
            let s: Tensor = vmap(f)
                .randomness(Randomness::Same)
                .chunk_size(chunk)
                .call(&xs)?;
            let r = rows_of(&s);
            assert!(
                r.iter().all(|row| row == &r[0]),
                "{name} same {chunk:?}: {s}"
            );
            let d: Tensor = vmap(f)
                .randomness(Randomness::Different)
                .chunk_size(chunk)
                .call(&xs)?;
            let r = rows_of(&d);
            for i in 0..4 {
                for j in 0..i {
                    assert_ne!(r[i], r[j], "{name} different {chunk:?}: {d}");
                }
            }
        }
        assert!(
            matches!(
                vmap(f).call::<_, Tensor>(&xs),
                Err(Error::Randomness { .. })
            ),
            "{name}"
        );
    }
    // 'same' with chunks draws what the unchunked call draws
    g.manual_seed(3);
    let f = |x: &Tensor| x.add(&g.randn(&[3], DType::F64)?);
    let whole: Tensor = vmap(f).randomness(Randomness::Same).call(&xs)?;
    g.manual_seed(3);
    let chunked: Tensor = vmap(f)
        .randomness(Randomness::Same)
        .chunk_size(1)
        .call(&xs)?;
    assert_eq!(vals(&whole), vals(&chunked));
    Ok(())
}
