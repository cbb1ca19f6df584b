//! Chunking never changes a result (`NOTE: [chunking]`): empty batches and empty Jacobians keep
//! their shapes, random ops see the same `randomness` under every chunk size, and progress is
//! reported once per chunk.

use functorch::{
    DType, Error, Randomness, Result, Tensor, hessian, jacfwd, jacrev, manual_seed, vmap,
};
use std::sync::{Arc, Mutex};

#[test]
fn jacobians_of_empty_inputs_have_empty_shapes() -> Result<()> {
    let x = Tensor::zeros(&[0], DType::F64)?;
    let j: Tensor = jacfwd(|x: &Tensor| x.sin()).call(&x)?;
    assert_eq!(j.shape(), &[0, 0]);
    let j: Tensor = jacfwd(|x: &Tensor| x.sum()).call(&x)?;
    assert_eq!(j.shape(), &[0]);
    let j: Tensor = jacrev(|x: &Tensor| x.sum()).call(&x)?;
    assert_eq!(j.shape(), &[0]);
    let h: Tensor = hessian(|x: &Tensor| x.square()?.sum()).call(&x)?;
    assert_eq!(h.shape(), &[0, 0]);
    // a non-empty output of an empty input
    let j: Tensor =
        jacfwd(|x: &Tensor| x.sum()?.add_scalar(1.0)?.unsqueeze(0)?.expand(&[2])).call(&x)?;
    assert_eq!(j.shape(), &[2, 0]);
    Ok(())
}

#[test]
fn jacobian_of_an_empty_output_has_an_empty_shape() -> Result<()> {
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0]);
    let empty = |x: &Tensor| x.narrow(0, 0, 0);
    let jr: Tensor = jacrev(empty).call(&x)?;
    let jf: Tensor = jacfwd(empty).call(&x)?;
    assert_eq!(jr.shape(), &[0, 3]);
    assert_eq!(jf.shape(), &[0, 3]);
    Ok(())
}

#[test]
fn vmap_over_an_empty_batch() -> Result<()> {
    let xs = Tensor::zeros(&[0, 3], DType::F64)?;
    let y: Tensor = vmap(|x: &Tensor| x.sin()).call(&xs)?;
    assert_eq!(y.shape(), &[0, 3]);
    let s: Tensor = vmap(|x: &Tensor| x.sum()).call(&xs)?;
    assert_eq!(s.shape(), &[0]);
    let m: Tensor = vmap(|x: &Tensor| x.sum())
        .in_dims(1)
        .call(&Tensor::zeros(&[3, 0], DType::F64)?)?;
    assert_eq!(m.shape(), &[0]);
    Ok(())
}

/// f(x) = x · (one normal draw of x's shape).
fn noisy(x: &Tensor) -> Result<Tensor> {
    x.mul(&x.randn_like()?)
}

#[test]
fn same_randomness_does_not_depend_on_the_chunk_size() -> Result<()> {
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0]);
    manual_seed(7);
    let whole: Tensor = jacfwd(noisy).randomness(Randomness::Same).call(&x)?;
    for c in 1..=4 {
        manual_seed(7);
        let j: Tensor = jacfwd(noisy)
            .randomness(Randomness::Same)
            .chunk_size(c)
            .call(&x)?;
        assert_eq!(j.to_vec::<f64>()?, whole.to_vec::<f64>()?, "chunk_size {c}");
    }
    // and the Jacobian is the diagonal of the one draw
    manual_seed(7);
    let draw = x.randn_like()?;
    assert_eq!(whole.to_vec::<f64>()?, draw.diag()?.to_vec::<f64>()?);
    // vmap: every row gets the same draw, whatever the chunking
    let xs = Tensor::ones(&[5, 2], DType::F64)?;
    manual_seed(3);
    let all: Tensor = vmap(noisy).randomness(Randomness::Same).call(&xs)?;
    manual_seed(3);
    let chunked: Tensor = vmap(noisy)
        .randomness(Randomness::Same)
        .chunk_size(2)
        .call(&xs)?;
    assert_eq!(all.to_vec::<f64>()?, chunked.to_vec::<f64>()?);
    let rows = all.to_vec::<f64>()?;
    assert!(rows.chunks(2).all(|r| r == &rows[..2]));
    Ok(())
}

#[test]
fn error_randomness_refuses_under_every_chunk_size() {
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0]);
    for c in [None, Some(1), Some(2)] {
        let r: Result<Tensor> = jacfwd(noisy).chunk_size(c).call(&x);
        assert!(
            matches!(r, Err(Error::Randomness { .. })),
            "jacfwd chunk_size {c:?}: {r:?}"
        );
        let r: Result<Tensor> = vmap(noisy)
            .chunk_size(c)
            .call(&Tensor::ones(&[3, 2], DType::F64).unwrap());
        assert!(
            matches!(r, Err(Error::Randomness { .. })),
            "vmap chunk_size {c:?}: {r:?}"
        );
    }
}

#[test]
fn different_randomness_draws_per_element_under_every_chunk_size() -> Result<()> {
    let xs = Tensor::ones(&[4, 3], DType::F64)?;
    for c in [None, Some(1), Some(3)] {
        let y: Tensor = vmap(noisy)
            .randomness(Randomness::Different)
            .chunk_size(c)
            .call(&xs)?;
        let rows = y.to_vec::<f64>()?;
        let distinct = rows
            .chunks(3)
            .all(|r| rows.chunks(3).filter(|s| *s == r).count() == 1);
        assert!(distinct, "chunk_size {c:?}: rows repeat: {rows:?}");
    }
    Ok(())
}

#[test]
fn progress_is_reported_once_per_chunk() -> Result<()> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    let j: Tensor = jacrev(|x: &Tensor| x.sin())
        .chunk_size(2)
        .progress(move |done, total| s.lock().unwrap().push((done, total)))
        .call(&x)?;
    assert_eq!(j.to_vec::<f64>()?, x.cos()?.diag()?.to_vec::<f64>()?);
    assert_eq!(*seen.lock().unwrap(), vec![(1, 3), (2, 3), (3, 3)]);
    // hessian reports the outer Jacobian's chunks only
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _: Tensor = hessian(|x: &Tensor| x.pow_scalar(3.0)?.sum())
        .chunk_size(3)
        .progress(move |done, total| s.lock().unwrap().push((done, total)))
        .call(&x)?;
    assert_eq!(*seen.lock().unwrap(), vec![(1, 2), (2, 2)]);
    Ok(())
}

/// Replaying chunks under `randomness("same")` rewinds only the generators this computation
/// drew from: draws another thread makes meanwhile from a shared generator are not undone.
#[test]
fn same_randomness_does_not_rewind_other_threads_draws() -> Result<()> {
    let shared = functorch::Generator::new(7);
    let own = functorch::Generator::new(9);
    let xs = Tensor::zeros(&[3, 2], DType::F64)?;
    let out: Tensor = vmap(|x: &Tensor| {
        // another thread draws from `shared` while this chunk runs
        std::thread::scope(|s| {
            s.spawn(|| shared.randn(&[1], DType::F64).map(|_| ()))
                .join()
                .expect("the drawing thread finished")
        })?;
        x.add(&own.randn(&[2], DType::F64)?)
    })
    .randomness(Randomness::Same)
    .chunk_size(1)
    .call(&xs)?;
    // all three chunks drew the same sample from `own`
    let rows: Vec<Vec<f64>> = (0..3)
        .map(|i| out.select(0, i as i64)?.to_vec::<f64>())
        .collect::<Result<_>>()?;
    assert_eq!(rows[0], rows[1]);
    assert_eq!(rows[0], rows[2]);
    // `shared` moved on by three draws, `own` by one
    let fresh = functorch::Generator::new(7);
    for _ in 0..3 {
        fresh.randn(&[1], DType::F64)?;
    }
    assert_eq!(
        shared.randn(&[1], DType::F64)?.to_vec::<f64>()?,
        fresh.randn(&[1], DType::F64)?.to_vec::<f64>()?
    );
    let fresh = functorch::Generator::new(9);
    fresh.randn(&[2], DType::F64)?;
    assert_eq!(
        own.randn(&[2], DType::F64)?.to_vec::<f64>()?,
        fresh.randn(&[2], DType::F64)?.to_vec::<f64>()?
    );
    Ok(())
}
