//! A physics-informed neural network (PINN): a small tanh MLP `u(t; θ)` trained so that it
//! solves the initial value problem
//!
//! ```text
//! u''(t) + u(t) = 0   on [0, 2π],     u(0) = 0,   u'(0) = 1
//! ```
//!
//! whose solution is `sin t`, without ever seeing a value of `sin`: the loss only measures how
//! badly the network violates the equation at a set of collocation points, plus the two
//! initial conditions.
//!
//! The derivatives of the network with respect to its *input* come from nested forward mode,
//! `u' = jacfwd(u)` and `u'' = jacfwd(jacfwd(u))`, mapped over the collocation points with
//! `vmap`; the gradient of the loss with respect to the *parameters* (a `#[derive(Pytree)]`
//! struct, whose gradient comes back as the same struct) is `grad` of all that, so each
//! training step runs `grad(vmap(jacfwd(jacfwd(u))))`, four transforms deep. The optimizer is
//! Adam, written in a few lines of tensor ops over the parameter struct's leaves.
//!
//! ```text
//! cargo run --release --example pinn
//! ```
//!
//! It prints the loss during training, then `u(t)` next to `sin t` at a few points and the
//! largest error over a fine grid, and panics if that error is not small. It draws the
//! solution against the exact one in `docs/pinn.svg` (the README's picture).

use functorch::{DType, Pytree, Result, Tensor, grad, jacfwd, manual_seed, vmap};
use std::f64::consts::PI;
use std::time::Instant;

const HIDDEN: usize = 16;
const POINTS: usize = 48;
const STEPS: usize = 6000;

/// The parameters of `u(t) = w3 · tanh(W2ᵀ tanh(w1 s + b1) + b2) + b3`, with `s = t/π - 1`
/// (the input scaled to [-1, 1]).
#[derive(Clone, Pytree)]
struct Net {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
    w3: Tensor,
    b3: Tensor,
}

impl Net {
    fn init() -> Result<Net> {
        let randn =
            |shape: &[usize], scale: f64| Tensor::randn(shape, DType::F64)?.mul_scalar(scale);
        let h = HIDDEN as f64;
        Ok(Net {
            w1: randn(&[HIDDEN], 1.0)?,
            b1: randn(&[HIDDEN], 0.1)?,
            w2: randn(&[HIDDEN, HIDDEN], 1.0 / h.sqrt())?,
            b2: randn(&[HIDDEN], 0.1)?,
            w3: randn(&[HIDDEN], 1.0 / h.sqrt())?,
            b3: Tensor::zeros(&[], DType::F64)?,
        })
    }
}

/// The network at one point `t` (a 0-d tensor); a 0-d result.
fn u((p, t): &(Net, Tensor)) -> Result<Tensor> {
    let s = t.mul_scalar(1.0 / PI)?.sub_scalar(1.0)?;
    let h = p.w1.mul(&s)?.add(&p.b1)?.tanh()?;
    let h = h.matmul(&p.w2)?.add(&p.b2)?.tanh()?;
    h.dot(&p.w3)?.add(&p.b3)
}

/// Adam on any parameter struct: the moments are kept per leaf of the tree.
struct Adam {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    step: i32,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    fn new(lr: f64) -> Adam {
        Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            step: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    fn update<P: Pytree>(&mut self, params: &P, grads: &P) -> Result<P> {
        let (b1, b2) = self.betas;
        let (tree, grads) = (params.to_tree(), grads.to_tree());
        if self.step == 0 {
            self.m = tree
                .leaves()
                .iter()
                .map(|p| p.zeros_like())
                .collect::<Result<_>>()?;
            self.v = self.m.clone();
        }
        self.step += 1;
        let (c1, c2) = (1.0 - b1.powi(self.step), 1.0 - b2.powi(self.step));
        let mut new = Vec::new();
        for (k, (p, g)) in tree.leaves().into_iter().zip(grads.leaves()).enumerate() {
            self.m[k] = self.m[k].mul_scalar(b1)?.add(&g.mul_scalar(1.0 - b1)?)?;
            self.v[k] = self.v[k]
                .mul_scalar(b2)?
                .add(&g.square()?.mul_scalar(1.0 - b2)?)?;
            let m_hat = self.m[k].div_scalar(c1)?;
            let v_hat = self.v[k].div_scalar(c2)?;
            let delta = m_hat.div(&v_hat.sqrt()?.add_scalar(self.eps)?)?;
            new.push(p.sub(&delta.mul_scalar(self.lr)?)?);
        }
        P::from_tree(tree.with_leaves(&mut new.into_iter()))
    }
}

fn main() -> Result<()> {
    manual_seed(0);

    // u' and u'' as functions of (θ, t): derivatives with respect to argument 1, t.
    let du = jacfwd(u).argnums(1);
    let d2u = jacfwd(jacfwd(u).argnums(1)).argnums(1);
    // u and u'' at a vector of points, with θ shared (not mapped).
    let u_at = vmap(u).in_dims([None, Some(0)]);
    let d2u_at = vmap(d2u).in_dims([None, Some(0)]);

    let ts = Tensor::linspace(0.0, 2.0 * PI, POINTS, DType::F64)?;
    let zero = Tensor::zeros(&[], DType::F64)?;

    let loss = |p: &Net| -> Result<Tensor> {
        let args = (p.clone(), ts.clone());
        let (values, second): (Tensor, Tensor) = (u_at.call(&args)?, d2u_at.call(&args)?);
        let residual = second.add(&values)?.square()?.mean()?;
        let at0 = (p.clone(), zero.clone());
        let u0: Tensor = u(&at0)?;
        let du0: Tensor = du.call(&at0)?;
        residual
            .add(&u0.square()?)?
            .add(&du0.sub_scalar(1.0)?.square()?)
    };
    let loss_grad = grad(loss);

    let mut params = Net::init()?;
    let mut adam = Adam::new(1e-2);
    let start = Instant::now();
    for step in 0..=STEPS {
        if step % (STEPS / 10) == 0 {
            println!("step {step:5}  loss {:.3e}", loss(&params)?.item()?);
        }
        if step == STEPS {
            break;
        }
        if step == STEPS * 2 / 3 {
            adam.lr = 1e-3; // finer steps for the last third
        }
        let g: Net = loss_grad.call(&params)?;
        params = adam.update(&params, &g)?;
    }
    println!(
        "trained in {:.1} s ({STEPS} Adam steps, {POINTS} collocation points)",
        start.elapsed().as_secs_f64()
    );

    println!(
        "\n{:>8}  {:>10}  {:>10}  {:>10}",
        "t", "u(t)", "sin t", "error"
    );
    let table = Tensor::linspace(0.0, 2.0 * PI, 9, DType::F64)?;
    let u_table: Tensor = u_at.call(&(params.clone(), table.clone()))?;
    for (t, v) in table
        .to_vec::<f64>()?
        .into_iter()
        .zip(u_table.to_vec::<f64>()?)
    {
        println!(
            "{t:8.4}  {v:10.6}  {:10.6}  {:10.2e}",
            t.sin(),
            (v - t.sin()).abs()
        );
    }

    let fine = Tensor::linspace(0.0, 2.0 * PI, 1001, DType::F64)?;
    let u_fine: Tensor = u_at.call(&(params, fine.clone()))?;
    let max_err = u_fine.sub(&fine.sin()?)?.abs()?.max()?.item()?;
    println!("\nmax |u(t) - sin t| on 1001 points of [0, 2π]: {max_err:.3e}");
    assert!(
        max_err < 0.05,
        "the PINN did not converge: max error {max_err}"
    );
    plot(&fine.to_vec()?, &u_fine.to_vec()?, &ts.to_vec()?, max_err)
        .map_err(|e| functorch::Error::Structure(format!("plot: {e}")))?;
    println!("wrote docs/pinn.svg");
    Ok(())
}

/// The trained network against `sin t` (top, with the collocation points marked on the t
/// axis) and its error (bottom).
fn plot(
    t: &[f64],
    u: &[f64],
    points: &[f64],
    max_err: f64,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    std::fs::create_dir_all("docs")?;
    let root = SVGBackend::new("docs/pinn.svg", (720, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(340);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "PINN for u'' + u = 0, u(0) = 0, u'(0) = 1 on [0, 2π]",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..2.0 * PI, -1.25..1.25)?;
    chart.configure_mesh().y_desc("u(t)").draw()?;
    let exact = ShapeStyle::from(&RGBColor(160, 160, 160)).stroke_width(5);
    chart
        .draw_series(LineSeries::new(t.iter().map(|&t| (t, t.sin())), exact))?
        .label("exact: sin t")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], exact));
    let net = ShapeStyle::from(&RGBColor(214, 39, 40)).stroke_width(2);
    chart
        .draw_series(LineSeries::new(
            t.iter().copied().zip(u.iter().copied()),
            net,
        ))?
        .label("network u(t; θ)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], net));
    let dot = ShapeStyle::from(&RGBColor(31, 119, 180)).filled();
    chart
        .draw_series(points.iter().map(|&p| Circle::new((p, -1.15), 2, dot)))?
        .label("collocation points")
        .legend(move |(x, y)| Circle::new((x + 10, y), 2, dot));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;

    let lim = 1.2 * max_err * 1e3;
    let mut err = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..2.0 * PI, -lim..lim)?;
    err.configure_mesh()
        .x_desc("t")
        .y_desc("u(t) - sin t  (×1e-3)")
        .draw()?;
    err.draw_series(LineSeries::new(
        t.iter().zip(u).map(|(&t, &u)| (t, (u - t.sin()) * 1e3)),
        ShapeStyle::from(&RGBColor(214, 39, 40)).stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}
