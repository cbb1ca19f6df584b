//! Recycling of large buffers.
//!
//! Transforms allocate many large, short-lived buffers of the same few sizes (a batch of
//! tangents, a chunk of the basis, each intermediate under vmap). The system allocator gives
//! large blocks back to the OS when they are freed, so every new one page-faults again on first
//! touch; on the benchmark workloads that was up to half of the run time. Freed buffers of at
//! least [`MIN_BYTES`] are kept here instead (at most [`MAX_BYTES`] in all, oldest dropped
//! first) and handed out again for requests of a similar size.
//!
//! # Running out of memory
//!
//! Every tensor buffer is allocated here, as an [`AlignedVec`]. When the allocator
//! refuses (or the request is beyond what an allocation may be), the failure unwinds, without
//! running the panic hook, to the op or constructor that asked for the memory, which returns
//! [`Error::OutOfMemory`] naming itself and the bytes it asked for:
//! every primitive's evaluation, every tensor constructor, and the Jacobians' standard basis and
//! row buffer are such boundaries (outside any, a failure aborts as a failed `Vec` allocation
//! does). Two more limits remain: with `panic = "abort"` the failure aborts the process, as any failed
//! allocation does; and where the operating system over-commits memory, an allocation can
//! succeed and the process still be killed when the memory is first touched (Linux's default
//! for requests smaller than the free memory and swap).

use super::aligned::AlignedVec;
use crate::error::{Error, Result};
use std::cell::Cell;
use std::sync::Mutex;

/// The payload that carries a failed allocation, or a shape too large for any tensor, to the
/// nearest [`fallible`] boundary.
enum Failure {
    Alloc { bytes: usize },
    TooLarge { shape: Vec<usize> },
}

/// Whether a failure can unwind to a [`fallible`] boundary: one is active on this thread, or
/// this is a rayon worker or a thread marked by [`carries_failures`] (each carries the panic
/// back to the thread that waits for it).
fn can_unwind() -> bool {
    BOUNDARIES.with(|b| b.get()) > 0
        || rayon::current_thread_index().is_some()
        || CARRIES.with(|c| c.get())
}

/// Mark this thread as one whose panics are caught and resumed on a thread that waits for its
/// work (the kernels' team of helpers), so that a failed allocation here unwinds as on a rayon
/// worker.
pub(crate) fn carries_failures() {
    CARRIES.with(|c| c.set(true));
}

/// [`can_unwind`], for the tests of the threads that run pieces.
#[cfg(test)]
pub(crate) fn can_unwind_here() -> bool {
    can_unwind()
}

/// Refuse an array of a shape with more than `MAX_NUMEL` elements: an `Error::Shape` at the
/// nearest [`fallible`] boundary, a panic outside any.
pub(crate) fn refuse_shape(shape: &[usize]) -> ! {
    if can_unwind() {
        std::panic::resume_unwind(Box::new(Failure::TooLarge {
            shape: shape.to_vec(),
        }));
    }
    panic!("internal error: an array of shape {shape:?} is too large");
}

thread_local! {
    /// Whether [`carries_failures`] marked this thread.
    static CARRIES: Cell<bool> = const { Cell::new(false) };
    /// How many [`fallible`] boundaries are active on this thread.
    static BOUNDARIES: Cell<usize> = const { Cell::new(0) };
}

/// Run `f`; an allocation that fails inside it (on this thread, or on a worker thread whose
/// panic rayon carries back) becomes `Error::OutOfMemory { op, bytes }`, and an array shape too
/// large for any tensor (see [`refuse_shape`]) an `Error::Shape`. Other panics pass through
/// unchanged.
pub(crate) fn fallible<R>(op: &'static str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            BOUNDARIES.with(|b| b.set(b.get() - 1));
        }
    }
    BOUNDARIES.with(|b| b.set(b.get() + 1));
    let _depth = Depth;
    // The closure only reads shared data; after a caught failure nothing it built is observed
    // (partial buffers are dropped during the unwind), so it is unwind safe in effect.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => match payload.downcast::<Failure>() {
            Ok(fail) => Err(match *fail {
                Failure::Alloc { bytes } => Error::OutOfMemory { op, bytes },
                Failure::TooLarge { shape } => Error::shape(
                    op,
                    format!(
                        "the size of shape {shape:?} is too large (more than {} elements)",
                        super::MAX_NUMEL
                    ),
                ),
            }),
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

/// An empty buffer with capacity for exactly `n` elements, or the allocation failure carried
/// to the nearest [`fallible`] boundary (outside any, on a thread that is not one of rayon's
/// workers, the process aborts as a failed `Vec` allocation does).
fn reserve<T: Copy>(n: usize) -> AlignedVec<T> {
    let Some(mut v) = AlignedVec::<T>::try_with_capacity(n) else {
        allocation_failed::<T>(n)
    };
    advise_huge_pages(
        v.as_mut_ptr().cast(),
        v.capacity() * std::mem::size_of::<T>(),
    );
    v
}

/// A plain `Vec` with capacity for exactly `n` elements, backed as [`reserve`] backs a tensor
/// buffer (huge pages from `HUGE_MIN_BYTES`), for memory handed to the caller that never
/// comes back here (`Array::to_vec`); a failed allocation as there.
pub(crate) fn reserve_vec<T>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::new();
    if v.try_reserve_exact(n).is_err() {
        allocation_failed::<T>(n)
    }
    advise_huge_pages(
        v.as_mut_ptr().cast(),
        v.capacity() * std::mem::size_of::<T>(),
    );
    v
}

/// A failed allocation of `n` elements of `T`: carried to the nearest [`fallible`] boundary
/// as `Error::OutOfMemory`, or outside any (on a thread that is not one of rayon's workers) an
/// abort, as for a failed `Vec` allocation.
pub(crate) fn allocation_failed<T>(n: usize) -> ! {
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    if can_unwind() {
        std::panic::resume_unwind(Box::new(Failure::Alloc { bytes }));
    }
    match std::alloc::Layout::array::<T>(n) {
        Ok(layout) => std::alloc::handle_alloc_error(layout),
        Err(_) => panic!("capacity overflow: {n} elements of {bytes} bytes in all"),
    }
}

/// Fresh buffers of at least this many bytes are backed by transparent huge pages where the
/// system offers them (`NOTE: [huge-pages]`): the smallest size that holds one whole aligned
/// 2 MiB page wherever the allocation falls.
pub const HUGE_MIN_BYTES: usize = 4 << 20;

// NOTE: [huge-pages]
// A buffer of 4 KiB pages costs a TLB miss every 4 KiB once it outgrows the TLB's reach, and
// the hardware prefetchers stop at each 4 KiB page boundary, so a large array is streamed in
// 4 KiB pieces, each started afresh. Linux's default (`transparent_hugepage/enabled` =
// `madvise`) backs memory with 2 MiB pages only where asked, so a fresh reservation of at
// least `HUGE_MIN_BYTES` is advised `MADV_HUGEPAGE` before anything touches it: the first
// write then faults in whole 2 MiB pages. The sum of 10⁷ f64 (80 MB) streamed at 28–34 GB/s
// on one core with them against 18–24 GB/s without (AMD EPYC, 2026-11-30). Only the 2 MiB
// aligned part inside the buffer is affected; nothing outside it changes, and the memory
// comes back to the system as before when the buffer is freed. The advice is only advice: the
// kernel may refuse (THP off, no free huge page), and an error is ignored. NumPy advises the
// same for its arrays of 4 MiB or more (so the torch tensors the peers' benchmark makes with
// `torch.from_numpy` have huge pages); torch's own allocator does when `THP_MEM_ALLOC_ENABLE`
// is set.
/// Advise the kernel to back `bytes` bytes at `ptr` (a fresh, untouched reservation) with
/// transparent huge pages, when they are at least [`HUGE_MIN_BYTES`] (`NOTE: [huge-pages]`).
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    if bytes < HUGE_MIN_BYTES {
        return;
    }
    // the whole pages inside the buffer (madvise wants a page-aligned start)
    const PAGE: usize = 4096;
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + bytes) & !(PAGE - 1);
    if end <= start {
        return;
    }
    // SAFETY: `start..end` lies inside an allocation this process owns (whole pages of the
    // buffer just reserved); MADV_HUGEPAGE changes only how the kernel backs those pages, never
    // their contents or their validity, so no Rust object is affected. The result is ignored:
    // on failure the pages stay as they were.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

/// Huge pages are advised only on Linux (`NOTE: [huge-pages]`).
#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *mut u8, _bytes: usize) {}

// NOTE: [memory-budget]
// `memory_budget` (transforms::budget) chooses a chunk size from the memory a first, small
// chunk actually used, so it needs the peak of the tensor memory in use while a closure runs.
// Every tensor buffer is made by `Element::into_buffer`, which calls [`count_buffer`], and comes
// back here (`give`) when its `Buffer` drops, so two thread-local counters say it: `NET`, the
// bytes of buffers made minus those given back on this thread, and `HIGH`, the highest `NET`
// since the innermost [`measure`] began. Counting buffers, not `take`s, keeps the two sides
// equal: a vector taken as scratch and dropped as a plain `Vec` (a contiguous copy of a
// strided operand, a `to_vec`) would otherwise be counted in and never out, and the count
// would creep up over a long chunked run. Such scratch lives within one op and is not
// counted. Thread-local, so concurrent work on other threads (tests in parallel, a user's
// other threads) does not disturb a measurement; the kernels make their outputs on the calling
// thread. Memory the pool holds for reuse is not "in use" here: it is bounded by `MAX_BYTES`
// per element type and handed out again before anything new is allocated for a request of a
// similar size; so a buffer is counted by its elements, not by the capacity of the recycled
// vector that holds them (up to half as much again, idle in the pool otherwise).
thread_local! {
    /// Bytes of the buffers made on this thread minus those given back on it.
    static NET: Cell<isize> = const { Cell::new(0) };
    /// The highest `NET` since the innermost `measure` began.
    static HIGH: Cell<isize> = const { Cell::new(0) };
}

/// Note a tensor buffer of `bytes` made on this thread (see `NOTE: [memory-budget]`).
#[inline]
pub(crate) fn count_buffer(bytes: usize) {
    count(bytes as isize)
}

#[inline]
fn count(bytes: isize) {
    NET.with(|n| {
        let v = n.get() + bytes;
        n.set(v);
        HIGH.with(|h| {
            if v > h.get() {
                h.set(v)
            }
        });
    });
}

/// What [`measure`] saw: the most tensor memory in use at once while the closure ran, and
/// what was still in use when it returned, both relative to its start (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) peak: usize,
    pub(crate) kept: isize,
}

/// Run `f`, measuring the tensor memory taken on this thread (see `NOTE: [memory-budget]`).
/// Measurements nest.
pub(crate) fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let start = NET.with(|n| n.get());
    let outer = HIGH.with(|h| h.replace(start));
    let r = f();
    let (end, high) = (NET.with(|n| n.get()), HIGH.with(|h| h.get()));
    HIGH.with(|h| h.set(outer.max(high)));
    let usage = Usage {
        peak: (high - start).max(0) as usize,
        kept: end - start,
    };
    (r, usage)
}

/// Count on this thread the tensor memory that [`measure`] saw taken on another one (work
/// moved onto a rayon worker and waited for): in use at once up to `usage.peak` more, then
/// `usage.kept` more when it returned, as if it had run here (see `NOTE: [memory-budget]`).
pub(crate) fn credit(usage: Usage) {
    count(usage.peak as isize);
    count(usage.kept - usage.peak as isize);
}

/// Stop counting on this thread the memory that [`measure`] saw kept here by work whose results
/// another thread takes over (and counts with [`credit`]): their buffers will be given back
/// there, so this thread's count returns to where it started.
pub(crate) fn hand_over(usage: Usage) {
    count(-usage.kept);
}

/// Buffers smaller than this go straight to the system allocator.
pub const MIN_BYTES: usize = 1 << 16;
/// The most memory the pool keeps for reuse, per element type.
pub const MAX_BYTES: usize = 1 << 28;

// NOTE: [pool-lifo]
// Of the held buffers that fit a request, the pool hands out the one given back last: it is the
// likeliest to be still in the caches (a buffer just freed was usually just read, by the op that
// read it for the last time). A compiled Hessian of an MLP allocates a batch of 512 tangent
// matrices (8 MB), frees it after a product reads it, and allocates another of that size right
// after: handed the one just read (in the 32 MB L3), its kernel writes to cached lines instead
// of memory; handing out the oldest made every such write miss (measured 20–25% of that call).
// Eviction when the pool is full still drops the oldest first.
/// A free list of buffers of one element type, in the order they were given back.
pub struct Pool<T: Copy> {
    free: Mutex<(Vec<AlignedVec<T>>, usize)>,
}

impl<T: Copy> Pool<T> {
    /// An empty pool.
    pub const fn new() -> Self {
        Pool {
            free: Mutex::new((Vec::new(), 0)),
        }
    }

    /// An empty vector with capacity for at least `n` elements (a recycled one if the pool has
    /// one of a similar size: the most recently given back of the smallest such).
    pub fn take(&self, n: usize) -> AlignedVec<T> {
        let size = std::mem::size_of::<T>();
        if n.saturating_mul(size) < MIN_BYTES {
            return AlignedVec::with_capacity(n);
        }
        let mut g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        // the smallest that fits, and of those the one given back last (`NOTE: [pool-lifo]`)
        let mut best: Option<(usize, usize)> = None;
        for (i, v) in g.0.iter().enumerate().rev() {
            let c = v.capacity();
            // `NOTE: [aligned]`: the alignment a fresh buffer for `n` would have
            let fits = c >= n && c <= n + n / 2 && v.aligned_as_for(n);
            if fits && best.is_none_or(|(_, bc)| c < bc) {
                best = Some((i, c));
            }
        }
        if let Some((i, c)) = best {
            g.1 -= c * size;
            // `remove`, not `swap_remove`: the list stays in the order the buffers came back
            let mut v = g.0.remove(i);
            v.clear();
            return v;
        }
        drop(g);
        reserve(n)
    }

    /// Keep `v`'s memory for reuse (if it is large enough to be worth it).
    pub fn give(&self, v: AlignedVec<T>) {
        let size = std::mem::size_of::<T>();
        // a buffer's elements, as `count_buffer` counted them when it was made
        count(-((v.len() * size) as isize));
        self.keep(v);
    }

    /// Keep the memory of `v`, a buffer never counted by `count_buffer` (a kernel's scratch),
    /// for reuse, as [`Pool::give`] keeps a tensor's.
    pub fn keep(&self, mut v: AlignedVec<T>) {
        let size = std::mem::size_of::<T>();
        let bytes = v.capacity() * size;
        // a buffer is kept only if it has the alignment of a fresh one of its size: not an
        // adopted `Vec` that should have started on a cache line (`NOTE: [aligned]`)
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) || !v.aligned_as_for(v.capacity()) {
            return;
        }
        v.clear();
        let mut g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while g.1 + bytes > MAX_BYTES && !g.0.is_empty() {
            let old = g.0.remove(0);
            g.1 -= old.capacity() * size;
        }
        g.0.push(v);
        g.1 += bytes;
    }

    /// The bytes held for reuse.
    pub fn held_bytes(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).1
    }
    /// Give every held buffer back to the system allocator.
    pub fn clear(&self) {
        let mut g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        g.0.clear();
        g.1 = 0;
    }
}

/// The bytes all pools hold for reuse (freed tensor buffers kept to avoid page faults).
pub fn pooled_bytes() -> usize {
    use super::Element;
    f32::pool().held_bytes()
        + f64::pool().held_bytes()
        + i64::pool().held_bytes()
        + bool::pool().held_bytes()
}

/// Give the memory the pools hold back to the system allocator (e.g. after a large Jacobian,
/// before a long phase that needs no large tensors).
pub fn release_pooled_memory() {
    use super::Element;
    f32::pool().clear();
    f64::pool().clear();
    i64::pool().clear();
    bool::pool().clear();
}

impl<T: Copy> Default for Pool<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_only_buffers_aligned_as_a_fresh_one_would_be() {
        use super::super::aligned::ALIGN;
        let pool = Pool::<f32>::new();
        let (big, small) = ((17 << 20) / 4, (15 << 20) / 4);
        let b = reserve::<f32>(big);
        let pb = b.as_ptr();
        pool.give(b);
        if !crate::cpu::zen4() {
            // `NOTE: [aligned]`: 17 MiB and 15 MiB both start on a cache line, so one serves the
            // other, and an adopted `Vec` that does not start on one is not kept
            let x = pool.take(small);
            assert_eq!(x.as_ptr(), pb);
            let v: AlignedVec<f32> = Vec::with_capacity(big).into();
            if !(v.as_ptr() as usize).is_multiple_of(ALIGN) {
                pool.give(v);
                assert_eq!(pool.held_bytes(), 0);
            }
            return;
        }
        // `NOTE: [aligned]`: on Zen 4, 17 MiB keeps f32's alignment, 15 MiB starts on a cache
        // line
        let x = pool.take(small);
        assert_ne!(
            x.as_ptr(),
            pb,
            "a buffer of the other alignment was handed out"
        );
        assert_eq!(x.as_ptr() as usize % ALIGN, 0);
        // an adopted `Vec` of a size that should start on a cache line is not kept
        let v: AlignedVec<f32> = Vec::with_capacity(small).into();
        pool.give(v);
        assert_eq!(pool.held_bytes(), big * 4);
        // the big one still serves a request of its own class
        assert_eq!(pool.take(big - 1).as_ptr(), pb);
    }

    #[test]
    fn a_kernels_scratch_is_kept_without_uncounting_it() {
        // `Pool::keep` (a buffer never counted as a tensor's) keeps the memory for reuse as
        // `give` does, and leaves this thread's count of tensor memory where it was
        let pool = Pool::<f64>::new();
        let n = MIN_BYTES;
        let mut v = reserve::<f64>(n);
        v.extend(std::iter::repeat_n(2.0, n));
        let p = v.as_ptr();
        let net = NET.with(|c| c.get());
        pool.keep(v);
        assert_eq!(NET.with(|c| c.get()), net, "a scratch buffer was uncounted");
        assert_eq!(pool.held_bytes(), n * 8);
        let w = pool.take(n);
        assert_eq!(w.as_ptr(), p);
        assert!(w.is_empty());
        // `give` uncounts the elements of a tensor's buffer
        let mut t = w;
        t.extend(std::iter::repeat_n(1.0, 16));
        pool.give(t);
        assert_eq!(NET.with(|c| c.get()), net - 16 * 8);
        count_buffer(16 * 8);
    }

    #[test]
    fn hands_out_the_buffer_given_back_last() {
        let pool = Pool::<f64>::new();
        let n = MIN_BYTES; // elements: well above the size the pool keeps
        let (a, b, small) = (reserve::<f64>(n), reserve::<f64>(n), reserve::<f64>(n));
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        pool.give(a);
        pool.give(b);
        // the last one given back, of the two that fit
        let x = pool.take(n);
        assert_eq!(x.as_ptr(), pb);
        assert!(x.capacity() >= n && x.is_empty());
        // a smaller fitting buffer is still preferred to a newer larger one
        let mut big = reserve::<f64>(n + n / 4);
        big.extend(std::iter::repeat_n(1.0, n));
        drop(small);
        pool.give(big);
        let y = pool.take(n);
        assert_eq!(y.as_ptr(), pa);
        let z = pool.take(n);
        assert!(z.capacity() >= n + n / 4 && z.is_empty());
        assert_eq!(pool.held_bytes(), 0);
    }

    #[test]
    fn buffers_advised_huge_pages_hold_what_is_written() {
        // large enough for the advice (`NOTE: [huge-pages]`), and an odd length so the
        // buffer's end is not page-aligned
        let n = HUGE_MIN_BYTES / 8 + 4093;
        let pool = Pool::<f64>::new();
        let mut v = pool.take(n);
        v.extend((0..n).map(|i| i as f64 * 0.5));
        assert_eq!(v.len(), n);
        for (i, &x) in v.iter().enumerate() {
            assert_eq!(x, i as f64 * 0.5);
        }
        let naive: f64 = (0..n).map(|i| i as f64 * 0.5).sum();
        assert_eq!(v.iter().sum::<f64>(), naive);
        // given back and handed out again, then refilled
        pool.give(v);
        let mut w = pool.take(n);
        w.resize(n, 3.0);
        assert!(w.iter().all(|&x| x == 3.0));
        // one just below the threshold takes the plain path
        let small = pool.take(HUGE_MIN_BYTES / 8 - 1);
        assert!(small.capacity() >= HUGE_MIN_BYTES / 8 - 1);
    }
}
