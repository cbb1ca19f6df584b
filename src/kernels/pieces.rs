//! Pieces of a split kernel run over the pool's threads, the calling thread taking its share
//! when it is outside the pool (NOTE: [caller-shares]).

use rayon::prelude::*;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// Run `piece(i)` once for each `i` in `0..n` over the pool's threads.
///
/// NOTE: [caller-shares] A parallel iterator called from outside the pool injects its work and
/// puts the calling thread to sleep on a latch until the pool has done it all; a worker that
/// had gone to sleep takes tens of microseconds to wake (up to 60–70 µs on the 2-vCPU virtual
/// machine where it was measured: an f64 product 128 × 32 × 64 took 72–80 µs split after 100 µs
/// of idleness, 11 µs on one thread), and until then nobody works. So from outside the pool the
/// calling thread takes pieces too: it offers them to the team's helpers (NOTE: [team]), or
/// where another caller holds the team wakes the pool's workers with one job each, and starts
/// on the pieces at once, each thread claiming the next piece from a shared counter, so a
/// helper or worker that comes late finds less to do, or nothing. The caller returns once every
/// claimed piece is done; a job that starts after all pieces are claimed touches nothing of the
/// call (it sees the counter at `n` and returns), so it may outlive it. On the pool's threads
/// (the jit's steps, whose workers are kept awake, NOTE: [keep-awake]) rayon's own splitting
/// runs as before. Which thread runs a piece changes no result.
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
    // the team's helpers take the pieces where no other caller holds them (NOTE: [team]), the
    // pool's workers otherwise
    let offered = if pool_awake() {
        None
    } else {
        team(threads).offer(Wave {
            shared: Arc::clone(&shared),
            f,
            n,
        })
    };
    if offered.is_none() {
        for _ in 1..threads.min(n) {
            let shared = Arc::clone(&shared);
            rayon::spawn(move || {
                // SAFETY: `run` calls it only for pieces claimed below `n`, while this call
                // waits for them
                shared.run(n, &|i| unsafe { f.call(i) })
            });
        }
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
    // every piece is done: the wave leaves the team's slot, or the pool's workers, awake, take
    // the next one too
    if offered.is_none() {
        pool_used();
    }
    drop(offered);
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

// NOTE: [team]
// Eager ops split from outside the pool hand their pieces to a team of our own threads, the
// calling thread and `threads − 1` helpers, as many as the pool has (an OpenMP team is the
// same), instead of to rayon's workers. A helper that ran out of pieces spins for `SPIN`,
// watching for the next wave, before it sleeps on a condition variable; the ops of an eager
// sequence are microseconds apart, so it takes the next one's pieces at once. Two things were
// found with `perf sched` on the 2-vCPU Zen 4 machine:
// - A rayon worker that found no work sleeps after a few rounds, and waking it costs tens of
//   microseconds here (`NOTE: [caller-shares]`), paid again at each split op that follows
//   serial work. `exp` of 2¹⁵ f64 (19 µs on one thread) took 25–26 µs on two threads after
//   100 µs of serial work, 2¹⁷ 57 µs; the team's helper, spinning, takes 10.6 and 40 µs, a
//   whole split (a scratch program, medians of 300–400 calls after a warm-up, three processes
//   each). Back to back, and after gaps longer than `SPIN`, the two are level.
// - rayon's two workers and the calling thread, which takes pieces too, are three threads on
//   two cores, and a worker still in rayon's idle loop took the job on the caller's core: in
//   one process of softmax over 10⁴ × 100 f64 the caller and that worker traded core 1 every
//   2–3 µs while core 0 was idle 61% of the time. The team is never more threads than cores.
// A helper spinning yields its core to any thread that wants it. `SPIN` is 1 ms: after 500 µs
// of serial work 2¹⁵ elements took 26–29 µs with a spin of 200 µs and 10.9 with 1 ms; after
// 2 ms, 29–35 with either. OpenMP's runtimes spin as long or longer (libgomp 300,000 rounds
// of its loop, Intel's 200 ms). Where the pool has more threads than the machine has cores,
// the helpers would spin on cores the others need, so they sleep at once (libgomp too spins
// only 100 rounds then). One caller at a time holds the team (`busy`); another one,
// meanwhile, hands its pieces to the pool's workers as before.
//
// Some work still goes to the pool's workers from outside it: products through the `gemm`
// crate, which splits on rayon, and `jit` programs. A caller about to hand them such work first
// tells spinning helpers to sleep, and for `POOL_AWAKE` after the workers finish (rayon's own
// idle rounds) its split ops go to them, awake, instead of to the helpers, asleep
// (`to_the_pool`). `vmap_jacfwd_mlp_input` alternates products through the crate with broadcast
// multiplies: with helpers spinning beside the two busy workers it ran 1.35× slower (270–318
// against 200–206 µs), with them hushed but woken for each multiply 1.15× (233–252), and with
// both rules level (201–215 against 201–207). Which thread runs a piece
// changes no result, so the bits are those of one thread.
//
// A wave's function has its lifetime erased as for the pool's jobs (`for_each_piece`): a
// helper calls it only for a piece it claimed below `n`, and the caller returns only after
// `done` reaches `n`; a helper that picks up a wave after that claims nothing. The caller
// takes the wave out of the slot before it returns, so a later helper finds none.

/// How long a helper of the team spins for the next wave before it sleeps (`NOTE: [team]`).
const SPIN: std::time::Duration = std::time::Duration::from_millis(1);

/// One split op's pieces, offered to the team (`NOTE: [team]`).
#[derive(Clone)]
struct Wave {
    shared: Arc<Shared>,
    f: Piece,
    n: usize,
}

/// The helpers of eager ops split from outside the pool (`NOTE: [team]`).
struct Team {
    /// Whether a caller holds the team.
    busy: AtomicBool,
    /// The wave on offer.
    wave: Mutex<Option<Wave>>,
    /// Bumped when a wave is offered.
    generation: AtomicU64,
    /// How many helpers sleep on `wake`.
    asleep: AtomicUsize,
    /// Held to sleep on `wake` and to wake the sleepers.
    sleep: Mutex<()>,
    wake: Condvar,
    /// How long a helper spins: `SPIN`, or nothing where the threads outnumber the cores.
    spin: std::time::Duration,
    /// Bumped by [`to_the_pool`]: spinning helpers sleep at once.
    hushed: AtomicU64,
}

static TEAM: OnceLock<Team> = OnceLock::new();

/// The start of the names of the team's helper threads.
const HELPER_NAME: &str = "functorch-helper-";

/// Whether this thread is a helper of the team (`NOTE: [team]`).
#[cfg(test)]
fn on_helper() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with(HELPER_NAME))
}

/// The team for a pool of `threads`, its `threads − 1` helpers started on first use.
fn team(threads: usize) -> &'static Team {
    TEAM.get_or_init(|| {
        for i in 1..threads {
            let spawned = std::thread::Builder::new()
                .name(format!("{HELPER_NAME}{i}"))
                .spawn(help);
            // without helpers the team's pieces fall to the caller, which takes them all
            drop(spawned);
        }
        Team {
            busy: AtomicBool::new(false),
            wave: Mutex::new(None),
            generation: AtomicU64::new(0),
            asleep: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            spin: match std::thread::available_parallelism() {
                Ok(cores) if threads > cores.get() => std::time::Duration::ZERO,
                _ => SPIN,
            },
            hushed: AtomicU64::new(0),
        }
    })
}

/// Run `f`, which hands work to the pool's workers (a matrix product through the `gemm` crate,
/// a `jit` program). From outside the pool the team's spinning helpers are told to sleep first,
/// as the workers need the cores they would spin on, and the split ops that follow within
/// `POOL_AWAKE` go to the workers, still awake (`NOTE: [team]`).
pub(crate) fn to_the_pool<R>(f: impl FnOnce() -> R) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    if let Some(team) = TEAM.get() {
        team.hushed.fetch_add(1, Ordering::Relaxed);
    }
    let r = f();
    pool_used();
    r
}

/// How long the pool's workers stay awake after a job, looking for the next (`NOTE: [team]`).
const POOL_AWAKE: std::time::Duration = std::time::Duration::from_micros(50);

/// When the pool's workers last finished work handed to them from outside the pool, in
/// nanoseconds since `EPOCH`.
static POOL_USED: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();

fn now_ns() -> u64 {
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// Note that the pool's workers have just finished work this thread handed them: the next
/// split op goes to them while they are still awake (`NOTE: [team]`).
fn pool_used() {
    POOL_USED.store(now_ns(), Ordering::Relaxed);
}

/// Whether the pool's workers finished work from outside the pool less than `POOL_AWAKE` ago.
fn pool_awake() -> bool {
    let used = POOL_USED.load(Ordering::Relaxed);
    used != 0 && now_ns().saturating_sub(used) < POOL_AWAKE.as_nanos() as u64
}

impl Team {
    /// Offer `wave` to the helpers, unless another caller holds the team; the wave stays on
    /// offer until the returned guard drops.
    fn offer(&'static self, wave: Wave) -> Option<Offered> {
        if self
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        *self.wave.lock().unwrap_or_else(|e| e.into_inner()) = Some(wave);
        self.generation.fetch_add(1, Ordering::SeqCst);
        // a helper counts itself asleep before it checks the generation for the last time,
        // so one that this misses sees the new generation and does not sleep
        if self.asleep.load(Ordering::SeqCst) > 0 {
            let _sleep = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
        Some(Offered(self))
    }
}

/// A wave on offer; dropping it takes the wave out of the slot and frees the team.
struct Offered(&'static Team);

impl Drop for Offered {
    fn drop(&mut self) {
        *self.0.wave.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.0.busy.store(false, Ordering::Release);
    }
}

/// A helper's life: take each wave's pieces, spinning for `team.spin` after each, then sleeping
/// until the next (`NOTE: [team]`).
fn help() {
    // a piece's panic is caught and resumed on the caller, as the pool's are
    crate::array::pool::carries_failures();
    let team = loop {
        // the spawning thread finishes `get_or_init` at once
        match TEAM.get() {
            Some(t) => break t,
            None => std::thread::yield_now(),
        }
    };
    // from the team's first generation: a wave offered before this thread started is taken
    let mut seen = 0;
    loop {
        let start = std::time::Instant::now();
        let hushed = team.hushed.load(Ordering::Relaxed);
        loop {
            let g = team.generation.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                break;
            }
            if start.elapsed() < team.spin && team.hushed.load(Ordering::Relaxed) == hushed {
                std::thread::yield_now();
                continue;
            }
            let mut sleep = team.sleep.lock().unwrap_or_else(|e| e.into_inner());
            team.asleep.fetch_add(1, Ordering::SeqCst);
            while team.generation.load(Ordering::SeqCst) == seen {
                sleep = team.wake.wait(sleep).unwrap_or_else(|e| e.into_inner());
            }
            team.asleep.fetch_sub(1, Ordering::SeqCst);
            seen = team.generation.load(Ordering::Acquire);
            break;
        }
        let wave = team.wave.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(w) = wave {
            // SAFETY: `run` calls it only for pieces claimed below `n`, while the caller waits
            // for them (`NOTE: [team]`)
            w.shared.run(w.n, &|i| unsafe { w.f.call(i) });
        }
    }
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

    /// NOTE: [team]: callers on several threads at once, each running many waves one after
    /// another (the team's helpers take one caller's, the pool's workers the others'), run
    /// every piece once, and a wave's pieces run on two threads at once: piece 0 waits for
    /// piece 1 to start, which only another thread can do while the caller is in piece 0.
    #[test]
    fn waves_from_several_callers_run_every_piece_once() {
        std::thread::scope(|s| {
            for caller in 0..3 {
                s.spawn(move || {
                    for wave in 0..200 {
                        let n = 2 + (caller * 7 + wave) % 19;
                        let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
                        for_each_piece(n, |i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        });
                        assert!(
                            hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                            "caller {caller}, wave {wave}"
                        );
                    }
                });
            }
        });
        if rayon::current_num_threads() < 2 {
            return;
        }
        for _ in 0..20 {
            let started = AtomicBool::new(false);
            for_each_piece(2, |i| {
                if i == 1 {
                    started.store(true, Ordering::Release);
                    return;
                }
                let t = std::time::Instant::now();
                while !started.load(Ordering::Acquire) {
                    assert!(
                        t.elapsed() < std::time::Duration::from_secs(20),
                        "no other thread took piece 1"
                    );
                    std::thread::yield_now();
                }
            });
        }
    }

    /// NOTE: [team]: the thread that takes a piece beside the caller, a helper of the team or
    /// a worker of the pool, can unwind a failed allocation to the caller's boundary. Each of
    /// the two pieces waits for the other to start, so two threads run them; waves are run
    /// until one has reached a helper (another test's caller may hold the team for a while,
    /// or the pool's workers be awake).
    #[test]
    fn the_other_thread_of_a_wave_unwinds() {
        if rayon::current_num_threads() < 2 {
            return;
        }
        let caller = std::thread::current().id();
        let start = std::time::Instant::now();
        let limit = std::time::Duration::from_secs(20);
        loop {
            let started = [AtomicBool::new(false), AtomicBool::new(false)];
            let (other, helper, unwinds) = (
                AtomicBool::new(false),
                AtomicBool::new(false),
                AtomicBool::new(false),
            );
            for_each_piece(2, |i| {
                if std::thread::current().id() != caller {
                    unwinds.store(crate::array::pool::can_unwind_here(), Ordering::Relaxed);
                    helper.store(on_helper(), Ordering::Relaxed);
                    other.store(true, Ordering::Relaxed);
                }
                started[i].store(true, Ordering::Release);
                while !started[1 - i].load(Ordering::Acquire) {
                    assert!(
                        start.elapsed() < limit,
                        "no other thread took the other piece"
                    );
                    std::thread::yield_now();
                }
            });
            assert!(other.load(Ordering::Relaxed) && unwinds.load(Ordering::Relaxed));
            if helper.load(Ordering::Relaxed) {
                break;
            }
            assert!(
                start.elapsed() < limit,
                "no wave reached the team's helpers"
            );
            // past the pool's waking time, after which waves go to the team again
            std::thread::sleep(2 * POOL_AWAKE);
        }
        assert!(!on_helper());
    }
}
