//! Shapes and strides: broadcasting, dim normalization, reshape arithmetic.

use crate::error::{Error, Result};
use smallvec::SmallVec;

/// A tensor's shape: sizes from outermost to innermost dimension.
pub type Shape = SmallVec<[usize; 4]>;
/// Strides in elements (negative for flipped views, zero for broadcast views).
pub type Strides = SmallVec<[isize; 4]>;

/// The most elements a tensor may have: 2⁶⁰ − 1, so that its bytes (at most 8 an element) and
/// every stride and offset into it fit in an `isize`, as Rust's allocations and pointer
/// arithmetic require. Every shape a tensor can have is checked against it when it is built.
pub const MAX_NUMEL: usize = (isize::MAX as usize) / 8;

/// The number of elements of a shape (1 for a 0-d scalar).
///
/// For the shape of an existing tensor this cannot overflow (every shape is checked against
/// [`MAX_NUMEL`] when the tensor is built); for a shape from elsewhere use [`checked_numel`].
///
/// It saturates instead of overflowing: a count that does not fit (a batched shape under `vmap`
/// can exceed what each example's shape was checked for) becomes `usize::MAX`, which no
/// allocation can satisfy, so it ends as an error rather than a wrapped count.
#[inline]
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |acc, &s| acc.saturating_mul(s))
}

/// The number of elements of `shape`, or an [`Error::Shape`] naming `op` if it exceeds
/// [`MAX_NUMEL`] (or overflows `usize`). The product of the nonzero sizes is held to the same
/// bound even when some size is zero, so that the strides of any shape fit in an `isize`.
#[inline]
pub fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    let (mut n, mut empty) = (1usize, false);
    for &d in shape {
        if d == 0 {
            empty = true;
        } else {
            match n.checked_mul(d) {
                Some(m) => n = m,
                None => return Err(too_large(op, shape)),
            }
        }
    }
    if n > MAX_NUMEL {
        return Err(too_large(op, shape));
    }
    Ok(if empty { 0 } else { n })
}

/// The error of [`checked_numel`] (out of line: the check runs on every new array).
#[cold]
#[inline(never)]
fn too_large(op: &'static str, shape: &[usize]) -> Error {
    Error::shape(
        op,
        format!("the size of shape {shape:?} is too large (more than {MAX_NUMEL} elements)"),
    )
}

/// Row-major strides of a contiguous array of this shape.
pub fn contiguous_strides(shape: &[usize]) -> Strides {
    let mut s: Strides = SmallVec::from_elem(0, shape.len());
    let mut acc = 1isize;
    for i in (0..shape.len()).rev() {
        s[i] = acc;
        acc *= shape[i].max(1) as isize;
    }
    s
}

/// Whether a (shape, strides) pair is row-major contiguous (size-1 dims may have any stride).
pub fn is_contiguous(shape: &[usize], strides: &[isize]) -> bool {
    let mut acc = 1isize;
    for i in (0..shape.len()).rev() {
        if shape[i] != 1 {
            if strides[i] != acc {
                return false;
            }
            acc *= shape[i] as isize;
        }
    }
    true
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = SmallVec::with_capacity(n);
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out.push(if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!("shapes {a:?} and {b:?} cannot be broadcast together (dimension {i} of the result: {da} vs {db})"),
            ));
        });
    }
    checked_numel(op, &out)?;
    Ok(out)
}

/// The shape of `a[..., m, k] @ b[..., k, n]` (both of rank ≥ 2, batch dims broadcast), checked
/// in full: ranks, inner sizes, batch broadcasting and the number of elements.
pub(crate) fn matmul_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let (ar, br) = (a.len(), b.len());
    if ar < 2 || br < 2 || a[ar - 1] != b[br - 2] {
        return Err(Error::shape(
            op,
            format!("shapes {a:?} and {b:?} cannot be multiplied"),
        ));
    }
    let mut out = broadcast_shapes(op, &a[..ar - 2], &b[..br - 2])?;
    out.extend([a[ar - 2], b[br - 1]]);
    let n = checked_numel(op, &out)?;
    if n.checked_mul(a[ar - 1]).is_none() {
        return Err(Error::shape(
            op,
            format!(
                "the product of shapes {a:?} and {b:?} is too large (more than 2^64 multiply-adds)"
            ),
        ));
    }
    Ok(out)
}

/// Whether `from` broadcasts to `to` (NumPy rules, `from` right-aligned).
pub fn broadcasts_to(from: &[usize], to: &[usize]) -> bool {
    from.len() <= to.len()
        && from
            .iter()
            .rev()
            .zip(to.iter().rev())
            .all(|(&f, &t)| f == t || f == 1)
}

/// Turn a possibly negative dim into an index in `0..ndim`.
#[inline]
pub fn normalize_dim(op: &'static str, dim: i64, ndim: usize) -> Result<usize> {
    let n = ndim as i64;
    let d = if dim < 0 { dim + n } else { dim };
    if d < 0 || d >= n {
        // PyTorch lets 0-d tensors be indexed by dims 0 and -1 in reductions; callers that want
        // that pass ndim.max(1) and handle the scalar case themselves.
        return Err(Error::Dim { op, dim, ndim });
    }
    Ok(d as usize)
}

/// The position of a new dim inserted into a tensor of rank `ndim` (`unsqueeze`, `stack`):
/// `-(ndim + 1)..=ndim`, negative counting from the end; the error states the tensor's rank.
pub(crate) fn normalize_new_dim(op: &'static str, dim: i64, ndim: usize) -> Result<usize> {
    normalize_dim(op, dim, ndim + 1).map_err(|_| {
        Error::invalid(
            op,
            format!(
                "dimension {dim} is out of range for inserting a dim into a tensor of rank {ndim} (valid: {}..={ndim})",
                -(ndim as i64) - 1
            ),
        )
    })
}

/// Normalize a list of dims, rejecting repeats.
pub fn normalize_dims(op: &'static str, dims: &[i64], ndim: usize) -> Result<SmallVec<[usize; 4]>> {
    let mut out: SmallVec<[usize; 4]> = SmallVec::with_capacity(dims.len());
    for &d in dims {
        let d = normalize_dim(op, d, ndim)?;
        if out.contains(&d) {
            return Err(Error::invalid(
                op,
                format!("dim {d} appears more than once in {dims:?}"),
            ));
        }
        out.push(d);
    }
    Ok(out)
}

/// Resolve a reshape target (one entry may be -1) against a number of elements.
pub fn infer_reshape(op: &'static str, from: &[usize], spec: &[i64]) -> Result<Shape> {
    let total = numel(from);
    let mut out: Shape = SmallVec::with_capacity(spec.len());
    let mut infer = None;
    let mut known = 1usize;
    for (i, &s) in spec.iter().enumerate() {
        if s == -1 {
            if infer.is_some() {
                return Err(Error::shape(
                    op,
                    format!("only one dimension can be -1, got {spec:?}"),
                ));
            }
            infer = Some(i);
            out.push(0);
        } else if s < 0 {
            return Err(Error::shape(
                op,
                format!("invalid size {s} in shape {spec:?}"),
            ));
        } else {
            known = known
                .checked_mul(s as usize)
                .ok_or_else(|| Error::shape(op, format!("shape {spec:?} has too many elements")))?;
            out.push(s as usize);
        }
    }
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(Error::shape(
                op,
                format!("shape {spec:?} is invalid for input of shape {from:?} ({total} elements)"),
            ));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(Error::shape(
            op,
            format!("shape {spec:?} is invalid for input of shape {from:?} ({total} elements)"),
        ));
    }
    checked_numel(op, &out)?;
    Ok(out)
}

/// Strides that view an array of (shape, strides) as `new_shape` without copying, if possible
/// (NumPy's `_attempt_nocopy_reshape`).
pub fn reshape_strides(shape: &[usize], strides: &[isize], new_shape: &[usize]) -> Option<Strides> {
    if numel(shape) == 0 {
        return Some(contiguous_strides(new_shape));
    }
    // Drop size-1 dims of the old layout: they constrain nothing.
    let (os, ost): (SmallVec<[usize; 6]>, SmallVec<[isize; 6]>) = shape
        .iter()
        .zip(strides)
        .filter(|(s, _)| **s != 1)
        .map(|(a, b)| (*a, *b))
        .unzip();
    let mut nst: Strides = SmallVec::from_elem(0, new_shape.len());
    let (mut oi, mut ni) = (0usize, 0usize);
    let (on, nn) = (os.len(), new_shape.len());
    while ni < nn && oi < on {
        if new_shape[ni] == 1 {
            nst[ni] = 0;
            ni += 1;
            continue;
        }
        let (oj0, nj0) = (oi, ni);
        let mut np = new_shape[ni];
        let mut op = os[oi];
        while np != op {
            if np < op {
                ni += 1;
                if ni >= nn {
                    return None;
                }
                np *= new_shape[ni];
            } else {
                oi += 1;
                if oi >= on {
                    return None;
                }
                op *= os[oi];
            }
        }
        // The old dims oj0..=oi must be mutually contiguous.
        for k in oj0..oi {
            if ost[k] != ost[k + 1] * os[k + 1] as isize {
                return None;
            }
        }
        nst[ni] = ost[oi];
        for k in (nj0..ni).rev() {
            nst[k] = nst[k + 1] * new_shape[k + 1] as isize;
        }
        ni += 1;
        oi += 1;
    }
    while ni < nn {
        if new_shape[ni] != 1 {
            return None;
        }
        nst[ni] = 0;
        ni += 1;
    }
    if oi != on {
        return None;
    }
    Some(nst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_views() {
        // contiguous 2x3 -> 3x2, 6, 1x6x1
        let s = contiguous_strides(&[2, 3]);
        assert_eq!(
            reshape_strides(&[2, 3], &s, &[3, 2]).unwrap().as_slice(),
            &[2, 1]
        );
        assert_eq!(reshape_strides(&[2, 3], &s, &[6]).unwrap().as_slice(), &[1]);
        // transposed 3x2 view of a 2x3 array cannot be flattened without a copy
        assert!(reshape_strides(&[3, 2], &[1, 3], &[6]).is_none());
        // but its dims can be split
        assert_eq!(
            reshape_strides(&[3, 2], &[1, 3], &[3, 1, 2])
                .unwrap()
                .as_slice(),
            &[1, 0, 3]
        );
        // broadcast dims stay broadcast when split
        assert_eq!(
            reshape_strides(&[4, 3], &[0, 1], &[2, 2, 3])
                .unwrap()
                .as_slice(),
            &[0, 0, 1]
        );
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_shapes("t", &[3, 1], &[4]).unwrap().as_slice(),
            &[3, 4]
        );
        assert!(broadcast_shapes("t", &[3], &[4]).is_err());
        assert_eq!(
            infer_reshape("t", &[2, 6], &[3, -1]).unwrap().as_slice(),
            &[3, 4]
        );
        assert!(infer_reshape("t", &[2, 6], &[5, -1]).is_err());
    }
}
