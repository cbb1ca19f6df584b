//! argmin problems from functorch functions: the derivatives argmin receives against closed
//! forms (Rosenbrock's gradient and Hessian, an exponential model's Jacobian), agreement of the
//! forward and reverse Jacobians, argmin solvers (Newton, trust region with Steihaug, L-BFGS,
//! Gauss–Newton) reaching the known minima, and the errors argmin reports for a bad function.
#![cfg(feature = "argmin")]

use argmin::core::{CostFunction, Executor, Gradient, Hessian, Jacobian, Operator, State};
use argmin::solver::gaussnewton::GaussNewton;
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::newton::Newton;
use argmin::solver::quasinewton::LBFGS;
use argmin::solver::trustregion::{Steihaug, TrustRegion};
use functorch::interop::argmin::{LeastSquares, Objective};
use functorch::{DType, Result, Tensor};
use nalgebra::{DMatrix, DVector};

/// Rosenbrock in n dims: sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2.
fn rosenbrock(x: &Tensor) -> Result<Tensor> {
    let n = x.shape()[0];
    let (a, b) = (x.narrow(0, 0, n - 1)?, x.narrow(0, 1, n - 1)?);
    b.sub(&a.square()?)?
        .square()?
        .mul_scalar(100.0)?
        .add(&a.neg()?.add_scalar(1.0)?.square()?)?
        .sum()
}

/// Closed-form gradient and Hessian of the 2-d Rosenbrock function.
fn rosen2(x: f64, y: f64) -> (f64, [f64; 2], [f64; 4]) {
    let f = 100.0 * (y - x * x).powi(2) + (1.0 - x).powi(2);
    let g = [
        -400.0 * x * (y - x * x) - 2.0 * (1.0 - x),
        200.0 * (y - x * x),
    ];
    let h = [
        1200.0 * x * x - 400.0 * y + 2.0,
        -400.0 * x,
        -400.0 * x,
        200.0,
    ];
    (f, g, h)
}

#[test]
fn objective_gives_argmin_the_exact_derivatives() {
    let p = Objective::new(rosenbrock);
    for (x, y) in [(-1.2, 1.0), (0.3, -0.7), (1.0, 1.0)] {
        let v = DVector::from_vec(vec![x, y]);
        let (f, g, h) = rosen2(x, y);
        assert!((p.cost(&v).unwrap() - f).abs() < 1e-12);
        let gg = p.gradient(&v).unwrap();
        assert!((gg - DVector::from_vec(g.to_vec())).norm() < 1e-10);
        let hh = p.hessian(&v).unwrap();
        assert!((hh - DMatrix::from_row_slice(2, 2, &h)).norm() < 1e-10);
    }
}

#[test]
fn newton_trust_region_and_lbfgs_reach_the_minimum() {
    // pure Newton from the classic start (-1.2, 1) in 2-d: quadratic convergence to (1, 1)
    let res = Executor::new(Objective::new(rosenbrock), Newton::<f64>::new())
        .configure(|s| s.param(DVector::from_vec(vec![-1.2, 1.0])).max_iters(20))
        .run()
        .unwrap();
    let x = res.state().get_param().unwrap();
    assert!(
        (x - DVector::from_element(2, 1.0)).norm() < 1e-10,
        "{x} after {} iterations",
        res.state().get_iter()
    );

    // globalized methods in 4-d from (-1.2, 1, -1.2, 1)
    let x0 = DVector::from_vec(vec![-1.2, 1.0, -1.2, 1.0]);
    let ones = DVector::from_element(4, 1.0);
    let tr = TrustRegion::new(Steihaug::new().with_max_iters(20));
    let res = Executor::new(Objective::new(rosenbrock), tr)
        .configure(|s| s.param(x0.clone()).max_iters(200))
        .run()
        .unwrap();
    assert!(
        (res.state().get_param().unwrap() - &ones).norm() < 1e-6,
        "{}",
        res.state().get_param().unwrap()
    );

    let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 7);
    let res = Executor::new(Objective::new(rosenbrock), lbfgs)
        .configure(|s| s.param(x0.clone()).max_iters(200))
        .run()
        .unwrap();
    assert!(
        (res.state().get_param().unwrap() - &ones).norm() < 1e-5,
        "{}",
        res.state().get_param().unwrap()
    );
}

fn model_data() -> (Tensor, Tensor) {
    // y = 2 exp(-0.5 t) + 0.3, sampled exactly
    let t = Tensor::linspace(0.0, 5.0, 25, DType::F64).unwrap();
    let y = t
        .mul_scalar(-0.5)
        .unwrap()
        .exp()
        .unwrap()
        .mul_scalar(2.0)
        .unwrap()
        .add_scalar(0.3)
        .unwrap();
    (t, y)
}

#[test]
fn least_squares_jacobian_cost_and_gradient() {
    let (t, y) = model_data();
    let r = |p: &Tensor| {
        let (a, b, c) = (p.narrow(0, 0, 1)?, p.narrow(0, 1, 1)?, p.narrow(0, 2, 1)?);
        t.mul(&b)?.exp()?.mul(&a)?.add(&c)?.sub(&y)
    };
    let p = DVector::from_vec(vec![1.5, -0.2, 0.1]);
    let fwd = LeastSquares::new(r);
    let rev = LeastSquares::new(r).reverse(true);
    let j = fwd.jacobian(&p).unwrap();
    assert_eq!(j.shape(), (25, 3));
    assert!((&j - rev.jacobian(&p).unwrap()).norm() < 1e-12);
    // closed form: d/da = exp(b t), d/db = a t exp(b t), d/dc = 1
    let tv = t.to_vec::<f64>().unwrap();
    for (k, &tk) in tv.iter().enumerate() {
        let e = (p[1] * tk).exp();
        assert!(
            (j[(k, 0)] - e).abs() < 1e-12
                && (j[(k, 1)] - p[0] * tk * e).abs() < 1e-12
                && (j[(k, 2)] - 1.0).abs() < 1e-12
        );
    }
    let res = fwd.apply(&p).unwrap();
    assert!((fwd.cost(&p).unwrap() - 0.5 * res.norm_squared()).abs() < 1e-12);
    assert!((fwd.gradient(&p).unwrap() - j.transpose() * &res).norm() < 1e-12);

    let sol = Executor::new(fwd, GaussNewton::<f64>::new())
        .configure(|s| {
            s.param(DVector::from_vec(vec![1.0, -0.1, 0.0]))
                .max_iters(50)
        })
        .run()
        .unwrap();
    let best = sol.state().get_param().unwrap();
    assert!(
        (best - DVector::from_vec(vec![2.0, -0.5, 0.3])).norm() < 1e-8,
        "{best}"
    );
}

#[test]
fn a_bad_function_is_an_argmin_error_naming_the_problem() {
    let p = Objective::new(|x: &Tensor| x.square());
    let msg = p
        .cost(&DVector::from_vec(vec![1.0, 2.0]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("expected the objective to return a scalar tensor") && msg.contains("[2]"),
        "{msg}"
    );
    let msg = p
        .gradient(&DVector::from_vec(vec![1.0, 2.0]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("grad(f, argnums=0)"), "{msg}");
    let ls = LeastSquares::new(|x: &Tensor| x.sum());
    let msg = ls
        .apply(&DVector::from_vec(vec![1.0]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("expected the residual function to return a 1-d tensor"),
        "{msg}"
    );
}
