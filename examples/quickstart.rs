//! The README's demonstration: a tour of the transforms, each result printed beside the closed
//! form it must equal.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use functorch::{
    DType, Pytree, Randomness, Result, Tensor, grad, hessian, hvp, jacfwd, jacrev, jvp, vmap,
};

/// A linear model's parameters: transforms take and return the struct itself.
#[derive(Clone, Pytree)]
struct Linear {
    w: Tensor,
    b: Tensor,
}

fn rosenbrock(x: &Tensor) -> Result<Tensor> {
    let n = x.shape()[0] as i64;
    let (head, tail) = (x.slice(0, 0, n - 1, 1)?, x.slice(0, 1, n, 1)?);
    let a = tail.sub(&head.square()?)?.square()?.mul_scalar(100.0)?;
    a.add(&head.rsub_scalar(1.0)?.square()?)?.sum()
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn main() -> Result<()> {
    let x = Tensor::from_slice(&[0.0, 0.5, 1.0]);

    section("grad: the gradient of sum(sin x) is cos x");
    let g: Tensor = grad(|x: &Tensor| x.sin()?.sum()).call(&x)?;
    println!("grad      = {g}\ncos x     = {}", x.cos()?);

    section("jacrev / jacfwd: the Jacobian of elementwise sin is diag(cos x)");
    let jr: Tensor = jacrev(|x: &Tensor| x.sin()).call(&x)?;
    let jf: Tensor = jacfwd(|x: &Tensor| x.sin()).call(&x)?;
    println!("jacrev    = {jr}\njacfwd    = {jf}");

    section("hessian: Rosenbrock at (1, 1) has H = [[802, -400], [-400, 200]]");
    let h: Tensor = hessian(rosenbrock).call(&Tensor::from_slice(&[1.0, 1.0]))?;
    println!("hessian   = {h}");

    section("hvp: H v without building H (f = sum x³, H = diag(6x))");
    let hv: Tensor =
        hvp(|x: &Tensor| x.pow_scalar(3.0)?.sum()).call(&x, &Tensor::ones(&[3], DType::F64)?)?;
    println!("H·1       = {hv}  (6x = {})", x.mul_scalar(6.0)?);

    section("jvp: forward mode, (f(x), J v)");
    let (y, t): (Tensor, Tensor) =
        jvp(|x: &Tensor| x.exp()).call(&x, &Tensor::ones(&[3], DType::F64)?)?;
    println!("exp x     = {y}\nJ·1       = {t}  (equal: exp' = exp)");

    section("argnums: gradients of x·y with respect to both arguments are (y, x)");
    let dot = |(a, b): &(Tensor, Tensor)| a.mul(b)?.sum();
    let y = Tensor::from_slice(&[3.0, 4.0, 5.0]);
    let (gx, gy): (Tensor, Tensor) = grad(dot).argnums((0, 1)).call(&(x.clone(), y.clone()))?;
    println!("d/dx      = {gx}\nd/dy      = {gy}");

    section("has_aux: return something alongside the differentiated output");
    let with_aux = |x: &Tensor| -> Result<(Tensor, Tensor)> {
        let y = x.square()?;
        Ok((y.sum()?, y)) // (output, aux)
    };
    let (g, aux): (Tensor, Tensor) = grad(with_aux).has_aux(true).call(&x)?;
    println!("grad      = {g}  (2x)\naux       = {aux}  (x², undifferentiated)");

    section("vmap: map over a batch, with in_dims and chunk_size");
    let xs = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[3, 2])?;
    let w = Tensor::from_slice(&[10.0, 1.0]);
    let rowdot: Tensor = vmap(dot).in_dims([Some(0), None]).call(&(xs.clone(), w))?;
    println!("x_i · w   = {rowdot}  (1, 23, 45)");
    let hs: Tensor = vmap(hessian(|x: &Tensor| x.sin()?.sum()))
        .chunk_size(2)
        .call(&xs)?;
    println!(
        "per-row hessians of sum(sin x): shape {:?}, first = {}",
        hs.shape(),
        hs.get(0)?
    );

    section("a derived parameter struct: the gradient is the same struct");
    let params = Linear {
        w: Tensor::from_slice(&[1.0, -1.0]),
        b: Tensor::scalar(0.5),
    };
    let target = Tensor::from_slice(&[1.0, 2.0, 3.0]);
    let loss =
        |(p, x, t): &(Linear, Tensor, Tensor)| x.matmul(&p.w)?.add(&p.b)?.sub(t)?.square()?.mean();
    let gp: Linear = grad(loss).call(&(params.clone(), xs.clone(), target.clone()))?;
    println!("dL/dw     = {}\ndL/db     = {}", gp.w, gp.b);
    // per-example gradients: vmap over the examples, the parameters shared
    let per_example =
        |(p, x, t): &(Linear, Tensor, Tensor)| x.dot(&p.w)?.add(&p.b)?.sub(t)?.square();
    let ge: Linear = vmap(grad(per_example))
        .in_dims([None, Some(0), Some(0)])
        .call(&(params, xs, target))?;
    println!("per-example dL/dw: shape {:?}\n{}", ge.w.shape(), ge.w);

    section("randomness inside vmap is explicit");
    let noisy = |x: &Tensor| x.add(&x.randn_like()?);
    let err = vmap(noisy)
        .call::<_, Tensor>(&Tensor::zeros(&[2, 2], DType::F64)?)
        .err()
        .unwrap();
    println!("default   : {err}");
    let same: Tensor = vmap(noisy)
        .randomness(Randomness::Same)
        .call(&Tensor::zeros(&[2, 2], DType::F64)?)?;
    println!("\"same\"    : {same}  (both rows equal)");
    Ok(())
}
