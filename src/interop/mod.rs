//! Bridges to the rest of the Rust scientific ecosystem, each behind the cargo feature of the
//! same name (all off by default):
//!
//! | feature | what it gives |
//! |---|---|
//! | `argmin` | `argmin` problems whose gradient, Hessian and Jacobian come from the transforms (module `argmin`) |
//! | `nalgebra` | `Tensor` ⇄ `nalgebra::DVector` / `DMatrix` (module `nalgebra`) |
//! | `faer` | `Tensor` ⇄ `faer::Mat` ([`faer`]) |
//! | `serde` | `Serialize` / `Deserialize` for `Tensor`, so parameter structs can derive them (module `serde`) |
//! | `safetensors` | load and save parameter structures as `.safetensors` files (module `safetensors`) |
//!
//! (The modules exist only with their feature, so they are named here without links.)
//!
//! ndarray, which the crate always depends on, converts through
//! [`Tensor::to_ndarray`](crate::Tensor::to_ndarray) and `From<ndarray::ArrayD<T>>`.

#[cfg(feature = "argmin")]
#[cfg_attr(docsrs, doc(cfg(feature = "argmin")))]
pub mod argmin;
#[cfg(feature = "faer")]
#[cfg_attr(docsrs, doc(cfg(feature = "faer")))]
pub mod faer;
#[cfg(feature = "nalgebra")]
#[cfg_attr(docsrs, doc(cfg(feature = "nalgebra")))]
pub mod nalgebra;
#[cfg(feature = "safetensors")]
#[cfg_attr(docsrs, doc(cfg(feature = "safetensors")))]
pub mod safetensors;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod serde;

#[cfg(any(
    feature = "argmin",
    feature = "faer",
    feature = "nalgebra",
    feature = "safetensors"
))]
use crate::{Element, Error, Result, Tensor};

/// The elements of `t` as `T`, with `op` named in the dtype and tracer errors.
#[cfg(any(
    feature = "argmin",
    feature = "faer",
    feature = "nalgebra",
    feature = "safetensors"
))]
pub(crate) fn elements<T: Element>(t: &Tensor, op: &'static str) -> Result<Vec<T>> {
    if t.dtype() != T::DTYPE {
        return Err(Error::DType {
            op,
            expected: T::DTYPE.name(),
            got: t.dtype(),
        });
    }
    t.to_vec::<T>().map_err(|e| match e {
        Error::Traced { kind, .. } => Error::Traced { op, kind },
        e => e,
    })
}

/// A shape error unless `t` has rank `ndim`.
#[cfg(any(feature = "argmin", feature = "faer", feature = "nalgebra"))]
pub(crate) fn expect_rank(t: &Tensor, ndim: usize, op: &'static str) -> Result<()> {
    if t.ndim() != ndim {
        return Err(Error::Shape {
            op,
            msg: format!(
                "expected a {ndim}-d tensor, got a tensor of shape {:?}",
                t.shape()
            ),
        });
    }
    Ok(())
}
