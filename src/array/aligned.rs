//! [`AlignedVec`]: the growable buffer behind every tensor, whose large allocations start on a
//! cache line.

use std::alloc::Layout;
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The alignment of the allocations of [`ALIGNED_MIN_BYTES`] or more (below
/// [`ALIGNED_MAX_BYTES`] on AMD Zen 4, `NOTE: [aligned]`).
pub(crate) const ALIGN: usize = 64;
/// Allocations of at least this many bytes start on a cache line ([`ALIGN`]; on AMD Zen 4 only
/// those smaller than [`ALIGNED_MAX_BYTES`]); the others have their element type's alignment,
/// as a `Vec`'s do (`NOTE: [aligned]`).
pub(crate) const ALIGNED_MIN_BYTES: usize = 4096;
/// On AMD Zen 4, allocations of this many bytes or more, read from memory and not from the
/// caches, keep their element type's alignment (`NOTE: [aligned]`): the size from which the
/// reductions read an input as larger than the caches (`Streams::DEFAULT` in
/// `kernels::reduce`).
pub(crate) const ALIGNED_MAX_BYTES: usize = 16 << 20;

// NOTE: [aligned]
// A `Vec<T>` has `T`'s alignment, and the system allocator starts a large block 16 bytes past
// a page, so a vector load of 64 bytes (AVX-512, or an unrolled pair of AVX2 loads) straddles
// two cache lines three times in four and costs two L1 accesses. In the caches that shows: the
// sum of 10⁶ f64 (8 MB, in the L3) took 86–94 µs from a 64-byte-aligned start against
// 101–113 µs from the allocator's (one thread, AMD EPYC Zen 4, AVX-512, 2026-12-03), and
// `x + x` of 10⁵ f64 17–21 against 18–23 µs. From memory it is the other way round: the sum
// of 10⁷ f64 (80 MB) from a cache line (or 32 bytes past one) took 3.02–3.22 ms against
// 2.82–3.07 from 16 or 48 bytes past one (one thread; two: 1.93–2.07 against 1.86–1.92 ms;
// medians of 15 rounds, the four starts alternated in one process), and a bare loop over
// four quarters side by side 2.84–2.93 against 2.48–2.65 ms. On AMD Zen 5 it is the other way
// again: a bare loop of four 512-bit accumulators over 80 MB of f64 read 1.34–1.49 ms from a
// cache line against 1.72–1.88 ms from 16, 32 or 48 bytes past one (one thread, medians of 40
// calls, the starts alternated in one process; the same loop in 256-bit loads 1.58–1.75 ms
// from any of them), and the kernels on 10⁷ f64 or 2·10⁷ f32 (a scratch program, medians of 25
// calls, one build with the two rules alternated four times, one thread): the sum of f64
// 1.71–1.87 → 1.48–1.60 ms, of f32 1.73–1.80 → 1.64–1.69, column sums of 156250 × 64 f64
// 2.89–3.02 → 2.71–2.84, while the maximum of f64 read 1.98–2.02 → 2.03–2.12 and row sums of
// 2000 × 10⁴ f32 1.79–1.85 → 1.81–1.91 (on two threads, the last three rounds: sums of f64
// 1.22–1.40 → 1.14–1.23 ms, of f32 1.27–1.39 → 1.17–1.26, those row sums 1.47–2.47 →
// 1.40–1.42). So tensor buffers of `ALIGNED_MIN_BYTES` or more start on a cache line, but on
// Zen 4 (`crate::cpu::zen4`), the one core measured faster the other way, where those of
// `ALIGNED_MAX_BYTES` or more are left where the allocator puts them; Intel's cores, not
// measured, take the cache line, as torch's allocator gives every buffer. Either way:
// - the kernels' outputs come from the pool (`alloc`), which allocates them so, and hands out
//   for reuse only a buffer whose alignment is the one a fresh buffer of the request's size
//   would have;
// - `Tensor::from_vec` adopts a `Vec` without a copy where it is under `ALIGNED_MIN_BYTES` or
//   happens to start on a cache line, and copies it once otherwise (as JAX copies a misaligned
//   host array), but a `Vec` of `ALIGNED_MAX_BYTES` or more is adopted as it is on every CPU
//   (the system allocator starts it 16 bytes past a page): a copy would hold twice its memory
//   for a while and cost more than the reads it speeds up for all but many passes over it (80
//   MB: a copy of several milliseconds against 0.2 ms a sum); `Tensor::from_aligned_vec`
//   takes an `AlignedVec` as it is.
// Buffers under 4 KiB are read in a few vectors, and the allocator's aligned path costs more
// per call. An adopted `Vec` must be freed with the layout it was allocated with, so each
// `AlignedVec` records the alignment of its allocation and frees it with that one. The
// `aligned-vec` crate's `AVec` also records a runtime alignment, but its contract accepts raw
// parts only from its own `into_raw_parts`, not a `Vec`'s, so adopting a `Vec` would step
// outside it; the type here is the part of `Vec`'s API the kernels use, over `Copy` elements
// (nothing to drop).

/// A growable buffer of `Copy` elements, like `Vec<T>`, whose own allocations of 4 KiB or more
/// start on a 64-byte boundary, a cache line (on AMD Zen 4 only those under 16 MiB; the others
/// have `T`'s alignment, as they would in a `Vec`). Every tensor buffer
/// ([`Buffer`](super::Buffer)) is one. It dereferences to a slice. A `Vec` converts into one
/// without a copy and keeps the alignment it was allocated with.
///
/// ```
/// use functorch::AlignedVec;
/// let mut v = AlignedVec::with_capacity(1024);
/// v.extend_from_slice(&[1.0f64; 1024]);
/// assert_eq!(v.as_ptr() as usize % 64, 0);
/// assert_eq!(v.iter().sum::<f64>(), 1024.0);
/// // a `Vec` is adopted without a copy, keeping its own alignment
/// let w = AlignedVec::from(vec![1i64, 2, 3]);
/// assert_eq!(&w[..], &[1, 2, 3]);
/// assert_eq!(w.into_vec(), vec![1, 2, 3]);
/// ```
pub struct AlignedVec<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    cap: usize,
    /// The alignment the allocation was made with (meaningless while `cap` is 0 or `T` is
    /// zero-sized: nothing is allocated then).
    align: usize,
}

// SAFETY: an `AlignedVec<T>` owns its elements exactly as a `Vec<T>` does (no sharing, no
// interior mutability), so it may move to or be shared with another thread when `T` may.
unsafe impl<T: Copy + Send> Send for AlignedVec<T> {}
// SAFETY: as above; `&AlignedVec<T>` only gives `&[T]`.
unsafe impl<T: Copy + Sync> Sync for AlignedVec<T> {}

/// The allocation failure, routed as the pool routes it (an unwind to the nearest `fallible`
/// boundary, or an abort outside any).
fn failed<T>(n: usize) -> ! {
    super::pool::allocation_failed::<T>(n)
}

impl<T: Copy> AlignedVec<T> {
    /// An empty buffer; nothing is allocated.
    pub const fn new() -> Self {
        AlignedVec {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
            align: std::mem::align_of::<T>(),
        }
    }

    /// Whether an allocation of `cap` elements starts on a cache line (`NOTE: [aligned]`).
    pub(crate) fn on_cache_line(cap: usize) -> bool {
        let bytes = cap.saturating_mul(size_of::<T>());
        bytes >= ALIGNED_MIN_BYTES && (bytes < ALIGNED_MAX_BYTES || !crate::cpu::zen4())
    }

    /// Whether `Tensor::from_vec` copies a `Vec` of `len` elements that does not start on a
    /// cache line into a buffer that does: one from [`ALIGNED_MIN_BYTES`] up to
    /// [`ALIGNED_MAX_BYTES`] (`NOTE: [aligned]`). A larger one is adopted as it is, on every
    /// CPU: a hidden copy would double its memory for a while.
    pub(crate) fn copied_on_adoption(len: usize) -> bool {
        (ALIGNED_MIN_BYTES..ALIGNED_MAX_BYTES).contains(&len.saturating_mul(size_of::<T>()))
    }

    /// The alignment an allocation of `cap` elements gets (`NOTE: [aligned]`).
    fn align_for(cap: usize) -> usize {
        if Self::on_cache_line(cap) {
            ALIGN.max(align_of::<T>())
        } else {
            align_of::<T>()
        }
    }

    /// Whether this buffer's allocation has the alignment a fresh one for `n` elements would
    /// have (`NOTE: [aligned]`).
    pub(crate) fn aligned_as_for(&self, n: usize) -> bool {
        self.cap > 0 && self.align == Self::align_for(n)
    }

    /// The layout of an allocation of `cap` elements with alignment `align`, if it can exist.
    fn layout(cap: usize, align: usize) -> Option<Layout> {
        let bytes = cap.checked_mul(std::mem::size_of::<T>())?;
        Layout::from_size_align(bytes, align).ok()
    }

    /// An empty buffer with room for exactly `cap` elements.
    ///
    /// If the memory cannot be had, the process aborts, as for a failed `Vec` allocation; on
    /// one of rayon's worker threads it panics instead, and inside the library's own ops the
    /// failure becomes `Error::OutOfMemory`.
    pub fn with_capacity(cap: usize) -> Self {
        match Self::try_with_capacity(cap) {
            Some(v) => v,
            None => failed::<T>(cap),
        }
    }

    /// A copy of a slice (fails as [`with_capacity`](Self::with_capacity) does).
    pub fn from_slice(xs: &[T]) -> Self {
        let mut v = Self::with_capacity(xs.len());
        v.extend_from_slice(xs);
        v
    }

    /// An empty buffer with room for exactly `cap` elements, or `None` when the memory cannot
    /// be had (or the request is beyond what an allocation may be).
    pub(crate) fn try_with_capacity(cap: usize) -> Option<Self> {
        if cap == 0 || std::mem::size_of::<T>() == 0 {
            return Some(AlignedVec {
                cap: if std::mem::size_of::<T>() == 0 {
                    usize::MAX
                } else {
                    0
                },
                ..Self::new()
            });
        }
        let align = Self::align_for(cap);
        let layout = Self::layout(cap, align)?;
        if layout.size() > isize::MAX as usize {
            return None;
        }
        // SAFETY: `layout` has a nonzero size (cap > 0 and T is not zero-sized).
        let p = unsafe { std::alloc::alloc(layout) };
        NonNull::new(p.cast::<T>()).map(|ptr| AlignedVec {
            ptr,
            len: 0,
            cap,
            align,
        })
    }

    /// The number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether there are no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The number of elements there is room for without reallocating.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }
    /// The first element's address (dangling, but aligned and non-null, when nothing is
    /// allocated).
    #[inline]
    pub fn as_ptr(&self) -> *const T {
        self.ptr.as_ptr()
    }
    /// The first element's address, for writing (see [`as_ptr`](Self::as_ptr)).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr.as_ptr()
    }
    /// The elements as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` elements are initialized and lie in the allocation (or `len`
        // is 0 and the pointer is dangling but aligned and non-null, which an empty slice
        // allows).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
    /// The elements as a mutable slice.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
    /// The room after the elements, to be written before [`set_len`](Self::set_len).
    #[inline]
    pub fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<T>] {
        // SAFETY: `len..cap` lies in the allocation (for a zero-sized `T` nothing is read or
        // written); `MaybeUninit` allows uninitialized contents, and `&mut self` makes the
        // access unique.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.as_ptr().add(self.len).cast::<MaybeUninit<T>>(),
                self.cap - self.len,
            )
        }
    }
    /// Set the number of elements.
    ///
    /// # Safety
    /// `len` is at most the capacity, and the first `len` elements are initialized.
    #[inline]
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.cap);
        self.len = len;
    }
    /// Drop the elements past the first `len` (none if there are fewer).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
    /// Drop every element, keeping the allocation.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Make room for at least `additional` more elements (at least doubling the capacity when
    /// it grows, as `Vec` does).
    pub fn reserve(&mut self, additional: usize) {
        if self.cap - self.len >= additional {
            return;
        }
        let Some(need) = self.len.checked_add(additional) else {
            failed::<T>(usize::MAX)
        };
        self.grow_to(need.max(self.cap.saturating_mul(2)).max(8));
    }

    /// Move the elements into a new allocation of `cap` (> the current capacity) elements.
    #[cold]
    fn grow_to(&mut self, cap: usize) {
        let mut new = match Self::try_with_capacity(cap) {
            Some(v) => v,
            None => failed::<T>(cap),
        };
        // SAFETY: the new allocation has room for `cap > len` elements and does not overlap
        // the old one; the first `len` elements of `self` are initialized.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), new.ptr.as_ptr(), self.len);
            new.set_len(self.len);
        }
        *self = new;
    }

    /// Append one element.
    #[inline]
    pub fn push(&mut self, x: T) {
        if self.len == self.cap {
            self.reserve(1);
        }
        // SAFETY: `len < cap` after the reserve, so the slot lies in the allocation.
        unsafe {
            self.ptr.as_ptr().add(self.len).write(x);
        }
        self.len += 1;
    }
    /// Append the elements of a slice.
    #[inline]
    pub fn extend_from_slice(&mut self, xs: &[T]) {
        self.reserve(xs.len());
        // SAFETY: there is room for `xs.len()` more elements after the reserve, and `xs` (a
        // shared borrow) cannot overlap the spare room of this uniquely borrowed buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(xs.as_ptr(), self.ptr.as_ptr().add(self.len), xs.len());
        }
        self.len += xs.len();
    }
    /// Grow to `n` elements with copies of `value`, or drop those past the first `n`.
    pub fn resize(&mut self, n: usize, value: T) {
        if n <= self.len {
            self.len = n;
            return;
        }
        let more = n - self.len;
        self.reserve(more);
        for s in &mut self.spare_capacity_mut()[..more] {
            s.write(value);
        }
        self.len = n;
    }

    /// The elements as a `Vec<T>`: the same memory when it was allocated with `T`'s own
    /// alignment (a small buffer, or an adopted `Vec`), a copy otherwise.
    pub fn into_vec(self) -> Vec<T> {
        if self.cap == 0 || std::mem::size_of::<T>() == 0 {
            return self.as_slice().to_vec();
        }
        if self.align != std::mem::align_of::<T>() {
            return self.as_slice().to_vec();
        }
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: the memory was allocated by the global allocator with the layout of `cap`
        // elements of `T` at `T`'s alignment (what `Vec` allocates and frees), holds `len`
        // initialized elements, and `me` will not free it.
        unsafe { Vec::from_raw_parts(me.ptr.as_ptr(), me.len, me.cap) }
    }
}

impl<T: Copy> Drop for AlignedVec<T> {
    fn drop(&mut self) {
        if self.cap == 0 || std::mem::size_of::<T>() == 0 {
            return;
        }
        let layout = Self::layout(self.cap, self.align).expect("the layout it was allocated with");
        // SAFETY: the memory was allocated by the global allocator with exactly this layout
        // (`try_with_capacity`, or the adopted `Vec`'s), and is freed once. The elements are
        // `Copy` and need no drop.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) }
    }
}

impl<T: Copy> From<Vec<T>> for AlignedVec<T> {
    /// Adopt a `Vec`'s memory without copying; it keeps `T`'s alignment (`NOTE: [aligned]`).
    fn from(v: Vec<T>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        let (ptr, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
        AlignedVec {
            // SAFETY: a `Vec`'s pointer is never null (dangling but non-null when unallocated).
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            len,
            // a `Vec` that allocated nothing (capacity 0, or a zero-sized `T`) frees nothing:
            // recorded as 0 (or `usize::MAX` for a zero-sized `T`, as `try_with_capacity`
            // does), which `Drop` skips
            cap,
            align: std::mem::align_of::<T>(),
        }
    }
}

impl<T: Copy> Default for AlignedVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> Clone for AlignedVec<T> {
    fn clone(&self) -> Self {
        let mut v = Self::with_capacity(self.len);
        v.extend_from_slice(self);
        v
    }
}

impl<T: Copy + fmt::Debug> fmt::Debug for AlignedVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl<T: Copy + PartialEq> PartialEq for AlignedVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + PartialEq> PartialEq<Vec<T>> for AlignedVec<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy> Deref for AlignedVec<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy> DerefMut for AlignedVec<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Copy> Extend<T> for AlignedVec<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let mut iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        // the room there is, written without a check per element; the rest pushed
        let (p, room) = (self.ptr.as_ptr(), self.cap - self.len);
        let mut len = self.len;
        iter.by_ref().take(room).for_each(|x| {
            // SAFETY: at most `room` elements are written, at `len..cap`, inside the
            // allocation.
            unsafe { p.add(len).write(x) };
            len += 1;
        });
        self.len = len;
        for x in iter {
            self.push(x);
        }
    }
}

impl<'a, T: Copy + 'a> Extend<&'a T> for AlignedVec<T> {
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied())
    }
}

impl<T: Copy> FromIterator<T> for AlignedVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = Self::new();
        v.extend(iter);
        v
    }
}

/// The elements of an [`AlignedVec`], by value, first to last.
pub struct IntoIter<T: Copy> {
    v: AlignedVec<T>,
    at: usize,
}

impl<T: Copy> Iterator for IntoIter<T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        let x = self.v.get(self.at).copied();
        self.at += x.is_some() as usize;
        x
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.v.len() - self.at;
        (n, Some(n))
    }
}

impl<T: Copy> ExactSizeIterator for IntoIter<T> {}

impl<T: Copy> IntoIterator for AlignedVec<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { v: self, at: 0 }
    }
}

impl<'a, T: Copy> IntoIterator for &'a AlignedVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T: Copy> IntoIterator for &'a mut AlignedVec<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_from_4_kib_start_on_a_cache_line_and_the_others_keep_their_alignment() {
        for n in [512usize, 513, 1 << 20] {
            let v = AlignedVec::<f64>::with_capacity(n);
            assert_eq!(v.as_ptr() as usize % ALIGN, 0, "{n} f64");
        }
        let v = AlignedVec::<f32>::with_capacity(1024);
        assert_eq!(v.as_ptr() as usize % ALIGN, 0);
        let small = AlignedVec::<f64>::with_capacity(10);
        assert_eq!(small.align, 8);
        // buffers read from memory start on a cache line too, but on AMD Zen 4, where they keep
        // their type's alignment (`NOTE: [aligned]`)
        let huge = AlignedVec::<f32>::with_capacity(ALIGNED_MAX_BYTES / 4);
        if crate::cpu::zen4() {
            assert_eq!(huge.align, 4);
        } else {
            assert_eq!(huge.align, ALIGN);
            assert_eq!(huge.as_ptr() as usize % ALIGN, 0);
        }
        assert!(AlignedVec::<f32>::on_cache_line(ALIGNED_MAX_BYTES / 4 - 1));
        assert!(!AlignedVec::<f32>::on_cache_line(ALIGNED_MIN_BYTES / 4 - 1));
        // a buffer that grows past the threshold moves to an aligned allocation
        let mut g = AlignedVec::<f32>::new();
        for i in 0..5000 {
            g.push(i as f32);
        }
        assert_eq!(g.as_ptr() as usize % ALIGN, 0);
        assert!(g.iter().enumerate().all(|(i, &x)| x == i as f32));
    }

    #[test]
    fn the_vec_api_behaves_as_vec_does() {
        let mut v = AlignedVec::<i64>::new();
        let mut w = Vec::<i64>::new();
        for i in 0..3000 {
            v.push(i);
            w.push(i);
            if i % 7 == 0 {
                v.extend_from_slice(&[i, -i]);
                w.extend_from_slice(&[i, -i]);
            }
        }
        assert_eq!(&v[..], &w[..]);
        v.resize(5000, 9);
        w.resize(5000, 9);
        assert_eq!(&v[..], &w[..]);
        v.resize(10, 0);
        w.resize(10, 0);
        assert_eq!(&v[..], &w[..]);
        v.truncate(4);
        w.truncate(4);
        assert_eq!(v.clone().into_vec(), w);
        v.extend([1i64, 2, 3].iter());
        w.extend([1i64, 2, 3].iter());
        assert_eq!(&v[..], &w[..]);
        let spare = v.spare_capacity_mut();
        assert!(!spare.is_empty());
        spare[0].write(42);
        // SAFETY: the first spare slot was just written, and it is within the capacity.
        unsafe { v.set_len(v.len() + 1) };
        assert_eq!(v[v.len() - 1], 42);
        v.clear();
        assert!(v.is_empty());
        let c: AlignedVec<bool> = [true, false].into_iter().collect();
        assert_eq!(format!("{c:?}"), "[true, false]");
        assert_eq!(c.into_iter().collect::<Vec<_>>(), vec![true, false]);
    }

    /// The address of a tensor's first element.
    fn start<T: crate::Element>(t: &crate::Tensor) -> usize {
        let v = t.array().unwrap().view::<T>().unwrap();
        v.data[v.offset..].as_ptr() as usize
    }

    #[test]
    fn tensor_buffers_from_4_kib_start_on_a_cache_line() {
        use crate::{DType, Tensor};
        // the last: 16 MiB of f64, `ALIGNED_MAX_BYTES`
        for n in [512usize, 4096, 100_352, 1 << 20, 1 << 21] {
            // a vector from the system allocator: adopted or copied, on a cache line either way,
            // but from 16 MiB adopted as it is
            let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let p = v.as_ptr() as usize;
            let t = Tensor::from_vec(v, &[n]).unwrap();
            if n * 8 < ALIGNED_MAX_BYTES {
                assert_eq!(start::<f64>(&t) % ALIGN, 0, "from_vec of {n}");
            } else {
                assert_eq!(start::<f64>(&t), p, "from_vec of {n}");
            }
            assert_eq!(t.to_vec::<f64>().unwrap()[n - 1], (n - 1) as f64);
            let outs = [
                t.exp().unwrap(),
                t.add(&t).unwrap(),
                t.reshape(&[(n / 512) as i64, 512])
                    .unwrap()
                    .sum_dims(&[0], false)
                    .unwrap(),
                t.to_dtype(DType::F32)
                    .unwrap()
                    .mul(&t.to_dtype(DType::F32).unwrap())
                    .unwrap(),
                Tensor::randn(&[n], DType::F64).unwrap(),
                Tensor::from_slice(&t.to_vec::<f64>().unwrap()),
            ];
            for (k, o) in outs.iter().enumerate() {
                let (at, size) = match o.dtype() {
                    DType::F32 => (start::<f32>(o), 4),
                    _ => (start::<f64>(o), 8),
                };
                if AlignedVec::<u8>::on_cache_line(o.numel() * size) {
                    assert_eq!(at % ALIGN, 0, "output {k} for {n}");
                }
            }
        }
        // recycled buffers too: many of one size allocated and freed in turn
        for _ in 0..8 {
            let t = Tensor::randn(&[1 << 16], DType::F32).unwrap();
            let u = t.sin().unwrap();
            assert_eq!(start::<f32>(&u) % ALIGN, 0);
        }
        // a small vector is adopted as it is
        let v = vec![1.0f64, 2.0, 3.0];
        let p = v.as_ptr() as usize;
        assert_eq!(start::<f64>(&Tensor::from_vec(v, &[3]).unwrap()), p);
    }

    #[test]
    fn vecs_are_adopted_without_a_copy_and_given_back_as_they_came() {
        let v: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let p = v.as_ptr();
        let a = AlignedVec::from(v);
        assert_eq!(a.as_ptr(), p);
        let back = a.into_vec();
        assert_eq!(back.as_ptr(), p);
        // an aligned allocation is copied into a `Vec` (freed with its own layout)
        let mut b = AlignedVec::<f64>::with_capacity(10_000);
        b.extend_from_slice(&back);
        let c = b.into_vec();
        assert_eq!(c, back);
        // empty vectors, with and without capacity
        assert!(AlignedVec::from(Vec::<f32>::new()).into_vec().is_empty());
        assert!(AlignedVec::from(Vec::<f32>::with_capacity(3)).is_empty());
        assert!(AlignedVec::<f32>::with_capacity(0).into_vec().is_empty());
    }
}
