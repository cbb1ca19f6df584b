//! The rest of torch's random API: `randint`, `randperm`, `normal` with mean and std,
//! `bernoulli`, the `*_like` forms, and explicit [`Generator`]s with their own seed and state
//! next to the thread-local generator that `manual_seed` reseeds. Every draw is the `Draw`
//! primitive, so inside `vmap` it follows the `randomness` option ("error" refuses,
//! "different" draws per batch element, "same" once for the batch) and chunking replays the
//! same draws under "same", for explicit generators as for the thread-local one
//! (`NOTE: [nullary]`, `NOTE: [chunking]`).

use super::{require_float, require_same_dtype};
use crate::array::{DType, broadcast_shapes};
use crate::core::{Tensor, bind, with_levels_of};
use crate::error::{Error, Result};
use crate::prims::index::{Condition, checked};
use crate::prims::random::{Dist, Draw, Source, drop_generator, new_generator, seed_generator};
use std::sync::Arc;

/// A draw of `dist` from `source`; errors name `op`.
fn draw(
    op: &'static str,
    source: Source,
    shape: &[usize],
    dtype: DType,
    dist: Dist,
) -> Result<Tensor> {
    let d = Draw {
        dist,
        shape: shape.into(),
        dtype,
        source,
    };
    bind(&d, &[]).map_err(|e| match e {
        Error::Randomness { .. } => Error::Randomness { op },
        e => e,
    })
}

fn float_draw(
    op: &'static str,
    source: Source,
    shape: &[usize],
    dtype: DType,
    dist: Dist,
) -> Result<Tensor> {
    if !dtype.is_float() {
        return Err(Error::DType {
            op,
            expected: "a float dtype",
            got: dtype,
        });
    }
    draw(op, source, shape, dtype, dist)
}

fn randint(source: Source, low: i64, high: i64, shape: &[usize]) -> Result<Tensor> {
    if low >= high {
        return Err(Error::invalid(
            "randint",
            format!("expected low < high, got low={low}, high={high}"),
        ));
    }
    draw(
        "randint",
        source,
        shape,
        DType::I64,
        Dist::Randint { low, high },
    )
}

fn randperm(source: Source, n: usize) -> Result<Tensor> {
    draw("randperm", source, &[n], DType::I64, Dist::Permutation)
}

fn normal(source: Source, mean: &Tensor, std: &Tensor) -> Result<Tensor> {
    const OP: &str = "normal";
    require_float(OP, mean)?;
    require_same_dtype(OP, mean, std)?;
    let shape = broadcast_shapes(OP, mean.shape(), std.shape())?;
    let std = &checked(OP, std, Condition::NonNegative)?;
    let noise = with_levels_of(mean, || {
        with_levels_of(std, || draw(OP, source, &shape, mean.dtype(), Dist::Normal))
    })?;
    mean.add(&std.mul(&noise)?)
}

fn bernoulli(source: Source, p: &Tensor) -> Result<Tensor> {
    const OP: &str = "bernoulli";
    require_float(OP, p)?;
    let p = &checked(OP, p, Condition::Probability)?;
    let u = with_levels_of(p, || draw(OP, source, p.shape(), p.dtype(), Dist::Uniform))?;
    u.lt(p)?.to_dtype(p.dtype())
}

impl Tensor {
    /// Integers uniform in `low..high` (i64) of `shape`, from this thread's generator (torch's
    /// `randint`).
    ///
    /// ```
    /// use functorch::Tensor;
    /// let k = Tensor::randint(0, 10, &[5])?;
    /// assert!(k.to_vec::<i64>()?.iter().all(|v| (0..10).contains(v)));
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn randint(low: i64, high: i64, shape: &[usize]) -> Result<Tensor> {
        randint(Source::ThreadLocal, low, high, shape)
    }
    /// Integers uniform in `low..high` of this tensor's (per-example) shape and dtype (torch's
    /// `randint_like`).
    pub fn randint_like(&self, low: i64, high: i64) -> Result<Tensor> {
        randint(Source::ThreadLocal, low, high, self.shape())?.to_dtype(self.dtype())
    }
    /// A random permutation of `0..n` (i64), from this thread's generator (torch's `randperm`).
    ///
    /// ```
    /// use functorch::Tensor;
    /// let mut p = Tensor::randperm(5)?.to_vec::<i64>()?;
    /// p.sort();
    /// assert_eq!(p, vec![0, 1, 2, 3, 4]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn randperm(n: usize) -> Result<Tensor> {
        randperm(Source::ThreadLocal, n)
    }
    /// Normal samples with the given `mean` and `std` (tensors that broadcast together; torch's
    /// `normal(mean, std)`), from this thread's generator. Computed as `mean + std · ε` with `ε`
    /// standard normal, so it is differentiable in `mean` and `std` (the reparameterization).
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let x = Tensor::normal(&Tensor::from_slice(&[0.0, 100.0]), &Tensor::scalar(1e-9))?;
    /// assert!((x.to_vec::<f64>()?[1] - 100.0).abs() < 1e-6);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn normal(mean: &Tensor, std: &Tensor) -> Result<Tensor> {
        normal(Source::ThreadLocal, mean, std)
    }
    /// 1 with probability `p` (this tensor's elements, in `[0, 1]`) and 0 otherwise, in this
    /// tensor's dtype (torch's `bernoulli`), from this thread's generator. No derivative.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let b = Tensor::from_slice(&[0.0, 1.0]).bernoulli()?;
    /// assert_eq!(b.to_vec::<f64>()?, vec![0.0, 1.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn bernoulli(&self) -> Result<Tensor> {
        bernoulli(Source::ThreadLocal, self)
    }
}

/// An explicit random generator with its own seed and state (torch's `torch.Generator`), for
/// draws that must not depend on, or disturb, the thread-local generator `manual_seed` resets.
///
/// Clones share one state (as torch's generator objects are shared by reference). Draws made
/// from it follow `vmap`'s `randomness` and chunking exactly as the thread-local draws do.
/// A compiled (`jit`) function that draws from a generator needs it alive when it runs.
///
/// ```
/// use functorch::{DType, Generator, Tensor};
/// let g = Generator::new(7);
/// let a = g.randn(&[3], DType::F64)?;
/// g.manual_seed(7);
/// assert_eq!(a.to_vec::<f64>()?, g.randn(&[3], DType::F64)?.to_vec::<f64>()?);
/// // two generators with one seed draw the same numbers
/// let b = Generator::new(7).randn(&[3], DType::F64)?;
/// assert_eq!(a.to_vec::<f64>()?, b.to_vec::<f64>()?);
/// # Ok::<(), functorch::Error>(())
/// ```
#[derive(Clone)]
pub struct Generator(Arc<Id>);

struct Id(u64);

impl Drop for Id {
    fn drop(&mut self) {
        drop_generator(self.0);
    }
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Generator({})", self.0.0)
    }
}

impl Generator {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator(Arc::new(Id(new_generator(seed))))
    }
    /// Reseed this generator (and its clones).
    pub fn manual_seed(&self, seed: u64) {
        seed_generator(self.0.0, seed)
    }
    fn source(&self) -> Source {
        Source::Generator(self.0.0)
    }
    /// Standard normal samples of `shape` ([`Tensor::randn`] from this generator).
    pub fn randn(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        float_draw("randn", self.source(), shape, dtype, Dist::Normal)
    }
    /// Uniform samples in `[0, 1)` of `shape` ([`Tensor::rand`] from this generator).
    pub fn rand(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        float_draw("rand", self.source(), shape, dtype, Dist::Uniform)
    }
    /// Standard normal samples of `x`'s shape and dtype.
    pub fn randn_like(&self, x: &Tensor) -> Result<Tensor> {
        with_levels_of(x, || {
            float_draw(
                "randn_like",
                self.source(),
                x.shape(),
                x.dtype(),
                Dist::Normal,
            )
        })
    }
    /// Uniform samples in `[0, 1)` of `x`'s shape and dtype.
    pub fn rand_like(&self, x: &Tensor) -> Result<Tensor> {
        with_levels_of(x, || {
            float_draw(
                "rand_like",
                self.source(),
                x.shape(),
                x.dtype(),
                Dist::Uniform,
            )
        })
    }
    /// Integers uniform in `low..high` (i64) ([`Tensor::randint`] from this generator).
    pub fn randint(&self, low: i64, high: i64, shape: &[usize]) -> Result<Tensor> {
        randint(self.source(), low, high, shape)
    }
    /// Integers uniform in `low..high` of `x`'s shape and dtype.
    pub fn randint_like(&self, x: &Tensor, low: i64, high: i64) -> Result<Tensor> {
        randint(self.source(), low, high, x.shape())?.to_dtype(x.dtype())
    }
    /// A random permutation of `0..n` ([`Tensor::randperm`] from this generator).
    pub fn randperm(&self, n: usize) -> Result<Tensor> {
        randperm(self.source(), n)
    }
    /// Normal samples with `mean` and `std` ([`Tensor::normal`] from this generator).
    pub fn normal(&self, mean: &Tensor, std: &Tensor) -> Result<Tensor> {
        normal(self.source(), mean, std)
    }
    /// Bernoulli draws with probabilities `p` ([`Tensor::bernoulli`] from this generator).
    pub fn bernoulli(&self, p: &Tensor) -> Result<Tensor> {
        bernoulli(self.source(), p)
    }
}
