//! Random tensors, drawn by the `Draw` primitive. Inside `vmap` they follow its `randomness`
//! option (see `NOTE: [nullary]`).

use crate::array::DType;
use crate::core::{Tensor, bind, with_levels_of};
use crate::error::{Error, Result};
use crate::prims::random::{Dist, Draw, GeneratorState, Source};

/// Reseed this thread's random generator (every thread starts from the same fixed seed, so
/// runs are reproducible).
pub fn manual_seed(s: u64) {
    crate::prims::random::seed(s)
}

/// A copy of this thread's generator state (vmap's "same" randomness replays it for each chunk).
pub(crate) fn state() -> GeneratorState {
    crate::prims::random::state()
}

/// Restore a state taken by [`state`].
pub(crate) use crate::prims::random::{ThreadRng, replace_thread_rng, thread_rng};

pub(crate) fn set_state(s: GeneratorState) {
    crate::prims::random::set_state(s)
}

/// A random tensor of `shape` (the per-example shape inside vmap); errors name `op`.
fn sample(op: &'static str, shape: &[usize], dtype: DType, dist: Dist) -> Result<Tensor> {
    if !dtype.is_float() {
        return Err(Error::DType {
            op,
            expected: "a float dtype",
            got: dtype,
        });
    }
    let draw = Draw {
        dist,
        shape: shape.into(),
        dtype,
        source: Source::ThreadLocal,
    };
    bind(&draw, &[]).map_err(|e| match e {
        Error::Randomness { .. } => Error::Randomness { op },
        e => e,
    })
}
impl Tensor {
    /// Standard normal samples of `shape`.
    ///
    /// ```
    /// use functorch::{DType, Tensor, manual_seed};
    /// manual_seed(0);
    /// let a = Tensor::randn(&[3], DType::F64)?;
    /// manual_seed(0);
    /// assert_eq!(a.to_vec::<f64>()?, Tensor::randn(&[3], DType::F64)?.to_vec::<f64>()?);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn randn(shape: &[usize], dtype: DType) -> Result<Tensor> {
        sample("randn", shape, dtype, Dist::Normal)
    }
    /// Uniform samples in `[0, 1)` of `shape`.
    pub fn rand(shape: &[usize], dtype: DType) -> Result<Tensor> {
        sample("rand", shape, dtype, Dist::Uniform)
    }
    /// Standard normal samples of this tensor's (per-example) shape and dtype.
    pub fn randn_like(&self) -> Result<Tensor> {
        with_levels_of(self, || {
            sample("randn_like", self.shape(), self.dtype(), Dist::Normal)
        })
    }
    /// Uniform samples in `[0, 1)` of this tensor's (per-example) shape and dtype.
    pub fn rand_like(&self) -> Result<Tensor> {
        with_levels_of(self, || {
            sample("rand_like", self.shape(), self.dtype(), Dist::Uniform)
        })
    }
    /// Inverted dropout: each element is zeroed with probability `p` and the rest scaled by
    /// `1/(1-p)`.
    pub fn dropout(&self, p: f64) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(crate::Error::invalid(
                "dropout",
                format!("p must be in [0, 1), got {p}"),
            ));
        }
        let keep = with_levels_of(self, || {
            sample("dropout", self.shape(), self.dtype(), Dist::Uniform)
        })?
        .ge_scalar(p)?;
        Tensor::where_(
            &keep,
            &self.div_scalar(1.0 - p)?,
            &Tensor::zeros(&[], self.dtype())?,
        )
    }
}
