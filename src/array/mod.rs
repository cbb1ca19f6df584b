//! The ground floor: the concrete array ([`Array`]: a shared buffer seen through a shape,
//! strides and an offset), its element types, shape arithmetic and the buffer pool.
//!
//! Nothing here knows about tracers, levels or transforms: the handle users hold
//! ([`Tensor`](crate::Tensor)) lives in `core`, one floor up, and wraps either an array or a
//! tracer. The kernels (`kernels`) compute on arrays; the array layer itself only describes
//! layouts.

mod aligned;
mod element;
mod layout;
pub mod pool;
mod shape;
mod storage;

pub use crate::dtype::DType;
pub(crate) use aligned::ALIGN;
pub use aligned::AlignedVec;
pub use element::{Element, Float};
pub use layout::{Array, View};
pub use shape::{
    MAX_NUMEL, Shape, broadcast_shapes, broadcasts_to, checked_numel, contiguous_strides, numel,
};
pub(crate) use shape::{
    infer_reshape, matmul_shape, normalize_dim, normalize_dims, normalize_new_dim, reshape_strides,
};
pub use storage::Buffer;

/// An empty buffer with room for `n` elements (on a cache line when large, `NOTE: [aligned]`),
/// recycled from the buffer pool when possible
/// (see [`pool`]). If the memory cannot be had, the failure unwinds to the nearest
/// `pool::fallible` boundary (every primitive's evaluation, every constructor), which returns
/// `Error::OutOfMemory`.
#[inline]
pub(crate) fn alloc<T: Element>(n: usize) -> AlignedVec<T> {
    T::pool().take(n)
}

/// Give a scratch buffer of the kernels (one never made into a tensor) back to the buffer pool
/// for reuse, where dropping it would hand it to the system allocator (see [`pool`]).
#[inline]
pub(crate) fn recycle<T: Element>(v: AlignedVec<T>) {
    T::pool().keep(v)
}

/// `n` copies of `value`, in a recycled buffer when possible (fails as [`alloc`] does).
#[inline]
pub(crate) fn alloc_filled<T: Element>(n: usize, value: T) -> AlignedVec<T> {
    let mut v = alloc(n);
    v.resize(n, value);
    v
}
