//! Functional updates (`masked_fill`, `masked_scatter`, `slice_scatter`, `select_scatter`,
//! `index_put`, `index`, and the `at_*` forms): their values against hand-computed ones and
//! torch's conventions, their errors, their derivatives and their batching.
//!
//! - **Gradients**, in f64, orders 1 and 2: `J v` against central finite differences
//!   (`h = 1e-6`, tolerance `1e-6 · max(1, ‖FD‖∞)`) and `Jᵀu` by the dot-product identity
//!   `⟨u, J v⟩ = ⟨Jᵀu, v⟩` (tolerance `1e-10` relative); then the same checks on
//!   `x ↦ J(x) v` and on `x ↦ J(x)ᵀ u`. The updates are linear in the tensor and the values, so
//!   each case composes them with nonlinear maps (`x²`, `sin`) to give the second derivatives
//!   something to carry.
//! - **Batching**, against a loop over the batch: every combination of batched and unbatched
//!   operands (indices and masks included), the batch at every dim position of each batched
//!   operand, for the function and for its gradient.

mod common;

use common::{ANY, Rng, t};
use functorch::{DType, Dims, Error, Result, Tensor, jvp, vjp, vmap};

type Fun<'a> = dyn Fn(&Vec<Tensor>) -> Result<Tensor> + 'a;

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().expect("a concrete tensor")
}

fn idx(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn mask(v: &[bool], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

#[track_caller]
fn assert_vals(got: &Tensor, want: &[f64], what: &str) {
    assert_eq!(vals(got), want, "{what}");
}

// ------------------------------------------------------------------------------ checkers

fn like(r: &mut Rng, xs: &[Tensor]) -> Vec<Tensor> {
    xs.iter().map(|x| t(r, x.shape(), ANY)).collect()
}

fn dot(a: &[Tensor], b: &[Tensor]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| vals(a).iter().zip(vals(b)).map(|(x, y)| x * y).sum::<f64>())
        .sum()
}

fn axpy(xs: &[Tensor], h: f64, vs: &[Tensor]) -> Vec<Tensor> {
    xs.iter()
        .zip(vs)
        .map(|(x, v)| x.add(&v.mul_scalar(h).unwrap()).unwrap())
        .collect()
}

/// One tensor holding every element of `ts`.
fn flat(ts: &[Tensor]) -> Result<Tensor> {
    let parts: Vec<Tensor> = ts.iter().map(|t| t.reshape(&[-1])).collect::<Result<_>>()?;
    Tensor::cat(&parts, 0)
}

/// Order-1 checks of `f` at `xs`; with `order2`, the same checks on its jvp and its vjp.
fn gradcheck(name: &str, f: &Fun<'_>, xs: &[Tensor], r: &mut Rng, order2: bool) {
    let xs = xs.to_vec();
    let v = like(r, &xs);
    let (y, jv): (Tensor, Tensor) = jvp(|a: &Vec<Tensor>| f(a))
        .call(&xs, &v)
        .unwrap_or_else(|e| panic!("{name}: jvp: {e}"));
    let h = 1e-6;
    let fp = f(&axpy(&xs, h, &v)).unwrap();
    let fm = f(&axpy(&xs, -h, &v)).unwrap();
    let fd: Vec<f64> = vals(&fp)
        .iter()
        .zip(vals(&fm))
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect();
    let scale = fd.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in vals(&jv).iter().zip(&fd).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6 * scale,
            "{name}: J·v element {i} is {a}, finite differences give {b}"
        );
    }
    let u = t(r, y.shape(), ANY);
    let (_, pb): (Tensor, _) = vjp(|a: &Vec<Tensor>| f(a)).call(&xs).unwrap();
    let (g,): (Vec<Tensor>,) = pb
        .call(&u)
        .unwrap_or_else(|e| panic!("{name}: pullback: {e}"));
    let (lhs, rhs) = (dot(std::slice::from_ref(&u), &[jv]), dot(&g, &v));
    let mag = 1.0 + lhs.abs() + rhs.abs();
    assert!(
        (lhs - rhs).abs() <= 1e-10 * mag,
        "{name}: ⟨u, Jv⟩ = {lhs} but ⟨Jᵀu, v⟩ = {rhs}"
    );
    if order2 {
        let fwd = |a: &Vec<Tensor>| -> Result<Tensor> {
            let (_, t): (Tensor, Tensor) = jvp(|b: &Vec<Tensor>| f(b)).call(a, &v)?;
            Ok(t)
        };
        gradcheck(&format!("{name} (its jvp)"), &fwd, &xs, r, false);
        let rev = |a: &Vec<Tensor>| -> Result<Tensor> {
            let (_, pb): (Tensor, _) = vjp(|b: &Vec<Tensor>| f(b)).call(a)?;
            let (g,): (Vec<Tensor>,) = pb.call(&u)?;
            flat(&g)
        };
        gradcheck(&format!("{name} (its vjp)"), &rev, &xs, r, false);
    }
}

/// `vmap(f)` against a loop over `examples` (each a list of operands): for every subset of the
/// operands batched (the others taken from example 0) and every position of the batch dim.
fn batchcheck(name: &str, f: &Fun<'_>, examples: &[Vec<Tensor>]) {
    let k = examples[0].len();
    let n = examples.len();
    for subset in 1..(1u32 << k) {
        let batched: Vec<bool> = (0..k).map(|i| subset & (1 << i) != 0).collect();
        let operands = |b: usize| -> Vec<Tensor> {
            (0..k)
                .map(|i| examples[if batched[i] { b } else { 0 }][i].clone())
                .collect()
        };
        let want: Vec<Tensor> = (0..n).map(|b| f(&operands(b)).unwrap()).collect();
        let want = Tensor::stack(&want, 0).unwrap();
        let max_rank = examples[0].iter().map(Tensor::ndim).max().unwrap();
        for pos in 0..=max_rank {
            let mut dims = Vec::new();
            let inputs: Vec<Tensor> = (0..k)
                .map(|i| {
                    if !batched[i] {
                        dims.push(Dims::none());
                        return examples[0][i].clone();
                    }
                    let p = pos.min(examples[0][i].ndim());
                    dims.push(Dims::from(p as i64));
                    let rows: Vec<Tensor> = (0..n).map(|b| examples[b][i].clone()).collect();
                    Tensor::stack(&rows, p as i64).unwrap()
                })
                .collect();
            let got: Tensor = vmap(|a: &Vec<Tensor>| f(a))
                .in_dims(Dims::Tuple(vec![Dims::Tuple(dims)]))
                .call(&inputs)
                .unwrap_or_else(|e| panic!("{name}: vmap with {batched:?} at {pos}: {e}"));
            assert_eq!(got.shape(), want.shape(), "{name}: {batched:?} at {pos}");
            for (i, (a, b)) in vals(&got).iter().zip(vals(&want)).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "{name}: vmap with {batched:?} at {pos}: element {i} is {a}, the loop gives {b}"
                );
            }
        }
    }
}

/// The gradient of `sum(f · w)` with respect to the float operands (flattened into one
/// tensor), for `floats` the positions of the float operands: batch-checked like `f`.
fn grad_of<'a>(
    f: &'a Fun<'a>,
    floats: &'a [usize],
) -> impl Fn(&Vec<Tensor>) -> Result<Tensor> + 'a {
    move |a: &Vec<Tensor>| {
        let diff: Vec<Tensor> = floats.iter().map(|&i| a[i].clone()).collect();
        let g = |d: &Vec<Tensor>| -> Result<Tensor> {
            let mut all = a.clone();
            for (&i, t) in floats.iter().zip(d) {
                all[i] = t.clone();
            }
            let y = f(&all)?;
            let w = Tensor::arange(1.0, 1.0 + y.numel() as f64, 1.0, DType::F64)?
                .reshape(&y.shape().iter().map(|&s| s as i64).collect::<Vec<_>>())?;
            y.mul(&w)?.sum()
        };
        let (_, pb): (Tensor, _) = vjp(g).call(&diff)?;
        let (gr,): (Vec<Tensor>,) = pb.call(&Tensor::scalar(1.0))?;
        flat(&gr)
    }
}

/// Gradient-check `f` on the float operands `floats` (the others fixed from `examples[0]`),
/// then batch-check `f` and its gradient over `examples`.
fn check_all(name: &str, f: &Fun<'_>, examples: &[Vec<Tensor>], floats: &[usize]) {
    let mut r = Rng::for_name(name);
    let fixed = &examples[0];
    let on_floats = |d: &Vec<Tensor>| -> Result<Tensor> {
        let mut all = fixed.clone();
        for (&i, t) in floats.iter().zip(d) {
            all[i] = t.clone();
        }
        f(&all)
    };
    let xs: Vec<Tensor> = floats.iter().map(|&i| fixed[i].clone()).collect();
    gradcheck(name, &on_floats, &xs, &mut r, true);
    batchcheck(name, f, examples);
    let g = grad_of(f, floats);
    batchcheck(&format!("{name} (gradient)"), &g, examples);
}

/// `n` examples from `make`, each given its own generator state.
fn examples(
    name: &str,
    n: usize,
    make: impl Fn(&mut Rng, usize) -> Vec<Tensor>,
) -> Vec<Vec<Tensor>> {
    let mut r = Rng::for_name(name);
    (0..n).map(|b| make(&mut r, b)).collect()
}

// ------------------------------------------------------------------------------ values

#[test]
fn values_follow_torch() -> Result<()> {
    let x = Tensor::arange(0.0, 6.0, 1.0, DType::F64)?.reshape(&[2, 3])?;
    // masked_fill with a broadcast mask
    let m = mask(&[true, false, true], &[3]);
    assert_vals(
        &x.masked_fill(&m, -1.0)?,
        &[-1.0, 1.0, -1.0, -1.0, 4.0, -1.0],
        "masked_fill",
    );
    // masked_scatter reads source in order, row-major over the (broadcast) mask
    let src = Tensor::from_slice(&[10.0, 20.0, 30.0, 40.0, 50.0]);
    assert_vals(
        &x.masked_scatter(&m, &src)?,
        &[10.0, 1.0, 20.0, 30.0, 4.0, 40.0],
        "masked_scatter",
    );
    // slice_scatter: contiguous, strided, negative bounds, along dim 1
    let s = Tensor::from_vec(vec![7.0, 8.0], &[2, 1])?;
    assert_vals(
        &x.slice_scatter(&s, 1, -2, -1, 1)?,
        &[0.0, 7.0, 2.0, 3.0, 8.0, 5.0],
        "slice_scatter",
    );
    let s2 = Tensor::from_vec(vec![7.0, 8.0, 9.0, 10.0], &[2, 2])?;
    assert_vals(
        &x.slice_scatter(&s2, 1, 0, i64::MAX, 2)?,
        &[7.0, 1.0, 8.0, 9.0, 4.0, 10.0],
        "slice_scatter with step 2",
    );
    // select_scatter
    assert_vals(
        &x.select_scatter(&Tensor::from_slice(&[7.0, 8.0, 9.0]), 0, -1)?,
        &[0.0, 1.0, 2.0, 7.0, 8.0, 9.0],
        "select_scatter",
    );
    // index_put: two broadcast index tensors, negative indices, the last repeated write wins
    let rows = idx(&[1, -2, 1], &[3]);
    let cols = idx(&[0, 2, 0], &[3]);
    let v = Tensor::from_slice(&[5.0, 6.0, 7.0]);
    assert_vals(
        &x.index_put(&[rows.clone(), cols.clone()], &v, false)?,
        &[0.0, 1.0, 6.0, 7.0, 4.0, 5.0],
        "index_put",
    );
    assert_vals(
        &x.index_put(&[rows.clone(), cols.clone()], &v, true)?,
        &[0.0, 1.0, 8.0, 15.0, 4.0, 5.0],
        "index_put accumulate",
    );
    // one index tensor: whole rows; values broadcast
    assert_vals(
        &x.index_put(&[idx(&[1], &[1])], &Tensor::scalar(9.0), false)?,
        &[0.0, 1.0, 2.0, 9.0, 9.0, 9.0],
        "index_put of a row",
    );
    // index (reading)
    assert_vals(
        &x.index(&[rows.clone(), cols.clone()])?,
        &[3.0, 2.0, 3.0],
        "index",
    );
    assert_eq!(x.index(&[idx(&[1, 0, 1, 1], &[2, 2])])?.shape(), &[2, 2, 3]);
    // at_*: set / add / get
    assert_vals(
        &x.at_slice(1, 1, 3, 1).set(&Tensor::scalar(0.5))?,
        &[0.0, 0.5, 0.5, 3.0, 0.5, 0.5],
        "at_slice set",
    );
    assert_vals(
        &x.at_select(1, 0).add(&Tensor::scalar(10.0))?,
        &[10.0, 1.0, 2.0, 13.0, 4.0, 5.0],
        "at_select add",
    );
    assert_vals(
        &x.at_index(&[rows.clone(), cols.clone()]).add(&v)?,
        &[0.0, 1.0, 8.0, 15.0, 4.0, 5.0],
        "at_index add",
    );
    assert_vals(
        &x.at_mask(&m).add(&Tensor::scalar(1.0))?,
        &[1.0, 1.0, 3.0, 4.0, 4.0, 6.0],
        "at_mask add",
    );
    assert_vals(
        &x.at_slice(0, 1, 2, 1).get()?,
        &[3.0, 4.0, 5.0],
        "at_slice get",
    );
    assert_vals(
        &x.at_index(&[rows, cols]).get()?,
        &[3.0, 2.0, 3.0],
        "at_index get",
    );
    // the original is untouched
    assert_vals(&x, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "x itself");
    Ok(())
}

#[test]
fn errors_name_the_op_and_the_values() {
    let x = Tensor::zeros(&[2, 3], DType::F64).unwrap();
    let e = x.masked_fill(&mask(&[true, false], &[2]), 1.0).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Shape {
                op: "masked_fill",
                ..
            }
        ),
        "{e:?}"
    );
    let e = x
        .masked_fill(&Tensor::zeros(&[3], DType::F64).unwrap(), 1.0)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::DType {
                op: "masked_fill",
                ..
            }
        ),
        "{e:?}"
    );
    let e = x
        .masked_scatter(
            &mask(&[true; 6], &[2, 3]),
            &Tensor::zeros(&[5], DType::F64).unwrap(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("selects 6 elements"), "{e}");
    let e = x
        .slice_scatter(&Tensor::zeros(&[2, 2], DType::F64).unwrap(), 1, 0, 3, 1)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Shape {
                op: "slice_scatter",
                ..
            }
        ),
        "{e:?}"
    );
    let e = x
        .select_scatter(&Tensor::zeros(&[2], DType::F64).unwrap(), 1, 3)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Index {
                op: "select_scatter",
                index: 3,
                ..
            }
        ),
        "{e:?}"
    );
    let e = x
        .index_put(&[idx(&[2], &[1])], &Tensor::scalar(1.0), false)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Index {
                op: "index_put",
                index: 2,
                dim: 0,
                size: 2
            }
        ),
        "{e:?}"
    );
    let e = x
        .index_put(
            &[idx(&[0, 1], &[2])],
            &Tensor::zeros(&[3, 3], DType::F64).unwrap(),
            false,
        )
        .unwrap_err();
    assert!(e.to_string().contains("cannot be broadcast"), "{e}");
    let e = x
        .index_put(
            &[idx(&[0], &[1]), idx(&[0], &[1]), idx(&[0], &[1])],
            &Tensor::scalar(1.0),
            false,
        )
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Invalid {
                op: "index_put",
                ..
            }
        ),
        "{e:?}"
    );
    let e = x
        .index_put(&[idx(&[0], &[1])], &Tensor::scalar(1.0f32), false)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::DType {
                op: "index_put",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(x.at_mask(&mask(&[true; 3], &[3])).get().is_err());
    let e = x
        .at_slice(0, 0, 2, 1)
        .set(&Tensor::zeros(&[4], DType::F64).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("does not broadcast"), "{e}");
}

// ----------------------------------------------------------- derivatives and batching

#[test]
fn masked_fill_and_at_mask() {
    let ex = examples("masked_fill", 3, |r, _| {
        let m: Vec<bool> = (0..6).map(|_| r.below(2) == 1).collect();
        vec![t(r, &[2, 3], ANY), mask(&m, &[2, 3]), t(r, &[3], ANY)]
    });
    let f = |a: &Vec<Tensor>| a[0].square()?.masked_fill(&a[1], 0.25)?.sin();
    check_all("masked_fill", &f, &ex, &[0]);
    let g = |a: &Vec<Tensor>| a[0].square()?.at_mask(&a[1]).set(&a[2].sin()?)?.sin();
    check_all("at_mask set", &g, &ex, &[0, 2]);
    let h = |a: &Vec<Tensor>| a[0].sin()?.at_mask(&a[1]).add(&a[2].square()?)?.square();
    check_all("at_mask add", &h, &ex, &[0, 2]);
}

#[test]
fn masked_scatter_derivatives_and_batching() {
    let ex = examples("masked_scatter", 3, |r, _| {
        let m: Vec<bool> = (0..6).map(|_| r.below(2) == 1).collect();
        vec![t(r, &[2, 3], ANY), mask(&m, &[2, 3]), t(r, &[7], ANY)]
    });
    let f = |a: &Vec<Tensor>| a[0].square()?.masked_scatter(&a[1], &a[2].sin()?)?.sin();
    check_all("masked_scatter", &f, &ex, &[0, 2]);
    // a mask that broadcasts over the rows
    let ex = examples("masked_scatter (broadcast mask)", 3, |r, _| {
        let m: Vec<bool> = (0..3).map(|_| r.below(2) == 1).collect();
        vec![t(r, &[2, 3], ANY), mask(&m, &[3]), t(r, &[6], ANY)]
    });
    check_all("masked_scatter (broadcast mask)", &f, &ex, &[0, 2]);
}

#[test]
fn slice_and_select_scatter() {
    let ex = examples("slice_scatter", 3, |r, _| {
        vec![
            t(r, &[3, 5], ANY),
            t(r, &[3, 2], ANY),
            t(r, &[3, 3], ANY),
            t(r, &[3], ANY),
        ]
    });
    let contiguous = |a: &Vec<Tensor>| {
        a[0].square()?
            .slice_scatter(&a[1].sin()?, 1, 1, 3, 1)?
            .sin()
    };
    check_all("slice_scatter", &contiguous, &ex, &[0, 1]);
    let strided = |a: &Vec<Tensor>| {
        a[0].square()?
            .slice_scatter(&a[2].sin()?, -1, 0, i64::MAX, 2)?
            .sin()
    };
    check_all("slice_scatter with step 2", &strided, &ex, &[0, 2]);
    let select = |a: &Vec<Tensor>| a[0].square()?.select_scatter(&a[3].sin()?, 1, -2)?.sin();
    check_all("select_scatter", &select, &ex, &[0, 3]);
    let at_add = |a: &Vec<Tensor>| {
        a[0].sin()?
            .at_slice(1, 0, 5, 2)
            .add(&a[2].square()?)?
            .square()
    };
    check_all("at_slice add with step 2", &at_add, &ex, &[0, 2]);
    let at_sel = |a: &Vec<Tensor>| {
        a[0].sin()?
            .at_select(0, 1)
            .add(&a[2].select(0, 0)?.square()?.sum()?)?
            .square()
    };
    check_all("at_select add of a scalar", &at_sel, &ex, &[0, 2]);
}

#[test]
fn index_put_and_index() {
    // batched index tensors: each example writes its own positions (with repeats)
    let ex = examples("index_put", 3, |r, _| {
        let rows: Vec<i64> = (0..4).map(|_| r.below(3) as i64 - 1).collect(); // -1..=1
        let cols: Vec<i64> = (0..4).map(|_| r.below(2) as i64).collect();
        vec![
            t(r, &[3, 2, 2], ANY),
            idx(&rows, &[4]),
            idx(&cols, &[4]),
            t(r, &[4, 2], ANY),
        ]
    });
    let set = |a: &Vec<Tensor>| {
        a[0].square()?
            .index_put(&[a[1].clone(), a[2].clone()], &a[3].sin()?, false)?
            .sin()
    };
    check_all("index_put", &set, &ex, &[0, 3]);
    let acc = |a: &Vec<Tensor>| {
        a[0].square()?
            .index_put(&[a[1].clone(), a[2].clone()], &a[3].sin()?, true)?
            .sin()
    };
    check_all("index_put accumulate", &acc, &ex, &[0, 3]);
    // index tensors that broadcast together (a column against a row), values broadcast
    let ex = examples("index_put (broadcast)", 3, |r, _| {
        let rows: Vec<i64> = (0..2).map(|_| r.below(3) as i64).collect();
        let cols: Vec<i64> = (0..2).map(|_| r.below(2) as i64).collect();
        vec![
            t(r, &[3, 2, 2], ANY),
            idx(&rows, &[2, 1]),
            idx(&cols, &[2]),
            t(r, &[2], ANY),
        ]
    });
    let bset = |a: &Vec<Tensor>| {
        a[0].square()?
            .at_index(&[a[1].clone(), a[2].clone()])
            .set(&a[3].sin()?)?
            .sin()
    };
    check_all("at_index set (broadcast)", &bset, &ex, &[0, 3]);
    let get = |a: &Vec<Tensor>| a[0].square()?.index(&[a[1].clone(), a[2].clone()])?.sin();
    check_all("index", &get, &ex, &[0]);
}

/// The updates nest under transforms of transforms: a Hessian of a function that writes a
/// slice, per example.
#[test]
fn updates_under_nested_transforms() -> Result<()> {
    use functorch::hessian;
    let f = |x: &Tensor| -> Result<Tensor> {
        let y = x
            .at_slice(0, 0, 1, 1)
            .set(&x.select(0, 1)?.square()?.reshape(&[1])?)?;
        y.mul(&y)?.sum()
    };
    // f(x) = x1⁴ + x1² + x2²: H = diag(0, 12 x1² + 2, 2)
    let xs = Tensor::from_vec(vec![0.5, 1.0, 2.0, 0.1, -1.0, 3.0], &[2, 3])?;
    let h: Tensor = vmap(hessian(f)).call(&xs)?;
    assert_vals(
        &h,
        &[
            0.0, 0.0, 0.0, 0.0, 14.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 14.0, 0.0, 0.0, 0.0,
            2.0,
        ],
        "vmap(hessian) through at_slice().set",
    );
    Ok(())
}
