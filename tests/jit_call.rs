//! `jit` under outer transforms (`NOTE: [jit-call]`): after the first call, a compiled
//! signature meets `grad`, `jvp` and `vmap` as one primitive whose rules are compiled too. Each
//! composition is checked against eager on three calls (the trace, the first call through the
//! compiled rules, and a replay of them), and the rules are traced once per signature.

use functorch::{
    DType, Jit, Result, Tensor, Tree, grad, hessian, hvp, jacfwd, jacrev, jit, jvp, vmap,
};

fn close(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    assert_eq!(a.dtype(), b.dtype(), "{what}: dtypes");
    let (a, b) = (a.to_vec_f64().unwrap(), b.to_vec_f64().unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
            "{what}: {x} vs {y}"
        );
    }
}

fn f(x: &Tensor) -> Result<Tensor> {
    // several ops, a view, a reduction: x · sin(x)[::-1] summed, plus Σ exp(x/4)
    let n = x.dim(-1)?;
    let s = x.sin()?.flip(&[-1])?;
    x.mul(&s)?
        .sum_dims(&[-1], false)?
        .add(&x.mul_scalar(0.25)?.exp()?.sum_dims(&[-1], false)?)?
        .mul_scalar(1.0 / n as f64)
}

/// `eager` and `compiled` (which runs `j` under transforms) agree on three calls, and the
/// later calls went through `j`'s compiled rules (not a replay of its equations).
fn agree<F>(
    what: &str,
    j: &Jit<F>,
    eager: &dyn Fn() -> Result<Tensor>,
    compiled: &dyn Fn() -> Result<Tensor>,
) {
    let want = eager().unwrap();
    for call in 0..3 {
        close(&compiled().unwrap(), &want, &format!("{what}, call {call}"));
    }
    assert!(j.rule_traces() > 0, "{what}: the compiled rules were used");
}

#[test]
fn every_transform_outside_jit_gives_eager_results() -> Result<()> {
    let x = Tensor::from_slice(&[0.3, -1.2, 0.8, 2.0, 0.1]);
    let xs = Tensor::from_vec((0..15).map(|i| i as f64 * 0.13 - 0.7).collect(), &[3, 5])?;
    let v = Tensor::from_slice(&[1.0, 0.5, -0.25, 2.0, -1.0]);

    let jf = jit(f);
    agree("grad", &jf, &|| grad(f).call(&x), &|| {
        grad(jf.clone()).call(&x)
    });
    let jf = jit(f);
    agree("vmap", &jf, &|| vmap(f).call(&xs), &|| {
        vmap(jf.clone()).call(&xs)
    });
    let jf = jit(f);
    agree("hessian", &jf, &|| hessian(f).call(&x), &|| {
        hessian(jf.clone()).call(&x)
    });
    let jf = jit(f);
    agree(
        "jacfwd(jacfwd)",
        &jf,
        &|| jacfwd(jacfwd(f)).call(&x),
        &|| jacfwd(jacfwd(jf.clone())).call(&x),
    );
    let jf = jit(f);
    agree("vmap(grad)", &jf, &|| vmap(grad(f)).call(&xs), &|| {
        vmap(grad(jf.clone())).call(&xs)
    });
    let jf = jit(f);
    agree(
        "grad(vmap) summed",
        &jf,
        &|| grad(|x: &Tensor| vmap(f).call::<_, Tensor>(x)?.sum()).call(&xs),
        &|| {
            let jf = jf.clone();
            grad(move |x: &Tensor| vmap(jf.clone()).call::<_, Tensor>(x)?.sum()).call(&xs)
        },
    );
    let jf = jit(f);
    agree("hvp", &jf, &|| hvp(f).call::<_, _, Tensor>(&x, &v), &|| {
        hvp(jf.clone()).call::<_, _, Tensor>(&x, &v)
    });
    let jf = jit(f);
    agree(
        "jvp",
        &jf,
        &|| Ok(jvp(f).call::<_, (Tensor, Tensor)>(&x, &v)?.1),
        &|| Ok(jvp(jf.clone()).call::<_, (Tensor, Tensor)>(&x, &v)?.1),
    );
    // jit inside jit inside transforms
    let jg = jit(grad(jit(f)));
    agree(
        "jacrev(jit(grad(jit)))",
        &jg,
        &|| jacrev(grad(f)).call(&x),
        &|| jacrev(jg.clone()).call(&x),
    );
    Ok(())
}

#[test]
fn rules_are_traced_once_per_signature_and_replayed() -> Result<()> {
    let x = Tensor::from_slice(&[0.3, -1.2, 0.8]);
    let jf = jit(f);
    let h = hessian(jf.clone());
    let first: Tensor = h.call(&x)?;
    assert_eq!(
        (jf.traces(), jf.rule_traces()),
        (1, 0),
        "the first call traces f"
    );
    // each call compiles the rules one level further in, until all are compiled
    let mut before = 0;
    let mut calls = 1;
    while calls < 6 {
        let again: Tensor = h.call(&x)?;
        calls += 1;
        close(&again, &first, &format!("call {calls}"));
        if jf.rule_traces() == before {
            break;
        }
        before = jf.rule_traces();
    }
    assert!(before >= 2, "the rules were traced ({before})");
    // hessian = jacfwd(jacrev(f)) runs f under four levels (vmap, jvp, vmap, grad): the rules
    // are all compiled by the fourth call, and the fifth traces nothing
    assert!(calls <= 5, "calls until nothing was traced: {calls}");
    for _ in 0..3 {
        let again: Tensor = h.call(&x)?;
        close(&again, &first, "replay");
    }
    assert_eq!(jf.rule_traces(), before, "later calls replay them");
    assert_eq!(jf.traces(), 1);
    let after = before;
    // a new shape: a new signature of f, and new rules for it
    let _: Tensor = h.call(&Tensor::from_slice(&[0.1, 0.2]))?;
    let _: Tensor = h.call(&Tensor::from_slice(&[0.1, 0.2]))?;
    assert_eq!(jf.traces(), 2);
    assert!(jf.rule_traces() > after);
    // clearing the cache drops the rules with the signatures
    jf.clear_cache();
    assert_eq!(jf.rule_traces(), 0);
    Ok(())
}

#[test]
fn several_outputs_index_operands_and_f32() -> Result<()> {
    // two outputs (packed into one operand of the call and split again), and an integer
    // operand that has no tangent or cotangent
    let g = |(x, idx): &(Tensor, Tensor)| -> Result<(Tensor, Tensor)> {
        let picked = x.index_select(0, idx)?;
        Ok((picked.tanh()?.sum()?, x.square()?.mul(&picked.sum()?)?))
    };
    let x = Tensor::from_slice(&[0.5, -0.3, 1.1, 0.7]);
    let idx = Tensor::from_vec(vec![2i64, 0, 2], &[3])?;
    let args = (x.clone(), idx.clone());
    let jg = jit(g);
    for (name, make) in [("jacrev", 0), ("jacfwd", 1)] {
        let run = |h: &dyn Fn() -> Result<Tree>| {
            h().unwrap()
                .leaves()
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        let want = run(&|| {
            if make == 0 {
                jacrev(g).call(&args)
            } else {
                jacfwd(g).call(&args)
            }
        });
        for call in 0..3 {
            let got = run(&|| {
                if make == 0 {
                    jacrev(jg.clone()).call(&args)
                } else {
                    jacfwd(jg.clone()).call(&args)
                }
            });
            assert_eq!(got.len(), 2);
            for (a, b) in got.iter().zip(&want) {
                close(a, b, &format!("{name}, call {call}"));
            }
        }
    }
    assert!(
        jg.rule_traces() > 0,
        "the two outputs go through one call: traces {} rule traces {}",
        jg.traces(),
        jg.rule_traces()
    );

    // f32
    let x32 = x.to_dtype(DType::F32)?;
    let jf = jit(f);
    agree("grad f32", &jf, &|| grad(f).call(&x32), &|| {
        grad(jf.clone()).call(&x32)
    });
    assert!(jf.rule_traces() > 0);

    // outputs of two dtypes cannot be one operand: the equations are replayed instead
    let mixed = |x: &Tensor| -> Result<(Tensor, Tensor)> {
        Ok((x.sin()?.sum()?, x.to_dtype(DType::F32)?.exp()?))
    };
    let jm = jit(mixed);
    let want: Tree = jacrev(mixed).call(&x)?;
    for _ in 0..3 {
        let got: Tree = jacrev(jm.clone()).call(&x)?;
        for (a, b) in got.leaves().into_iter().zip(want.leaves()) {
            close(a, b, "two dtypes");
        }
    }
    assert_eq!(jm.rule_traces(), 0);
    Ok(())
}

#[test]
fn random_draws_stay_replayed_equations() -> Result<()> {
    // a draw must reach the running levels through bind (vmap's randomness decides how it
    // draws), so a graph with one is never bound as one call
    let noisy = |x: &Tensor| -> Result<Tensor> {
        x.add(&Tensor::rand(x.shape(), DType::F64)?.mul_scalar(0.0)?)?
            .square()?
            .sum()
    };
    let jn = jit(noisy);
    let x = Tensor::from_slice(&[1.0, 2.0]);
    for _ in 0..3 {
        close(
            &grad(jn.clone()).call(&x)?,
            &x.mul_scalar(2.0)?,
            "grad with a draw",
        );
    }
    assert_eq!(jn.rule_traces(), 0);
    Ok(())
}
