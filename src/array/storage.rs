//! The flat buffer behind concrete arrays.

use super::aligned::AlignedVec;

/// A flat, typed buffer. Arrays view it through a shape, strides and an offset; several arrays
/// may share one buffer (views), which is never mutated once shared. Large buffers start on a
/// cache line ([`AlignedVec`], `NOTE: [aligned]`).
#[derive(Debug, Clone)]
pub enum Buffer {
    /// `f32` elements.
    F32(AlignedVec<f32>),
    /// `f64` elements.
    F64(AlignedVec<f64>),
    /// `i64` elements.
    I64(AlignedVec<i64>),
    /// `bool` elements.
    Bool(AlignedVec<bool>),
}

/// A buffer shared by arrays (views included), with facts about its contents computed at most
/// once (it is never mutated once shared).
#[derive(Debug)]
pub(crate) struct Storage {
    pub(crate) data: Buffer,
    finite: std::sync::OnceLock<bool>,
}

impl Storage {
    pub(crate) fn new(data: Buffer) -> Storage {
        Storage {
            data,
            finite: std::sync::OnceLock::new(),
        }
    }
    /// Whether every element is finite (no NaN or infinity); computed once.
    pub(crate) fn all_finite(&self) -> bool {
        use rayon::prelude::*;
        const PIECE: usize = 1 << 16;
        fn finite<T: Copy + Sync>(v: &[T], ok: fn(T) -> bool) -> bool {
            // NOTE: [one-thread-inline] in pieces on the pool only where there are several
            // pieces and threads
            if v.len() > PIECE && rayon::current_num_threads() > 1 {
                v.par_chunks(PIECE).all(|c| c.iter().all(|&x| ok(x)))
            } else {
                v.iter().all(|&x| ok(x))
            }
        }
        *self.finite.get_or_init(|| match &self.data {
            Buffer::F32(v) => finite(v, f32::is_finite),
            Buffer::F64(v) => finite(v, f64::is_finite),
            Buffer::I64(_) | Buffer::Bool(_) => true,
        })
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        use super::Element;
        match self {
            Buffer::F32(v) => f32::pool().give(std::mem::take(v)),
            Buffer::F64(v) => f64::pool().give(std::mem::take(v)),
            Buffer::I64(v) => i64::pool().give(std::mem::take(v)),
            Buffer::Bool(v) => bool::pool().give(std::mem::take(v)),
        }
    }
}

impl Buffer {
    /// The dtype of the elements.
    pub fn dtype(&self) -> super::DType {
        use super::DType::*;
        match self {
            Buffer::F32(_) => F32,
            Buffer::F64(_) => F64,
            Buffer::I64(_) => I64,
            Buffer::Bool(_) => Bool,
        }
    }
    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Buffer::F32(v) => v.len(),
            Buffer::F64(v) => v.len(),
            Buffer::I64(v) => v.len(),
            Buffer::Bool(v) => v.len(),
        }
    }
}
