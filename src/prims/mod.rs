//! The primitive set. Each primitive is plain data (a struct of its parameters) and declares,
//! side by side in the file of its family, everything the interpreters need:
//!
//! - `name` and `kind`: what it is, for errors and for program rewrites;
//! - `eval`: the kernel call on concrete arrays;
//! - `jvp`: the output's tangent from the inputs' tangents; a primitive that declares itself
//!   `linear` gets it for free (the primitive applied to the tangents);
//! - `vjp`: the inputs' cotangents from the output's cotangent (for linear primitives this is
//!   the transpose);
//! - `batch`: the result on operands that carry a batch at dim 0.
//!
//! Every primitive derives `Clone, PartialEq, Eq, Hash` (f64 parameters are held as [`Bits`]),
//! which makes `Arc<dyn Primitive>` a map key.
//!
//! The rules are written with public ops (`NOTE: [rules-use-ops]`). Everything that is not here
//! is a decomposition in `ops` and needs no rules of its own.

pub(crate) mod binary;
pub(crate) mod cast;
pub(crate) mod compare;
pub(crate) mod custom;
pub(crate) mod index;
pub(crate) mod linalg;
pub(crate) mod matmul;
pub(crate) mod random;
pub(crate) mod reduce;
pub(crate) mod shape;
pub(crate) mod unary;
pub(crate) mod update;

use crate::array::Array;
use crate::core::Tensor;
use crate::error::{Error, Result};
use smallvec::SmallVec;

pub(crate) use crate::core::{Grads, PrimKind, Primitive};

/// Give every batched operand of a broadcasting op the output's logical rank, by inserting
/// size-1 dims right after the batch dim, so that physical broadcasting lines up the batch dims
/// and the logical dims (unbatched operands broadcast over the batch as they are).
pub(crate) fn align_for_broadcast(
    inputs: &[&Tensor],
    batched: &[bool],
) -> Result<SmallVec<[Tensor; 4]>> {
    let rank = inputs
        .iter()
        .zip(batched)
        .map(|(t, &b)| if b { t.ndim() - 1 } else { t.ndim() })
        .max()
        .unwrap_or(0);
    inputs
        .iter()
        .zip(batched)
        .map(|(t, &b)| {
            let logical = if b { t.ndim() - 1 } else { t.ndim() };
            if b && logical < rank {
                let mut shape: Vec<i64> = vec![t.shape()[0] as i64];
                shape.extend(std::iter::repeat_n(1, rank - logical));
                shape.extend(t.shape()[1..].iter().map(|&s| s as i64));
                t.reshape(&shape)
            } else {
                Ok((*t).clone())
            }
        })
        .collect()
}

/// An operand with the batch at dim 0: batched ones as they are, unbatched ones broadcast
/// (a view) along a new leading dim of `size`.
pub(crate) fn with_batch(t: &Tensor, batched: bool, size: usize) -> Result<Tensor> {
    if batched {
        return Ok(t.clone());
    }
    let mut shape = vec![size];
    shape.extend_from_slice(t.shape());
    t.unsqueeze(0)?.broadcast_to(&shape)
}

/// A logical dim of a batched operand, as a physical dim (one past the batch dim, which batch
/// rules keep at 0).
#[inline]
pub(crate) fn physical_dim(dim: usize) -> usize {
    dim + 1
}

/// An f64 parameter of a primitive, compared and hashed by its bits: `0.0` and `-0.0` differ
/// (they give different results, e.g. under division), and a NaN equals itself (the same
/// program twice is the same program). This is what lets primitives be `Eq + Hash`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bits(pub(crate) f64);

impl PartialEq for Bits {
    fn eq(&self, other: &Bits) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Bits {}

impl std::hash::Hash for Bits {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}

/// Check that a kernel's operands share one dtype (of any kind: the dtypes each kernel accepts
/// are its own check). The public op has checked already; this turns a rule that binds
/// mismatched operands into an error instead of a kernel's panic.
pub(crate) fn expect_same_dtype(op: &'static str, arrays: &[&Array]) -> Result<()> {
    let d = arrays[0].dtype();
    for a in &arrays[1..] {
        if a.dtype() != d {
            return Err(Error::DType {
                op,
                expected: d.name(),
                got: a.dtype(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::binary::{Binary, BinaryOp};
    use super::reduce::{Extreme, Sum};
    use super::shape::{BroadcastTo, Reshape, Slice};
    use super::unary::{Unary, UnaryOp};
    use super::{Bits, PrimKind, Primitive};
    use smallvec::smallvec;
    use std::collections::HashMap;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Arc;

    fn hash(p: &dyn Primitive, s: &RandomState) -> u64 {
        s.hash_one(p)
    }

    fn mul(c: f64) -> Arc<dyn Primitive> {
        Arc::new(Unary(UnaryOp::MulScalar(Bits(c))))
    }

    #[test]
    fn equal_parameters_are_equal_with_one_hash() {
        let s = RandomState::new();
        let pairs: [(Arc<dyn Primitive>, Arc<dyn Primitive>); 4] = [
            (mul(2.5), mul(2.5)),
            (
                Arc::new(Unary(UnaryOp::Clamp(Bits(-1.0), Bits(1.0)))),
                Arc::new(Unary(UnaryOp::Clamp(Bits(-1.0), Bits(1.0)))),
            ),
            (
                Arc::new(Sum {
                    dims: smallvec![0, 2],
                    keepdim: true,
                }),
                Arc::new(Sum {
                    dims: smallvec![0, 2],
                    keepdim: true,
                }),
            ),
            (
                Arc::new(Binary(BinaryOp::Atan2)),
                Arc::new(Binary(BinaryOp::Atan2)),
            ),
        ];
        for (a, b) in &pairs {
            assert!(**a == **b, "{a:?} != {b:?}");
            assert_eq!(hash(&**a, &s), hash(&**b, &s), "{a:?}");
        }
    }

    #[test]
    fn float_parameters_compare_by_bits() {
        let s = RandomState::new();
        // 0.0 and -0.0 are different programs (x * 0.0 and x * -0.0 differ in sign)
        assert!(*mul(0.0) != *mul(-0.0));
        // the same NaN is the same parameter; NaNs with other bits are not
        assert!(*mul(f64::NAN) == *mul(f64::NAN));
        assert_eq!(hash(&*mul(f64::NAN), &s), hash(&*mul(f64::NAN), &s));
        let other_nan = f64::from_bits(f64::NAN.to_bits() ^ 1);
        assert!(other_nan.is_nan());
        assert!(*mul(f64::NAN) != *mul(other_nan));
        assert!(*mul(1.0) != *mul(1.0 + f64::EPSILON));
    }

    #[test]
    fn different_primitives_or_parameters_differ() {
        let shape = smallvec![2, 3];
        let reshape: Arc<dyn Primitive> = Arc::new(Reshape {
            shape: smallvec![2, 3],
        });
        // same parameters, another primitive
        let broadcast: Arc<dyn Primitive> = Arc::new(BroadcastTo { shape });
        assert!(*reshape != *broadcast);
        let amax: Arc<dyn Primitive> = Arc::new(Extreme {
            dims: smallvec![0],
            keepdim: false,
            max: true,
        });
        let amin: Arc<dyn Primitive> = Arc::new(Extreme {
            dims: smallvec![0],
            keepdim: false,
            max: false,
        });
        assert!(*amax != *amin);
        let add: &dyn Primitive = &Binary(BinaryOp::Add);
        let sub: &dyn Primitive = &Binary(BinaryOp::Sub);
        assert!(add != sub);
    }

    #[test]
    fn primitives_key_a_hash_map() {
        let mut seen: HashMap<Arc<dyn Primitive>, usize> = HashMap::new();
        for (i, c) in [1.0, 2.0, 1.0, -0.0, 0.0, -0.0].into_iter().enumerate() {
            seen.entry(mul(c)).or_insert(i);
        }
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[&mul(1.0)], 0);
        assert_eq!(seen[&mul(-0.0)], 3);
        assert_eq!(seen[&mul(0.0)], 4);
        let slice: Arc<dyn Primitive> = Arc::new(Slice {
            dim: 1,
            start: 0,
            len: 2,
            step: 1,
        });
        assert!(!seen.contains_key(&slice));
    }

    #[test]
    fn kinds_and_linearity_are_declared() {
        let cases: [(Arc<dyn Primitive>, PrimKind, bool); 7] = [
            (mul(3.0), PrimKind::Elementwise, true),
            (
                Arc::new(Unary(UnaryOp::AddScalar(Bits(1.0)))),
                PrimKind::Elementwise,
                false,
            ),
            (Arc::new(Unary(UnaryOp::Exp)), PrimKind::Elementwise, false),
            (Arc::new(Binary(BinaryOp::Add)), PrimKind::Elementwise, true),
            (
                Arc::new(Binary(BinaryOp::Mul)),
                PrimKind::Elementwise,
                false,
            ),
            (
                Arc::new(Reshape {
                    shape: smallvec![6],
                }),
                PrimKind::View,
                true,
            ),
            (
                Arc::new(Extreme {
                    dims: smallvec![0],
                    keepdim: false,
                    max: true,
                }),
                PrimKind::Reduce,
                false,
            ),
        ];
        for (p, kind, linear) in cases {
            assert_eq!(p.kind(), kind, "{p:?}");
            assert_eq!(p.linear(), linear, "{p:?}");
        }
    }

    #[test]
    fn the_binary_table_says_which_ops_are_float_only() {
        use crate::array::DType;
        for op in [BinaryOp::Div, BinaryOp::Pow, BinaryOp::Atan2] {
            assert!(op.float_only(), "{}", op.name());
            assert!(!op.accepts(DType::I64));
        }
        for op in [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Maximum,
            BinaryOp::Minimum,
        ] {
            assert!(!op.float_only(), "{}", op.name());
            assert!(op.accepts(DType::I64) && op.accepts(DType::F32));
            assert!(!op.accepts(DType::Bool));
        }
        assert_eq!(BinaryOp::Maximum.name(), "maximum");
        assert_eq!(UnaryOp::Clamp(Bits(0.0), Bits(1.0)).name(), "clamp");
    }
}
