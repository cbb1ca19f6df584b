//! Users' own rules under every transform: `custom_jvp` (functions whose automatic derivative
//! is NaN: log1pexp at large x, the norm at 0), `custom_vjp` (residuals, a rule that differs
//! from autodiff, grad of grad), `checkpoint` (equal results), `implicit_root` (against closed
//! forms and finite differences), and the errors a user's mistakes get.

use functorch::{
    CustomJvp, CustomVjp, DType, ImplicitRoot, Result, Tensor, checkpoint, custom_jvp, custom_vjp,
    grad, hessian, implicit_root, jacfwd, jacrev, jvp, vjp, vmap,
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
