//! Sparsity patterns found automatically, drawn: the Jacobian of the 2-d PDE residual of
//! `examples/sparse_newton.rs` (five-point stencil plus u³, on an 8×8 grid) and the Hessian of
//! the chained Rosenbrock function (tridiagonal), each detected in one pass over the function
//! by `jacfwd(f).sparse().detect(..)` / `hessian(f).sparse().detect(..)`, with the number of
//! colors (compressed products) the coloring needs. Writes `docs/sparsity.svg`.
//!
//! ```text
//! cargo run --example sparsity
//! ```

#[path = "common/pde.rs"]
mod pde;
use functorch::{Result, SparsityPattern, Tensor, hessian, jacfwd};
use pde::pde2d;

/// Σ 100 (x[i+1] − x[i]²)² + (1 − x[i])².
fn rosenbrock(x: &Tensor) -> Result<Tensor> {
    let n = x.shape()[0];
    let (head, tail) = (x.narrow(0, 0, n - 1)?, x.narrow(0, 1, n - 1)?);
    let a = tail.sub(&head.square()?)?.square()?.mul_scalar(100.0)?;
    let b = head.neg()?.add_scalar(1.0)?.square()?;
    a.add(&b)?.sum()
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let m = 8;
    let u = Tensor::from_vec(vec![0.1; m * m], &[m, m])?;
    let ones = Tensor::from_vec(vec![1.0; m * m], &[m, m])?;
    let jac = jacfwd(|u: &Tensor| pde2d(u, &ones, 1.0)).sparse();
    let jp = jac.detect(&u)?;
    let jcolors = jac.prepare(&u)?.colors();
    let n = 40;
    let x = Tensor::from_vec(vec![0.5; n], &[n])?;
    let hes = hessian(rosenbrock).sparse();
    let hp = hes.detect(&x)?;
    let hcolors = hes.prepare(&x)?.colors();
    println!(
        "PDE Jacobian: {}×{}, {} nonzeros, {jcolors} colors",
        jp.nrows(),
        jp.ncols(),
        jp.nnz()
    );
    println!(
        "Rosenbrock Hessian: {}×{}, {} nonzeros, {hcolors} colors",
        hp.nrows(),
        hp.ncols(),
        hp.nnz()
    );
    plot(&jp, jcolors, &hp, hcolors)?;
    println!("wrote docs/sparsity.svg");
    Ok(())
}

/// The two patterns side by side, one square per nonzero.
fn plot(
    jp: &SparsityPattern,
    jcolors: usize,
    hp: &SparsityPattern,
    hcolors: usize,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    std::fs::create_dir_all("docs")?;
    let root = SVGBackend::new("docs/sparsity.svg", (900, 470)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    let panels = [
        (
            &left,
            jp,
            format!(
                "∂r/∂u, 2-d PDE on 8×8: {} nonzeros, {jcolors} colors",
                jp.nnz()
            ),
        ),
        (
            &right,
            hp,
            format!(
                "Hessian of Rosenbrock, n = 40: {} nonzeros, {hcolors} colors",
                hp.nnz()
            ),
        ),
    ];
    for (area, p, title) in panels {
        let (r, c) = (p.nrows() as f64, p.ncols() as f64);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 15))
            .margin(14)
            .x_label_area_size(24)
            .y_label_area_size(32)
            .build_cartesian_2d(0.0..c, r..0.0)?;
        chart.configure_mesh().disable_mesh().draw()?;
        let ink = ShapeStyle::from(&RGBColor(31, 119, 180)).filled();
        chart.draw_series(p.entries().map(|(i, j)| {
            Rectangle::new(
                [(j as f64, i as f64), (j as f64 + 1.0, i as f64 + 1.0)],
                ink,
            )
        }))?;
    }
    root.present()?;
    Ok(())
}
