//! `jit` against eager: the same results under every composition, one trace per signature,
//! errors where a value is needed while tracing, value errors on every replay.

use functorch::{DType, Error, Result, Tensor, Tree, grad, hessian, jacfwd, jacrev, jit, vmap};

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().unwrap()
}

fn close(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (x, y) in vals(a).iter().zip(vals(b)) {
        assert!(
            (x - y).abs() <= 1e-12 * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()),
            "{what}: {x} vs {y}"
        );
    }
}

fn rosen(x: &Tensor) -> Result<Tensor> {
    let n = x.dim(0)?;
    let a = x.narrow(0, 1, n - 1)?;
    let b = x.narrow(0, 0, n - 1)?;
    a.sub(&b.square()?)?
        .square()?
        .mul_scalar(100.0)?
        .add(&b.rsub_scalar(1.0)?.square()?)?
        .sum()
}

#[test]
fn jit_equals_eager_in_every_order() -> Result<()> {
    let x = Tensor::from_slice(&[0.3, -1.2, 0.8, 2.0]);
    let xs = Tensor::from_vec((0..12).map(|i| i as f64 * 0.1 - 0.4).collect(), &[3, 4])?;
    let h: Tensor = hessian(rosen).call(&x)?;
    close(&jit(hessian(rosen)).call(&x)?, &h, "jit(hessian)");
    close(&hessian(jit(rosen)).call(&x)?, &h, "hessian(jit)");
    close(
        &jacfwd(jit(jacrev(rosen))).call(&x)?,
        &h,
        "jacfwd(jit(jacrev))",
    );
    let g: Tensor = vmap(grad(rosen)).call(&xs)?;
    close(&jit(vmap(grad(rosen))).call(&xs)?, &g, "jit(vmap(grad))");
    close(&vmap(jit(grad(rosen))).call(&xs)?, &g, "vmap(jit(grad))");
    let gg: Tensor = grad(|x: &Tensor| grad(rosen).call::<_, Tensor>(x)?.sum()).call(&x)?;
    let jg = grad(jit(|x: &Tensor| grad(rosen).call::<_, Tensor>(x)?.sum()));
    close(&jg.call(&x)?, &gg, "grad(jit(grad))");
    // replays on new values give the eager result too
    let f = jit(hessian(rosen));
    for k in 0..3 {
        let y = x.mul_scalar(1.0 + k as f64)?;
        close(&f.call(&y)?, &hessian(rosen).call(&y)?, "replay");
    }
    assert_eq!(f.traces(), 1);
    Ok(())
}

#[test]
fn new_signatures_retrace_and_the_cache_is_bounded() -> Result<()> {
    let f = jit(|x: &Tensor| x.sin()?.sum());
    let _: Tensor = f.call(&Tensor::from_slice(&[1.0, 2.0]))?;
    let _: Tensor = f.call(&Tensor::from_slice(&[3.0, 4.0]))?;
    assert_eq!(f.traces(), 1);
    let _: Tensor = f.call(&Tensor::from_slice(&[1.0, 2.0, 3.0]))?; // new shape
    let _: Tensor = f.call(&Tensor::from_slice(&[1.0f32, 2.0]))?; // new dtype
    assert_eq!(f.traces(), 3);
    f.clear_cache();
    let _: Tensor = f.call(&Tensor::from_slice(&[1.0, 2.0]))?;
    assert_eq!(f.traces(), 4);
    let g = jit(|x: &Tensor| x.exp()).cache_size(1);
    let a = Tensor::from_slice(&[1.0]);
    let b = Tensor::from_slice(&[1.0, 2.0]);
    for t in [&a, &b, &a] {
        let _: Tensor = g.call(t)?;
    }
    assert_eq!(
        g.traces(),
        3,
        "a cache of one signature keeps only the last"
    );
    Ok(())
}

#[test]
fn the_trace_reads_like_a_jaxpr_and_dead_code_is_gone() -> Result<()> {
    let f = jit(|x: &Tensor| {
        let _unused = x.cos()?;
        x.sin()?.sum()
    });
    let t = f.trace(&Tensor::from_slice(&[1.0, 2.0, 3.0]))?;
    let text = t.to_string();
    assert!(text.starts_with("{ lambda a:f64[3]"), "{text}");
    assert!(text.contains("sin a"), "{text}");
    assert!(!text.contains("cos"), "dead code left: {text}");
    assert!(t.unoptimized().to_string().contains("cos"));
    assert_eq!(t.equations(), (3, 2));
    Ok(())
}

#[test]
fn values_needed_while_tracing_are_errors() {
    let f = jit(|x: &Tensor| {
        if x.sum()?.item()? > 0.0 {
            x.sin()
        } else {
            x.cos()
        }
    });
    let r: Result<Tensor> = f.call(&Tensor::from_slice(&[1.0]));
    assert!(matches!(r, Err(Error::Traced { .. })), "{r:?}");
    assert_eq!(f.traces(), 0);
}

#[test]
fn value_errors_are_raised_on_every_replay() -> Result<()> {
    let f = jit(|a: &Tensor| a.inv());
    let good = Tensor::from_vec(vec![2.0, 0.0, 0.0, 4.0], &[2, 2])?;
    let singular = Tensor::from_vec(vec![1.0, 2.0, 2.0, 4.0], &[2, 2])?;
    let inv: Tensor = f.call(&good)?;
    assert_eq!(vals(&inv), vec![0.5, 0.0, 0.0, 0.25]);
    assert!(f.call::<_, Tensor>(&singular).is_err());
    assert!(f.call::<_, Tensor>(&good).is_ok());
    assert_eq!(f.traces(), 1);
    Ok(())
}

#[test]
fn a_panic_while_tracing_leaves_it_usable() -> Result<()> {
    let f = jit(|x: &Tensor| {
        if x.numel() == 2 {
            panic!("boom");
        }
        x.exp()
    });
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<Tensor> = f.call(&Tensor::from_slice(&[1.0, 2.0]));
    }));
    assert!(p.is_err());
    let y: Tensor = f.call(&Tensor::from_slice(&[0.0]))?;
    assert_eq!(vals(&y), vec![1.0]);
    // and plain eager ops still work on this thread
    assert_eq!(
        vals(&Tensor::from_slice(&[1.0]).add_scalar(1.0)?),
        vec![2.0]
    );
    Ok(())
}

#[test]
fn one_jit_from_several_threads() -> Result<()> {
    let f = jit(hessian(rosen));
    let x = Tensor::from_slice(&[0.5, 1.5, -0.5]);
    let want: Tensor = hessian(rosen).call(&x)?;
    std::thread::scope(|s| {
        for k in 0..4 {
            let (f, x, want) = (&f, &x, &want);
            s.spawn(move || {
                for _ in 0..5 {
                    let h: Tensor = f.call(x).unwrap();
                    close(&h, want, &format!("thread {k}"));
                }
            });
        }
    });
    assert!(f.traces() >= 1 && f.traces() <= 4);
    Ok(())
}

#[test]
fn captured_tracers_retrace_every_call() -> Result<()> {
    // d/dx [x · f(y)] where the jitted f captures x from the outer grad
    let y = Tensor::from_slice(&[2.0]);
    let g: Tensor = grad(|x: &Tensor| {
        let inner = jit(|y: &Tensor| x.mul(y)?.sum());
        inner.call::<_, Tensor>(&y)?.mul(x)?.sum()
    })
    .call(&Tensor::from_slice(&[3.0]))?;
    // d/dx (x · x y) = 2 x y = 12
    assert_eq!(vals(&g), vec![12.0]);
    Ok(())
}

#[test]
fn structured_arguments_and_outputs() -> Result<()> {
    let f = jit(|(a, b): &(Tensor, Tensor)| -> Result<(Tensor, Tensor)> {
        Ok((a.mul(b)?, a.add(b)?.sum()?))
    });
    let a = Tensor::from_slice(&[1.0, 2.0]);
    let b = Tensor::from_slice(&[3.0, 4.0]);
    for _ in 0..2 {
        let (p, s): (Tensor, Tensor) = f.call(&(a.clone(), b.clone()))?;
        assert_eq!(vals(&p), vec![3.0, 8.0]);
        assert_eq!(vals(&s), vec![10.0]);
    }
    let t: Tree = f.call(&(a.clone(), b.clone()))?;
    assert_eq!(t.num_leaves(), 2);
    assert_eq!(f.traces(), 1);
    // an output that ignores the inputs is a constant of the graph
    let c = jit(|_x: &Tensor| Tensor::ones(&[2], DType::F64));
    for _ in 0..2 {
        let o: Tensor = c.call(&a)?;
        assert_eq!(vals(&o), vec![1.0, 1.0]);
    }
    Ok(())
}

#[test]
fn linearize_evaluates_f_once() -> Result<()> {
    use std::cell::Cell;
    let calls = Cell::new(0);
    let f = |x: &Tensor| {
        calls.set(calls.get() + 1);
        x.sin()?.mul(x)
    };
    let x = Tensor::from_slice(&[0.5, 1.0, 2.0]);
    let (y, lin): (Tensor, _) = functorch::linearize(f).call(&x)?;
    assert_eq!(calls.get(), 1);
    close(&y, &x.sin()?.mul(&x)?, "primal");
    // d/dx (x sin x) = sin x + x cos x
    let d = x.sin()?.add(&x.mul(&x.cos()?)?)?;
    for v in [[1.0, 0.0, 0.0], [0.5, -1.0, 2.0]] {
        let v = Tensor::from_slice(&v);
        let t: Tensor = lin.call(&v)?;
        close(&t, &d.mul(&v)?, "tangent");
    }
    assert_eq!(calls.get(), 1, "the linearized function does not run f");
    // it is transformable: vmap over a batch of tangents gives the Jacobian's rows
    let eye = Tensor::eye(3, DType::F64)?;
    let rows: Tensor = vmap(lin.clone()).call(&eye)?;
    close(&rows, &d.diag()?, "vmap(linearized)");
    // wrong tangents are errors naming the call
    let e = lin
        .call::<_, Tensor>(&Tensor::from_slice(&[1.0]))
        .unwrap_err();
    assert!(e.to_string().contains("linearize"), "{e}");
    Ok(())
}

#[test]
fn random_ops_draw_afresh_on_every_replay_and_follow_the_seed() -> Result<()> {
    let noisy = |x: &Tensor| x.add(&x.randn_like()?);
    let f = jit(noisy);
    let x = Tensor::zeros(&[4], DType::F64)?;
    functorch::manual_seed(11);
    let e1 = noisy(&x)?;
    let e2 = noisy(&x)?;
    functorch::manual_seed(11);
    let j1: Tensor = f.call(&x)?; // traces
    let j2: Tensor = f.call(&x)?; // replays
    assert_eq!(f.traces(), 1);
    assert_eq!(vals(&j1), vals(&e1));
    assert_eq!(
        vals(&j2),
        vals(&e2),
        "a replay draws the next numbers, as eager does"
    );
    assert_ne!(vals(&j1), vals(&j2));
    // an unused draw still advances the generator, as eager
    let g = jit(|x: &Tensor| {
        let _ = x.rand_like()?;
        x.add(&x.randn_like()?)
    });
    let eager = |x: &Tensor| -> Result<Tensor> {
        let _ = x.rand_like()?;
        x.add(&x.randn_like()?)
    };
    functorch::manual_seed(5);
    let a: Tensor = g.call(&x)?;
    let b: Tensor = g.call(&x)?;
    functorch::manual_seed(5);
    assert_eq!(vals(&a), vals(&eager(&x)?));
    assert_eq!(vals(&b), vals(&eager(&x)?));
    Ok(())
}

#[test]
fn common_subexpressions_and_identities_are_removed() -> Result<()> {
    let f = jit(|x: &Tensor| {
        let a = x.sin()?.add(&x.sin()?)?; // one sin
        let b = x.neg()?.neg()?.exp()?; // exp x
        let c = a.mul_scalar(1.0)?.reshape(&[3])?; // a
        c.add(&b)
    });
    let x = Tensor::from_slice(&[0.1, 0.2, 0.3]);
    let t = f.trace(&x)?;
    let text = t.to_string();
    assert_eq!(text.matches("sin").count(), 1, "{text}");
    assert!(!text.contains("neg"), "{text}");
    assert!(!text.contains("mul_scalar"), "{text}");
    assert!(!text.contains("reshape"), "{text}");
    assert!(text.contains("exp a"), "{text}");
    let (before, after) = t.equations();
    assert!(after < before, "{before} -> {after}");
    // and the result is eager's, bit for bit
    let want = x.sin()?.mul_scalar(2.0)?.add(&x.exp()?)?;
    for _ in 0..2 {
        assert_eq!(vals(&f.call(&x)?), vals(&want));
    }
    // random draws are never merged
    let g = jit(|x: &Tensor| x.randn_like()?.sub(&x.randn_like()?));
    assert_eq!(g.trace(&x)?.to_string().matches("randn").count(), 2);
    Ok(())
}
