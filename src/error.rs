//! The crate's one error type.
//!
//! Every fallible call returns [`Result<T>`](crate::Result). Variants are grouped by kind and
//! carry what a user needs to find the mistake: the op or transform call that refused, and the
//! offending shapes, dims, indices or dtypes. See the README's "Errors" section for the policy.

use crate::dtype::DType;
use thiserror::Error;

/// The result type of every fallible call in the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, grouped by kind.
#[derive(Debug, Clone, Error, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Operand shapes that do not fit the op (broadcasting, matmul, cat, reshape, ...).
    #[error("{op}: {msg}")]
    Shape {
        /// The op that refused, e.g. `add` or `matmul`.
        op: &'static str,
        /// What was wrong, naming the shapes.
        msg: String,
    },
    /// A dimension index outside the tensor's rank.
    #[error("{op}: dimension {dim} is out of range for a tensor of rank {ndim} (valid: {lo}..={hi})", lo = -(*ndim as i64).max(1), hi = (*ndim as i64).max(1) - 1)]
    Dim {
        /// The op that refused.
        op: &'static str,
        /// The dimension given.
        dim: i64,
        /// The rank of the tensor.
        ndim: usize,
    },
    /// An element index outside its dimension.
    #[error("{op}: index {index} is out of range for dimension {dim} of size {size}")]
    Index {
        /// The op that refused.
        op: &'static str,
        /// The index given.
        index: i64,
        /// The dimension indexed.
        dim: usize,
        /// The size of that dimension.
        size: usize,
    },
    /// An operand of the wrong dtype.
    #[error("{op}: expected {expected}, got {got}")]
    DType {
        /// The op that refused.
        op: &'static str,
        /// What the op accepts, in words.
        expected: &'static str,
        /// The dtype it was given.
        got: DType,
    },
    /// A matrix that a factorization found singular (or not positive definite, for cholesky).
    #[error("{op}: the matrix of shape {shape:?} is {what}")]
    Singular {
        /// The op that refused.
        op: &'static str,
        /// The shape of the (batched) operand.
        shape: Vec<usize>,
        /// "singular" or "not positive definite".
        what: &'static str,
    },
    /// A transform called with arguments it cannot accept (bad argnums, in_dims, chunk_size,
    /// mismatched batch sizes, a non-scalar output for grad, ...). `call` spells the call as a
    /// user wrote it, e.g. `vmap(f, in_dims=(0, None))`.
    #[error("{call}: {msg}")]
    Transform {
        /// The transform call, as written.
        call: String,
        /// What was wrong.
        msg: String,
    },
    /// A value whose structure (tuple arity, struct, map keys) does not match what was expected.
    #[error("structure mismatch: {0}")]
    Structure(String),
    /// A tensor created inside a transform that has already returned was used afterwards.
    #[error(
        "{op}: this tensor is a tracer of a {kind} transform that has already returned \
         (it escaped its function, e.g. through a captured variable); return it as an output instead"
    )]
    EscapedTracer {
        /// The op that met the tracer.
        op: &'static str,
        /// The kind of the transform it belonged to.
        kind: &'static str,
    },
    /// A random op inside `vmap(..., randomness="error")`.
    #[error(
        "{op}: called a random operation inside vmap with randomness=\"error\"; pass \
         randomness \"same\" or \"different\" to vmap, or draw the randomness outside of vmap"
    )]
    Randomness {
        /// The random op.
        op: &'static str,
    },
    /// A value needed as a plain number (e.g. `to_scalar`) is a tracer inside a transform.
    #[error(
        "{op}: needs a concrete value, but this tensor is being traced by {kind}; data-dependent control flow cannot be transformed"
    )]
    Traced {
        /// The op that needed the value.
        op: &'static str,
        /// The transform tracing it.
        kind: &'static str,
    },
    /// An allocation the system refused (or one too large for an allocation to be): the
    /// tensor the op needed does not fit in memory. Nothing else is affected; the library stays
    /// usable. See the README's "Errors" section for when this can still abort instead.
    #[error(
        "{op}: out of memory: could not allocate {bytes} bytes ({gib:.1} GiB)",
        gib = *bytes as f64 / (1u64 << 30) as f64
    )]
    OutOfMemory {
        /// The op (or constructor) that needed the memory.
        op: &'static str,
        /// The bytes it asked for.
        bytes: usize,
    },
    /// Anything else a user passed that makes no sense for the op (e.g. a negative size).
    #[error("{op}: {msg}")]
    Invalid {
        /// The op that refused.
        op: &'static str,
        /// What was wrong.
        msg: String,
    },
}

impl Error {
    pub(crate) fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }
    pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid {
            op,
            msg: msg.into(),
        }
    }
    pub(crate) fn transform(call: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Transform {
            call: call.into(),
            msg: msg.into(),
        }
    }
}
