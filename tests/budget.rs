//! `memory_budget` (the chunk size chosen from a measured first chunk) and `jacobian` (forward
//! or reverse mode chosen from the sizes): values against the unbudgeted transforms, the
//! chosen plans against their budgets, the chosen modes, the errors, and a Jacobian that fits
//! a budget under a real memory limit where the unbudgeted call runs out of memory.

mod common;

use functorch::{
    Argnums, DType, Error, JacobianMode, MemoryPlan, Result, Tensor, hessian, jacfwd, jacobian,
    jacrev, vmap,
};
use std::sync::{Arc, Mutex};

/// A place for the plan a call reports, and the callback that fills it.
fn recorder() -> (
    Arc<Mutex<Vec<MemoryPlan>>>,
    impl Fn(&MemoryPlan) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, move |p: &MemoryPlan| s.lock().unwrap().push(*p))
}

fn last(seen: &Arc<Mutex<Vec<MemoryPlan>>>) -> MemoryPlan {
    *seen.lock().unwrap().last().expect("a plan was reported")
}

fn ramp(n: usize) -> Tensor {
    Tensor::from_vec((0..n).map(|i| 0.3 + 0.01 * i as f64).collect(), &[n]).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

/// `f(x) = sin(x) * sum(x)`: a dense Jacobian, `cos(x_i) s δ_ij + sin(x_i)`.
fn dense_fn(x: &Tensor) -> Result<Tensor> {
    x.sin()?.mul(&x.sum()?)
}

/// Checks a plan against its budget and returns it.
fn within(p: MemoryPlan, budget: usize) -> MemoryPlan {
    assert_eq!(p.budget, budget);
    assert!(p.estimated_bytes <= budget, "{p:?}");
    assert!(p.peak_bytes <= budget, "{p:?}");
    assert_eq!(
        p.estimated_bytes,
        p.held_bytes + p.output_bytes + p.chunk_size * p.bytes_per_element
    );
    assert_eq!(
        p.chunks,
        1 + (p.batch - p.first_chunk).div_ceil(p.chunk_size),
        "{p:?}"
    );
    p
}

#[test]
fn chunked_under_a_budget_equals_the_unbudgeted_result() {
    let n = 200;
    let x = ramp(n);
    let out = n * n * 8;
    let budget = out + 60_000;
    // reverse mode: the rows in chunks
    let (seen, rec) = recorder();
    let full: Tensor = jacrev(dense_fn).call(&x).unwrap();
    let j: Tensor = jacrev(dense_fn)
        .memory_budget(budget)
        .memory_plan(rec)
        .call(&x)
        .unwrap();
    assert_eq!(values(&j), values(&full));
    let p = within(last(&seen), budget);
    assert_eq!((p.batch, p.first_chunk, p.output_bytes), (n, 2, out));
    assert!(p.chunks > 2 && p.chunk_size > 1, "{p:?}");
    // against the closed form
    let s: f64 = values(&x).iter().sum();
    let xv = values(&x);
    for i in [0, 77, n - 1] {
        for k in [0, i, n - 1] {
            let want = xv[i].sin() + if i == k { xv[i].cos() * s } else { 0.0 };
            assert!((values(&j)[i * n + k] - want).abs() < 1e-12);
        }
    }
    // forward mode: the columns in chunks
    let (seen, rec) = recorder();
    let j: Tensor = jacfwd(dense_fn)
        .memory_budget(budget)
        .memory_plan(rec)
        .call(&x)
        .unwrap();
    assert_eq!(values(&j), values(&full));
    let p = within(last(&seen), budget);
    assert!(p.chunks > 2, "{p:?}");
    // the Hessian: the outer Jacobian's columns in chunks
    let m = 60;
    let y = ramp(m);
    let g = |x: &Tensor| dense_fn(x)?.sum();
    let (seen, rec) = recorder();
    let full: Tensor = hessian(g).call(&y).unwrap();
    let budget = m * m * 8 + 40_000;
    let h: Tensor = hessian(g)
        .memory_budget(budget)
        .memory_plan(rec)
        .call(&y)
        .unwrap();
    assert_eq!(values(&h), values(&full));
    let p = within(last(&seen), budget);
    assert!(p.chunks > 2, "{p:?}");
    // vmap, stacked along dim 0 and along dim 1 (written along dim 0 all the same)
    let rows = Tensor::linspace(0.0, 1.0, 64 * 500, DType::F64)
        .unwrap()
        .reshape(&[64, 500])
        .unwrap();
    let h = |r: &Tensor| r.exp()?.mul(&r.sum()?);
    let full: Tensor = vmap(h).call(&rows).unwrap();
    for out_dim in [0i64, 1] {
        let (seen, rec) = recorder();
        let budget = 64 * 500 * 8 + 100_000;
        let v: Tensor = vmap(h)
            .out_dims(out_dim)
            .memory_budget(budget)
            .memory_plan(rec)
            .call(&rows)
            .unwrap();
        let v = if out_dim == 1 {
            v.permute(&[1, 0]).unwrap()
        } else {
            v
        };
        assert_eq!(values(&v), values(&full));
        let p = within(last(&seen), budget);
        assert_eq!(p.output_bytes, 64 * 500 * 8);
        assert!(p.chunks > 2, "{p:?}");
    }
}

/// A plan's callback, boxed.
type Report = Box<dyn Fn(&MemoryPlan) + Send + Sync>;

/// A banded function: y_i = sin(x_i) · Σ_{|k| ≤ 4} x_{i+k} (zeros past the ends), whose
/// Jacobian has 9 diagonals (9 colors) and whose `Σ y` has a Hessian of the same band.
fn banded(x: &Tensor) -> Result<Tensor> {
    let n = x.dim(0)?;
    let mut window = x.clone();
    for k in 1..=4 {
        let z = Tensor::zeros(&[k], DType::F64)?;
        let ahead = Tensor::cat(&[x.narrow(0, k, n - k)?, z.clone()], 0)?;
        let behind = Tensor::cat(&[z, x.narrow(0, 0, n - k)?], 0)?;
        window = window.add(&ahead)?.add(&behind)?;
    }
    x.sin()?.mul(&window)
}

#[test]
fn sparse_jacobians_and_hessians_under_a_budget() {
    let n = 2000;
    let x = ramp(n);
    for (name, mode) in [("jacfwd", 0), ("jacrev", 1), ("hessian", 2)] {
        let run = |budget: Option<usize>, rec: Option<Report>| {
            let g = |x: &Tensor| banded(x)?.sum();
            let s = match mode {
                0 => jacfwd(banded).sparse().call(&x),
                1 => jacrev(banded).sparse().call(&x),
                _ => hessian(g).sparse().call(&x),
            };
            let Some(b) = budget else { return s.unwrap() };
            let rec = rec.unwrap();
            match mode {
                0 => jacfwd(banded)
                    .sparse()
                    .memory_budget(b)
                    .memory_plan(rec)
                    .call(&x),
                1 => jacrev(banded)
                    .memory_budget(b)
                    .sparse()
                    .memory_plan(rec)
                    .call(&x),
                _ => hessian(g)
                    .sparse()
                    .memory_budget(b)
                    .memory_plan(rec)
                    .call(&x),
            }
            .unwrap()
        };
        let full = run(None, None);
        assert_eq!(full.nnz(), 9 * n - 20, "{name}");
        let colors = 9;
        // a generous budget reports the cost of one product; then room for about three
        let (seen, rec) = recorder();
        let _ = run(Some(1 << 30), Some(Box::new(rec)));
        let p = last(&seen);
        assert_eq!(
            (p.chunks, p.output_bytes),
            (2, colors * n * 8),
            "{name}: {p:?}"
        );
        let budget =
            p.held_bytes + p.output_bytes + 3 * p.bytes_per_element + p.bytes_per_element / 2;
        let (seen, rec) = recorder();
        let chunked = run(Some(budget), Some(Box::new(rec)));
        assert_eq!(
            values(&chunked.to_dense().unwrap()),
            values(&full.to_dense().unwrap()),
            "{name}"
        );
        let p = within(last(&seen), budget);
        assert_eq!(p.batch, colors, "{name}: one product per color");
        assert!(p.chunks > 2, "{name}: {p:?}");
    }
}

#[test]
fn the_chosen_chunk_grows_with_the_budget_and_stays_within_it() {
    let n = 150;
    let x = ramp(n);
    let full: Tensor = jacrev(dense_fn).call(&x).unwrap();
    let out = n * n * 8;
    let mut sizes = Vec::new();
    for extra in [20_000, 60_000, 200_000, 2_000_000] {
        let (seen, rec) = recorder();
        let j: Tensor = jacrev(dense_fn)
            .memory_budget(out + extra)
            .memory_plan(rec)
            .call(&x)
            .unwrap();
        assert_eq!(values(&j), values(&full));
        sizes.push(within(last(&seen), out + extra).chunk_size);
    }
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    // a budget with room for everything: one chunk after the measured one
    assert_eq!(*sizes.last().unwrap(), n - 2, "{sizes:?}");
    // chunk_size with a budget is an upper bound on the chunks
    let (seen, rec) = recorder();
    let j: Tensor = jacrev(dense_fn)
        .chunk_size(7)
        .memory_budget(out + 2_000_000)
        .memory_plan(rec)
        .call(&x)
        .unwrap();
    assert_eq!(values(&j), values(&full));
    let p = within(last(&seen), out + 2_000_000);
    assert_eq!((p.first_chunk, p.chunk_size), (2, 7));
    // the progress callback sees the chunks the plan chose
    let (seen, rec) = recorder();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let _: Tensor = jacfwd(dense_fn)
        .memory_budget(out + 60_000)
        .memory_plan(rec)
        .progress(move |done, total| c.lock().unwrap().push((done, total)))
        .call(&x)
        .unwrap();
    let p = last(&seen);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), p.chunks);
    assert!(calls.iter().all(|&(_, t)| t == p.chunks));
    // a batch no larger than the measured chunk runs at once
    let (seen, rec) = recorder();
    let j: Tensor = jacrev(dense_fn)
        .memory_budget(1 << 20)
        .memory_plan(rec)
        .call(&ramp(2))
        .unwrap();
    assert_eq!(j.shape(), &[2, 2]);
    assert_eq!(last(&seen).chunks, 1);
}

#[test]
fn budgets_too_small_are_errors_naming_the_bytes() {
    let x = ramp(100);
    let out = 100 * 100 * 8;
    let err = |r: Result<Tensor>| match r {
        Err(Error::Transform { call, msg }) => format!("{call}: {msg}"),
        other => panic!("expected a transform error, got {other:?}"),
    };
    let e = err(jacrev(dense_fn).memory_budget(0).call(&x));
    assert!(e.contains("memory_budget must be a positive"), "{e}");
    // the result alone does not fit: refused before any chunk runs, with both sizes
    let e = err(jacrev(dense_fn).memory_budget(out - 1).call(&x));
    assert!(
        e.contains(&format!("memory_budget={}", out - 1)) && e.contains(&format!("{out} bytes")),
        "{e}"
    );
    let e = err(jacfwd(dense_fn).memory_budget(out / 2).call(&x));
    assert!(e.contains(&format!("{out} bytes")), "{e}");
    let e = err(vmap(|r: &Tensor| r.exp())
        .memory_budget(700)
        .call(&x.reshape(&[10, 10]).unwrap()));
    assert!(
        e.contains("800 bytes") && e.contains("memory_budget=700"),
        "{e}"
    );
    // the result fits but no room is left for a chunk
    let e = err(jacfwd(dense_fn).memory_budget(out + 10).call(&x));
    assert!(e.contains("each element of the batch"), "{e}");
    // the call as written names the budget
    assert!(
        e.starts_with(&format!("jacfwd(f, argnums=0, memory_budget={})", out + 10)),
        "{e}"
    );
}

#[test]
fn jacobian_chooses_forward_for_tall_and_reverse_for_wide() {
    let x = ramp(6);
    // tall: R⁶ → R¹², forward mode
    let tall = |x: &Tensor| Tensor::cat(&[x.sin()?, x.square()?], 0);
    assert_eq!(
        jacobian(tall).chosen_mode(&x).unwrap(),
        JacobianMode::Forward
    );
    let j: Tensor = jacobian(tall).call(&x).unwrap();
    let f: Tensor = jacfwd(tall).call(&x).unwrap();
    assert_eq!((j.shape(), values(&j)), (f.shape(), values(&f)));
    // square: forward mode wins the tie
    assert_eq!(
        jacobian(dense_fn).chosen_mode(&x).unwrap(),
        JacobianMode::Forward
    );
    // wide: R⁶ → R², reverse mode
    let wide = |x: &Tensor| {
        Tensor::cat(
            &[x.sum()?.unsqueeze(0)?, x.square()?.sum()?.unsqueeze(0)?],
            0,
        )
    };
    assert_eq!(
        jacobian(wide).chosen_mode(&x).unwrap(),
        JacobianMode::Reverse
    );
    let j: Tensor = jacobian(wide).call(&x).unwrap();
    let r: Tensor = jacrev(wide).call(&x).unwrap();
    assert_eq!((j.shape(), values(&j)), (r.shape(), values(&r)));
    let xv = values(&x);
    assert_eq!(values(&j)[..6], [1.0; 6]);
    for (k, v) in values(&j)[6..].iter().enumerate() {
        assert!((v - 2.0 * xv[k]).abs() < 1e-15);
    }
    // a set mode is taken as it is
    let forced = jacobian(wide).mode(JacobianMode::Forward);
    assert_eq!(forced.chosen_mode(&x).unwrap(), JacobianMode::Forward);
    let j: Tensor = forced.call(&x).unwrap();
    assert_eq!(values(&j), values(&r));
    let j: Tensor = jacobian(tall).mode(JacobianMode::Reverse).call(&x).unwrap();
    assert_eq!(values(&j), values(&f));
    // the sizes are those of the selected arguments, and the nesting is jacrev's
    let two = |(a, b): &(Tensor, Tensor)| a.mul(&b.sum()?);
    let big = Tensor::ones(&[40], DType::F64).unwrap();
    let args = (x.clone(), big);
    let jb = jacobian(two).argnums(1);
    assert_eq!(jb.chosen_mode(&args).unwrap(), JacobianMode::Reverse);
    let ja = jacobian(two).argnums(0);
    assert_eq!(ja.chosen_mode(&args).unwrap(), JacobianMode::Forward);
    let both = jacobian(two).argnums((0, 1));
    assert_eq!(both.chosen_mode(&args).unwrap(), JacobianMode::Reverse);
    let (a, b): (Tensor, Tensor) = both.call(&args).unwrap();
    let (ra, rb): (Tensor, Tensor) = jacrev(two).argnums((0, 1)).call(&args).unwrap();
    assert_eq!((a.shape(), b.shape()), (&[6, 6][..], &[6, 40][..]));
    assert_eq!((values(&a), values(&b)), (values(&ra), values(&rb)));
    // has_aux, chunk_size and a budget go to the chosen mode
    let with_aux = |x: &Tensor| Ok((wide(x)?, x.sum()?));
    let (seen, rec) = recorder();
    let (j, aux): (Tensor, Tensor) = jacobian(with_aux)
        .has_aux(true)
        .chunk_size(1)
        .memory_budget(1 << 20)
        .memory_plan(rec)
        .call(&x)
        .unwrap();
    assert_eq!(values(&j), values(&r));
    assert_eq!(aux.item().unwrap(), xv.iter().sum::<f64>());
    assert_eq!(last(&seen).batch, 2);
    // errors name the call
    let e = jacobian(wide)
        .argnums(Argnums::One(3))
        .call::<_, Tensor>(&x)
        .unwrap_err();
    assert!(e.to_string().contains("jacobian(f, argnums=3)"), "{e}");
}

/// Under a real limit on the address space (3 GiB, set with the shell's `ulimit -v` on a child
/// run of this same test), the Jacobian of a function R²⁰⁰⁰⁰ → R⁶⁰⁰⁰ runs out of memory
/// unbudgeted, and fits a 1 GiB budget: its result is 960 MB.
#[test]
fn a_large_jacobian_fits_a_budget_where_the_unbudgeted_call_runs_out_of_memory() {
    const NAME: &str =
        "a_large_jacobian_fits_a_budget_where_the_unbudgeted_call_runs_out_of_memory";
    if !common::in_memory_limited_child(NAME, 3 << 20) {
        return;
    }
    let (n, k) = (20_000, 6_000);
    let x = Tensor::linspace(0.0, 1.0, n, DType::F64).unwrap();
    // f_i = sin(x_i) Σ x_j², i < k: J_ij = cos(x_i) s δ_ij + 2 sin(x_i) x_j
    let f = move |x: &Tensor| x.narrow(0, 0, k)?.sin()?.mul(&x.square()?.sum()?);
    let r: Result<Tensor> = jacrev(f).call(&x);
    assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
    let budget = 1 << 30;
    let (seen, rec) = recorder();
    let j: Tensor = jacrev(f)
        .memory_budget(budget)
        .memory_plan(rec)
        .call(&x)
        .unwrap();
    let p = within(last(&seen), budget);
    println!("{p:?}");
    assert_eq!(p.output_bytes, n * k * 8);
    assert_eq!(j.shape(), &[k, n]);
    let xv = values(&x);
    let s: f64 = xv.iter().map(|v| v * v).sum();
    for i in [0, 1, 2, 2999, k - 1] {
        let row = values(&j.select(0, i as i64).unwrap());
        for c in [0, 1, i, 12345, n - 1] {
            let want = 2.0 * xv[i].sin() * xv[c] + if c == i { xv[i].cos() * s } else { 0.0 };
            assert!(
                (row[c] - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{i} {c}"
            );
        }
    }
}
