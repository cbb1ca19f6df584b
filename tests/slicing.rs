//! Indexing with Rust ranges (`i`, `slice_range`, `step`), `triu_indices` / `tril_indices`,
//! `index_pairs`: values against the explicit `slice`/`select` calls they stand for, gradients
//! against central differences, batching against a loop; and two API corners a new user meets
//! (a pullback's 1-tuple result, the call named in a conversion error).

use functorch::{DType, Error, Tensor, grad, hessian, jacrev, step, vjp, vmap};

mod common;
use common::{Rng, close_vals, mat, vals, vec1};

fn grid(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    mat((0..n).map(|v| v as f64).collect(), shape)
}

#[test]
// `1..-1` is x[1:-1] here, not an empty range
#[allow(clippy::reversed_empty_ranges)]
fn ranges_match_python_slices() {
    let x = grid(&[4, 5]);
    let same = |a: &Tensor, b: &Tensor| {
        assert_eq!(a.shape(), b.shape());
        assert_eq!(vals(a), vals(b));
    };
    same(&x.i(1..).unwrap(), &x.slice(0, 1, i64::MAX, 1).unwrap()); // x[1:]
    same(&x.i(..-1).unwrap(), &x.slice(0, 0, -1, 1).unwrap()); // x[:-1]
    same(&x.i(1..3).unwrap(), &x.slice(0, 1, 3, 1).unwrap()); // x[1:3]
    same(&x.i(..=2).unwrap(), &x.slice(0, 0, 3, 1).unwrap()); // x[:3]
    same(&x.i(..=-1).unwrap(), &x); // x[:] (through the last)
    same(&x.i(..=-2).unwrap(), &x.slice(0, 0, -1, 1).unwrap()); // x[:-1]
    same(&x.i(-2..).unwrap(), &x.slice(0, -2, i64::MAX, 1).unwrap()); // x[-2:]
    same(&x.i(..).unwrap(), &x);
    same(&x.i((.., 1..-1)).unwrap(), &x.slice(1, 1, -1, 1).unwrap()); // x[:, 1:-1]
    same(&x.i((2, ..)).unwrap(), &x.select(0, 2).unwrap()); // x[2, :]
    same(&x.i((.., -1)).unwrap(), &x.select(1, -1).unwrap()); // x[:, -1]
    same(&x.i((1, 3)).unwrap(), &Tensor::scalar(8.0)); // x[1, 3]
    same(
        &x.i(step(.., 2)).unwrap(),
        &x.slice(0, 0, i64::MAX, 2).unwrap(),
    ); // x[::2]
    same(
        &x.i((1.., step(1.., 3))).unwrap(),
        &x.slice(0, 1, i64::MAX, 1)
            .unwrap()
            .slice(1, 1, i64::MAX, 3)
            .unwrap(),
    );
    same(&x.i(10..).unwrap(), &x.slice(0, 10, i64::MAX, 1).unwrap()); // clamped: empty
    assert_eq!(x.i(10..).unwrap().shape(), &[0, 5]);
    same(&x.i(2i64..).unwrap(), &x.i(2..).unwrap());
    same(
        &x.slice_range(1, 1..).unwrap(),
        &x.slice(1, 1, i64::MAX, 1).unwrap(),
    );
    same(
        &x.slice_range(-1, ..-1).unwrap(),
        &x.slice(1, 0, -1, 1).unwrap(),
    );
    same(
        &x.slice_range(0, 1usize..3).unwrap(),
        &x.slice(0, 1, 3, 1).unwrap(),
    );
    // three dims, mixed
    let y = grid(&[2, 3, 4]);
    let want = y
        .select(0, -1)
        .unwrap()
        .slice(0, 0, 2, 1)
        .unwrap()
        .slice(1, 1, i64::MAX, 2)
        .unwrap();
    same(&y.i((-1, ..2, step(1.., 2))).unwrap(), &want);
}

#[test]
fn range_errors_name_the_problem() {
    let x = grid(&[2, 3]);
    match x.i((0, 0, 0)).unwrap_err() {
        Error::Invalid { op: "i", msg } => assert!(msg.contains("too many indices"), "{msg}"),
        e => panic!("{e}"),
    }
    assert!(matches!(
        x.i(2).unwrap_err(),
        Error::Index {
            op: "select",
            index: 2,
            size: 2,
            ..
        }
    ));
    assert!(matches!(
        x.i((.., -4)).unwrap_err(),
        Error::Index {
            op: "select",
            index: -4,
            size: 3,
            ..
        }
    ));
    assert!(matches!(
        x.i(step(.., 0)).unwrap_err(),
        Error::Invalid { op: "slice", .. }
    ));
    assert!(matches!(
        x.slice_range(2, 1..).unwrap_err(),
        Error::Dim {
            op: "slice",
            dim: 2,
            ..
        }
    ));
}

#[test]
fn forward_differences_with_ranges_differentiate_and_batch() {
    // sum (x[1:] - x[:-1])^2: gradient 2(d[i-1] - d[i]) with d padded by zeros
    let f = |x: &Tensor| x.i(1..)?.sub(&x.i(..-1)?)?.square()?.sum();
    let x = vec1(&[0.0, 1.0, 3.0, 2.0]);
    let g: Tensor = grad(f).call(&x).unwrap();
    let d = [1.0, 2.0, -1.0];
    close_vals(
        &vals(&g),
        &[
            -2.0 * d[0],
            2.0 * (d[0] - d[1]),
            2.0 * (d[1] - d[2]),
            2.0 * d[2],
        ],
        1e-12,
        "grad",
    );
    // the Hessian is 2 * (the path graph Laplacian)
    let h: Tensor = hessian(f).call(&x).unwrap();
    close_vals(
        &vals(&h),
        &[
            2.0, -2.0, 0.0, 0.0, -2.0, 4.0, -2.0, 0.0, 0.0, -2.0, 4.0, -2.0, 0.0, 0.0, -2.0, 2.0,
        ],
        1e-12,
        "hessian",
    );
    // vmap over rows equals the loop
    let xs = grid(&[3, 4]).square().unwrap();
    let b: Tensor = vmap(f).call(&xs).unwrap();
    for r in 0..3 {
        close_vals(
            &vals(&b.get(r).unwrap()),
            &vals(&f(&xs.get(r).unwrap()).unwrap()),
            1e-12,
            "vmap row",
        );
    }
}

#[test]
fn triangle_indices_match_torch() {
    // torch.triu_indices(3, 4, 1) and torch.tril_indices(3, 4, -1), copied from torch
    assert_eq!(
        Tensor::triu_indices(3, 4, 1).to_vec::<i64>().unwrap(),
        vec![0, 0, 0, 1, 1, 2, 1, 2, 3, 2, 3, 3]
    );
    assert_eq!(
        Tensor::tril_indices(3, 4, -1).to_vec::<i64>().unwrap(),
        vec![1, 2, 2, 0, 0, 1]
    );
    assert_eq!(Tensor::triu_indices(2, 2, 0).shape(), &[2, 3]);
    assert_eq!(Tensor::triu_indices(2, 2, 5).shape(), &[2, 0]);
    assert_eq!(Tensor::tril_indices(2, 3, 5).shape(), &[2, 6]);
    assert_eq!(Tensor::triu_indices(0, 0, 0).shape(), &[2, 0]);
    // every (i, j) of the n x n grid is in exactly one of triu(., 1) and tril(., 0)
    let n = 5;
    let (u, l) = (Tensor::triu_indices(n, n, 1), Tensor::tril_indices(n, n, 0));
    assert_eq!(u.shape()[1] + l.shape()[1], n * n);
    // and index_pairs with them picks what triu/tril keep
    let mut r = Rng::new(7);
    let x = mat(r.vec(n * n, -1.0, 1.0), &[n, n]);
    let picked = x
        .index_pairs(&u.get(0).unwrap(), &u.get(1).unwrap())
        .unwrap();
    let s1: f64 = vals(&picked).iter().sum();
    let s2: f64 = vals(&x.triu(1).unwrap()).iter().sum();
    assert!((s1 - s2).abs() < 1e-12);
}

#[test]
fn index_pairs_values_grads_and_batching() {
    let x = grid(&[3, 4, 2]);
    let rows = Tensor::from_slice(&[0i64, 2, -1, 1]);
    let cols = Tensor::from_slice(&[3i64, 0, -1, 1]);
    let got = x.index_pairs(&rows, &cols).unwrap();
    assert_eq!(got.shape(), &[4, 2]); // trailing dim kept
    assert_eq!(
        vals(&got),
        vec![6.0, 7.0, 16.0, 17.0, 22.0, 23.0, 10.0, 11.0]
    );
    // Jacobian of x -> x[rows, cols] is a selection matrix (with repeats accumulating in grad)
    let r2 = Tensor::from_slice(&[0i64, 0, 1]);
    let c2 = Tensor::from_slice(&[1i64, 1, 0]);
    let y = grid(&[2, 2]);
    let j: Tensor = jacrev(|y: &Tensor| y.index_pairs(&r2, &c2))
        .call(&y)
        .unwrap();
    assert_eq!(j.shape(), &[3, 2, 2]);
    assert_eq!(
        vals(&j),
        vec![0., 1., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0.]
    );
    let g: Tensor = grad(|y: &Tensor| y.index_pairs(&r2, &c2)?.square()?.sum())
        .call(&y)
        .unwrap();
    assert_eq!(vals(&g), vec![0.0, 4.0, 4.0, 0.0]); // 2 * 2 * y[0,1], 2 * y[1,0]
    // vmap over a batch of matrices, indices shared
    let ys = grid(&[3, 2, 2]);
    let b: Tensor = vmap(|y: &Tensor| y.index_pairs(&r2, &c2))
        .call(&ys)
        .unwrap();
    for k in 0..3 {
        assert_eq!(
            vals(&b.get(k).unwrap()),
            vals(&ys.get(k).unwrap().index_pairs(&r2, &c2).unwrap())
        );
    }
}

#[test]
fn index_pairs_errors() {
    let x = grid(&[2, 3]);
    let i = Tensor::from_slice(&[0i64, 1]);
    assert!(matches!(
        x.index_pairs(&i, &Tensor::from_slice(&[0i64, 3]))
            .unwrap_err(),
        Error::Index {
            op: "index_pairs",
            index: 3,
            dim: 1,
            size: 3
        }
    ));
    assert!(matches!(
        x.index_pairs(&Tensor::from_slice(&[-3i64, 0]), &i)
            .unwrap_err(),
        Error::Index {
            op: "index_pairs",
            index: -3,
            dim: 0,
            size: 2
        }
    ));
    assert!(matches!(
        x.index_pairs(&i, &Tensor::from_slice(&[0i64])).unwrap_err(),
        Error::Shape {
            op: "index_pairs",
            ..
        }
    ));
    assert!(matches!(
        x.index_pairs(&i, &vec1(&[0.0, 1.0])).unwrap_err(),
        Error::DType {
            op: "index_pairs",
            got: DType::F64,
            ..
        }
    ));
    assert!(matches!(
        vec1(&[1.0]).index_pairs(&i, &i).unwrap_err(),
        Error::Shape {
            op: "index_pairs",
            ..
        }
    ));
    // a traced index list is refused, not silently used
    let err = vmap(|r: &Tensor| x.index_pairs(r, r))
        .call::<_, Tensor>(&Tensor::from_vec(vec![0i64, 1], &[2, 1]).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Traced {
                op: "index_pairs",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn pullback_returns_a_one_tuple() {
    let x = vec1(&[1.0, 2.0]);
    let (out, pullback): (Tensor, _) = vjp(|x: &Tensor| x.square()).call(&x).unwrap();
    assert_eq!(vals(&out), vec![1.0, 4.0]);
    let (g,): (Tensor,) = pullback.call(&vec1(&[1.0, 1.0])).unwrap();
    assert_eq!(vals(&g), vec![2.0, 4.0]);
    // asking for a bare Tensor is a structure error that says what came back
    let err = pullback.call::<_, Tensor>(&vec1(&[1.0, 1.0])).unwrap_err();
    assert!(err.to_string().contains("pullback"), "{err}");
}

#[test]
fn conversion_errors_name_the_call_not_the_builder() {
    let x = vec1(&[1.0, 2.0]);
    let f = |(a, b): &(Tensor, Tensor)| a.mul(b)?.sum();
    let err = hessian(f)
        .argnums((0, 1))
        .call::<_, Tensor>(&(x.clone(), x.clone()))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "structure mismatch: hessian(f, argnums=(0, 1)): the result does not convert"
        ),
        "{msg}"
    );
    let err = grad(|x: &Tensor| x.sum())
        .call::<_, (Tensor, Tensor)>(&x)
        .unwrap_err();
    assert!(err.to_string().contains("grad(f, argnums=0)"), "{err}");
    let err = vmap(|x: &Tensor| x.sin())
        .call::<_, (Tensor,)>(&x)
        .unwrap_err();
    assert!(err.to_string().contains("vmap(f, in_dims="), "{err}");
}
