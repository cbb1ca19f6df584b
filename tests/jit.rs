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

/// Bit-for-bit equality (NaNs equal to NaNs).
fn same_bits(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    assert_eq!(a.dtype(), b.dtype(), "{what}: dtypes");
    for (i, (x, y)) in vals(a).iter().zip(vals(b)).enumerate() {
        assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
            "{what}: element {i}: {x:e} vs {y:e}"
        );
    }
}

type Chain = fn(&Tensor, &Tensor) -> Result<Tensor>;

/// Elementwise chains of two operands (x: [m, n], y: broadcast against it), which `jit` fuses.
fn chains() -> Vec<(&'static str, Chain)> {
    vec![
        ("sin·y + 1", |x, y| x.sin()?.mul(y)?.add_scalar(1.0)),
        ("exp(tanh x) / (1 + y²)", |x, y| {
            x.tanh()?.exp()?.div(&y.square()?.add_scalar(1.0)?)
        }),
        ("sigmoid, softplus, erf", |x, y| {
            x.sigmoid()?
                .add(&y.softplus()?)?
                .mul(&x.erf()?)?
                .sub(&y.mul_scalar(0.5)?)
        }),
        ("log, sqrt, abs (NaN where x < 0)", |x, y| {
            x.log()?.add(&x.abs()?.sqrt()?)?.mul(&y.cos()?)
        }),
        ("max, min, atan2, pow", |x, y| {
            x.maximum(y)?
                .minimum(&x.mul_scalar(2.0)?)?
                .atan2(&y.add_scalar(0.5)?)?
                .add(&x.abs()?.pow(&y.abs()?)?)
        }),
        ("rosenbrock terms", |x, y| {
            x.sub(&y.square()?)?
                .square()?
                .mul_scalar(100.0)?
                .add(&y.rsub_scalar(1.0)?.square()?)
        }),
        ("clamp, relu, reciprocal, rsqrt, expm1, log1p", |x, y| {
            x.clamp(-0.5, 0.75)?
                .relu()?
                .add(&y.abs()?.add_scalar(1.0)?.rsqrt()?)?
                .mul(&x.expm1()?.reciprocal()?)?
                .add(&y.abs()?.log1p()?)
        }),
        ("trig, hyperbolic, shared subexpressions", |x, y| {
            let s = x.sin()?;
            s.mul(&s)?
                .add(&x.cos()?.square()?)?
                .add(&y.tan()?.atan()?)?
                .mul(
                    &x.mul_scalar(0.3)?
                        .sinh()?
                        .add(&x.mul_scalar(0.2)?.cosh()?)?,
                )?
                .add(&x.mul_scalar(0.9)?.clamp(-1.0, 1.0)?.asin()?)
        }),
    ]
}

fn grid(m: usize, n: usize, dtype: DType, specials: bool) -> Result<Tensor> {
    let mut v: Vec<f64> = (0..m * n)
        .map(|i| ((i * 37 % 101) as f64 - 50.0) / 23.0)
        .collect();
    if specials {
        let sp = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1e300];
        for (k, s) in sp.iter().enumerate() {
            v[(k * 7) % (m * n)] = *s;
        }
    }
    Tensor::from_vec(v, &[m, n])?.to_dtype(dtype)
}

#[test]
fn fused_chains_equal_eager_bit_for_bit() -> Result<()> {
    for dtype in [DType::F64, DType::F32] {
        for specials in [false, true] {
            let x = grid(5, 7, dtype, specials)?;
            let xt = grid(7, 5, dtype, specials)?.t()?; // a strided input
            let row = grid(1, 7, dtype, false)?.reshape(&[7])?; // broadcast along rows
            let col = grid(5, 1, dtype, specials)?; // broadcast along columns
            let one = Tensor::from_slice(&[0.625]).to_dtype(dtype)?.reshape(&[])?;
            for (name, f) in chains() {
                let j = jit(move |(x, y): &(Tensor, Tensor)| f(x, y));
                for (xx, y, what) in [
                    (&x, &x, "same shape"),
                    (&x, &row, "row broadcast"),
                    (&x, &col, "column broadcast"),
                    (&x, &one, "scalar"),
                    (&xt, &x, "transposed"),
                    (&xt, &xt, "both transposed"),
                ] {
                    let want = f(xx, y)?;
                    for call in 0..2 {
                        let got: Tensor = j.call(&(xx.clone(), y.clone()))?;
                        same_bits(
                            &got,
                            &want,
                            &format!("{name}, {dtype:?}, {what}, specials {specials}, call {call}"),
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn fused_chains_over_many_tiles_and_both_cores() -> Result<()> {
    // 45000 elements: several tiles, split over threads; rows of 30 (tiles span rows, strided
    // operands gathered) and of 300 (tiles stay within a row)
    for (m, n) in [(1500, 30), (150, 300)] {
        let x = grid(m, n, DType::F64, true)?;
        let row = grid(1, n, DType::F64, false)?;
        let col = grid(m, 1, DType::F64, false)?;
        let xt = grid(n, m, DType::F64, false)?.t()?;
        for (name, f) in chains() {
            let j = jit(move |(x, y): &(Tensor, Tensor)| f(x, y));
            for (xx, y) in [(&x, &row), (&x, &col), (&x, &xt), (&xt, &row), (&xt, &col)] {
                let got: Tensor = j.call(&(xx.clone(), y.clone()))?;
                same_bits(&got, &f(xx, y)?, &format!("{name}, {m}x{n}"));
            }
        }
    }
    Ok(())
}

#[test]
fn fused_groups_with_several_outputs_and_outside_readers() -> Result<()> {
    // `a` is read by a reduction and by the chain after it; `b` and `c` are both outputs
    let f = |x: &Tensor, y: &Tensor| -> Result<(Tensor, Tensor, Tensor)> {
        let a = x.sin()?.mul(y)?;
        let s = a.sum()?;
        let b = a.exp()?.add(&x.cos()?)?;
        let c = b.mul(&a)?.sub(&s)?.tanh()?;
        Ok((b, c, s))
    };
    let j = jit(|(x, y): &(Tensor, Tensor)| f(x, y));
    let x = grid(6, 4, DType::F64, true)?;
    let y = grid(6, 1, DType::F64, false)?;
    for _ in 0..2 {
        let (b, c, s): (Tensor, Tensor, Tensor) = j.call(&(x.clone(), y.clone()))?;
        let (wb, wc, ws) = f(&x, &y)?;
        same_bits(&b, &wb, "b");
        same_bits(&c, &wc, "c");
        same_bits(&s, &ws, "s");
    }
    // an output that is an input, and one that is a constant
    let k = Tensor::from_slice(&[1.5, 2.5, 3.5, 4.5]);
    let g = jit(|x: &Tensor| -> Result<(Tensor, Tensor, Tensor)> {
        Ok((x.clone(), k.clone(), x.exp()?.mul(&k)?.log()?))
    });
    let x = Tensor::from_slice(&[0.1, 0.2, 0.3, 0.4]);
    for _ in 0..2 {
        let (a, b, c): (Tensor, Tensor, Tensor) = g.call(&x)?;
        same_bits(&a, &x, "input");
        same_bits(&b, &k, "constant");
        same_bits(&c, &x.exp()?.mul(&k)?.log()?, "chain");
    }
    Ok(())
}

#[test]
fn fused_programs_compose_with_outer_transforms() -> Result<()> {
    let f = |x: &Tensor| -> Result<Tensor> {
        let y = x.narrow(0, 0, 3)?;
        x.sin()?
            .mul(&x.exp()?)?
            .add(&y.square()?.sum()?)?
            .tanh()?
            .sum()
    };
    let x = Tensor::from_slice(&[0.3, -0.7, 1.1, 0.4, -1.9]);
    let xs = grid(3, 5, DType::F64, false)?.mul_scalar(0.3)?;
    let j = jit(f);
    let _: Tensor = j.call(&x)?; // compiled, fused
    close(&grad(j.clone()).call(&x)?, &grad(f).call(&x)?, "grad(jit)");
    close(
        &vmap(j.clone()).call(&xs)?,
        &vmap(f).call(&xs)?,
        "vmap(jit)",
    );
    close(
        &hessian(j.clone()).call(&x)?,
        &hessian(f).call(&x)?,
        "hessian(jit)",
    );
    close(
        &jacfwd(jit(grad(f))).call(&x)?,
        &hessian(f).call(&x)?,
        "jacfwd(jit(grad))",
    );
    // the compiled Hessian itself runs fused, and equals eager's bit for bit
    let h = jit(hessian(rosen));
    let x = grid(1, 40, DType::F64, false)?.reshape(&[40])?;
    for _ in 0..2 {
        same_bits(
            &h.call(&x)?,
            &hessian(rosen).call(&x)?,
            "jit(hessian(rosen))",
        );
    }
    let x32 = x.to_dtype(DType::F32)?;
    same_bits(
        &h.call(&x32)?,
        &hessian(rosen).call(&x32)?,
        "jit(hessian(rosen)) f32",
    );
    Ok(())
}

#[test]
fn the_compiled_program_shows_its_fused_groups() -> Result<()> {
    // large enough not to run as a small program
    let f = jit(|x: &Tensor| x.sin()?.mul_scalar(2.0)?.exp()?.sum());
    let x: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
    let t = f.trace(&Tensor::from_vec(x, &[1000])?)?;
    let text = t.compiled().to_string();
    println!("{text}");
    assert!(text.contains("= fused a {"), "{text}");
    assert!(text.contains("        b:f64[1000] = sin a"), "{text}");
    assert!(text.contains("sum"), "{text}");
    Ok(())
}

#[test]
fn basis_constants_run_in_sparse_form_with_eager_bits() -> Result<()> {
    // captured constants with one nonzero a row (an identity, a slice of one, a multiple of
    // one, one with an empty row), against inputs with NaN and infinities
    let n = 300;
    let eye: Vec<f64> = (0..n * n)
        .map(|i| if i / n == i % n { 1.0 } else { 0.0 })
        .collect();
    let eye = Tensor::from_vec(eye, &[n, n])?;
    let mut e2 = vec![0.0; n * (n - 1)];
    for i in 0..n - 1 {
        e2[i * (n - 1) + i] = if i % 3 == 0 { -2.5 } else { f64::INFINITY };
    }
    let e2 = Tensor::from_vec(e2, &[n, n - 1])?;
    let x = grid(n, n, DType::F64, true)?;
    let f = |x: &Tensor, eye: &Tensor, e2: &Tensor| -> Result<(Tensor, Tensor)> {
        let a = x.sin()?.mul(eye)?.add(&x.mul_scalar(0.5)?)?;
        let e3 = eye.narrow(1, 0, n - 1)?.mul_scalar(3.0)?;
        let b = x
            .narrow(1, 1, n - 1)?
            .exp()?
            .mul(e2)?
            .sub(&e2.neg()?.mul(&e3)?)?;
        Ok((a, b))
    };
    let (e, e2c) = (eye.clone(), e2.clone());
    let j = jit(move |x: &Tensor| f(x, &e, &e2c));
    let text = j.trace(&x)?.compiled().to_string();
    // the identity and `e2`; not `-e2 · e3`, whose zeros are -0.0 (kept as they are)
    assert_eq!(text.matches("(sparse)").count(), 2, "{text}");
    for _ in 0..2 {
        let (a, b): (Tensor, Tensor) = j.call(&x)?;
        let (wa, wb) = f(&x, &eye, &e2)?;
        same_bits(&a, &wa, "a");
        same_bits(&b, &wb, "b");
    }
    // the Hessians whose standard basis takes this form
    let x = grid(1, n, DType::F64, false)?.reshape(&[n as i64])?;
    let sin_sum = |x: &Tensor| x.sin()?.sum();
    same_bits(
        &jit(hessian(sin_sum)).call(&x)?,
        &hessian(sin_sum).call(&x)?,
        "sin_sum",
    );
    same_bits(
        &jit(hessian(rosen)).call(&x)?,
        &hessian(rosen).call(&x)?,
        "rosen",
    );
    Ok(())
}

#[test]
fn pads_fuse_into_their_readers_as_guarded_loads() -> Result<()> {
    // gradients of slices are pads; here their readers are elementwise, so the pads are read
    // through guarded loads (the rows are long enough for row mode)
    type Slicer = fn(&Tensor) -> Result<Tensor>;
    let slicers: [(&str, Slicer); 4] = [
        ("last dim, step 1", |x| x.narrow(1, 5, 200)),
        ("last dim, step 3", |x| x.slice(1, 2, 290, 3)),
        ("first dim, step 2", |x| x.slice(0, 1, 30, 2)),
        ("first dim, step 1", |x| x.narrow(0, 3, 10)),
    ];
    let x = grid(40, 300, DType::F64, true)?;
    let xt = grid(300, 40, DType::F64, true)?.t()?;
    for (name, sl) in slicers {
        let f = move |x: &Tensor| -> Result<Tensor> {
            let g: Tensor = grad(move |x: &Tensor| sl(x)?.sin()?.sum()).call(x)?;
            let h: Tensor = grad(move |x: &Tensor| sl(x)?.square()?.sum()).call(x)?;
            g.mul(&x.exp()?)?.add(&h)?.sub(&g.square()?)
        };
        let j = jit(f);
        let text = j.trace(&x)?.compiled().to_string();
        assert!(text.contains("pad[dim="), "{name}: {text}");
        for x in [&x, &xt] {
            for _ in 0..2 {
                same_bits(&j.call(x)?, &f(x)?, name);
            }
        }
    }
    Ok(())
}

#[test]
fn pads_over_short_rows_run_in_tiles_of_whole_rows() -> Result<()> {
    // rows of 64 to 512 read through pads take tiles of several whole rows (NOTE:
    // [row-blocks]); on both cores the pieces start mid-row (96 does not divide them), and
    // the last tile of a piece may be one row or part of one
    type Slicer = fn(&Tensor, usize, usize) -> Result<Tensor>;
    let slicers: [(&str, Slicer); 4] = [
        ("last dim, step 1", |x, _, w| x.narrow(1, 5, w - 10)),
        ("last dim, step 3", |x, _, w| x.slice(1, 2, w as i64 - 3, 3)),
        ("first dim, step 2", |x, r, _| {
            x.slice(0, 1, r as i64 - 2, 2)
        }),
        ("first dim, step 1", |x, r, _| x.narrow(0, 3, r / 2)),
    ];
    for (rows, width) in [(400, 96), (7, 130), (1000, 70), (6, 512)] {
        let x = grid(rows, width, DType::F64, true)?;
        for (name, sl) in slicers {
            let f = move |x: &Tensor| -> Result<Tensor> {
                let g: Tensor = grad(move |x: &Tensor| sl(x, rows, width)?.sin()?.sum()).call(x)?;
                let h: Tensor =
                    grad(move |x: &Tensor| sl(x, rows, width)?.square()?.sum()).call(x)?;
                g.mul(&x.exp()?)?.add(&h)?.sub(&g.square()?)
            };
            let j = jit(f);
            let text = j.trace(&x)?.compiled().to_string();
            assert!(text.contains("pad[dim="), "{name}: {text}");
            for _ in 0..2 {
                same_bits(&j.call(&x)?, &f(&x)?, &format!("{name}, {rows} x {width}"));
            }
        }
    }
    // Rosenbrock's Hessian at widths around a tile's half, the sum of two pads of rows
    for n in [64, 100, 130, 511, 513] {
        let x = grid(1, n, DType::F64, true)?.reshape(&[n as i64])?;
        let j = jit(hessian(rosen));
        for _ in 0..2 {
            same_bits(
                &j.call(&x)?,
                &hessian(rosen).call(&x)?,
                &format!("rosen {n}"),
            );
        }
    }
    Ok(())
}

#[test]
fn small_programs_run_over_one_arena_with_views_as_index_maps() -> Result<()> {
    // a Hessian of three variables: every value is tiny
    let f = |x: &Tensor| -> Result<Tensor> {
        let (x0, x1, x2) = (x.get(0)?, x.get(1)?, x.get(2)?);
        x0.square()?
            .mul(&x1)?
            .add(&x1.mul(&x2)?.sin()?)?
            .add(&x0.mul(&x2)?.exp()?)
    };
    let j = jit(hessian(f));
    let x = Tensor::from_slice(&[0.5, -1.0, 0.25]);
    let text = j.trace(&x)?.compiled().to_string();
    println!("{text}");
    assert!(text.contains("small program"), "{text}");
    // `x.get(i)` (a slice and a reshape) is a part of the input: no op
    assert!(
        text.contains("reshape { shape: [] } b    -- alias"),
        "{text}"
    );
    // the pads are gathers, and the reshapes and transpose after the sum one more
    assert!(text.contains("-- gather"), "{text}");
    assert!(!text.contains("fused"), "{text}");
    let xs = [
        x,
        Tensor::from_slice(&[1.5, 2.0, -0.75]),
        Tensor::from_slice(&[f64::NAN, f64::INFINITY, -0.0]),
    ];
    for x in &xs {
        // the second call reuses the arena of the first
        for _ in 0..2 {
            same_bits(&j.call(x)?, &hessian(f).call(x)?, "small Hessian");
        }
    }

    // broadcast operands (a row, a column, a scalar), a product and a reduction (run by their
    // kernels), a chain of views folded into one gather, an output that is an input, f32, and
    // a transposed (strided) input
    type Outs = (Tensor, Tensor, Tensor, Tensor);
    let g = |(a, b): &(Tensor, Tensor)| -> Result<Outs> {
        let s = a.sin()?.mul(b)?; // [4, 3] · [3]
        let col = a.sum_dims(&[1], true)?; // [4, 1]
        let p = s.add(&col)?.matmul(&b.reshape(&[3, 1])?)?; // [4, 1]
        let v = a.t()?.flip(&[0])?.slice(1, 1, 4, 2)?.reshape(&[6])?; // folded views
        let w = Tensor::cat(&[v.clone(), b.clone()], 0)?.mul_scalar(2.0)?;
        let e = p.exp()?.add(&a.get(0)?.get(1)?)?; // a scalar operand
        Ok((e, w, b.clone(), v.neg()?))
    };
    let jg = jit(g);
    for dtype in [DType::F64, DType::F32] {
        let a = grid(4, 3, dtype, true)?;
        let at = grid(3, 4, dtype, false)?.t()?;
        let b = grid(1, 3, dtype, false)?.reshape(&[3])?;
        for a in [&a, &at] {
            let args = (a.clone(), b.clone());
            let text = jg.trace(&args)?.compiled().to_string();
            assert!(text.contains("small program"), "{text}");
            assert!(text.contains("-- folded"), "{text}");
            for _ in 0..2 {
                let got: Outs = jg.call(&args)?;
                let want = g(&args)?;
                same_bits(&got.0, &want.0, "e");
                same_bits(&got.1, &want.1, "w");
                same_bits(&got.2, &want.2, "b");
                same_bits(&got.3, &want.3, "v");
            }
        }
    }
    // values above the limit run as fused steps
    let big = grid(40, 30, DType::F64, false)?;
    let text = jit(|x: &Tensor| x.sin()?.exp())
        .trace(&big)?
        .compiled()
        .to_string();
    assert!(
        !text.contains("small program") && text.contains("fused"),
        "{text}"
    );
    Ok(())
}

#[test]
fn operands_repeated_along_leading_dims_are_read_in_place() -> Result<()> {
    // rows too short for row mode; the operand repeats every 2048, 320 (not a divisor of a
    // tile) and 6144 positions (more than a tile), on one and on both cores
    for (lead, inner) in [
        (&[40usize][..], &[64usize, 32][..]),
        (&[3, 50], &[10, 32]),
        (&[12], &[3, 64, 32]),
    ] {
        let mut full = lead.to_vec();
        full.extend_from_slice(inner);
        let m: usize = lead.iter().product();
        let k: usize = inner.iter().product();
        let x = grid(m, k, DType::F64, true)?
            .reshape(&full.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
        let y = grid(1, k, DType::F64, true)?
            .reshape(&inner.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
        for (name, f) in chains() {
            let j = jit(move |(x, y): &(Tensor, Tensor)| f(x, y));
            for _ in 0..2 {
                let got: Tensor = j.call(&(x.clone(), y.clone()))?;
                same_bits(&got, &f(&x, &y)?, &format!("{name}, {full:?}"));
            }
        }
    }
    Ok(())
}

#[test]
fn producers_read_only_through_row_pads_run_a_row_at_a_time() -> Result<()> {
    // Rosenbrock's Hessian: the two [n, n - 1] halves are read only through pads along the
    // rows by the [n, n] sum, so they are computed row by row ahead of it, never materialized
    for n in [300, 600] {
        let x = grid(1, n, DType::F64, true)?.reshape(&[n as i64])?;
        let j = jit(hessian(rosen));
        let text = j.trace(&x)?.compiled().to_string();
        assert!(text.contains("(row)"), "{text}");
        assert_eq!(text.matches("= fused").count(), 2, "{text}");
        for _ in 0..2 {
            same_bits(&j.call(&x)?, &hessian(rosen).call(&x)?, "rosen");
        }
    }
    // a producer with other readers keeps its output
    let f = |x: &Tensor| -> Result<(Tensor, Tensor)> {
        let g: Tensor = grad(|x: &Tensor| x.narrow(1, 1, 199)?.sin()?.sum()).call(x)?;
        Ok((g.mul(x)?, x.narrow(1, 1, 199)?.cos()?.exp()?))
    };
    let x = grid(30, 200, DType::F64, true)?;
    let j = jit(f);
    for _ in 0..2 {
        let (a, b): (Tensor, Tensor) = j.call(&x)?;
        let (wa, wb) = f(&x)?;
        same_bits(&a, &wa, "a");
        same_bits(&b, &wb, "b");
    }
    Ok(())
}

#[test]
fn rows_away_from_basis_nonzeros_are_constants_with_eager_bits() -> Result<()> {
    // Rosenbrock's Hessian: away from the band around the diagonal every element is +0 (the
    // zeros in between have either sign, but each chain ends in `+0 + ±0`), so only the band is
    // computed when the input is finite; a NaN or an infinity runs everything
    for n in [300, 700] {
        let mut xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 2.0).collect();
        xs[3] = -0.0;
        xs[10] = 0.0;
        let x = Tensor::from_vec(xs.clone(), &[n])?;
        let j = jit(hessian(rosen));
        let text = j.trace(&x)?.compiled().to_string();
        assert!(
            text.contains("-- elsewhere than the nonzeros' columns: 0.0\n"),
            "{text}"
        );
        for _ in 0..2 {
            same_bits(&j.call(&x)?, &hessian(rosen).call(&x)?, "rosen");
        }
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut b = xs.clone();
            b[n / 2] = bad;
            let x = Tensor::from_vec(b, &[n])?;
            same_bits(&j.call(&x)?, &hessian(rosen).call(&x)?, "rosen, not finite");
        }
    }
    // n = 100 (fewer than 2¹⁴ positions): the ten-instruction kernel still reads the basis in
    // sparse form, with a template row
    let n = 100;
    let mut xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 2.0).collect();
    xs[3] = -0.0;
    let x = Tensor::from_vec(xs.clone(), &[n])?;
    let j = jit(hessian(rosen));
    let text = j.trace(&x)?.compiled().to_string();
    assert!(
        text.contains("(sparse)") && text.contains("the template row"),
        "{text}"
    );
    for _ in 0..2 {
        same_bits(&j.call(&x)?, &hessian(rosen).call(&x)?, "rosen, n = 100");
    }
    xs[50] = f64::NAN;
    let x = Tensor::from_vec(xs, &[n])?;
    same_bits(
        &j.call(&x)?,
        &hessian(rosen).call(&x)?,
        "rosen, n = 100, NaN",
    );
    // chains over a captured basis: `e·y` is a zero of y's sign away from the nonzeros, then
    // `+ 2e` (+0 there) makes it +0 and `+ 1.5` 1.5: constant; `e·y + e·z` stays a signed zero
    // (not constant: each row away from the nonzeros is the template row, the kernel over
    // `e = +0` and the rows of y and z, which are broadcast; a full-shaped y computes all)
    let n = 200;
    for dtype in [DType::F64, DType::F32] {
        let eye = Tensor::eye(n, dtype)?;
        let mut y = grid(1, n, dtype, false)?.to_vec_f64()?;
        y[5] = -0.0;
        let y = Tensor::from_vec(y, &[n])?.to_dtype(dtype)?;
        let z = y.mul_scalar(-3.0)?;
        let (e1, e2) = (eye.clone(), eye.clone());
        let constant = move |y: &Tensor| -> Result<Tensor> {
            e1.mul(y)?
                .mul_scalar(-2.0)?
                .add(&e1.mul_scalar(2.0)?)?
                .add_scalar(1.5)
        };
        let signed =
            move |(y, z): &(Tensor, Tensor)| -> Result<Tensor> { e2.mul(y)?.add(&e2.mul(z)?) };
        let (jc, js) = (jit(constant.clone()), jit(signed.clone()));
        let text = jc.trace(&y)?.compiled().to_string();
        assert!(text.contains("columns: 1.5\n"), "{text}");
        let text = js.trace(&(y.clone(), z.clone()))?.compiled().to_string();
        assert!(
            text.contains("(sparse)") && text.contains("columns: the template row\n"),
            "{text}"
        );
        for _ in 0..2 {
            let got = jc.call(&y)?;
            same_bits(&got, &constant(&y)?, "constant");
            assert_eq!(vals(&got)[1], 1.5);
            let yz = (y.clone(), z.clone());
            same_bits(&js.call(&yz)?, &signed(&yz)?, "signed");
        }
        let mut bad = y.to_vec_f64()?;
        bad[7] = f64::NAN;
        bad[9] = f64::NEG_INFINITY;
        let bad = Tensor::from_vec(bad, &[n])?.to_dtype(dtype)?;
        same_bits(&jc.call(&bad)?, &constant(&bad)?, "constant, NaN");
        let yz = (bad.clone(), z.clone());
        same_bits(&js.call(&yz)?, &signed(&yz)?, "signed, NaN and -inf");
        // operands that differ from row to row: the same program, computed in full
        let full = grid(n, n, dtype, true)?;
        let yz = (full.clone(), full.mul_scalar(-0.5)?);
        same_bits(&js.call(&yz)?, &signed(&yz)?, "signed, full-shaped");
    }
    // the Hessian of Σ sin xᵢ: the diagonal times -sin x, signed zeros elsewhere
    let sin_sum = |x: &Tensor| x.sin()?.sum();
    let n = 150;
    let mut xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).cos() * 3.0).collect();
    xs[4] = -0.0;
    xs[8] = f64::NAN;
    let x = Tensor::from_vec(xs, &[n])?;
    let j = jit(hessian(sin_sum));
    let text = j.trace(&x)?.compiled().to_string();
    assert!(text.contains("the template row"), "{text}");
    for _ in 0..2 {
        same_bits(&j.call(&x)?, &hessian(sin_sum).call(&x)?, "sin sum");
    }
    Ok(())
}

#[test]
fn wide_spans_and_every_input_layout_under_a_skip_plan_have_eager_bits() -> Result<()> {
    // a second basis whose nonzeros lie 300 columns right of the diagonal (none in the last
    // rows) widens each row's computed columns to 301, longer than a tile of the compacted
    // columns; the other inputs are a broadcast row, a column, a full-shaped array and a
    // transposed one, each read at the computed columns only
    let n = 1300;
    for dtype in [DType::F64, DType::F32] {
        let eye = Tensor::eye(n, dtype)?;
        let mut b = vec![0.0; n * n];
        for r in 0..n - 300 {
            b[r * n + r + 300] = 0.5 + (r % 7) as f64;
        }
        let far = Tensor::from_vec(b, &[n, n])?.to_dtype(dtype)?;
        let y = grid(1, n, dtype, false)?.reshape(&[n as i64])?;
        let col = grid(n, 1, dtype, false)?.mul_scalar(0.25)?;
        let w = grid(n, n, dtype, false)?;
        let wt = w.transpose(0, 1)?.mul_scalar(1.0)?.transpose(0, 1)?;
        let (e1, e2) = (eye.clone(), far.clone());
        let f = move |(y, col, w, wt): &(Tensor, Tensor, Tensor, Tensor)| -> Result<Tensor> {
            e1.mul(y)?
                .add(&e2.mul(col)?)?
                .add(&e1.mul(w)?)?
                .add(&e2.mul(&wt.transpose(0, 1)?)?)?
                .mul_scalar(-2.0)?
                .add(&e1.mul_scalar(2.0)?)?
                .add_scalar(1.5)
        };
        let args = (y.clone(), col.clone(), w.clone(), wt.clone());
        let j = jit(f.clone());
        let text = j.trace(&args)?.compiled().to_string();
        assert!(text.contains("columns: 1.5\n"), "{text}");
        for _ in 0..2 {
            let got = j.call(&args)?;
            same_bits(&got, &f(&args)?, "wide spans");
            assert_eq!(vals(&got)[n - 1], 1.5);
        }
    }
    Ok(())
}

#[test]
fn sums_over_leading_dims_have_eager_bits() -> Result<()> {
    // terms whose sum depends on the order they are added in (1e16 + 1 - 1e16), -0.0, NaN
    let (m, n) = (37, 300);
    let mut v: Vec<f64> = (0..m * n)
        .map(|i| ((i * 37 % 101) as f64 - 50.0) / 23.0)
        .collect();
    for j in 0..n {
        v[j] = 1e16;
        v[n + j] = 1.0 + j as f64;
        v[2 * n + j] = -1e16;
    }
    v[5 * n + 3] = -0.0;
    v[6 * n + 4] = f64::NAN;
    for dtype in [DType::F64, DType::F32] {
        let x = Tensor::from_vec(v.clone(), &[m, n])?.to_dtype(dtype)?;
        let x3 = x.reshape(&[m as i64, 3, 100])?;
        let f = |(x, x3): &(Tensor, Tensor)| -> Result<(Tensor, Tensor, Tensor, Tensor)> {
            let y = x.mul_scalar(1.5)?;
            Ok((
                y.sum_dims(&[0], false)?,
                y.sum_dims(&[0], true)?,
                x3.exp()?.sum_dims(&[1, 0], false)?,
                // a transposed value
                y.t()?.sum_dims(&[0], false)?,
            ))
        };
        let j = jit(f);
        let args = (x.clone(), x3.clone());
        for _ in 0..2 {
            let got: (Tensor, Tensor, Tensor, Tensor) = j.call(&args)?;
            let want = f(&args)?;
            same_bits(&got.0, &want.0, "dim 0");
            same_bits(&got.1, &want.1, "dim 0, kept");
            same_bits(&got.2, &want.2, "dims 0 and 1");
            same_bits(&got.3, &want.3, "transposed");
        }
    }
    Ok(())
}

#[test]
fn short_blocks_repeated_along_leading_dims_read_in_place() -> Result<()> {
    // a bias row shorter than a tile (100 and 30 elements), a [3, 40] block repeated over
    // [70, 3, 40], and the same through explicit broadcasts: read as repeated blocks (no gather,
    // no row mode), with eager's bits
    for dtype in [DType::F64, DType::F32] {
        for (m, n) in [(300, 100), (900, 30)] {
            let x = grid(m, n, dtype, true)?;
            let b = grid(1, n, dtype, true)?.reshape(&[n as i64])?;
            let f = |(x, b): &(Tensor, Tensor)| -> Result<Tensor> {
                let bb = b.broadcast_to(x.shape())?;
                x.add(b)?.tanh()?.mul(&bb)?.sub(&b.exp()?)
            };
            let j = jit(f);
            for _ in 0..2 {
                let args = (x.clone(), b.clone());
                same_bits(&j.call(&args)?, &f(&args)?, &format!("{m}x{n}, {dtype:?}"));
            }
        }
        let x = grid(70 * 3, 40, dtype, true)?.reshape(&[70, 3, 40])?;
        let blk = grid(3, 40, dtype, true)?;
        let f = |(x, b): &(Tensor, Tensor)| -> Result<Tensor> { x.mul(b)?.sin()?.add(b) };
        let j = jit(f);
        let args = (x, blk);
        same_bits(&j.call(&args)?, &f(&args)?, &format!("block, {dtype:?}"));
    }
    Ok(())
}

#[test]
fn outer_products_fuse_into_their_readers_with_eager_bits() -> Result<()> {
    // `v · w` with k = 1, read only by elementwise ops: fused into their kernel as the
    // broadcast multiply `v * w`, which is what eager's product computes unless an operand is
    // sparse (then eager writes +0 where the multiply gives -0: those calls run unfused)
    let f = |(v, w, z): &(Tensor, Tensor, Tensor)| -> Result<Tensor> {
        let y = v.matmul(w)?;
        y.mul(z)?.add(&y.sin()?)?.sub(z)
    };
    for dtype in [DType::F64, DType::F32] {
        let z = grid(40 * 64, 32, dtype, true)?.reshape(&[40, 64, 32])?;
        let dense_v = grid(40 * 64, 1, dtype, true)?.reshape(&[40, 64, 1])?;
        // one nonzero (negative: 0 · (-x) is -0 where eager's sparse route writes +0)
        let mut sv = vec![0.0; 40 * 64];
        sv[5] = -1.5;
        let sparse_v = Tensor::from_vec(sv, &[40, 64, 1])?.to_dtype(dtype)?;
        let dense_w = grid(1, 32, dtype, true)?.neg()?;
        let zero_w = Tensor::zeros(&[1, 32], dtype)?;
        let batch_w = grid(40, 32, dtype, false)?.reshape(&[40, 1, 32])?;
        let j = jit(f);
        let text = j
            .trace(&(dense_v.clone(), dense_w.clone(), z.clone()))?
            .compiled()
            .to_string();
        assert!(text.contains("= mul a b    -- matmul with k = 1"), "{text}");
        assert_eq!(text.matches("= fused").count(), 1, "{text}");
        // the dense case first (compiled), then the sparse ones replay the same program
        for (v, w, what) in [
            (&dense_v, &dense_w, "dense"),
            (&sparse_v, &dense_w, "sparse v"),
            (&dense_v, &zero_w, "zero w"),
            (&dense_v, &dense_w, "dense again"),
            (&dense_v, &batch_w, "batched w"),
            (&sparse_v, &batch_w, "sparse v, batched w"),
        ] {
            let args = (v.clone(), w.clone(), z.clone());
            let got: Tensor = j.call(&args)?;
            same_bits(&got, &f(&args)?, &format!("{what}, {dtype:?}"));
        }
    }
    // a product that something else reads stays a product
    let g = |(v, w): &(Tensor, Tensor)| -> Result<Tensor> {
        let y = v.matmul(w)?;
        y.sin()?.add(&y.sum()?)
    };
    let v = grid(64, 1, DType::F64, false)?;
    let w = grid(1, 32, DType::F64, false)?;
    let text = jit(g).trace(&(v, w))?.compiled().to_string();
    assert!(!text.contains("k = 1"), "{text}");
    assert!(text.contains("= matmul a b"), "{text}");
    Ok(())
}

#[test]
fn products_by_basis_constants_are_read_in_sparse_form_with_eager_bits() -> Result<()> {
    // h = e · c for a captured batch of 64 [16, 32] matrices with one nonzero each (some
    // scaled), one with two nonzeros in a column and one with two columns, read only by
    // elementwise ops: generated tile by tile from e, never materialized
    let (bn, k, n, m) = (64, 16, 32, 48);
    let mut cv = vec![0.0; bn * k * n];
    for b in 0..bn {
        cv[b * k * n + (b % k) * n + (b * 7) % n] = if b % 5 == 0 { -2.5 } else { 1.0 };
    }
    cv[3 * k * n + 9 * n + 21] = 0.75;
    cv[4 * k * n + 2 * n + 5] = 3.0;
    for dtype in [DType::F64, DType::F32] {
        type F = std::sync::Arc<dyn Fn(&(Tensor, Tensor)) -> Result<Tensor> + Send + Sync>;
        let c = Tensor::from_vec(cv.clone(), &[bn, k, n])?.to_dtype(dtype)?;
        let c2 = c.clone();
        let two: F = std::sync::Arc::new(move |(e, z): &(Tensor, Tensor)| {
            let h = e.matmul(&c)?;
            h.mul(z)?.add(&h.sin()?)
        });
        let alone: F = std::sync::Arc::new(move |(e, z): &(Tensor, Tensor)| e.matmul(&c2)?.mul(z));
        let mut e = grid(m, k, dtype, false)?.to_vec_f64()?;
        e[7] = -0.0;
        e[8] = 0.0;
        let e = Tensor::from_vec(e, &[m, k])?.to_dtype(dtype)?;
        let special = grid(m, k, dtype, true)?;
        // negative zeros and signs: +0 · z is -0 where z < 0
        let z = grid(m, n, dtype, true)?.neg()?;
        for (f, name) in [(two, "two readers"), (alone, "alone")] {
            let fc = f.clone();
            let g = jit(move |a: &(Tensor, Tensor)| fc(a));
            let text = g.trace(&(e.clone(), z.clone()))?.compiled().to_string();
            assert!(text.contains("(a · c0 sparse)"), "{text}");
            assert!(!text.contains("= matmul"), "{text}");
            // finite e runs the sparse form; a NaN or an infinity in e runs the product
            for (x, what) in [(&e, "finite"), (&special, "specials"), (&e, "finite again")] {
                let args = (x.clone(), z.clone());
                let got: Tensor = g.call(&args)?;
                same_bits(&got, &f(&args)?, &format!("{name}, {what}, {dtype:?}"));
            }
        }
    }
    Ok(())
}

#[test]
fn elementwise_values_of_basis_products_are_recomputed_by_later_kernels() -> Result<()> {
    // n = (e · c) * z is materialized for the product n · w; the later kernel that reads n
    // computes it again from e (a copy of the equation) instead of reading the array
    let (bn, k, n, m) = (64, 16, 32, 48);
    let mut cv = vec![0.0; bn * k * n];
    for b in 0..bn {
        cv[b * k * n + (b % k) * n + (b * 7) % n] = if b % 5 == 0 { -2.5 } else { 1.0 };
    }
    for dtype in [DType::F64, DType::F32] {
        let c = Tensor::from_vec(cv.clone(), &[bn, k, n])?.to_dtype(dtype)?;
        let w = grid(n, 1, dtype, false)?;
        let f = move |(e, z): &(Tensor, Tensor)| -> Result<Tensor> {
            let nn = e.matmul(&c)?.mul(z)?;
            let p = nn.matmul(&w)?;
            nn.mul(z)?.add(&p)?.sin()
        };
        let e = grid(m, k, dtype, false)?;
        let special = grid(m, k, dtype, true)?;
        let z = grid(m, n, dtype, true)?.neg()?;
        let j = jit(f.clone());
        let text = j.trace(&(e.clone(), z.clone()))?.compiled().to_string();
        assert_eq!(text.matches("(a · c0 sparse)").count(), 2, "{text}");
        assert_eq!(text.matches("= matmul").count(), 1, "{text}");
        for (x, what) in [(&e, "finite"), (&special, "specials"), (&e, "finite again")] {
            let args = (x.clone(), z.clone());
            let got: Tensor = j.call(&args)?;
            same_bits(&got, &f(&args)?, &format!("{what}, {dtype:?}"));
        }
    }
    Ok(())
}
