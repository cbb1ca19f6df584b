//! [`Tensor`], the handle users hold: either a concrete [`Array`] or a [`Tracer`] of a running
//! transform (`NOTE: [levels]`), with the accessors that work on both.

use super::Tracer;
use crate::array::{Array, Element, normalize_dim, numel};
use crate::dtype::DType;
use crate::error::{Error, Result};
use std::sync::Arc;

/// An n-dimensional array of `f32`, `f64`, `i64` or `bool`, of any rank (0-d scalars included).
///
/// `Tensor` is a cheap handle: `clone` is O(1) and shares the data. Inside a transform a tensor
/// may be a *tracer* (a batched value, a primal with its tangent, a value tracked for reverse
/// mode); user code never needs to tell the difference: every op works on both.
///
/// # Threads
///
/// `Tensor` is `Send` and `Sync`. A concrete tensor is immutable once built (no op writes into
/// an existing tensor; views share a buffer that is never written again), so any number of
/// threads may share and read it at once, and an op gives the same result on any thread. Each
/// thread has its own stack of running transforms and its own random generator
/// ([`manual_seed`](crate::manual_seed) seeds the calling thread's); the buffer pool is shared
/// behind a lock. A tracer (a tensor inside a transform) carries its transform with it: an op on
/// it on another thread, while the transform runs, is traced as on the calling thread (the
/// reverse-mode tape is locked). Ops with no traced operand only see the transforms of their own
/// thread, so a random draw (`randn`, `rand`) on another thread inside `vmap` does not follow
/// its `randomness` option. Once its transform has returned, a tracer is refused on every
/// thread with [`Error::EscapedTracer`].
///
/// ```
/// use functorch::Tensor;
/// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
/// let y = (&x * 2.0).sum()?;
/// assert_eq!(y.to_scalar::<f64>()?, 20.0);
/// # Ok::<(), functorch::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Repr>);

pub(crate) enum Repr {
    Array(Array),
    Tracer(Tracer),
}

impl Tensor {
    /// Wrap a concrete array.
    #[inline]
    pub(crate) fn from_array(a: Array) -> Tensor {
        Tensor(Arc::new(Repr::Array(a)))
    }
    #[inline]
    pub(crate) fn from_tracer(t: Tracer) -> Tensor {
        Tensor(Arc::new(Repr::Tracer(t)))
    }
    /// The concrete array, if this tensor is not a tracer (a tracer of a finished grad or jvp
    /// transform is its value).
    #[inline]
    pub fn array(&self) -> Option<&Array> {
        match &*self.0 {
            Repr::Array(a) => Some(a),
            Repr::Tracer(t) => t.dead_value()?.array(),
        }
    }
    #[inline]
    pub(crate) fn tracer(&self) -> Option<&Tracer> {
        match &*self.0 {
            Repr::Tracer(t) => Some(t),
            Repr::Array(_) => None,
        }
    }
    /// Whether this tensor holds concrete values (it is not being traced by a transform).
    #[inline]
    pub fn is_concrete(&self) -> bool {
        self.array().is_some()
    }
    /// The shape (inside `vmap`, the per-example shape).
    #[inline]
    pub fn shape(&self) -> &[usize] {
        match &*self.0 {
            Repr::Array(a) => &a.shape,
            Repr::Tracer(t) => &t.shape,
        }
    }
    /// The element type.
    #[inline]
    pub fn dtype(&self) -> DType {
        match &*self.0 {
            Repr::Array(a) => a.dtype(),
            Repr::Tracer(t) => t.dtype,
        }
    }
    /// The rank (number of dims).
    #[inline]
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }
    /// The number of elements.
    #[inline]
    pub fn numel(&self) -> usize {
        numel(self.shape())
    }
    /// The size of one dim (negative counts from the end).
    pub fn dim(&self, dim: i64) -> Result<usize> {
        Ok(self.shape()[normalize_dim("dim", dim, self.ndim())?])
    }
    /// The concrete array, or an error naming `op` if this is a tracer.
    pub(crate) fn concrete(&self, op: &'static str) -> Result<&Array> {
        match &*self.0 {
            Repr::Array(a) => Ok(a),
            Repr::Tracer(t) if !t.level.is_alive() => self.live(op)?.concrete(op),
            Repr::Tracer(t) => Err(Error::Traced {
                op,
                kind: t.kind_name(),
            }),
        }
    }

    /// The elements in row-major order, as `T` (which must be this tensor's element type).
    ///
    /// Fails inside a transform (the values are not known there) and on a dtype mismatch.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let a = self.concrete("to_vec")?;
        a.to_vec::<T>().ok_or(Error::DType {
            op: "to_vec",
            expected: T::DTYPE.name(),
            got: a.dtype(),
        })
    }
    /// The elements converted to `f64`, whatever the dtype.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let a = self.concrete("to_vec_f64")?;
        Ok(match a.dtype() {
            DType::F32 => a
                .to_vec::<f32>()
                .unwrap()
                .into_iter()
                .map(|v| v as f64)
                .collect(),
            DType::F64 => a.to_vec::<f64>().unwrap(),
            DType::I64 => a
                .to_vec::<i64>()
                .unwrap()
                .into_iter()
                .map(|v| v as f64)
                .collect(),
            DType::Bool => a
                .to_vec::<bool>()
                .unwrap()
                .into_iter()
                .map(|v| v as u8 as f64)
                .collect(),
        })
    }
    /// The single element of a one-element tensor.
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "to_scalar",
                format!(
                    "only a tensor with one element can be converted to a scalar, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }
    /// The single element of a one-element tensor, as `f64`.
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                format!(
                    "only a tensor with one element can be converted to a scalar, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec_f64()?[0])
    }
}
