//! argmin's solvers with exact derivatives from functorch, against the same solvers with
//! finite differences (argmin's `finitediff` crate), on three problems:
//!
//! 1. an L2-regularized **logistic regression** (400 samples, 12 features) with **Newton's
//!    method**, which needs the Hessian;
//! 2. the 12-dimensional extended Rosenbrock function with a **trust region** (Steihaug's CG, Hessian)
//!    and with **L-BFGS** (Moré–Thuente line search, gradient; argmin's dense BFGS needs an
//!    outer product that argmin-math's nalgebra backend lacks);
//! 3. a **curve fit** by **Gauss–Newton**: a damped oscillation `a e^(-b t) cos(c t) + d`
//!    fitted to 200 noisy samples, which needs the Jacobian of the residuals.
//!
//! Each objective is written once, with tensor ops; `Objective` and `LeastSquares` hand argmin
//! its gradient (`grad`), Hessian (`hessian`) and Jacobian (`jacfwd`). The finite-difference
//! runs evaluate the very same function on concrete tensors. For each run it prints the
//! iterations, the evaluations of the function (a transform traces it once per derivative;
//! finite differences call it once per perturbation), the distance to the known solution and
//! the wall time, and it writes the convergence of the Newton and L-BFGS runs to
//! `docs/argmin_convergence.svg`.
//!
//! ```text
//! cargo run --release --example argmin_solvers --features argmin
//! ```

use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{
    CostFunction, Error, Executor, Gradient, Hessian, Jacobian, KV, Operator, State,
};
use argmin::solver::gaussnewton::GaussNewton;
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::newton::Newton;
use argmin::solver::quasinewton::LBFGS;
use argmin::solver::trustregion::{Steihaug, TrustRegion};
use functorch::interop::argmin::{LeastSquares, Objective};
use functorch::{DType, Result, Tensor, manual_seed};
use nalgebra::{DMatrix, DVector};
use plotters::prelude::*;
use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const N: usize = 12;

/// The extended Rosenbrock function (Moré, Garbow and Hillstrom's problem 21): the sum over
/// the pairs (a, b) = (x[2i], x[2i+1]) of 100 (b - a^2)^2 + (1 - a)^2, minimum 0 at (1, ..., 1).
fn rosenbrock(x: &Tensor) -> Result<Tensor> {
    let pairs = x.reshape(&[-1, 2])?;
    let (a, b) = (pairs.i((.., 0))?, pairs.i((.., 1))?);
    b.sub(&a.square()?)?
        .square()?
        .mul_scalar(100.0)?
        .add(&a.neg()?.add_scalar(1.0)?.square()?)?
        .sum()
}

/// The model of the curve fit: `a e^(-b t) cos(c t) + d` at the times `t`.
fn oscillation(p: &Tensor, t: &Tensor) -> Result<Tensor> {
    let q = |i| p.narrow(0, i, 1);
    let decay = t.mul(&q(1)?)?.neg()?.exp()?;
    decay.mul(&t.mul(&q(2)?)?.cos()?)?.mul(&q(0)?)?.add(&q(3)?)
}

/// A function of a parameter vector, counting its calls.
struct Counted<F> {
    f: F,
    calls: Cell<usize>,
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Counted<F> {
    fn new(f: F) -> Self {
        Counted {
            f,
            calls: Cell::new(0),
        }
    }
    fn call(&self, x: &Tensor) -> Result<Tensor> {
        self.calls.set(self.calls.get() + 1);
        (self.f)(x)
    }
    fn value(&self, x: &[f64]) -> std::result::Result<f64, Error> {
        Ok(self.call(&Tensor::from_slice(x))?.item()?)
    }
    fn vector(&self, x: &[f64]) -> std::result::Result<Vec<f64>, Error> {
        Ok(self.call(&Tensor::from_slice(x))?.to_vec::<f64>()?)
    }
}

/// The same problem for argmin, with finite-difference derivatives: central differences for
/// the gradient, forward differences of that gradient for the Hessian, forward differences
/// for the Jacobian (as argmin's own examples do).
struct FiniteDiff<'a, F>(&'a Counted<F>);

impl<F: Fn(&Tensor) -> Result<Tensor>> CostFunction for FiniteDiff<'_, F> {
    type Param = DVector<f64>;
    type Output = f64;
    fn cost(&self, x: &DVector<f64>) -> std::result::Result<f64, Error> {
        self.0.value(x.as_slice())
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> FiniteDiff<'_, F> {
    fn grad(&self, x: &Vec<f64>) -> std::result::Result<Vec<f64>, Error> {
        finitediff::vec::central_diff(&|v: &Vec<f64>| self.0.value(v))(x)
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Gradient for FiniteDiff<'_, F> {
    type Param = DVector<f64>;
    type Gradient = DVector<f64>;
    fn gradient(&self, x: &DVector<f64>) -> std::result::Result<DVector<f64>, Error> {
        Ok(DVector::from_vec(self.grad(&x.as_slice().to_vec())?))
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Hessian for FiniteDiff<'_, F> {
    type Param = DVector<f64>;
    type Hessian = DMatrix<f64>;
    fn hessian(&self, x: &DVector<f64>) -> std::result::Result<DMatrix<f64>, Error> {
        let rows =
            finitediff::vec::forward_hessian(&|v: &Vec<f64>| self.grad(v))(&x.as_slice().to_vec())?;
        let n = rows.len();
        Ok(DMatrix::from_row_iterator(n, n, rows.into_iter().flatten()))
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Operator for FiniteDiff<'_, F> {
    type Param = DVector<f64>;
    type Output = DVector<f64>;
    fn apply(&self, x: &DVector<f64>) -> std::result::Result<DVector<f64>, Error> {
        Ok(DVector::from_vec(self.0.vector(x.as_slice())?))
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Jacobian for FiniteDiff<'_, F> {
    type Param = DVector<f64>;
    type Jacobian = DMatrix<f64>;
    fn jacobian(&self, x: &DVector<f64>) -> std::result::Result<DMatrix<f64>, Error> {
        let rows = finitediff::vec::forward_jacobian(&|v: &Vec<f64>| self.0.vector(v))(
            &x.as_slice().to_vec(),
        )?;
        let (m, n) = (rows.len(), x.len());
        Ok(DMatrix::from_row_iterator(m, n, rows.into_iter().flatten()))
    }
}

/// Records the distance of each iterate to the solution.
#[derive(Clone)]
struct Trace {
    solution: DVector<f64>,
    errors: Arc<Mutex<Vec<f64>>>,
}

impl<I: State<Param = DVector<f64>>> Observe<I> for Trace {
    fn observe_iter(&mut self, state: &I, _kv: &KV) -> std::result::Result<(), Error> {
        if let Some(x) = state.get_param() {
            let e = (x - &self.solution).norm();
            self.errors.lock().unwrap().push(e);
        }
        Ok(())
    }
}

struct Run {
    name: String,
    iters: u64,
    calls: usize,
    error: f64,
    seconds: f64,
    trace: Vec<f64>,
}

fn header(calls: &str, dist: &str) {
    println!(
        "{:<40} {:>6} {:>10} {:>12} {:>10}",
        "solver", "iters", calls, dist, "time (ms)"
    );
}

fn report(r: &Run) {
    println!(
        "{:<40} {:>6} {:>10} {:>12.2e} {:>10.2}",
        r.name,
        r.iters,
        r.calls,
        r.error,
        r.seconds * 1e3
    );
}

/// Run `solver` on `problem` from `x0`, with `calls` the counter of the problem's function.
fn run<O, S, G, H>(
    name: &str,
    problem: O,
    solver: S,
    x0: &DVector<f64>,
    setup: impl FnOnce(
        argmin::core::IterState<DVector<f64>, G, (), H, (), f64>,
    ) -> argmin::core::IterState<DVector<f64>, G, (), H, (), f64>,
    calls: &Cell<usize>,
    solution: &DVector<f64>,
) -> std::result::Result<Run, Error>
where
    S: argmin::core::Solver<O, argmin::core::IterState<DVector<f64>, G, (), H, (), f64>>,
    G: Clone,
    H: Clone,
{
    calls.set(0);
    let trace = Trace {
        solution: solution.clone(),
        errors: Arc::new(Mutex::new(vec![(x0 - solution).norm()])),
    };
    let errors = trace.errors.clone();
    let start = Instant::now();
    let res = Executor::new(problem, solver)
        .configure(|s| setup(s.param(x0.clone())))
        .add_observer(trace, ObserverMode::Always)
        .run()?;
    let seconds = start.elapsed().as_secs_f64();
    let best = res.state().get_param().unwrap_or(x0);
    let out = Run {
        name: name.into(),
        iters: res.state().get_iter(),
        calls: calls.get(),
        error: (best - solution).norm(),
        seconds,
        trace: errors.lock().unwrap().clone(),
    };
    report(&out);
    Ok(out)
}

fn least_squares_run<R>(
    name: &str,
    problem: R,
    x0: &DVector<f64>,
    calls: &Cell<usize>,
    solution: &DVector<f64>,
) -> std::result::Result<Run, Error>
where
    GaussNewton<f64>: argmin::core::Solver<
            R,
            argmin::core::IterState<DVector<f64>, (), DMatrix<f64>, (), DVector<f64>, f64>,
        >,
{
    calls.set(0);
    let start = Instant::now();
    let res = Executor::new(problem, GaussNewton::<f64>::new())
        .configure(|s| s.param(x0.clone()).max_iters(50))
        .run()?;
    let seconds = start.elapsed().as_secs_f64();
    let best = res.state().get_param().unwrap_or(x0);
    let out = Run {
        name: name.into(),
        iters: res.state().get_iter(),
        calls: calls.get(),
        error: (best - solution).norm(),
        seconds,
        trace: vec![],
    };
    report(&out);
    Ok(out)
}

fn main() -> std::result::Result<(), Error> {
    // 1. Newton's method on a convex problem: L2-regularized logistic regression.
    manual_seed(3);
    let (samples, features) = (400, 12);
    let xs = Tensor::randn(&[samples, features], DType::F64)?;
    let w_true = Tensor::linspace(-1.5, 1.5, features, DType::F64)?;
    let noise = Tensor::randn(&[samples], DType::F64)?;
    let labels = xs
        .matmul(&w_true)?
        .add(&noise)?
        .gt_scalar(0.0)?
        .to_dtype(DType::F64)?;
    let nll = Counted::new(|w: &Tensor| {
        let z = xs.matmul(w)?;
        let data = z.softplus()?.sub(&labels.mul(&z)?)?.mean()?;
        data.add(&w.square()?.sum()?.mul_scalar(0.5e-2)?)
    });
    let w0 = DVector::zeros(features);
    // the minimizer, to measure the distance to
    let w_star = Executor::new(
        Objective::new(|w: &Tensor| nll.call(w)),
        Newton::<f64>::new(),
    )
    .configure(|s| s.param(w0.clone()).max_iters(30))
    .run()?
    .state()
    .get_param()
    .cloned()
    .unwrap_or(w0.clone());
    println!("Logistic regression, {samples} samples x {features} features (L2 1e-2), from w = 0");
    header("f calls", "|w - w*|");
    let newton_exact = run(
        "Newton (logistic), exact Hessian",
        Objective::new(|w: &Tensor| nll.call(w)),
        Newton::<f64>::new(),
        &w0,
        |s| s.max_iters(8),
        &nll.calls,
        &w_star,
    )?;
    let newton_fd = run(
        "Newton (logistic), finite differences",
        FiniteDiff(&nll),
        Newton::<f64>::new(),
        &w0,
        |s| s.max_iters(8),
        &nll.calls,
        &w_star,
    )?;

    // 2. Rosenbrock: trust region (Hessian) and L-BFGS (gradient).
    let x0 = DVector::from_fn(N, |i, _| if i % 2 == 0 { -1.2 } else { 1.0 });
    let ones = DVector::from_element(N, 1.0);
    let f = Counted::new(rosenbrock);
    let exact = || Objective::new(|x: &Tensor| f.call(x));
    println!(
        "\nExtended Rosenbrock in {N} dimensions from (-1.2, 1, -1.2, 1, ...); minimum at (1, ..., 1)"
    );
    header("f calls", "|x - x*|");
    let tr = || TrustRegion::new(Steihaug::new().with_max_iters(50));
    let tr_setup =
        |s: argmin::core::IterState<_, _, _, _, _, _>| s.max_iters(500).target_cost(1e-24);
    run(
        "trust region (Steihaug), exact Hessian",
        exact(),
        tr(),
        &x0,
        tr_setup,
        &f.calls,
        &ones,
    )?;
    run(
        "trust region (Steihaug), finite diff.",
        FiniteDiff(&f),
        tr(),
        &x0,
        tr_setup,
        &f.calls,
        &ones,
    )?;

    let bfgs_setup = |s: argmin::core::IterState<_, _, _, _, _, _>| s.max_iters(1000);
    let bfgs = || LBFGS::new(MoreThuenteLineSearch::new(), 7);
    let bfgs_exact = run(
        "L-BFGS (Rosenbrock), exact gradient",
        exact(),
        bfgs(),
        &x0,
        bfgs_setup,
        &f.calls,
        &ones,
    )?;
    let bfgs_fd = run(
        "L-BFGS (Rosenbrock), finite diff.",
        FiniteDiff(&f),
        bfgs(),
        &x0,
        bfgs_setup,
        &f.calls,
        &ones,
    )?;

    // Curve fit: 200 samples of a damped oscillation with deterministic pseudo-noise.
    let truth = DVector::from_vec(vec![2.0, 0.3, 2.5, 0.5]);
    let t = Tensor::linspace(0.0, 10.0, 200, DType::F64)?;
    let noise: Vec<f64> = (0..200)
        .map(|k| 0.01 * ((k as f64) * 12.9898).sin())
        .collect();
    let y =
        oscillation(&Tensor::from_slice(truth.as_slice()), &t)?.add(&Tensor::from_slice(&noise))?;
    let r = Counted::new(|p: &Tensor| oscillation(p, &t)?.sub(&y));
    // the least-squares solution, to measure the distance to (the noise moves it off `truth`)
    let exact_fit = || LeastSquares::new(|p: &Tensor| r.call(p));
    let p0 = DVector::from_vec(vec![1.0, 0.1, 2.3, 0.0]);
    let best = Executor::new(exact_fit(), GaussNewton::<f64>::new())
        .configure(|s| s.param(p0.clone()).max_iters(100))
        .run()?
        .state()
        .get_param()
        .cloned()
        .unwrap_or(p0.clone());
    println!(
        "\nCurve fit: a e^(-b t) cos(c t) + d to 200 noisy samples; fitted (a, b, c, d) = ({:.4}, {:.4}, {:.4}, {:.4})",
        best[0], best[1], best[2], best[3]
    );
    header("r calls", "|p - p*|");
    least_squares_run(
        "Gauss-Newton, exact Jacobian (jacfwd)",
        exact_fit(),
        &p0,
        &r.calls,
        &best,
    )?;
    least_squares_run(
        "Gauss-Newton, finite differences",
        FiniteDiff(&r),
        &p0,
        &r.calls,
        &best,
    )?;
    assert!((&best - &truth).norm() < 0.05, "the fit missed: {best}");
    assert!(newton_exact.error < 1e-8 && bfgs_exact.error < 1e-5);

    plot(
        &[&newton_exact, &newton_fd, &bfgs_exact, &bfgs_fd],
        "docs/argmin_convergence.svg",
    )
    .map_err(|e| Error::msg(e.to_string()))?;
    println!("\nwrote docs/argmin_convergence.svg");
    Ok(())
}

/// The distance to the solution per iteration, on a log scale.
fn plot(runs: &[&Run], path: &str) -> std::result::Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all("docs")?;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let iters = runs.iter().map(|r| r.trace.len()).max().unwrap_or(1);
    let floor = 1e-12;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Convergence: exact derivatives vs finite differences",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..iters, (floor..1e2).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc("|x - x*|")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()?;
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(214, 39, 40),
    ];
    for (k, r) in runs.iter().enumerate() {
        let color = colors[k % colors.len()];
        let style = ShapeStyle::from(&color).stroke_width(2);
        let pts: Vec<(usize, f64)> = r
            .trace
            .iter()
            .enumerate()
            .map(|(i, &e)| (i, e.max(floor)))
            .collect();
        let label = r.name.clone();
        if k % 2 == 0 {
            chart
                .draw_series(LineSeries::new(pts, style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        } else {
            chart
                .draw_series(pts.iter().map(|&(i, e)| Circle::new((i, e), 3, style)))?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, style));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}
