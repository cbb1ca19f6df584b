//! The flat buffer behind concrete arrays.

/// A flat, typed buffer. Arrays view it through a shape, strides and an offset; several arrays
/// may share one buffer (views), which is never mutated once shared.
#[derive(Debug, Clone)]
pub enum Buffer {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `bool` elements.
    Bool(Vec<bool>),
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
