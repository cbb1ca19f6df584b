//! Hostile inputs: sizes that overflow, allocations that cannot succeed, index values that
//! only a kernel can see. Every call must return an error (never crash, wrap or abort), and the
//! library must stay usable afterwards.

mod common;

use functorch::{DType, Error, Result, Tensor, grad, jacrev, vmap};

/// A size whose product with 3 wraps around to 2 in 64-bit arithmetic.
const WRAPS: usize = 6148914691236517206;

fn is_shape_err<T>(r: Result<T>, op: &str) {
    match r {
        Err(Error::Shape { op: o, msg }) => {
            assert_eq!(o, op, "{msg}");
            assert!(msg.contains("too large"), "{op}: {msg}");
        }
        Err(e) => panic!("{op}: expected a shape error, got {e}"),
        Ok(_) => panic!("{op}: expected a shape error, got a result"),
    }
}

fn is_oom<T>(r: Result<T>, op: &str) {
    match r {
        Err(e @ Error::OutOfMemory { .. }) => {
            let Error::OutOfMemory { op: o, bytes } = &e else {
                unreachable!()
            };
            assert_eq!(*o, op, "{e}");
            assert!(*bytes >= 1 << 40, "{e}");
            assert!(e.to_string().contains("out of memory"), "{e}");
        }
        Err(e) => panic!("{op}: expected OutOfMemory, got {e}"),
        Ok(_) => panic!("{op}: expected OutOfMemory, got a result"),
    }
}

/// The library still computes right after a refused call.
fn still_works() {
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0]);
    let g: Tensor = grad(|x: &Tensor| x.square()?.sum()).call(&x).unwrap();
    assert_eq!(g.to_vec::<f64>().unwrap(), vec![2.0, 4.0, 6.0]);
}

#[test]
fn tensor_is_send_and_sync() {
    fn both<T: Send + Sync>() {}
    both::<Tensor>();
    both::<Error>();
}

#[test]
fn element_counts_that_overflow_are_refused() -> Result<()> {
    // big·3 ≡ 2 (mod 2⁶⁴): accepted before, and a matmul with it wrote out of bounds
    is_shape_err(Tensor::from_vec(vec![1.0, 2.0], &[WRAPS, 3]), "from_vec");
    is_shape_err(
        Tensor::from_vec(Vec::<f64>::new(), &[1 << 32, 1 << 32]),
        "from_vec",
    );
    // a zero size does not excuse strides that overflow
    is_shape_err(
        Tensor::from_vec(Vec::<f64>::new(), &[0, 1 << 62, 1 << 62]),
        "from_vec",
    );
    // but an empty tensor with reasonable sizes is fine
    assert_eq!(
        Tensor::from_vec(Vec::<f64>::new(), &[0, 1 << 20])?.numel(),
        0
    );
    for dt in [DType::F32, DType::F64, DType::I64, DType::Bool] {
        is_shape_err(Tensor::zeros(&[WRAPS, 3], dt), "zeros");
        is_shape_err(Tensor::ones(&[1 << 32, 1 << 32], dt), "ones");
        is_shape_err(Tensor::full(&[1 << 40, 1 << 40], 2.0, dt), "full");
    }
    is_shape_err(Tensor::randn(&[1 << 32, 1 << 32], DType::F64), "randn");
    let x = Tensor::from_slice(&[1.0, 2.0]);
    is_shape_err(x.broadcast_to(&[WRAPS, 2]), "broadcast_to");
    is_shape_err(x.expand(&[WRAPS as i64, -1]), "expand");
    // ones broadcast to [2³², 2³²] summed to 0 before (the count wrapped to 0)
    let one = Tensor::scalar(1.0f64);
    is_shape_err(one.broadcast_to(&[1 << 32, 1 << 32]), "broadcast_to");
    is_shape_err(one.expand(&[1 << 32, 1 << 32]), "expand");
    // results of broadcasting ops, each operand a legal view
    let col = one.expand(&[1 << 32, 1])?;
    let row = one.expand(&[1, 1 << 32])?;
    is_shape_err(col.add(&row), "add");
    is_shape_err(col.mul(&row), "mul");
    is_shape_err(Tensor::where_(&Tensor::scalar(true), &col, &row), "where");
    // matmul: the batch dims broadcast to too many elements
    let a = one.expand(&[1 << 31, 1, 1, 1])?;
    let b = one.expand(&[1 << 31, 1, 1])?;
    is_shape_err(a.matmul(&b), "matmul");
    // cat of views whose sizes add up past the limit
    let half = one.expand(&[1 << 59])?;
    is_shape_err(Tensor::cat(&[half.clone(), half.clone(), half], 0), "cat");
    // index_select that repeats a huge dim
    let big = one.expand(&[1 << 40, 1])?;
    let idx = Tensor::scalar(0i64).expand(&[1 << 30])?;
    is_shape_err(big.index_select(1, &idx), "index_select");
    still_works();
    Ok(())
}

#[test]
fn absurd_constructor_sizes_are_errors() {
    is_shape_err(Tensor::arange(0.0, 1e30, 1.0, DType::F64), "arange");
    is_shape_err(Tensor::arange(0.0, 1e300, 1e-300, DType::F32), "arange");
    is_shape_err(
        Tensor::linspace(0.0, 1.0, usize::MAX, DType::F64),
        "linspace",
    );
    is_shape_err(Tensor::eye(1 << 32, DType::F64), "eye");
    let i = Tensor::from_slice(&[0i64, 1]);
    is_shape_err(i.one_hot(usize::MAX), "one_hot");
    still_works();
}

#[test]
fn allocations_that_cannot_succeed_are_out_of_memory_errors() -> Result<()> {
    // 2⁶¹ bytes: more than any address space, so no allocator (over-committing or not) grants it
    let n = 1usize << 58;
    is_oom(Tensor::zeros(&[n], DType::F64), "zeros");
    is_oom(Tensor::full(&[n, 1], 1.0, DType::F64), "full");
    is_oom(Tensor::eye(1 << 29, DType::F64), "eye");
    is_oom(Tensor::arange(0.0, n as f64, 1.0, DType::F64), "arange");
    is_oom(Tensor::randn(&[n], DType::F64), "randn");
    // an op whose result is too large for memory (its operand a cheap view)
    let v = Tensor::scalar(1.0f64).expand(&[1 << 29, 1 << 29])?;
    is_oom(v.exp(), "exp");
    is_oom(v.add(&v), "add");
    let (tall, wide) = (
        Tensor::scalar(1.0f64).expand(&[1 << 29, 8])?,
        Tensor::scalar(1.0f64).expand(&[8, 1 << 29])?,
    );
    is_oom(tall.matmul(&wide), "matmul");
    // too many multiply-adds to ever finish is refused up front
    is_shape_err(v.matmul(&v), "matmul");
    // the same inside transforms
    let x = Tensor::from_slice(&[1.0, 2.0]);
    let r: Result<Tensor> =
        grad(|x: &Tensor| x.sum()?.expand(&[1 << 29, 1 << 29])?.exp()?.sum()).call(&x);
    assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
    let r: Result<Tensor> = vmap(|x: &Tensor| x.expand(&[1 << 28, 1 << 28])?.exp()).call(&x);
    assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
    let r: Result<Tensor> =
        jacrev(|x: &Tensor| x.sum()?.expand(&[1 << 28, 1 << 29])?.sin()).call(&x);
    assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
    still_works();
    Ok(())
}

/// Under a real limit on the address space (3 GiB, set with the shell's `ulimit -v` on a child
/// run of this same test), a Jacobian whose basis and result need 3.2 GB each is an
/// `OutOfMemory` error, and the process goes on.
#[test]
fn jacobian_beyond_a_memory_limit_is_an_error() -> Result<()> {
    if !common::in_memory_limited_child("jacobian_beyond_a_memory_limit_is_an_error", 3 << 20) {
        return Ok(());
    }
    let n = 20_000;
    let x = Tensor::linspace(0.0, 1.0, n, DType::F64)?;
    let r: Result<Tensor> = jacrev(|x: &Tensor| x.sin()).call(&x);
    match r {
        Err(Error::OutOfMemory { bytes, .. }) => assert!(bytes >= n * n * 8 / 2, "{bytes}"),
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    // a chunked Jacobian needs only its result and a chunk's basis: 3.2 GB, still too much
    let r: Result<Tensor> = jacrev(|x: &Tensor| x.sin()).chunk_size(1000).call(&x);
    assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
    // and half the size fits
    let x = Tensor::linspace(0.0, 1.0, n / 2, DType::F64)?;
    let j: Tensor = jacrev(|x: &Tensor| x.sin()).chunk_size(1000).call(&x)?;
    assert_eq!(j.shape(), &[n / 2, n / 2]);
    still_works();
    Ok(())
}

#[test]
fn one_hot_checks_its_values_under_every_transform() -> Result<()> {
    // random ops' parameters too: a batched probability or std is checked per element
    let p = Tensor::from_vec(vec![0.5, 1.5], &[2, 1])?;
    let r: Result<Tensor> = vmap(|p: &Tensor| p.bernoulli()).call(&p);
    assert!(
        matches!(&r, Err(Error::Invalid { op: "bernoulli", msg }) if msg.contains("1.5")),
        "{r:?}"
    );
    let std = Tensor::from_vec(vec![1.0, -1.0], &[2, 1])?;
    let mean = Tensor::zeros(&[1], DType::F64)?;
    let r: Result<Tensor> = vmap(|s: &Tensor| Tensor::normal(&mean, s))
        .randomness(functorch::Randomness::Different)
        .call(&std);
    assert!(
        matches!(&r, Err(Error::Invalid { op: "normal", msg }) if msg.contains("-1")),
        "{r:?}"
    );
    let i = Tensor::from_slice(&[0i64, 5]);
    let eager = i.one_hot(3).unwrap_err();
    assert!(
        matches!(
            eager,
            Error::Index {
                op: "one_hot",
                index: 5,
                size: 3,
                ..
            }
        ),
        "{eager}"
    );
    // vmap returned an all-zero row for 5 before
    let r: Result<Tensor> = vmap(|i: &Tensor| i.one_hot(3)).call(&i);
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Index {
                op: "one_hot",
                index: 5,
                size: 3,
                ..
            }
        ),
        "{e}"
    );
    let r: Result<Tensor> =
        vmap(|i: &Tensor| i.one_hot(3)).call(&Tensor::from_vec(vec![0i64, 1, 2, -1], &[2, 2])?);
    assert!(matches!(r, Err(Error::Index { index: -1, .. })), "{r:?}");
    // in range, the batched result is the eager one
    let ok = Tensor::from_slice(&[2i64, 0]);
    let b: Tensor = vmap(|i: &Tensor| i.one_hot(3)).call(&ok)?;
    assert_eq!(b.to_vec::<i64>()?, ok.one_hot(3)?.to_vec::<i64>()?);
    assert_eq!(b.to_vec::<i64>()?, vec![0, 0, 1, 1, 0, 0]);
    Ok(())
}

/// The cofactor matrix of a 3×3 matrix (row-major), the gradient of its determinant.
fn cofactors3(a: &[f64]) -> Vec<f64> {
    let m = |r: usize, c: usize| a[r * 3 + c];
    let mut out = vec![0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            let (r0, r1) = ([1, 0, 0][i], [2, 2, 1][i]);
            let (c0, c1) = ([1, 0, 0][j], [2, 2, 1][j]);
            let minor = m(r0, c0) * m(r1, c1) - m(r0, c1) * m(r1, c0);
            out[i * 3 + j] = if (i + j) % 2 == 0 { minor } else { -minor };
        }
    }
    out
}

fn close_to(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: {got:?} vs {want:?}"
        );
    }
}

#[test]
fn det_gradient_at_singular_matrices_is_the_cofactor_matrix() -> Result<()> {
    let det = |a: &Tensor| a.det();
    // rank 2, rank 1, rank 0 and a regular matrix
    let mats: [[f64; 9]; 4] = [
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        [1.0, 2.0, 3.0, 2.0, 4.0, 6.0, -1.0, -2.0, -3.0],
        [0.0; 9],
        [2.0, -1.0, 0.5, 1.0, 3.0, -2.0, 0.0, 1.0, 4.0],
    ];
    for m in &mats {
        let a = Tensor::from_vec(m.to_vec(), &[3, 3])?;
        let g: Tensor = grad(det).call(&a)?;
        close_to(&g.to_vec::<f64>()?, &cofactors3(m), 1e-12, "grad(det)");
        // forward mode agrees: d det = <cof(A), dA>
        let dir = Tensor::from_vec((1..=9).map(|i| i as f64 / 7.0).collect(), &[3, 3])?;
        let (_, t): (Tensor, Tensor) = functorch::jvp(det).call(&a, &dir)?;
        let want: f64 = cofactors3(m)
            .iter()
            .zip(1..=9)
            .map(|(c, i)| c * i as f64 / 7.0)
            .sum();
        close_to(&[t.item()?], &[want], 1e-12, "jvp(det)");
    }
    // one singular matrix no longer fails the whole batch
    let all: Vec<f64> = mats.iter().flatten().copied().collect();
    let batch = Tensor::from_vec(all, &[4, 3, 3])?;
    let gs: Tensor = vmap(grad(det)).call(&batch)?;
    let want: Vec<f64> = mats.iter().flat_map(|m| cofactors3(m)).collect();
    close_to(&gs.to_vec::<f64>()?, &want, 1e-12, "vmap(grad(det))");
    // a 2×2 and a 1×1 singular matrix, in f32
    let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 6.0], &[2, 2])?;
    let g: Tensor = grad(det).call(&a)?;
    assert_eq!(g.to_vec::<f32>()?, vec![6.0, -3.0, -2.0, 1.0]);
    let g: Tensor = grad(det).call(&Tensor::from_vec(vec![0.0f64], &[1, 1])?)?;
    assert_eq!(g.to_vec::<f64>()?, vec![1.0]);
    // second order at a regular matrix is unchanged: the Hessian of det is symmetric
    let a = Tensor::from_vec(mats[3].to_vec(), &[3, 3])?;
    let h: Tensor = functorch::hessian(det).call(&a)?;
    let hv = h.reshape(&[9, 9])?;
    let ht = hv.t()?;
    close_to(
        &hv.to_vec::<f64>()?,
        &ht.to_vec::<f64>()?,
        1e-10,
        "hessian(det)",
    );
    Ok(())
}

#[test]
fn std_of_a_constant_has_a_nan_gradient_as_in_torch() -> Result<()> {
    let x = Tensor::from_slice(&[2.0, 2.0, 2.0]);
    assert_eq!(x.std()?.item()?, 0.0);
    let g: Tensor = grad(|x: &Tensor| x.std()).call(&x)?;
    assert!(g.to_vec::<f64>()?.iter().all(|v| v.is_nan()), "{g}");
    // elsewhere the gradient is (x − mean) / ((n − 1) std)
    let x = Tensor::from_slice(&[1.0, 2.0, 4.0]);
    let g: Tensor = grad(|x: &Tensor| x.std()).call(&x)?;
    let s = (7.0f64 / 3.0).sqrt();
    let want: Vec<f64> = [1.0, 2.0, 4.0]
        .iter()
        .map(|v| (v - 7.0 / 3.0) / (2.0 * s))
        .collect();
    close_to(&g.to_vec::<f64>()?, &want, 1e-12, "grad(std)");
    Ok(())
}

#[test]
fn binary_ops_promote_dtypes_as_torch() -> Result<()> {
    let a = Tensor::from_slice(&[1.5f32, 2.0]);
    let b = Tensor::from_slice(&[0.25f64, 4.0]);
    let s = a.add(&b)?;
    assert_eq!(s.dtype(), DType::F64);
    assert_eq!(s.to_vec::<f64>()?, vec![1.75, 6.0]);
    assert_eq!(b.mul(&a)?.dtype(), DType::F64);
    assert_eq!(a.sub(&b)?.to_vec::<f64>()?, vec![1.25, -2.0]);
    assert_eq!(a.div(&b)?.to_vec::<f64>()?, vec![6.0, 0.5]);
    assert_eq!(a.maximum(&b)?.to_vec::<f64>()?, vec![1.5, 4.0]);
    assert_eq!(a.lt(&b)?.to_vec::<bool>()?, vec![false, true]);
    let w = Tensor::where_(&Tensor::from_slice(&[true, false]), &a, &b)?;
    assert_eq!(w.to_vec::<f64>()?, vec![1.5, 4.0]);
    // a 0-d operand raises the category only: f32[2] + f64[] stays f32, i64[2] + f64[] is f64
    assert_eq!(a.add(&Tensor::scalar(1.0f64))?.dtype(), DType::F32);
    let i = Tensor::from_slice(&[1i64, 2]);
    assert_eq!(
        i.add(&Tensor::scalar(0.5f64))?.to_vec::<f64>()?,
        vec![1.5, 2.5]
    );
    assert_eq!(i.add(&a)?.to_vec::<f32>()?, vec![2.5, 4.0]);
    assert_eq!(
        Tensor::scalar(1.0f32).add(&Tensor::scalar(1.0f64))?.dtype(),
        DType::F64
    );
    // scalars: a float tensor keeps its dtype; an integer tensor is not truncated against 0.5
    assert_eq!(a.mul_scalar(0.1)?.dtype(), DType::F32);
    assert_eq!(i.eq_scalar(1.5)?.to_vec::<bool>()?, vec![false, false]);
    assert_eq!(i.gt_scalar(1.5)?.to_vec::<bool>()?, vec![false, true]);
    assert_eq!(i.eq_scalar(2.0)?.to_vec::<bool>()?, vec![false, true]);
    // each input's gradient comes back in its own dtype
    let f = |(a, b): &(Tensor, Tensor)| a.mul(b)?.sum();
    let (ga, gb): (Tensor, Tensor) = grad(f).argnums((0, 1)).call(&(a.clone(), b.clone()))?;
    assert_eq!((ga.dtype(), gb.dtype()), (DType::F32, DType::F64));
    assert_eq!(ga.to_vec::<f32>()?, vec![0.25, 4.0]);
    assert_eq!(gb.to_vec::<f64>()?, vec![1.5, 2.0]);
    // and under vmap the promotion is the per-example one
    let rows = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    let v: Tensor = vmap(|(x, y): &(Tensor, Tensor)| x.add(y))
        .in_dims([Some(0), None])
        .call(&(rows, b))?;
    assert_eq!(v.dtype(), DType::F64);
    assert_eq!(v.to_vec::<f64>()?, vec![1.25, 6.0, 3.25, 8.0]);
    Ok(())
}

#[test]
fn inv_of_a_nan_matrix_is_nan_not_singular() -> Result<()> {
    let a = Tensor::from_vec(vec![f64::NAN, 1.0, 1.0, 1.0], &[2, 2])?;
    let i = a.inv()?;
    assert!(i.to_vec::<f64>()?.iter().any(|v| v.is_nan()), "{i}");
    // an exactly singular matrix is still an error
    let s = Tensor::from_vec(vec![1.0, 2.0, 2.0, 4.0], &[2, 2])?;
    assert!(matches!(s.inv(), Err(Error::Singular { op: "inv", .. })));
    Ok(())
}

#[test]
fn errors_inside_transforms_speak_of_what_the_user_wrote() -> Result<()> {
    let x = Tensor::from_vec((0..6).map(f64::from).collect(), &[2, 3])?;
    let five = Tensor::from_slice(&[5i64]);
    // the user's dim and size, not the batched ones ("dimension 1 of size 3" before)
    let r: Result<Tensor> = vmap(|x: &Tensor| x.index_select(0, &five)).call(&x);
    match r {
        Err(Error::Index {
            op: "index_select",
            index: 5,
            dim: 0,
            size: 3,
        }) => {}
        other => panic!("{other:?}"),
    }
    // a batched index: still index_select, not the gather it becomes
    let idx = Tensor::from_vec(vec![0i64, 7], &[2, 1])?;
    let r: Result<Tensor> =
        vmap(|(x, i): &(Tensor, Tensor)| x.index_select(0, i)).call(&(x.clone(), idx.clone()));
    match r {
        Err(
            e @ Error::Index {
                op: "index_select",
                index: 7,
                dim: 0,
                size: 3,
            },
        ) => {
            assert_eq!(
                e.to_string(),
                "index_select: index 7 is out of range for dimension 0 of size 3"
            );
        }
        other => panic!("{other:?}"),
    }
    let r: Result<Tensor> =
        vmap(|(x, i): &(Tensor, Tensor)| x.gather(0, i)).call(&(x.clone(), idx));
    assert!(
        matches!(
            r,
            Err(Error::Index {
                op: "gather",
                dim: 0,
                size: 3,
                ..
            })
        ),
        "{r:?}"
    );
    // and under grad
    let r: Result<Tensor> = grad(|x: &Tensor| x.index_select(1, &five)?.sum()).call(&x);
    assert!(
        matches!(
            r,
            Err(Error::Index {
                op: "index_select",
                dim: 1,
                size: 3,
                ..
            })
        ),
        "{r:?}"
    );
    // softmax reports softmax, not the amax inside it
    assert!(matches!(
        x.softmax(2),
        Err(Error::Dim {
            op: "softmax",
            dim: 2,
            ndim: 2
        })
    ));
    assert!(matches!(
        x.log_softmax(-3),
        Err(Error::Dim {
            op: "log_softmax",
            ..
        })
    ));
    let r: Result<Tensor> = vmap(|x: &Tensor| x.softmax(1)).call(&x);
    assert!(
        matches!(
            r,
            Err(Error::Dim {
                op: "softmax",
                dim: 1,
                ndim: 1
            })
        ),
        "{r:?}"
    );
    // unsqueeze states the tensor's rank
    let e = Tensor::from_slice(&[1.0])
        .unsqueeze(2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rank 1") && e.contains("-2..=1") && e.starts_with("unsqueeze"),
        "{e}"
    );
    // linearize speaks of tangents and primals
    let (_, lin): (Tensor, functorch::Linearized) =
        functorch::linearize(|x: &Tensor| x.sin()).call(&Tensor::from_slice(&[1.0, 2.0]))?;
    let e = lin
        .call::<_, Tensor>(&Tensor::from_slice(&[1.0, 2.0, 3.0]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linearize") && e.contains("tangent") && e.contains("primal"),
        "{e}"
    );
    assert!(!e.contains("cotangent") && !e.contains("pullback"), "{e}");
    // the second derivative of det at a singular matrix names det
    let s = Tensor::from_vec(vec![1.0, 2.0, 2.0, 4.0], &[2, 2])?;
    let r: Result<Tensor> = functorch::hessian(|a: &Tensor| a.det()).call(&s);
    assert!(matches!(r, Err(Error::Singular { op: "det", .. })), "{r:?}");
    Ok(())
}

/// The stack of running transforms is per thread (README, "Threads"): an op on a tracer sent to
/// another thread follows its operand's transforms, random ops derived from an operand
/// included, but a random op there with no operand draws one unbatched sample.
#[test]
fn other_threads_run_outside_the_transforms() -> Result<()> {
    let xs = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    let y: Tensor =
        vmap(|x: &Tensor| std::thread::scope(|s| s.spawn(|| x.sin()).join().expect("joined")))
            .call(&xs)?;
    assert_eq!(y.to_vec::<f64>()?, xs.sin()?.to_vec::<f64>()?);
    let out: Tensor = vmap(|x: &Tensor| {
        let noise = std::thread::scope(|s| {
            s.spawn(|| Tensor::randn(&[2], DType::F64))
                .join()
                .expect("joined")
        })?;
        x.add(&noise)
    })
    .randomness(functorch::Randomness::Different)
    .call(&xs)?;
    let v = out.sub(&xs)?.to_vec::<f64>()?;
    for k in 0..2 {
        assert!(
            (v[k] - v[k + 2]).abs() < 1e-12,
            "one sample for the whole batch: {v:?}"
        );
    }
    // a random op derived from an operand follows the operand's transforms on any thread
    let ones = Tensor::from_vec(vec![1.0; 4 * 64], &[4, 64])?;
    let dropped: Tensor = vmap(|x: &Tensor| {
        std::thread::scope(|s| s.spawn(|| x.dropout(0.5)).join().expect("joined"))
    })
    .randomness(functorch::Randomness::Different)
    .call(&ones)?;
    let rows: Vec<Vec<f64>> = (0..4)
        .map(|i| dropped.select(0, i)?.to_vec::<f64>())
        .collect::<Result<_>>()?;
    assert!(rows[1..].iter().any(|r| *r != rows[0]), "one mask per row");
    let r: Result<Tensor> = vmap(|x: &Tensor| {
        std::thread::scope(|s| s.spawn(|| x.randn_like()).join().expect("joined"))
    })
    .call(&ones);
    assert!(matches!(r, Err(Error::Randomness { .. })), "{r:?}");
    still_works();
    Ok(())
}
