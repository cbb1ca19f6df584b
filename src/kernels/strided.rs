//! The strided iteration engine every elementwise kernel runs on.
//!
//! A [`Plan`] merges the dims of K operands that are jointly contiguous and drops size-1 dims;
//! [`Plan::run`] then walks any flat range of positions with a tight inner loop over the last dim.
//! Large outputs are split into ranges and filled on all cores (rayon).

#[cfg(target_arch = "x86_64")]
use super::simd;
use crate::array::{Array, Element, View, alloc, numel};
use rayon::prelude::*;
use smallvec::SmallVec;
use std::mem::MaybeUninit;

/// Outputs with at least this many elements are filled in parallel.
pub const PAR_MIN: usize = 1 << 15;

type Dims = SmallVec<[usize; 6]>;
type Strd = SmallVec<[isize; 6]>;

/// A walk over `shape` reading K operands through their strides.
pub struct Plan<const K: usize> {
    shape: Dims,
    strides: [Strd; K],
}

impl<const K: usize> Plan<K> {
    /// Merge jointly contiguous dims and drop size-1 dims.
    pub fn new(shape: &[usize], strides: [&[isize]; K]) -> Self {
        let mut sh: Dims = SmallVec::new();
        let mut st: [Strd; K] = std::array::from_fn(|_| SmallVec::new());
        for d in 0..shape.len() {
            if shape[d] == 1 {
                continue;
            }
            if let Some(&prev) = sh.last() {
                let last = sh.len() - 1;
                // merge (prev, shape[d]) if for all operands stride[prev] == stride[d] * shape[d]
                if (0..K).all(|k| st[k][last] == strides[k][d] * shape[d] as isize) {
                    sh[last] = prev * shape[d];
                    for k in 0..K {
                        st[k][last] = strides[k][d];
                    }
                    continue;
                }
            }
            sh.push(shape[d]);
            for k in 0..K {
                st[k].push(strides[k][d]);
            }
        }
        Plan {
            shape: sh,
            strides: st,
        }
    }

    /// The strides of the innermost (merged) dim, one per operand (0 for a 0-d walk).
    pub fn inner(&self) -> [isize; K] {
        std::array::from_fn(|k| self.strides[k].last().copied().unwrap_or(0))
    }

    /// Call `f` with the K element offsets of positions `start..start+count` (row-major order).
    #[inline]
    pub fn run(
        &self,
        offsets: [usize; K],
        start: usize,
        count: usize,
        mut f: impl FnMut([usize; K]),
    ) {
        let inner = self.inner();
        self.rows(offsets, start, count, |o, len| {
            for t in 0..len {
                f(std::array::from_fn(|k| {
                    (o[k] as isize + t as isize * inner[k]) as usize
                }));
            }
        });
    }

    /// Walk positions `start..start+count` row by row: `f(offsets, len)` for each run of `len`
    /// positions along the innermost dim (strides [`inner`](Plan::inner)) starting at `offsets`.
    #[inline]
    pub fn rows(
        &self,
        offsets: [usize; K],
        start: usize,
        count: usize,
        mut f: impl FnMut([usize; K], usize),
    ) {
        if count == 0 {
            return;
        }
        let nd = self.shape.len();
        if nd == 0 {
            f(offsets, 1);
            return;
        }
        let last = nd - 1;
        let mut idx: Dims = SmallVec::from_elem(0, nd);
        let mut rem = start;
        for d in (0..nd).rev() {
            idx[d] = rem % self.shape[d];
            rem /= self.shape[d];
        }
        let mut row: [isize; K] = std::array::from_fn(|k| {
            offsets[k] as isize
                + (0..last)
                    .map(|d| idx[d] as isize * self.strides[k][d])
                    .sum::<isize>()
        });
        let inner = self.inner();
        let n_last = self.shape[last];
        let mut j = idx[last];
        let mut remaining = count;
        loop {
            let m = (n_last - j).min(remaining);
            f(
                std::array::from_fn(|k| (row[k] + j as isize * inner[k]) as usize),
                m,
            );
            remaining -= m;
            if remaining == 0 {
                return;
            }
            j = 0;
            let mut d = last;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                for (r, s) in row.iter_mut().zip(&self.strides) {
                    *r += s[d];
                }
                if idx[d] < self.shape[d] {
                    break;
                }
                for (r, s) in row.iter_mut().zip(&self.strides) {
                    *r -= s[d] * self.shape[d] as isize;
                }
                idx[d] = 0;
            }
        }
    }
}

/// A vector of `n` elements written by `write(chunk_start, chunk)` over disjoint chunks that
/// cover it, in parallel when `n` is large. The vector comes from the buffer pool and is never
/// zero-filled: every element is written exactly once.
pub(crate) fn build<U: Element>(
    n: usize,
    write: impl Fn(usize, &mut [MaybeUninit<U>]) + Sync + Send,
) -> Vec<U> {
    let mut out: Vec<U> = alloc(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    if n >= PAR_MIN && rayon::current_num_threads() > 1 {
        let chunk = n.div_ceil(rayon::current_num_threads() * 4).max(4096);
        spare
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(c, dst)| write(c * chunk, dst));
    } else {
        write(0, spare);
    }
    // SAFETY: `write` initialized every element of the chunks, which cover 0..n.
    unsafe { out.set_len(n) };
    out
}

#[inline(always)]
fn map_chunk<T: Copy, U>(x: &[T], out: &mut [MaybeUninit<U>], f: &impl Fn(T) -> U) {
    for (o, &i) in out.iter_mut().zip(x) {
        o.write(f(i));
    }
}

#[inline(always)]
fn zip_chunk<A: Copy, B: Copy, U>(
    a: &[A],
    b: &[B],
    out: &mut [MaybeUninit<U>],
    f: &impl Fn(A, B) -> U,
) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        o.write(f(x, y));
    }
}

// The same loops compiled for AVX2 + FMA: the baseline x86-64 target has only SSE2, so without
// these the branch-free math kernels (kernels::math) and every contiguous elementwise loop would
// run two f64 lanes wide at best.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_chunk_avx2<T: Copy, U>(x: &[T], out: &mut [MaybeUninit<U>], f: &impl Fn(T) -> U) {
    map_chunk(x, out, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn zip_chunk_avx2<A: Copy, B: Copy, U>(
    a: &[A],
    b: &[B],
    out: &mut [MaybeUninit<U>],
    f: &impl Fn(A, B) -> U,
) {
    zip_chunk(a, b, out, f)
}

/// `out[t] = f(x[t])`, in the AVX2 + FMA copy of the loop when the CPU has it.
#[inline(always)]
fn map_run<T: Copy, U>(x: &[T], out: &mut [MaybeUninit<U>], f: &impl Fn(T) -> U) {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the features were detected
        return unsafe { map_chunk_avx2(x, out, f) };
    }
    map_chunk(x, out, f)
}

/// `out[t] = f(a[t], b[t])`, in the AVX2 + FMA copy of the loop when the CPU has it.
#[inline(always)]
fn zip_run<A: Copy, B: Copy, U>(
    a: &[A],
    b: &[B],
    out: &mut [MaybeUninit<U>],
    f: &impl Fn(A, B) -> U,
) {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the features were detected
        return unsafe { zip_chunk_avx2(a, b, out, f) };
    }
    zip_chunk(a, b, out, f)
}

/// Map a contiguous slice to a fresh vector, in parallel when large, vectorized for the CPU.
#[inline]
pub fn map_slice<T: Copy + Sync, U: Element>(x: &[T], f: impl Fn(T) -> U + Sync + Send) -> Vec<U> {
    build(x.len(), |start, dst| {
        map_run(&x[start..start + dst.len()], dst, &f)
    })
}

/// Zip two contiguous slices of equal length into a fresh vector, in parallel when large.
#[inline]
pub fn zip_slices<A: Copy + Sync, B: Copy + Sync, U: Element>(
    a: &[A],
    b: &[B],
    f: impl Fn(A, B) -> U + Sync + Send,
) -> Vec<U> {
    build(a.len(), |start, dst| {
        let r = start..start + dst.len();
        zip_run(&a[r.clone()], &b[r], dst, &f)
    })
}

/// Fill a fresh contiguous vector row by row: `row(dst, offsets, inner_strides)` writes the
/// `dst.len()` positions of one run along the innermost dim. Row kernels test the inner strides
/// and use plain slice loops (which vectorize) for contiguous and broadcast rows.
fn fill_rows<U: Element, const K: usize>(
    shape: &[usize],
    strides: [&[isize]; K],
    offsets: [usize; K],
    row: impl Fn(&mut [MaybeUninit<U>], [usize; K], [isize; K]) + Sync + Send,
) -> Vec<U> {
    let plan = Plan::new(shape, strides);
    let inner = plan.inner();
    build(numel(shape), |start, dst| {
        let mut at = 0;
        plan.rows(offsets, start, dst.len(), |o, len| {
            row(&mut dst[at..at + len], o, inner);
            at += len;
        });
    })
}

#[inline(always)]
fn at(base: usize, t: usize, stride: isize) -> usize {
    (base as isize + t as isize * stride) as usize
}

/// Elementwise map of one operand to a fresh contiguous vector.
pub fn map1<T: Element, U: Element>(x: View<'_, T>, f: impl Fn(T) -> U + Sync + Send) -> Vec<U> {
    if let Some(s) = x.contiguous() {
        return map_slice(s, f);
    }
    let d = x.data;
    fill_rows(x.shape, [x.strides], [x.offset], |dst, [i], [si]| {
        if si == 1 {
            map_run(&d[i..i + dst.len()], dst, &f);
        } else {
            for (t, o) in dst.iter_mut().enumerate() {
                o.write(f(d[at(i, t, si)]));
            }
        }
    })
}

/// Elementwise map of two operands already broadcast to the same shape.
pub fn map2<A: Element, B: Element, U: Element>(
    a: View<'_, A>,
    b: View<'_, B>,
    f: impl Fn(A, B) -> U + Sync + Send,
) -> Vec<U> {
    debug_assert_eq!(a.shape, b.shape);
    if let (Some(sa), Some(sb)) = (a.contiguous(), b.contiguous()) {
        return zip_slices(sa, sb, f);
    }
    // one side a broadcast scalar
    if let (Some(sa), true) = (a.contiguous(), b.strides.iter().all(|&s| s == 0)) {
        let vb = b.data[b.offset];
        return map_slice(sa, |x| f(x, vb));
    }
    if let (true, Some(sb)) = (a.strides.iter().all(|&s| s == 0), b.contiguous()) {
        let va = a.data[a.offset];
        return map_slice(sb, |y| f(va, y));
    }
    let (da, db) = (a.data, b.data);
    fill_rows(
        a.shape,
        [a.strides, b.strides],
        [a.offset, b.offset],
        |dst, [i, j], [si, sj]| match (si, sj) {
            (1, 1) => zip_run(&da[i..i + dst.len()], &db[j..j + dst.len()], dst, &f),
            (1, 0) => {
                let y = db[j];
                map_run(&da[i..i + dst.len()], dst, &|x| f(x, y));
            }
            (0, 1) => {
                let x = da[i];
                map_run(&db[j..j + dst.len()], dst, &|y| f(x, y));
            }
            _ => {
                for (t, o) in dst.iter_mut().enumerate() {
                    o.write(f(da[at(i, t, si)], db[at(j, t, sj)]));
                }
            }
        },
    )
}

/// Elementwise map of three operands already broadcast to the same shape.
pub fn map3<A: Element, B: Element, C: Element, U: Element>(
    a: View<'_, A>,
    b: View<'_, B>,
    c: View<'_, C>,
    f: impl Fn(A, B, C) -> U + Sync + Send,
) -> Vec<U> {
    let (da, db, dc) = (a.data, b.data, c.data);
    fill_rows(
        a.shape,
        [a.strides, b.strides, c.strides],
        [a.offset, b.offset, c.offset],
        |dst, [i, j, k], [si, sj, sk]| {
            if (si, sj, sk) == (1, 1, 1) {
                for (((o, &x), &y), &z) in dst.iter_mut().zip(&da[i..]).zip(&db[j..]).zip(&dc[k..])
                {
                    o.write(f(x, y, z));
                }
            } else {
                for (t, o) in dst.iter_mut().enumerate() {
                    o.write(f(da[at(i, t, si)], db[at(j, t, sj)], dc[at(k, t, sk)]));
                }
            }
        },
    )
}

/// The elements of a view in row-major order.
pub fn collect<T: Element>(x: View<'_, T>) -> Vec<T> {
    if let Some(s) = x.contiguous() {
        return map_slice(s, |v| v);
    }
    map1(x, |v| v)
}

// The array layer describes layouts and never loops over elements; the two copies it offers
// are written here, with the kernels they use.
impl Array {
    /// The elements in row-major order.
    pub fn to_vec<T: Element>(&self) -> Option<Vec<T>> {
        Some(collect(self.view::<T>()?))
    }
    /// This array, or a contiguous copy of it.
    pub fn contiguous(&self) -> Array {
        if self.is_contiguous() && self.offset == 0 && self.buf.data.len() == self.numel() {
            return self.clone();
        }
        copy_contiguous(self)
    }
}

/// A contiguous copy of any array.
fn copy_contiguous(a: &Array) -> Array {
    use crate::array::Buffer as B;
    let buf = match &a.buf.data {
        B::F32(_) => B::F32(collect(a.v::<f32>())),
        B::F64(_) => B::F64(collect(a.v::<f64>())),
        B::I64(_) => B::I64(collect(a.v::<i64>())),
        B::Bool(_) => B::Bool(collect(a.v::<bool>())),
    };
    Array::from_buffer(buf, &a.shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_walks_any_range() {
        // a 3x4 transposed view of a 4x3 buffer
        let data: Vec<f64> = (0..12).map(|v| v as f64).collect();
        let v = View {
            data: &data,
            shape: &[3, 4],
            strides: &[1, 3],
            offset: 0,
        };
        let all = collect(v);
        assert_eq!(all, vec![0., 3., 6., 9., 1., 4., 7., 10., 2., 5., 8., 11.]);
        let plan = Plan::new(&[3, 4], [&[1, 3]]);
        let mut part = vec![];
        plan.run([0], 5, 5, |[o]| part.push(data[o]));
        assert_eq!(part, vec![4., 7., 10., 2., 5.]);
    }
}
