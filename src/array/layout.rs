//! The concrete strided array: a shared buffer seen through a shape, strides and an offset.
//!
//! Views (permute, broadcast, slice, flip, reshape where the layout allows) share the buffer and
//! cost O(rank); everything else writes a fresh contiguous buffer.

use super::shape::{
    Shape, Strides, checked_numel, contiguous_strides, is_contiguous, numel, reshape_strides,
};
use super::storage::{Buffer, Storage};
use super::{AlignedVec, Element};
use crate::dtype::DType;
use smallvec::SmallVec;
use std::sync::Arc;

/// A concrete n-dimensional array. Cheap to clone (the buffer is shared).
#[derive(Clone, Debug)]
pub struct Array {
    pub(crate) buf: Arc<Storage>,
    pub(crate) shape: Shape,
    pub(crate) strides: Strides,
    pub(crate) offset: usize,
}

/// A typed borrowed view of an array's elements, for kernels.
#[derive(Clone, Copy)]
pub struct View<'a, T> {
    /// The whole buffer.
    pub data: &'a [T],
    /// Sizes.
    pub shape: &'a [usize],
    /// Strides in elements.
    pub strides: &'a [isize],
    /// Position of element `[0, 0, ...]` in `data`.
    pub offset: usize,
}

impl<'a, T: Copy> View<'a, T> {
    /// The elements as one contiguous slice, if the view is row-major contiguous.
    #[inline]
    pub fn contiguous(&self) -> Option<&'a [T]> {
        let n = numel(self.shape);
        if n == 0 {
            // a view of nothing may have an offset past the end of its buffer
            Some(&[])
        } else if is_contiguous(self.shape, self.strides) {
            Some(&self.data[self.offset..self.offset + n])
        } else {
            None
        }
    }
    /// The number of elements.
    #[inline]
    pub fn numel(&self) -> usize {
        numel(self.shape)
    }
}

/// The number of elements of `shape`, or `usize::MAX` if it is larger than `MAX_NUMEL`.
fn numel_checked(shape: &[usize]) -> usize {
    checked_numel("array", shape).unwrap_or(usize::MAX)
}

/// Panic unless `len` elements exactly fill `shape` and `shape` is within `MAX_NUMEL`. Public
/// ops refuse such shapes with an error first; this guards the kernels' unchecked loops against
/// a bug in that checking.
#[inline]
#[track_caller]
fn check_len(len: usize, shape: &[usize]) {
    let n = numel_checked(shape);
    if n == usize::MAX {
        // reachable from user input: under vmap, a batched shape can exceed the limit that each
        // example's shape was checked against; the op's boundary turns this into an error
        super::pool::refuse_shape(shape);
    }
    assert!(
        n == len,
        "internal error: {len} elements for an array of shape {shape:?}"
    );
}

impl Array {
    /// A contiguous array owning `data` (a `Vec` is adopted without a copy, `NOTE: [aligned]`).
    ///
    /// # Panics
    /// If `data` does not have exactly the elements of `shape` (an internal invariant: public
    /// ops check their shapes first; the check is kept in release builds because the kernels'
    /// unchecked loops rely on it).
    pub(crate) fn from_vec<T: Element>(data: impl Into<AlignedVec<T>>, shape: &[usize]) -> Array {
        let data = data.into();
        check_len(data.len(), shape);
        Array {
            buf: Arc::new(Storage::new(T::into_buffer(data))),
            shape: SmallVec::from_slice(shape),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }
    /// A contiguous array owning `buf`.
    pub(crate) fn from_buffer(buf: Buffer, shape: &[usize]) -> Array {
        check_len(buf.len(), shape);
        Array {
            buf: Arc::new(Storage::new(buf)),
            shape: SmallVec::from_slice(shape),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }
    /// Whether every element of the underlying buffer is finite (computed once per buffer).
    pub fn all_finite(&self) -> bool {
        self.buf.all_finite()
    }
    /// The dtype.
    #[inline]
    pub fn dtype(&self) -> DType {
        self.buf.data.dtype()
    }
    /// The shape.
    #[inline]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The strides, in elements.
    #[inline]
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }
    /// The number of elements.
    #[inline]
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
    /// Whether the elements are laid out row-major without gaps.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        is_contiguous(&self.shape, &self.strides)
    }
    /// A typed view, or `None` if `T` is not this array's element type.
    #[inline]
    pub fn view<T: Element>(&self) -> Option<View<'_, T>> {
        Some(View {
            data: T::slice(&self.buf.data)?,
            shape: &self.shape,
            strides: &self.strides,
            offset: self.offset,
        })
    }
    /// A typed view; the caller has checked the dtype.
    #[inline]
    pub(crate) fn v<T: Element>(&self) -> View<'_, T> {
        self.view::<T>()
            .expect("kernel called with an array of another dtype")
    }
    /// Reorder the dims (a view).
    pub(crate) fn permute(&self, perm: &[usize]) -> Array {
        Array {
            buf: self.buf.clone(),
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }
    /// Broadcast to `shape` (a view with zero strides); the caller has checked compatibility.
    pub(crate) fn broadcast_to(&self, shape: &[usize]) -> Array {
        check_len(numel_checked(shape), shape);
        let k = shape.len() - self.shape.len();
        let mut strides: Strides = SmallVec::from_elem(0, shape.len());
        for i in 0..self.shape.len() {
            strides[k + i] = if self.shape[i] == 1 && shape[k + i] != 1 {
                0
            } else {
                self.strides[i]
            };
        }
        Array {
            buf: self.buf.clone(),
            shape: SmallVec::from_slice(shape),
            strides,
            offset: self.offset,
        }
    }
    /// `x[start:start+len*step:step]` along `dim` (a view); the caller has checked bounds.
    pub(crate) fn slice(&self, dim: usize, start: usize, len: usize, step: usize) -> Array {
        let mut a = self.clone();
        a.offset = (a.offset as isize + start as isize * a.strides[dim]) as usize;
        a.shape[dim] = len;
        // with fewer than two elements along `dim` the step is never taken (and may be huge)
        if len > 1 {
            a.strides[dim] *= step as isize;
        }
        a
    }
    /// Reverse the listed dims (a view with negative strides).
    pub(crate) fn flip(&self, dims: &[usize]) -> Array {
        let mut a = self.clone();
        for &d in dims {
            if a.shape[d] > 0 {
                a.offset = (a.offset as isize + (a.shape[d] as isize - 1) * a.strides[d]) as usize;
            }
            a.strides[d] = -a.strides[d];
        }
        a
    }
    /// View with a new shape of the same number of elements, copying only if the layout demands.
    pub(crate) fn reshape(&self, shape: &[usize]) -> Array {
        check_len(self.numel(), shape);
        match reshape_strides(&self.shape, &self.strides, shape) {
            Some(strides) => Array {
                buf: self.buf.clone(),
                shape: SmallVec::from_slice(shape),
                strides,
                offset: self.offset,
            },
            None => self.contiguous().reshape(shape),
        }
    }
}
