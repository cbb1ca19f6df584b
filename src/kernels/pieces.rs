//! Pieces of a split kernel run over the pool's threads, the calling thread taking its share
//! when it is outside the pool (NOTE: [caller-shares]).

use rayon::prelude::*;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Run `piece(i)` once for each `i` in `0..n` over the pool's threads.
///
/// NOTE: [caller-shares] A parallel iterator called from outside the pool injects its work and
/// puts the calling thread to sleep on a latch until the pool has done it all; a worker that
/// had gone to sleep takes tens of microseconds to wake (up to 60–70 µs on the 2-vCPU virtual
/// machine where it was measured: an f64 product 128 × 32 × 64 took 72–80 µs split after 100 µs
/// of idleness, 11 µs on one thread), and until then nobody works. So from outside the pool the
/// calling thread takes pieces too: it wakes the other workers with one job each and starts on
/// the pieces at once, each thread claiming the next piece from a shared counter, so a worker
/// that wakes late finds less to do, or nothing. The caller returns once every claimed piece is
/// done; a job that starts after all pieces are claimed touches nothing of the call (it sees
/// the counter at `n` and returns), so it may outlive it. On the pool's threads (the jit's
/// steps, whose workers are kept awake, NOTE: [keep-awake]) rayon's own splitting runs as
/// before. Which thread runs a piece changes no result.
///
/// A panic in a piece is caught where it happens, the other pieces still run (so that nothing
/// the pieces borrow is freed while a worker uses it), and the first one is resumed on the
/// calling thread.
pub(crate) fn for_each_piece(n: usize, piece: impl Fn(usize) + Sync) {
    let threads = rayon::current_num_threads();
    if n <= 1 || threads < 2 {
        (0..n).for_each(piece);
        return;
    }
    if rayon::current_thread_index().is_some() {
        (0..n).into_par_iter().for_each(&piece);
        return;
    }
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panic: Mutex::new(None),
    });
    let f: &(dyn Fn(usize) + Sync) = &piece;
    // SAFETY: only the lifetime is erased. A job dereferences this pointer only for a piece it
    // has claimed (`next` below `n`), and this function returns only after `done` reaches `n`,
    // that is after every claimed piece has finished with it, so no job uses it after `piece`
    // is dropped; once all `n` are claimed, no job can claim another.
    let erased: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
    let f = Piece(erased as *const (dyn Fn(usize) + Sync));
    for _ in 1..threads.min(n) {
        let shared = Arc::clone(&shared);
        rayon::spawn(move || {
            // SAFETY: `run` calls it only for pieces claimed below `n`, while this call waits
            // for them
            shared.run(n, &|i| unsafe { f.call(i) })
        });
    }
    shared.run(n, &piece);
    // the pieces the workers claimed, each at most one piece's time from now: yielding for up
    // to a millisecond, then in naps (pieces that long belong to calls of several
    // milliseconds, to which a nap's lateness adds little)
    let start = std::time::Instant::now();
    while shared.done.load(Ordering::Acquire) < n {
        if start.elapsed() < std::time::Duration::from_millis(1) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
    }
    let payload = shared
        .panic
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(p) = payload {
        resume_unwind(p);
    }
}

/// Run `f(c, chunk)` for each chunk `c` of `len` elements of `data` (the last one shorter) over
/// the pool's threads, as [`for_each_piece`] does: the calling thread takes chunks too.
pub(crate) fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    len: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let (n, len) = (data.len(), len.max(1));
    let base = Base(data.as_mut_ptr());
    for_each_piece(n.div_ceil(len), |c| {
        let start = c * len;
        let base = &base;
        // SAFETY: chunk c is elements start..start + its length of `data`, inside it and
        // disjoint from every other chunk; each chunk is handed out once, and `data` stays
        // borrowed until every chunk is done
        let chunk =
            unsafe { std::slice::from_raw_parts_mut(base.0.add(start), len.min(n - start)) };
        f(c, chunk)
    })
}

/// Run `f(r, t, tile)` for each tile `t` of `len` elements of each row `r` of `cols` elements
/// of `data` (each row's last tile shorter) over the pool's threads, as [`for_each_piece`]
/// does: the calling thread takes tiles too.
pub(crate) fn for_each_row_tile_mut<T: Send>(
    data: &mut [T],
    cols: usize,
    len: usize,
    f: impl Fn(usize, usize, &mut [T]) + Sync,
) {
    if cols == 0 {
        return;
    }
    let (rows, len) = (data.len() / cols, len.max(1));
    let per_row = cols.div_ceil(len);
    let base = Base(data.as_mut_ptr());
    for_each_piece(rows * per_row, |p| {
        let (r, t) = (p / per_row, p % per_row);
        let start = r * cols + t * len;
        let base = &base;
        // SAFETY: tile t of row r is elements start..start + its length of `data` (rows of
        // `cols` elements, `rows * cols` of them in `data`), disjoint from every other tile;
        // each tile is handed out once, and `data` stays borrowed until every tile is done
        let tile =
            unsafe { std::slice::from_raw_parts_mut(base.0.add(start), len.min(cols - t * len)) };
        f(r, t, tile)
    })
}

/// The start of a slice whose disjoint chunks [`for_each_chunk_mut`] hands to threads.
struct Base<T>(*mut T);
// SAFETY: each thread gets only its own chunks of the slice, whose elements are Send
unsafe impl<T: Send> Sync for Base<T> {}

/// The state the threads of one [`for_each_piece`] share.
struct Shared {
    /// The next piece to claim.
    next: AtomicUsize,
    /// How many pieces are finished.
    done: AtomicUsize,
    /// The first panic of a piece.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Shared {
    /// Claim and run pieces until all `n` are claimed.
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return;
            }
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(i))) {
                let mut first = self.panic.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    *first = Some(p);
                }
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// A piece function with its lifetime erased, sent to the jobs of one [`for_each_piece`].
#[derive(Clone, Copy)]
struct Piece(*const (dyn Fn(usize) + Sync));

impl Piece {
    /// Run piece `i`.
    ///
    /// # Safety
    /// Only for a piece claimed below `n` by [`Shared::run`]: `for_each_piece` waits for it,
    /// so the function behind the pointer is alive (see its SAFETY comment).
    unsafe fn call(&self, i: usize) {
        // SAFETY: the caller's guarantee
        unsafe { (*self.0)(i) }
    }
}

// SAFETY: the function is `Sync`, so calling it from another thread is sound; the pointer's
// lifetime is the subject of `for_each_piece`'s SAFETY comment.
unsafe impl Send for Piece {}
// SAFETY: as for Send: shared references only call the `Sync` function
unsafe impl Sync for Piece {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn two() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    /// NOTE: [caller-shares]: every piece runs once, from outside the pool and in it.
    #[test]
    fn every_piece_runs_once() {
        let pool = two();
        for n in [0, 1, 2, 3, 17, 1000] {
            let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
            // outside any pool: this test's thread, with the global pool
            for_each_piece(n, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            pool.install(|| {
                for_each_piece(n, |i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                })
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 2),
                "n = {n}"
            );
        }
    }

    /// Chunks cover the slice once, the last one shorter.
    #[test]
    fn chunks_cover_the_slice() {
        let mut v = vec![0u64; 1001];
        for_each_chunk_mut(&mut v, 64, |c, chunk| {
            assert!(chunk.len() == 64 || (c == 15 && chunk.len() == 41));
            for (i, x) in chunk.iter_mut().enumerate() {
                *x += (c * 64 + i) as u64;
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
    }

    /// Row tiles cover the rows once, each row's last tile shorter.
    #[test]
    fn row_tiles_cover_the_rows() {
        let (rows, cols) = (7, 2500);
        let mut v = vec![0u64; rows * cols];
        for_each_row_tile_mut(&mut v, cols, 1024, |r, t, tile| {
            assert_eq!(tile.len(), if t == 2 { 452 } else { 1024 });
            for (i, x) in tile.iter_mut().enumerate() {
                *x += (r * cols + t * 1024 + i) as u64;
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
    }

    /// A panicking piece reaches the caller after the other pieces have run.
    #[test]
    fn a_panic_in_a_piece_reaches_the_caller() {
        let ran = AtomicU64::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            for_each_piece(64, |i| {
                ran.fetch_add(1, Ordering::Relaxed);
                if i == 5 {
                    panic!("piece five");
                }
            })
        }));
        let p = r.expect_err("the panic is resumed");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"piece five"));
        assert_eq!(ran.load(Ordering::Relaxed), 64);
    }
}
