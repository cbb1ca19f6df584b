//! Users' own rules under every transform: `custom_jvp` (functions whose automatic derivative
//! is NaN: log1pexp at large x, the norm at 0), `custom_vjp` (residuals, a rule that differs
//! from autodiff, grad of grad), `checkpoint` (equal results), `implicit_root` (against closed
//! forms and finite differences), and the errors a user's mistakes get.

use functorch::{
    CustomJvp, CustomVjp, DType, ImplicitRoot, Randomness, Result, Tensor, checkpoint, custom_jvp,
    custom_vjp, grad, hessian, implicit_root, jacfwd, jacrev, jit, jvp, vjp, vmap,
};

mod common;
use common::{Rng, close_to, mat, vals, vec1};

type T = Result<Tensor>;

#[track_caller]
fn close(got: &Tensor, want: &Tensor, what: &str) {
    close_to(got, want, 1e-10, what);
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

// ------------------------------------------------------------------------------ custom_jvp

/// log(1 + eˣ): the automatic derivative eˣ/(1 + eˣ) is inf/inf = NaN for large x.
fn log1pexp() -> CustomJvp<
    impl Fn(&Tensor) -> T + Send + Sync + 'static,
    impl Fn(&Tensor, &Tensor, &Tensor) -> T + Send + Sync + 'static,
> {
    custom_jvp(
        |x: &Tensor| x.exp()?.log1p(),
        |x: &Tensor, t: &Tensor, _y: &Tensor| x.sigmoid()?.mul(t),
    )
    .name("log1pexp")
}

#[test]
fn log1pexp_uses_the_rule_under_every_transform() -> Result<()> {
    let f = log1pexp();
    let xs = [-3.0, 0.0, 2.0, 1000.0];
    let x = vec1(&xs);
    let s = vec1(&xs.map(sigmoid));
    let ds = vec1(&xs.map(|v| sigmoid(v) * (1.0 - sigmoid(v))));
    let naive: Tensor = grad(|x: &Tensor| x.exp()?.log1p()?.sum()).call(&x)?;
    assert!(vals(&naive)[3].is_nan(), "the naive derivative is NaN");

    let each = |x: &Tensor| f.call::<_, Tensor>(x);
    let total = |x: &Tensor| f.call::<_, Tensor>(x)?.sum();
    close(&grad(total).call(&x)?, &s, "grad");
    close(&vmap(grad(each)).call(&x)?, &s, "vmap(grad)");
    close(&jacfwd(each).call(&x)?, &s.diag()?, "jacfwd");
    close(&jacrev(each).call(&x)?, &s.diag()?, "jacrev");
    close(&hessian(total).call(&x)?, &ds.diag()?, "hessian");
    close(&vmap(grad(grad(each))).call(&x)?, &ds, "vmap(grad(grad))");
    close(
        &jacrev(jacrev(each))
            .call::<_, Tensor>(&x)?
            .sum_dims(&[0, 1], false)?,
        &ds,
        "jacrev(jacrev)",
    );
    let v = vec1(&[1.0, 2.0, 3.0, 4.0]);
    let (_, t): (Tensor, Tensor) = jvp(each).call(&x, &v)?;
    close(&t, &s.mul(&v)?, "jvp");
    let (_, pb): (Tensor, _) = vjp(each).call(&x)?;
    let (g,): (Tensor,) = pb.call(&v)?;
    close(&g, &s.mul(&v)?, "vjp");
    // the value is the function's
    let y: Tensor = f.call(&vec1(&[0.0]))?;
    close(&y, &vec1(&[2f64.ln()]), "value");
    Ok(())
}

/// ‖x‖ with the derivative x/‖x‖ taken as 0 at x = 0 (the automatic one is 0/0 there).
fn safe_norm() -> CustomJvp<
    impl Fn(&Tensor) -> T + Send + Sync + 'static,
    impl Fn(&Tensor, &Tensor, &Tensor) -> T + Send + Sync + 'static,
> {
    custom_jvp(
        |x: &Tensor| x.square()?.sum()?.sqrt(),
        |x: &Tensor, t: &Tensor, y: &Tensor| {
            let zero = y.eq_scalar(0.0)?;
            let denom = Tensor::where_(&zero, &y.ones_like()?, y)?;
            x.div(&denom)?.mul(t)?.sum()
        },
    )
    .name("safe_norm")
}

#[test]
fn norm_at_zero_has_the_rules_derivative() -> Result<()> {
    let f = safe_norm();
    let norm = |x: &Tensor| f.call::<_, Tensor>(x);
    let naive = |x: &Tensor| x.square()?.sum()?.sqrt();
    let zero = Tensor::zeros(&[3], DType::F64)?;
    assert!(
        vals(&grad(naive).call::<_, Tensor>(&zero)?)
            .iter()
            .all(|v| v.is_nan())
    );
    close(&grad(norm).call(&zero)?, &zero, "grad at 0");
    close(&jacfwd(norm).call(&zero)?, &zero, "jacfwd at 0");
    close(&jacrev(norm).call(&zero)?, &zero, "jacrev at 0");
    // the rule's own derivative at 0 (x / 1 there): the identity, finite
    close(
        &hessian(norm).call(&zero)?,
        &Tensor::eye(3, DType::F64)?,
        "hessian at 0",
    );
    // away from 0 every transform agrees with plain autodiff
    let x = vec1(&[0.3, -1.2, 2.0]);
    close(&grad(norm).call(&x)?, &grad(naive).call(&x)?, "grad");
    close(&jacfwd(norm).call(&x)?, &jacrev(naive).call(&x)?, "jacfwd");
    close(
        &hessian(norm).call(&x)?,
        &hessian(naive).call(&x)?,
        "hessian",
    );
    let gsum = |x: &Tensor| grad(norm).call::<_, Tensor>(x)?.square()?.sum();
    let gsum_naive = |x: &Tensor| grad(naive).call::<_, Tensor>(x)?.square()?.sum();
    close(
        &grad(gsum).call(&x)?,
        &grad(gsum_naive).call(&x)?,
        "grad(grad)",
    );
    // a batch with a zero row
    let xs = mat(vec![0.0, 0.0, 0.0, 0.3, -1.2, 2.0], &[2, 3]);
    let gs: Tensor = vmap(grad(norm)).call(&xs)?;
    let want = Tensor::stack(&[zero.clone(), grad(naive).call(&x)?], 0)?;
    close(&gs, &want, "vmap(grad)");
    let hs: Tensor = vmap(hessian(norm)).call(&xs)?;
    close(&hs.select(0, 1)?, &hessian(norm).call(&x)?, "vmap(hessian)");
    Ok(())
}

#[test]
fn custom_jvp_with_several_arguments_and_outputs() -> Result<()> {
    // (x, w) ↦ (sin(x w), Σ x²): a tuple in, a tuple out (packed into one primitive output)
    let f = custom_jvp(
        |(x, w): &(Tensor, Tensor)| Ok((x.mul(w)?.sin()?, x.square()?.sum()?)),
        |(x, w): &(Tensor, Tensor), (tx, tw): &(Tensor, Tensor), _y: &(Tensor, Tensor)| {
            let c = x.mul(w)?.cos()?;
            let dz = tx.mul(w)?.add(&x.mul(tw)?)?;
            Ok((c.mul(&dz)?, x.mul(tx)?.sum()?.mul_scalar(2.0)?))
        },
    );
    let naive = |(x, w): &(Tensor, Tensor)| Ok((x.mul(w)?.sin()?, x.square()?.sum()?));
    let custom = |a: &(Tensor, Tensor)| f.call::<_, (Tensor, Tensor)>(a);
    let mut r = Rng::for_name("custom_jvp_tuple");
    let x = vec1(&r.vec(3, -1.0, 1.0));
    let w = vec1(&r.vec(3, -1.0, 1.0));
    let args = (x.clone(), w.clone());
    let want: ((Tensor, Tensor), (Tensor, Tensor)) = jacrev(naive).argnums((0, 1)).call(&args)?;
    for (name, got) in [
        (
            "jacrev",
            jacrev(custom)
                .argnums((0, 1))
                .call::<_, ((Tensor, Tensor), (Tensor, Tensor))>(&args)?,
        ),
        ("jacfwd", jacfwd(custom).argnums((0, 1)).call(&args)?),
    ] {
        close(&got.0.0, &want.0.0, name);
        close(&got.0.1, &want.0.1, name);
        close(&got.1.0, &want.1.0, name);
        close(&got.1.1, &want.1.1, name);
    }
    // vmap over x only, w shared
    let xs = mat(r.vec(6, -1.0, 1.0), &[2, 3]);
    let scalar = |a: &(Tensor, Tensor)| {
        let (s, q) = f.call::<_, (Tensor, Tensor)>(a)?;
        s.sum()?.add(&q)
    };
    let scalar_naive = |a: &(Tensor, Tensor)| {
        let (s, q) = naive(a)?;
        s.sum()?.add(&q)
    };
    let gs: (Tensor, Tensor) = vmap(grad(scalar).argnums((0, 1)))
        .in_dims([Some(0), None])
        .call(&(xs.clone(), w.clone()))?;
    let gn: (Tensor, Tensor) = vmap(grad(scalar_naive).argnums((0, 1)))
        .in_dims([Some(0), None])
        .call(&(xs.clone(), w.clone()))?;
    close(&gs.0, &gn.0, "vmap(grad) x");
    close(&gs.1, &gn.1, "vmap(grad) w");
    // grad of vmap, w unbatched: its cotangent sums over the batch
    let outer = |w: &Tensor| {
        vmap(scalar)
            .in_dims([Some(0), None])
            .call::<_, Tensor>(&(xs.clone(), w.clone()))?
            .sum()
    };
    let outer_naive = |w: &Tensor| {
        vmap(scalar_naive)
            .in_dims([Some(0), None])
            .call::<_, Tensor>(&(xs.clone(), w.clone()))?
            .sum()
    };
    close(
        &grad(outer).call(&w)?,
        &grad(outer_naive).call(&w)?,
        "grad(vmap)",
    );
    close(
        &hessian(outer).call(&w)?,
        &hessian(outer_naive).call(&w)?,
        "hessian(vmap)",
    );
    Ok(())
}

// ------------------------------------------------------------------------------ custom_vjp

type Res = (Tensor, Tensor, Tensor);

/// sin(x w) with the residuals (cos(x w), x, w) and its backward.
// the closures' types can only be named as `impl Fn`, which no type alias can hold
#[allow(clippy::type_complexity)]
fn sin_mul() -> CustomVjp<
    impl Fn(&(Tensor, Tensor)) -> Result<(Tensor, Res)> + Send + Sync + 'static,
    impl Fn(&Res, &Tensor) -> Result<(Tensor, Tensor)> + Send + Sync + 'static,
> {
    custom_vjp(
        |(x, w): &(Tensor, Tensor)| {
            let z = x.mul(w)?;
            Ok((z.sin()?, (z.cos()?, x.clone(), w.clone())))
        },
        |(c, x, w): &Res, g: &Tensor| {
            let gc = g.mul(c)?;
            Ok((gc.mul(w)?, gc.mul(x)?))
        },
    )
    .name("sin_mul")
}

#[test]
fn custom_vjp_under_reverse_mode_vmap_and_grad_of_grad() -> Result<()> {
    let f = sin_mul();
    let custom = |a: &(Tensor, Tensor)| f.call::<_, Tensor>(a);
    let naive = |(x, w): &(Tensor, Tensor)| x.mul(w)?.sin();
    let total = |a: &(Tensor, Tensor)| custom(a)?.sum();
    let total_naive = |a: &(Tensor, Tensor)| naive(a)?.sum();
    let mut r = Rng::for_name("custom_vjp");
    let x = vec1(&r.vec(3, -1.0, 1.0));
    let w = vec1(&r.vec(3, -1.0, 1.0));
    let args = (x.clone(), w.clone());
    close(&f.call(&args)?, &naive(&args)?, "value");
    let g: (Tensor, Tensor) = grad(total).argnums((0, 1)).call(&args)?;
    let gn: (Tensor, Tensor) = grad(total_naive).argnums((0, 1)).call(&args)?;
    close(&g.0, &gn.0, "grad x");
    close(&g.1, &gn.1, "grad w");
    let u = vec1(&r.vec(3, -1.0, 1.0));
    let (_, pb): (Tensor, _) = vjp(custom).call(&args)?;
    let (_, pbn): (Tensor, _) = vjp(naive).call(&args)?;
    let (a, b): (Tensor, Tensor) = pb.call(&u)?;
    let (an, bn): (Tensor, Tensor) = pbn.call(&u)?;
    close(&a, &an, "vjp x");
    close(&b, &bn, "vjp w");
    close(
        &jacrev(custom).call(&args)?,
        &jacrev(naive).call(&args)?,
        "jacrev",
    );
    // vmap of grad (the backward runs on batched tracers), w shared
    let xs = mat(r.vec(6, -1.0, 1.0), &[2, 3]);
    let vg: (Tensor, Tensor) = vmap(grad(total).argnums((0, 1)))
        .in_dims([Some(0), None])
        .call(&(xs.clone(), w.clone()))?;
    let vgn: (Tensor, Tensor) = vmap(grad(total_naive).argnums((0, 1)))
        .in_dims([Some(0), None])
        .call(&(xs.clone(), w.clone()))?;
    close(&vg.0, &vgn.0, "vmap(grad) x");
    close(&vg.1, &vgn.1, "vmap(grad) w");
    // grad of vmap (a batched custom_vjp; w's cotangent sums over the batch)
    let outer = |w: &Tensor| {
        vmap(custom)
            .in_dims([Some(0), None])
            .call::<_, Tensor>(&(xs.clone(), w.clone()))?
            .sum()
    };
    let outer_naive = |w: &Tensor| {
        vmap(naive)
            .in_dims([Some(0), None])
            .call::<_, Tensor>(&(xs.clone(), w.clone()))?
            .sum()
    };
    close(
        &grad(outer).call(&w)?,
        &grad(outer_naive).call(&w)?,
        "grad(vmap)",
    );
    // second order: the backward is differentiated again
    let of_x = |x: &Tensor| total(&(x.clone(), w.clone()));
    let of_x_naive = |x: &Tensor| total_naive(&(x.clone(), w.clone()));
    let h = hessian(of_x_naive).call::<_, Tensor>(&x)?;
    close(&jacrev(jacrev(of_x)).call(&x)?, &h, "jacrev(jacrev)");
    close(
        &hessian(of_x).call(&x)?,
        &h,
        "hessian (forward over reverse)",
    );
    let gg = |x: &Tensor| grad(of_x).call::<_, Tensor>(x)?.square()?.sum();
    let gg_naive = |x: &Tensor| grad(of_x_naive).call::<_, Tensor>(x)?.square()?.sum();
    close(&grad(gg).call(&x)?, &grad(gg_naive).call(&x)?, "grad(grad)");
    close(
        &grad(outer).call(&w)?,
        &grad(outer_naive).call(&w)?,
        "grad(vmap) again",
    );
    Ok(())
}

#[test]
fn custom_vjp_rule_replaces_autodiff() -> Result<()> {
    // identity forward, doubled gradient backward
    let twice = custom_vjp(
        |x: &Tensor| Ok((x.clone(), ())),
        |_: &(), g: &Tensor| g.mul_scalar(2.0),
    );
    let f = |x: &Tensor| twice.call::<_, Tensor>(&x.square()?)?.sum();
    let x = vec1(&[1.0, -2.0]);
    close(&grad(f).call(&x)?, &vec1(&[4.0, -8.0]), "grad");
    close(
        &hessian(f).call(&x)?,
        &Tensor::eye(2, DType::F64)?.mul_scalar(4.0)?,
        "hessian",
    );
    close(
        &vmap(grad(f)).call(&x.unsqueeze(1)?)?,
        &vec1(&[4.0, -8.0]).unsqueeze(1)?,
        "vmap(grad)",
    );
    // a Vec argument: the backward returns a Vec
    let pair = custom_vjp(
        |v: &Vec<Tensor>| Ok((v[0].mul(&v[1])?, v.clone())),
        |v: &Vec<Tensor>, g: &Tensor| Ok(vec![g.mul(&v[1])?, g.mul(&v[0])?]),
    );
    let gs: Vec<Tensor> = grad(|v: &Vec<Tensor>| pair.call::<_, Tensor>(v)?.sum())
        .call(&vec![vec1(&[2.0]), vec1(&[5.0])])?;
    close(&gs[0], &vec1(&[5.0]), "d/da");
    close(&gs[1], &vec1(&[2.0]), "d/db");
    Ok(())
}

// ------------------------------------------------------------------------------ checkpoint

#[test]
fn checkpoint_gives_the_same_results() -> Result<()> {
    let block = checkpoint(|(h, w): &(Tensor, Tensor)| h.matmul(w)?.tanh());
    let plain_block = |(h, w): &(Tensor, Tensor)| h.matmul(w)?.tanh();
    let net = |(x, w): &(Tensor, Tensor)| -> T {
        let mut h = x.clone();
        for _ in 0..3 {
            h = block.call(&(h, w.clone()))?;
        }
        h.square()?.sum()
    };
    let net_plain = |(x, w): &(Tensor, Tensor)| -> T {
        let mut h = x.clone();
        for _ in 0..3 {
            h = plain_block(&(h, w.clone()))?;
        }
        h.square()?.sum()
    };
    let mut r = Rng::for_name("checkpoint");
    let x = vec1(&r.vec(4, -1.0, 1.0));
    let w = mat(r.vec(16, -0.8, 0.8), &[4, 4]);
    let args = (x.clone(), w.clone());
    close(&net(&args)?, &net_plain(&args)?, "value");
    let g: (Tensor, Tensor) = grad(net).argnums((0, 1)).call(&args)?;
    let gp: (Tensor, Tensor) = grad(net_plain).argnums((0, 1)).call(&args)?;
    close(&g.0, &gp.0, "grad x");
    close(&g.1, &gp.1, "grad w");
    let of_x = |x: &Tensor| net(&(x.clone(), w.clone()));
    let of_x_plain = |x: &Tensor| net_plain(&(x.clone(), w.clone()));
    let h = hessian(of_x_plain).call::<_, Tensor>(&x)?;
    close(&hessian(of_x).call(&x)?, &h, "hessian");
    close(&jacrev(jacrev(of_x)).call(&x)?, &h, "jacrev(jacrev)");
    close(&jacfwd(grad(of_x)).call(&x)?, &h, "jacfwd(grad)");
    let xs = mat(r.vec(8, -1.0, 1.0), &[2, 4]);
    close(
        &vmap(grad(of_x)).call(&xs)?,
        &vmap(grad(of_x_plain)).call(&xs)?,
        "vmap(grad)",
    );
    let of_w = |w: &Tensor| {
        vmap(|x: &Tensor| net(&(x.clone(), w.clone())))
            .call::<_, Tensor>(&xs)?
            .sum()
    };
    let of_w_plain = |w: &Tensor| {
        vmap(|x: &Tensor| net_plain(&(x.clone(), w.clone())))
            .call::<_, Tensor>(&xs)?
            .sum()
    };
    close(
        &grad(of_w).call(&w)?,
        &grad(of_w_plain).call(&w)?,
        "grad(vmap)",
    );
    Ok(())
}

// ------------------------------------------------------------------------------ implicit_root

/// x*(θ) = √θ by Newton's method on x² − θ (on concrete values, with a tolerance).
fn implicit_sqrt() -> ImplicitRoot<
    impl Fn(&Tensor) -> T + Send + Sync + 'static,
    impl Fn(&Tensor, &Tensor) -> T + Send + Sync + 'static,
> {
    implicit_root(
        |theta: &Tensor| {
            let t = theta.item()?;
            let mut x = t.max(1.0);
            while (x * x - t).abs() > 1e-15 * t.max(1.0) {
                x -= (x * x - t) / (2.0 * x);
            }
            Ok(Tensor::scalar(x))
        },
        |x: &Tensor, theta: &Tensor| x.square()?.sub(theta),
    )
    .name("sqrt")
}

#[test]
fn implicit_root_matches_closed_forms() -> Result<()> {
    let s = implicit_sqrt();
    let f = |t: &Tensor| s.call::<_, Tensor>(t);
    let t = Tensor::scalar(4.0);
    close(&f(&t)?, &Tensor::scalar(2.0), "value");
    close(&grad(f).call(&t)?, &Tensor::scalar(0.25), "grad");
    close(&jacfwd(f).call(&t)?, &Tensor::scalar(0.25), "jacfwd");
    close(&jacrev(f).call(&t)?, &Tensor::scalar(0.25), "jacrev");
    // d²√θ/dθ² = −1 / (4 θ^{3/2})
    close(
        &hessian(f).call(&t)?,
        &Tensor::scalar(-1.0 / 32.0),
        "hessian",
    );
    close(
        &grad(grad(f)).call(&t)?,
        &Tensor::scalar(-1.0 / 32.0),
        "grad(grad)",
    );
    let ts = vec1(&[1.0, 4.0, 9.0]);
    close(&vmap(f).call(&ts)?, &vec1(&[1.0, 2.0, 3.0]), "vmap");
    close(
        &vmap(grad(f)).call(&ts)?,
        &vec1(&[0.5, 0.25, 1.0 / 6.0]),
        "vmap(grad)",
    );
    close(
        &jacrev(|t: &Tensor| vmap(f).call::<_, Tensor>(t)).call(&ts)?,
        &vec1(&[0.5, 0.25, 1.0 / 6.0]).diag()?,
        "jacrev(vmap)",
    );
    Ok(())
}

/// F(x, (b, s)) = A x + s x³ − b for a fixed SPD A: solved by Newton's method on concrete values.
// the closures' types can only be named as `impl Fn`, which no type alias can hold
#[allow(clippy::type_complexity)]
fn cubic_system(
    a: Tensor,
) -> ImplicitRoot<
    impl Fn(&(Tensor, Tensor)) -> T + Send + Sync + 'static,
    impl Fn(&Tensor, &(Tensor, Tensor)) -> T + Send + Sync + 'static,
> {
    let a2 = a.clone();
    implicit_root(
        move |(b, s): &(Tensor, Tensor)| {
            let mut x = b.zeros_like()?;
            for _ in 0..100 {
                let fx = a.mv(&x)?.add(&x.pow_scalar(3.0)?.mul(s)?)?.sub(b)?;
                if fx.abs()?.max()?.item()? < 1e-14 {
                    break;
                }
                let jac = a.add(&x.square()?.mul(s)?.mul_scalar(3.0)?.diag()?)?;
                x = x.sub(&jac.solve(&fx)?)?;
            }
            Ok(x)
        },
        move |x: &Tensor, (b, s): &(Tensor, Tensor)| {
            a2.mv(x)?.add(&x.pow_scalar(3.0)?.mul(s)?)?.sub(b)
        },
    )
    .name("cubic")
}

/// Central finite differences of `f` along each coordinate of `x`: `[out..., in]`.
fn fd_jacobian(f: &dyn Fn(&Tensor) -> T, x: &Tensor, eps: f64) -> Result<Tensor> {
    let xv = vals(x);
    let mut cols = Vec::new();
    for i in 0..xv.len() {
        let (mut p, mut m) = (xv.clone(), xv.clone());
        p[i] += eps;
        m[i] -= eps;
        let d = f(&mat(p, x.shape()))?
            .sub(&f(&mat(m, x.shape()))?)?
            .div_scalar(2.0 * eps)?;
        cols.push(d);
    }
    Tensor::stack(&cols, -1)
}

#[test]
fn implicit_root_matches_finite_differences() -> Result<()> {
    let mut r = Rng::for_name("implicit");
    let a = common::spd(&mut r, &[], 3);
    let solve = cubic_system(a);
    let b = vec1(&r.vec(3, -2.0, 2.0));
    let s = Tensor::scalar(0.7);
    let x_of_b = |b: &Tensor| solve.call::<_, Tensor>(&(b.clone(), s.clone()));
    let fd = fd_jacobian(&x_of_b, &b, 1e-6)?;
    close_to(
        &jacrev(x_of_b).call(&b)?,
        &fd,
        1e-7,
        "jacrev vs finite differences",
    );
    close_to(
        &jacfwd(x_of_b).call(&b)?,
        &fd,
        1e-7,
        "jacfwd vs finite differences",
    );
    // with respect to the scalar s too (a tuple of parameters)
    let x_of_s = |s: &Tensor| solve.call::<_, Tensor>(&(b.clone(), s.clone()));
    let fd_s = fd_jacobian(
        &|s: &Tensor| x_of_s(&s.reshape(&[])?),
        &s.reshape(&[1])?,
        1e-6,
    )?;
    let js: (Tensor, Tensor) = jacrev(|a: &(Tensor, Tensor)| solve.call::<_, Tensor>(a))
        .argnums((0, 1))
        .call(&(b.clone(), s.clone()))?;
    close_to(
        &js.1,
        &fd_s.squeeze(-1)?,
        1e-7,
        "d/ds vs finite differences",
    );
    close(
        &js.0,
        &jacfwd(x_of_b).call(&b)?,
        "jacrev(argnums) vs jacfwd",
    );
    // grad of a loss of the solution, and its vmap over a batch of b
    let loss = |b: &Tensor| x_of_b(b)?.square()?.sum();
    let g: Tensor = grad(loss).call(&b)?;
    let fd_g = fd_jacobian(&|b: &Tensor| loss(b)?.reshape(&[1]), &b, 1e-6)?.squeeze(0)?;
    close_to(&g, &fd_g, 1e-7, "grad vs finite differences");
    let bs = mat(r.vec(6, -2.0, 2.0), &[2, 3]);
    let gs: Tensor = vmap(grad(loss)).call(&bs)?;
    for i in 0..2 {
        close(
            &gs.select(0, i)?,
            &grad(loss).call(&bs.select(0, i)?)?,
            "vmap(grad)",
        );
    }
    let js: Tensor = vmap(jacrev(x_of_b)).call(&bs)?;
    close(
        &js.select(0, 1)?,
        &jacfwd(x_of_b).call(&bs.select(0, 1)?)?,
        "vmap(jacrev)",
    );
    Ok(())
}

#[test]
fn implicit_root_matrix_free_matches_the_dense_solve() -> Result<()> {
    // a nonsymmetric, diagonally dominant A: ∂F/∂x and its transpose differ, so the forward
    // (jvp-operator) and reverse (vjp-operator) GMRES solves are both exercised
    let mut r = Rng::for_name("implicit_matrix_free");
    let a = common::well_conditioned(&mut r, &[], 4);
    let dense = cubic_system(a.clone());
    let free = cubic_system(a).matrix_free().tol(1e-13);
    let b = vec1(&r.vec(4, -2.0, 2.0));
    let s = Tensor::scalar(0.7);
    let (s1, s2) = (s.clone(), s.clone());
    let x_dense = move |b: &Tensor| dense.call::<_, Tensor>(&(b.clone(), s1.clone()));
    let x_free = move |b: &Tensor| free.call::<_, Tensor>(&(b.clone(), s2.clone()));
    close(&x_free(&b)?, &x_dense(&b)?, "value");
    let fd = fd_jacobian(&x_free, &b, 1e-6)?;
    let j_dense: Tensor = jacrev(x_dense.clone()).call(&b)?;
    close_to(&j_dense, &fd, 1e-7, "dense vs finite differences");
    for (name, j) in [
        ("jacrev", jacrev(x_free.clone()).call::<_, Tensor>(&b)?),
        ("jacfwd", jacfwd(x_free.clone()).call(&b)?),
        (
            "jacrev(chunk_size=3)",
            jacrev(x_free.clone()).chunk_size(3).call(&b)?,
        ),
    ] {
        close(&j, &j_dense, name);
        close_to(&j, &fd, 1e-7, name);
    }
    // grad of a loss, second order (the solve's own derivatives in x* and θ) and vmap
    let loss = |x_of_b: &dyn Fn(&Tensor) -> T, b: &Tensor| -> T {
        x_of_b(b)?
            .sub(&vec1(&[0.1, 0.2, -0.3, 0.4]))?
            .square()?
            .sum()
    };
    let l_dense = |b: &Tensor| loss(&x_dense, b);
    let l_free = |b: &Tensor| loss(&x_free, b);
    let g: Tensor = grad(l_free).call(&b)?;
    close(&g, &grad(l_dense).call(&b)?, "grad");
    let fd_g = fd_jacobian(&|b: &Tensor| l_free(b)?.reshape(&[1]), &b, 1e-6)?.squeeze(0)?;
    close_to(&g, &fd_g, 1e-7, "grad vs finite differences");
    let h_dense: Tensor = hessian(l_dense).call(&b)?;
    close_to(&hessian(l_free).call(&b)?, &h_dense, 1e-9, "hessian");
    close_to(
        &jacrev(grad(l_free)).call(&b)?,
        &h_dense,
        1e-9,
        "jacrev(grad)",
    );
    let fd_h = fd_jacobian(&|b: &Tensor| grad(l_dense).call::<_, Tensor>(b), &b, 1e-5)?;
    close_to(&h_dense, &fd_h, 1e-6, "hessian vs finite differences");
    let bs = mat(r.vec(8, -2.0, 2.0), &[2, 4]);
    close(
        &vmap(x_free.clone()).call(&bs)?,
        &vmap(x_dense.clone()).call(&bs)?,
        "vmap",
    );
    close(
        &vmap(grad(l_free)).call(&bs)?,
        &vmap(grad(l_dense)).call(&bs)?,
        "vmap(grad)",
    );
    close(
        &vmap(jacfwd(x_free.clone())).call(&bs)?,
        &vmap(jacrev(x_dense.clone())).call(&bs)?,
        "vmap(jacfwd)",
    );
    let gv = |b: &Tensor| vmap(l_free).call::<_, Tensor>(b)?.sum();
    let gv_dense = |b: &Tensor| vmap(l_dense).call::<_, Tensor>(b)?.sum();
    close(
        &grad(gv).call(&bs)?,
        &grad(gv_dense).call(&bs)?,
        "grad(vmap)",
    );
    // with respect to the scalar parameter too
    let a = common::well_conditioned(&mut Rng::for_name("implicit_matrix_free"), &[], 4);
    let free = cubic_system(a).matrix_free().tol(1e-13);
    let js: (Tensor, Tensor) = jacrev(|a: &(Tensor, Tensor)| free.call::<_, Tensor>(a))
        .argnums((0, 1))
        .call(&(b.clone(), s.clone()))?;
    close(&js.0, &j_dense, "jacrev(argnums=(0, 1)) b");
    let fd_s = fd_jacobian(
        &|s: &Tensor| free.call::<_, Tensor>(&(b.clone(), s.reshape(&[])?)),
        &s.reshape(&[1])?,
        1e-6,
    )?;
    close_to(
        &js.1,
        &fd_s.squeeze(-1)?,
        1e-7,
        "d/ds vs finite differences",
    );
    Ok(())
}

#[test]
fn implicit_root_matrix_free_errors() -> Result<()> {
    let mut r = Rng::for_name("implicit_matrix_free_errors");
    let a = common::well_conditioned(&mut r, &[], 6);
    let b = vec1(&r.vec(6, -2.0, 2.0));
    let s = Tensor::scalar(0.7);
    // too few iterations for the tolerance: a clear error, not a wrong answer
    let short = cubic_system(a.clone()).max_iter(2).tol(1e-13);
    assert_err(
        jacrev(|b: &Tensor| short.call::<_, Tensor>(&(b.clone(), s.clone()))).call::<_, Tensor>(&b),
        &[
            "implicit_root(cubic)",
            "did not converge",
            "6-unknown",
            "(∂F/∂x)ᵀ w = g",
            "after 2 iterations (max_iter = 2)",
        ],
    );
    assert_err(
        jacfwd(|b: &Tensor| short.call::<_, Tensor>(&(b.clone(), s.clone()))).call::<_, Tensor>(&b),
        &["implicit_root(cubic)", "did not converge", "(∂F/∂x) u = b"],
    );
    let bad_tol = cubic_system(a.clone()).tol(0.0);
    assert_err(
        grad(|b: &Tensor| bad_tol.call::<_, Tensor>(&(b.clone(), s.clone()))?.sum())
            .call::<_, Tensor>(&b),
        &[
            "implicit_root(cubic)",
            "tol must be positive and finite, got 0",
        ],
    );
    let no_iter = cubic_system(a).max_iter(0);
    assert_err(
        grad(|b: &Tensor| no_iter.call::<_, Tensor>(&(b.clone(), s.clone()))?.sum())
            .call::<_, Tensor>(&b),
        &[
            "implicit_root(cubic)",
            "max_iter must be a positive integer",
        ],
    );
    Ok(())
}

// ------------------------------------------------------------------------------ errors

#[track_caller]
fn assert_err<X: std::fmt::Debug>(r: Result<X>, parts: &[&str]) {
    let e = r.expect_err("expected an error").to_string();
    for p in parts {
        assert!(e.contains(p), "the error {e:?} does not mention {p:?}");
    }
}

#[test]
fn errors_name_the_function_and_what_was_expected() -> Result<()> {
    let x = vec1(&[1.0, 2.0]);
    // a jvp rule returning the wrong shape
    let bad_shape = custom_jvp(
        |x: &Tensor| x.sin(),
        |_: &Tensor, t: &Tensor, _: &Tensor| t.sum(),
    )
    .name("bad_shape");
    assert_err(
        jacfwd(|x: &Tensor| bad_shape.call::<_, Tensor>(x)).call::<_, Tensor>(&x),
        &[
            "custom_jvp(bad_shape)",
            "the jvp rule returned tensor[]",
            "tensor[2]",
        ],
    );
    assert_err(
        grad(|x: &Tensor| bad_shape.call::<_, Tensor>(x)?.sum()).call::<_, Tensor>(&x),
        &["custom_jvp(bad_shape)", "the jvp rule"],
    );
    // ... or the wrong dtype
    let bad_dtype = custom_jvp(
        |x: &Tensor| x.sin(),
        |_: &Tensor, t: &Tensor, _: &Tensor| t.to_dtype(DType::F32),
    )
    .name("bad_dtype");
    assert_err(
        jvp(|x: &Tensor| bad_dtype.call::<_, Tensor>(x)).call::<_, (Tensor, Tensor)>(&x, &x),
        &["custom_jvp(bad_dtype)", "float32", "float64"],
    );
    // a backward returning the wrong number of cotangents
    let bad_bwd = custom_vjp(
        |v: &Vec<Tensor>| Ok((v[0].mul(&v[1])?, ())),
        |_: &(), g: &Tensor| Ok(vec![g.clone()]),
    )
    .name("bad_bwd");
    assert_err(
        grad(|v: &Vec<Tensor>| bad_bwd.call::<_, Tensor>(v)?.sum())
            .call::<_, Vec<Tensor>>(&vec![x.clone(), x.clone()]),
        &[
            "custom_vjp(bad_bwd)",
            "one cotangent per input",
            "expected 2",
            "got 1",
        ],
    );
    // ... or a cotangent of the wrong shape
    let bad_ct = custom_vjp(
        |x: &Tensor| Ok((x.sin()?, ())),
        |_: &(), g: &Tensor| g.sum(),
    )
    .name("bad_ct");
    assert_err(
        grad(|x: &Tensor| bad_ct.call::<_, Tensor>(x)?.sum()).call::<_, Tensor>(&x),
        &["custom_vjp(bad_ct)", "[2] float64", "[] float64"],
    );
    // forward mode of a custom_vjp function
    let cv = sin_mul();
    assert_err(
        jacfwd(|x: &Tensor| cv.call::<_, Tensor>(&(x.clone(), x.clone()))).call::<_, Tensor>(&x),
        &["custom_vjp(sin_mul)", "forward-mode", "custom_jvp"],
    );
    // a function capturing a tracer of the enclosing transform
    let r = grad(|w: &Tensor| {
        let wc = w.clone();
        let f = custom_jvp(
            move |y: &Tensor| y.mul(&wc),
            |_: &Tensor, t: &Tensor, _: &Tensor| Ok(t.clone()),
        )
        .name("captures");
        f.call::<_, Tensor>(&vec1(&[1.0, 1.0]))?.sum()
    })
    .call::<_, Tensor>(&x);
    assert_err(
        r,
        &[
            "custom_jvp(captures)",
            "the function",
            "captured",
            "vjp/grad",
        ],
    );
    // a rule capturing one
    let r = grad(|w: &Tensor| {
        let wc = w.clone();
        let f = custom_jvp(
            |y: &Tensor| y.sin(),
            move |_: &Tensor, t: &Tensor, _: &Tensor| t.mul(&wc),
        )
        .name("rule_captures");
        let (_, t): (Tensor, Tensor) = jvp(|y: &Tensor| f.call::<_, Tensor>(y))
            .call(&vec1(&[1.0, 1.0]), &vec1(&[1.0, 0.0]))?;
        t.sum()
    })
    .call::<_, Tensor>(&x);
    assert_err(
        r,
        &["custom_jvp(rule_captures)", "the jvp rule", "captured"],
    );
    // an optimality function of the wrong shape
    let bad_f =
        implicit_root(|t: &Tensor| t.sqrt(), |x: &Tensor, _: &Tensor| x.sum()).name("bad_f");
    assert_err(
        grad(|t: &Tensor| bad_f.call::<_, Tensor>(t)?.sum()).call::<_, Tensor>(&x),
        &["implicit_root(bad_f)", "shaped like x"],
    );
    Ok(())
}

// ------------------------------------------------------------------------------ jit, randomness

#[test]
fn custom_calls_under_jit_outermost_and_innermost() -> Result<()> {
    let x = vec1(&[-3.0, 0.0, 2.0, 1000.0]);
    // custom_jvp
    let f = log1pexp();
    let total = move |x: &Tensor| f.call::<_, Tensor>(x)?.sum();
    let g: Tensor = grad(total.clone()).call(&x)?;
    let h: Tensor = hessian(total.clone()).call(&x)?;
    let outer = jit(grad(total.clone()));
    let inner = grad(jit(total.clone()));
    for k in 0..2 {
        close(
            &outer.call(&x)?,
            &g,
            &format!("custom_jvp: jit(grad) call {k}"),
        );
        close(
            &inner.call(&x)?,
            &g,
            &format!("custom_jvp: grad(jit) call {k}"),
        );
    }
    assert_eq!(outer.traces(), 1, "replayed, not retraced");
    close(
        &jit(hessian(total.clone())).call(&x)?,
        &h,
        "custom_jvp: jit(hessian)",
    );
    close(
        &hessian(jit(total.clone())).call(&x)?,
        &h,
        "custom_jvp: hessian(jit)",
    );
    close(
        &jit(vmap(grad(total.clone()))).call(&x.unsqueeze(1)?)?,
        &vmap(grad(total.clone())).call(&x.unsqueeze(1)?)?,
        "custom_jvp: jit(vmap(grad))",
    );
    // custom_vjp
    let cv = sin_mul();
    let w = vec1(&[0.3, -0.2, 0.5, 0.1]);
    let (wa, wb) = (w.clone(), w.clone());
    let cv_total = move |x: &Tensor| cv.call::<_, Tensor>(&(x.clone(), wa.clone()))?.sum();
    let naive_total = move |x: &Tensor| x.mul(&wb)?.sin()?.sum();
    let xs = vec1(&[0.1, 0.7, -0.4, 2.0]);
    let g: Tensor = grad(naive_total.clone()).call(&xs)?;
    let h: Tensor = hessian(naive_total).call(&xs)?;
    let outer = jit(grad(cv_total.clone()));
    for k in 0..2 {
        close(
            &outer.call(&xs)?,
            &g,
            &format!("custom_vjp: jit(grad) call {k}"),
        );
    }
    close(
        &grad(jit(cv_total.clone())).call(&xs)?,
        &g,
        "custom_vjp: grad(jit)",
    );
    close(
        &jit(hessian(cv_total.clone())).call(&xs)?,
        &h,
        "custom_vjp: jit(hessian)",
    );
    close(
        &hessian(jit(cv_total.clone())).call(&xs)?,
        &h,
        "custom_vjp: hessian(jit)",
    );
    // checkpoint
    let block = checkpoint(|x: &Tensor| x.sin()?.mul_scalar(2.0)?.tanh());
    let ck_total = move |x: &Tensor| block.call::<_, Tensor>(&block.call::<_, Tensor>(x)?)?.sum();
    let plain = |x: &Tensor| {
        let b = |x: &Tensor| x.sin()?.mul_scalar(2.0)?.tanh();
        b(&b(x)?)?.sum()
    };
    let g: Tensor = grad(plain).call(&xs)?;
    let h: Tensor = hessian(plain).call(&xs)?;
    let outer = jit(grad(ck_total.clone()));
    for k in 0..2 {
        close(
            &outer.call(&xs)?,
            &g,
            &format!("checkpoint: jit(grad) call {k}"),
        );
    }
    close(
        &grad(jit(ck_total.clone())).call(&xs)?,
        &g,
        "checkpoint: grad(jit)",
    );
    close(
        &jit(hessian(ck_total.clone())).call(&xs)?,
        &h,
        "checkpoint: jit(hessian)",
    );
    close(
        &hessian(jit(ck_total)).call(&xs)?,
        &h,
        "checkpoint: hessian(jit)",
    );
    // implicit_root, dense and matrix-free: the solver runs on concrete values at every replay
    let t = Tensor::scalar(4.0);
    let ts = vec1(&[1.0, 4.0, 9.0]);
    for free in [false, true] {
        let s = if free {
            implicit_sqrt().matrix_free().tol(1e-13)
        } else {
            implicit_sqrt()
        };
        let what = if free { "matrix-free" } else { "dense" };
        let f = move |t: &Tensor| s.call::<_, Tensor>(t);
        let outer = jit(grad(f.clone()));
        close(
            &outer.call(&t)?,
            &Tensor::scalar(0.25),
            &format!("{what}: jit(grad)"),
        );
        close(
            &outer.call(&Tensor::scalar(9.0))?,
            &Tensor::scalar(1.0 / 6.0),
            &format!("{what}: jit(grad) replayed at another value"),
        );
        assert_eq!(outer.traces(), 1);
        close(
            &grad(jit(f.clone())).call(&t)?,
            &Tensor::scalar(0.25),
            &format!("{what}: grad(jit)"),
        );
        close(
            &jit(jacfwd(f.clone())).call(&t)?,
            &Tensor::scalar(0.25),
            &format!("{what}: jit(jacfwd)"),
        );
        close(
            &jit(hessian(f.clone())).call(&t)?,
            &Tensor::scalar(-1.0 / 32.0),
            &format!("{what}: jit(hessian)"),
        );
        close(
            &hessian(jit(f.clone())).call(&t)?,
            &Tensor::scalar(-1.0 / 32.0),
            &format!("{what}: hessian(jit)"),
        );
        close(
            &jit(vmap(grad(f.clone()))).call(&ts)?,
            &vec1(&[0.5, 0.25, 1.0 / 6.0]),
            &format!("{what}: jit(vmap(grad))"),
        );
        close(
            &vmap(jit(grad(f))).call(&ts)?,
            &vec1(&[0.5, 0.25, 1.0 / 6.0]),
            &format!("{what}: vmap(jit(grad))"),
        );
    }
    Ok(())
}

fn rows_of(x: &Tensor) -> Result<Vec<Vec<f64>>> {
    (0..x.shape()[0])
        .map(|i| Ok(vals(&x.select(0, i as i64)?)))
        .collect()
}

#[test]
fn random_draws_inside_custom_calls_follow_vmaps_randomness() -> Result<()> {
    let noisy_vjp = custom_vjp(
        |x: &Tensor| Ok((x.add(&x.randn_like()?)?, ())),
        |_: &(), g: &Tensor| Ok(g.clone()),
    )
    .name("noisy");
    let noisy_jvp = custom_jvp(
        |x: &Tensor| x.add(&x.randn_like()?),
        |_: &Tensor, t: &Tensor, _: &Tensor| Ok(t.clone()),
    )
    .name("noisy");
    let noisy_ck = checkpoint(|x: &Tensor| x.add(&x.randn_like()?)).name("noisy");
    let plain = |x: &Tensor| x.add(&x.randn_like()?);
    let xs = Tensor::zeros(&[4, 3], DType::F64)?;
    let run = |f: &dyn Fn(&Tensor) -> T, r: Randomness| -> T {
        functorch::manual_seed(3);
        vmap(f).randomness(r).call(&xs)
    };
    let chunked = |f: &dyn Fn(&Tensor) -> T, r: Randomness| -> T {
        functorch::manual_seed(3);
        vmap(f).randomness(r).chunk_size(2).call(&xs)
    };
    type Named<'a> = (&'a str, &'a dyn Fn(&Tensor) -> T);
    let fs: [Named; 3] = [
        ("custom_vjp", &|x| noisy_vjp.call(x)),
        ("custom_jvp", &|x| noisy_jvp.call(x)),
        ("checkpoint", &|x| noisy_ck.call(x)),
    ];
    for (name, f) in fs {
        // the same numbers as the same draws outside a custom call
        let d = run(f, Randomness::Different)?;
        assert_eq!(
            vals(&d),
            vals(&run(&plain, Randomness::Different)?),
            "{name}"
        );
        let r = rows_of(&d)?;
        assert!(
            r[0] != r[1] && r[1] != r[2],
            "{name}: 'different' gave equal rows {d}"
        );
        let s = run(f, Randomness::Same)?;
        assert_eq!(vals(&s), vals(&run(&plain, Randomness::Same)?), "{name}");
        let r = rows_of(&s)?;
        assert!(
            r.iter().all(|v| *v == r[0]),
            "{name}: 'same' gave different rows {s}"
        );
        for r in [Randomness::Different, Randomness::Same] {
            assert_eq!(
                vals(&chunked(f, r)?),
                vals(&chunked(&plain, r)?),
                "{name}: chunk_size=2, {r:?}"
            );
        }
        let e = run(f, Randomness::Error);
        assert!(
            matches!(e, Err(functorch::Error::Randomness { .. })),
            "{name}: expected a randomness error, got {e:?}"
        );
    }
    Ok(())
}

/// Recomputing a checkpointed function for its gradient replays the forward pass's draws, so a
/// checkpointed dropout's gradient uses the mask its output used (PyTorch's
/// `preserve_rng_state`), and draws after the call continue as without the checkpoint.
#[test]
fn checkpoint_replays_the_forward_draws() -> Result<()> {
    let x = Tensor::from_vec((0..64).map(|i| 0.1 + i as f64 / 64.0).collect(), &[64])?;
    let f = |x: &Tensor| x.dropout(0.5)?.square()?.sum();
    functorch::manual_seed(11);
    let plain: Tensor = grad(f).call(&x)?;
    let after_plain = Tensor::randn(&[3], DType::F64)?.to_vec::<f64>()?;
    functorch::manual_seed(11);
    let ck: Tensor = grad(|x: &Tensor| checkpoint(f).call::<_, Tensor>(x)).call(&x)?;
    let after_ck = Tensor::randn(&[3], DType::F64)?.to_vec::<f64>()?;
    assert_eq!(ck.to_vec::<f64>()?, plain.to_vec::<f64>()?);
    assert_eq!(after_ck, after_plain);
    // the gradient is zero exactly where the mask dropped the element
    let g = ck.to_vec::<f64>()?;
    assert!(g.contains(&0.0) && g.iter().any(|&v| v != 0.0));
    Ok(())
}

#[test]
fn random_draws_inside_custom_calls_under_jit_are_drawn_on_every_call() -> Result<()> {
    // the call is recorded whole and its replay runs the user's code again, on the calling
    // thread: each call draws afresh from this thread's generator, as eager code does
    let noisy_vjp = custom_vjp(
        |x: &Tensor| Ok((x.mul_scalar(2.0)?.add(&x.randn_like()?)?, ())),
        |_: &(), g: &Tensor| g.mul_scalar(2.0),
    )
    .name("noisy");
    let noisy_jvp = custom_jvp(
        |x: &Tensor| x.mul_scalar(2.0)?.add(&x.randn_like()?),
        |_: &Tensor, t: &Tensor, _: &Tensor| t.mul_scalar(2.0),
    )
    .name("noisy");
    let noisy_ck = checkpoint(|x: &Tensor| x.mul_scalar(2.0)?.add(&x.randn_like()?)).name("noisy");
    type Named<'a> = (&'a str, &'a (dyn Fn(&Tensor) -> T + Sync));
    let fs: [Named; 3] = [
        ("custom_vjp", &|x| noisy_vjp.call(x)),
        ("custom_jvp", &|x| noisy_jvp.call(x)),
        ("checkpoint", &|x| noisy_ck.call(x)),
    ];
    // small, and large enough that a program without a custom call would run on a worker
    for n in [3, 300] {
        let x = Tensor::ones(&[n, 200], DType::F64)?.mul_scalar(0.5)?;
        for (name, f) in fs {
            let seeded = |g: &dyn Fn() -> T| -> T {
                functorch::manual_seed(7);
                g()
            };
            let eager = seeded(&|| f(&x))?;
            let j = jit(|x: &Tensor| f(x).and_then(|y| y.exp()));
            let want = eager.exp()?;
            // the tracing call and the replays, each after the same seed
            for call in 0..3 {
                let got: Tensor = seeded(&|| j.call(&x))?;
                assert_eq!(vals(&got), vals(&want), "{name}, n = {n}, call {call}");
            }
            assert_eq!(j.traces(), 1, "{name}");
            // without a new seed, new numbers
            let (a, b): (Tensor, Tensor) = (j.call(&x)?, j.call(&x)?);
            assert_ne!(
                vals(&a),
                vals(&b),
                "{name}: two calls drew the same numbers"
            );
            // the derivative is the rule's
            let total = |x: &Tensor| j.call::<_, Tensor>(x)?.sum();
            let g: Tensor = seeded(&|| grad(total).call(&x))?;
            close(
                &g,
                &eager.exp()?.mul_scalar(2.0)?,
                &format!("{name}: grad(jit)"),
            );
            // batched by an outer vmap inside the compiled function: one draw per element
            let jv = jit(|x: &Tensor| {
                vmap(f)
                    .randomness(Randomness::Different)
                    .call::<_, Tensor>(x)
            });
            let ev = seeded(&|| vmap(f).randomness(Randomness::Different).call(&x))?;
            for call in 0..2 {
                let got: Tensor = seeded(&|| jv.call(&x))?;
                assert_eq!(vals(&got), vals(&ev), "{name}: jit(vmap), call {call}");
            }
        }
    }
    Ok(())
}
