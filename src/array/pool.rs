//! Recycling of large buffers.
//!
//! Transforms allocate many large, short-lived buffers of the same few sizes (a batch of
//! tangents, a chunk of the basis, each intermediate under vmap). The system allocator gives
//! large blocks back to the OS when they are freed, so every new one page-faults again on first
//! touch; on the benchmark workloads that was up to half of the run time. Freed buffers of at
//! least [`MIN_BYTES`] are kept here instead (at most [`MAX_BYTES`] in all, oldest dropped
//! first) and handed out again for requests of a similar size.

use std::sync::Mutex;

/// Buffers smaller than this go straight to the system allocator.
pub const MIN_BYTES: usize = 1 << 16;
/// The most memory the pool keeps for reuse, per element type.
pub const MAX_BYTES: usize = 1 << 28;

/// A free list of buffers of one element type.
pub struct Pool<T> {
    free: Mutex<(Vec<Vec<T>>, usize)>,
}

impl<T: Copy> Pool<T> {
    /// An empty pool.
    pub const fn new() -> Self {
        Pool {
            free: Mutex::new((Vec::new(), 0)),
        }
    }

    /// An empty vector with capacity for at least `n` elements (a recycled one if the pool has
    /// one of a similar size).
    pub fn take(&self, n: usize) -> Vec<T> {
        let size = std::mem::size_of::<T>();
        if n * size < MIN_BYTES {
            return Vec::with_capacity(n);
        }
        let mut g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let mut best: Option<(usize, usize)> = None;
        for (i, v) in g.0.iter().enumerate() {
            let c = v.capacity();
            if c >= n && c <= n + n / 2 && best.is_none_or(|(_, bc)| c < bc) {
                best = Some((i, c));
            }
        }
        if let Some((i, c)) = best {
            g.1 -= c * size;
            let mut v = g.0.swap_remove(i);
            v.clear();
            return v;
        }
        drop(g);
        Vec::with_capacity(n)
    }

    /// Keep `v`'s memory for reuse (if it is large enough to be worth it).
    pub fn give(&self, mut v: Vec<T>) {
        let size = std::mem::size_of::<T>();
        let bytes = v.capacity() * size;
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
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
