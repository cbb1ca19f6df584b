//! Random draws: the [`Draw`] primitive, and the thread-local generator it advances. A draw has
//! no operands, so `bind` applies it at the top of the running level stack, where each vmap
//! level applies its `randomness` ("error" refuses, "different" draws one sample per batch
//! element, "same" one sample for the whole batch) and jvp and grad levels see a constant; see
//! `NOTE: [nullary]`.

use super::{PrimKind, Primitive};
use crate::array::{AlignedVec, Array, DType, Shape, alloc, checked_numel};
use crate::core::{Tensor, bind};
use crate::error::{Error, Result};
use rand::rngs::Xoshiro256PlusPlus as StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use smallvec::smallvec;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

/// The default seed of every thread's generator (so runs are reproducible unless seeded).
const DEFAULT_SEED: u64 = 0x5eed_f00d;

thread_local! {
    static RNG: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(DEFAULT_SEED));
}

/// Reseed this thread's generator.
pub(crate) fn seed(s: u64) {
    RNG.with(|r| *r.borrow_mut() = StdRng::seed_from_u64(s));
}

/// A saved state of this thread's generator, and a journal of the explicit generators this
/// thread draws from while the state is alive.
///
/// NOTE: [generator-journal] Explicit generators are shared by every thread, so a snapshot of
/// all of them, restored later, would rewind draws that other threads made in between. A
/// snapshot instead opens a journal: the first time this thread draws from an explicit
/// generator while the snapshot lives, the generator's state before the draw is written into
/// it, and [`set_state`] restores exactly those. Replaying a computation (vmap's
/// `randomness("same")` over chunks) thus rewinds only what that computation consumed.
#[derive(Clone)]
pub(crate) struct GeneratorState(StdRng, Rc<Journal>);

/// The states of explicit generators before this thread first drew from them, by id.
type Journal = RefCell<HashMap<u64, StdRng>>;

thread_local! {
    /// The journals of this thread's live snapshots (see `NOTE: [generator-journal]`).
    static JOURNALS: RefCell<Vec<Weak<Journal>>> =
        const { RefCell::new(Vec::new()) };
}

/// A copy of this thread's generator state, journaling the explicit generators it draws from.
pub(crate) fn state() -> GeneratorState {
    let journal = Rc::new(RefCell::new(HashMap::new()));
    JOURNALS.with(|j| {
        let mut j = j.borrow_mut();
        j.retain(|w| w.strong_count() > 0);
        j.push(Rc::downgrade(&journal));
    });
    RNG.with(|r| GeneratorState(r.borrow().clone(), journal))
}

/// Restore a state taken by [`state`]: this thread's generator, and the explicit generators
/// this thread has drawn from since (`NOTE: [generator-journal]`).
pub(crate) fn set_state(s: GeneratorState) {
    RNG.with(|r| *r.borrow_mut() = s.0);
    let mut all = generators();
    for (id, rng) in s.1.borrow().iter() {
        if let Some(g) = all.get_mut(id) {
            *g = rng.clone();
        }
    }
}

/// Write `rng`'s state (generator `id`, about to be drawn from) into every live journal of
/// this thread that has not seen `id` yet.
fn journal(id: u64, rng: &StdRng) {
    JOURNALS.with(|j| {
        for w in j.borrow().iter() {
            if let Some(journal) = w.upgrade() {
                journal
                    .borrow_mut()
                    .entry(id)
                    .or_insert_with(|| rng.clone());
            }
        }
    });
}

/// A copy of this thread's generator alone (explicit generators are not in it): plain data, so
/// a rule may keep it (`checkpoint` replays its function's draws with it).
#[derive(Clone, Debug)]
pub(crate) struct ThreadRng(StdRng);

/// This thread's generator state.
pub(crate) fn thread_rng() -> ThreadRng {
    RNG.with(|r| ThreadRng(r.borrow().clone()))
}

/// Set this thread's generator to `s`; returns the state it had.
pub(crate) fn replace_thread_rng(s: &ThreadRng) -> ThreadRng {
    RNG.with(|r| ThreadRng(std::mem::replace(&mut *r.borrow_mut(), s.0.clone())))
}

/// The explicit generators (`functorch::Generator`), by id.
static GENERATORS: LazyLock<Mutex<HashMap<u64, StdRng>>> = LazyLock::new(Default::default);
static NEXT_GENERATOR: AtomicU64 = AtomicU64::new(1);

fn generators() -> MutexGuard<'static, HashMap<u64, StdRng>> {
    GENERATORS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new explicit generator seeded with `seed`; returns its id.
pub(crate) fn new_generator(seed: u64) -> u64 {
    let id = NEXT_GENERATOR.fetch_add(1, Ordering::Relaxed);
    generators().insert(id, StdRng::seed_from_u64(seed));
    id
}

/// Reseed explicit generator `id`.
pub(crate) fn seed_generator(id: u64, seed: u64) {
    generators().insert(id, StdRng::seed_from_u64(seed));
}

/// Forget explicit generator `id` (its last handle was dropped).
pub(crate) fn drop_generator(id: u64) {
    generators().remove(&id);
}

/// Which distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dist {
    /// N(0, 1).
    Normal,
    /// U[0, 1).
    Uniform,
    /// Integers uniform in `low..high` (i64).
    Randint { low: i64, high: i64 },
    /// A random permutation of `0..n` along the last dim, `n` its size (i64); every leading
    /// dim is an independent row.
    Permutation,
}

impl Dist {
    /// The op that draws from this distribution.
    fn op(self) -> &'static str {
        match self {
            Dist::Normal => "randn",
            Dist::Uniform => "rand",
            Dist::Randint { .. } => "randint",
            Dist::Permutation => "randperm",
        }
    }
}

/// Which generator a draw advances. Part of the primitive's data, so a recorded program says
/// where its randomness comes from (an explicit generator object would be a second variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// This thread's generator, reseeded by `manual_seed`.
    ThreadLocal,
    /// An explicit generator (`functorch::Generator`), by id.
    Generator(u64),
}

/// Samples of `dist` of `shape` (the per-example shape inside vmap) and a float `dtype`, drawn
/// from `source`. Equal draws compare equal (they are the same program), but each evaluation
/// advances the generator: see [`PrimKind::Random`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Draw {
    pub(crate) dist: Dist,
    pub(crate) shape: Shape,
    pub(crate) dtype: DType,
    pub(crate) source: Source,
}

/// Run `f` on the generator `source` names.
fn with_rng<T>(source: Source, f: impl FnOnce(&mut StdRng) -> T) -> Result<T> {
    match source {
        Source::ThreadLocal => Ok(RNG.with(|r| f(&mut r.borrow_mut()))),
        Source::Generator(id) => match generators().get_mut(&id) {
            Some(r) => {
                journal(id, r);
                Ok(f(r))
            }
            None => Err(Error::invalid(
                "random",
                "the generator this draw was recorded with has been dropped",
            )),
        },
    }
}

fn draw(shape: &[usize], dtype: DType, dist: Dist, source: Source) -> Result<Array> {
    let n = checked_numel(dist.op(), shape)?;
    with_rng(source, |r| match dist {
        Dist::Randint { low, high } => {
            let mut v: AlignedVec<i64> = alloc(n);
            v.extend((0..n).map(|_| r.random_range(low..high)));
            Array::from_vec(v, shape)
        }
        Dist::Permutation => {
            let m = shape.last().copied().unwrap_or(1);
            let mut v: AlignedVec<i64> = alloc(n);
            for _ in 0..n.checked_div(m).unwrap_or(0) {
                let start = v.len();
                v.extend(0..m as i64);
                for i in (1..m).rev() {
                    let j = r.random_range(0..=i);
                    v.swap(start + i, start + j);
                }
            }
            Array::from_vec(v, shape)
        }
        Dist::Normal | Dist::Uniform => {
            let mut v: AlignedVec<f64> = alloc(n);
            match dist {
                Dist::Normal => v.extend((0..n).map(|_| r.sample::<f64, _>(StandardNormal))),
                _ => v.extend((0..n).map(|_| r.random::<f64>())),
            };
            match dtype {
                // rounding to f32 can carry a uniform draw just below 1 up to 1: keep [0, 1)
                DType::F32 => Array::from_vec(
                    v.iter()
                        .map(|&x| match x as f32 {
                            y if dist == Dist::Uniform && y >= 1.0 => 1.0 - f32::EPSILON / 2.0,
                            y => y,
                        })
                        .collect::<AlignedVec<f32>>(),
                    shape,
                ),
                _ => Array::from_vec(v, shape),
            }
        }
    })
}

impl Primitive for Draw {
    fn name(&self) -> &'static str {
        self.dist.op()
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Random
    }
    fn eval(&self, _: &[&Array]) -> Result<Array> {
        draw(&self.shape, self.dtype, self.dist, self.source)
    }
    /// One independent draw per batch element: a single draw with the batch as its leading dim.
    fn batch(&self, _: &[&Tensor], _: &[bool], size: usize) -> Result<Tensor> {
        let mut shape: Shape = smallvec![size];
        shape.extend_from_slice(&self.shape);
        bind(&Draw { shape, ..*self }, &[])
    }
    /// The result depends on no operand: nothing to differentiate.
    fn differentiable(&self) -> bool {
        false
    }
}
