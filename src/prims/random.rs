//! Random draws: the [`Draw`] primitive, and the thread-local generator it advances. A draw has
//! no operands, so `bind` applies it at the top of the running level stack, where each vmap
//! level applies its `randomness` ("error" refuses, "different" draws one sample per batch
//! element, "same" one sample for the whole batch) and jvp and grad levels see a constant; see
//! `NOTE: [nullary]`.

use super::{PrimKind, Primitive};
use crate::array::{Array, DType, Shape};
use crate::core::{Tensor, bind};
use crate::error::Result;
use rand::rngs::Xoshiro256PlusPlus as StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use smallvec::smallvec;
use std::cell::RefCell;

/// The default seed of every thread's generator (so runs are reproducible unless seeded).
const DEFAULT_SEED: u64 = 0x5eed_f00d;

thread_local! {
    static RNG: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(DEFAULT_SEED));
}

/// Reseed this thread's generator.
pub(crate) fn seed(s: u64) {
    RNG.with(|r| *r.borrow_mut() = StdRng::seed_from_u64(s));
}

/// A saved state of this thread's generator.
#[derive(Clone)]
pub(crate) struct GeneratorState(StdRng);

/// A copy of this thread's generator state.
pub(crate) fn state() -> GeneratorState {
    RNG.with(|r| GeneratorState(r.borrow().clone()))
}

/// Restore a state taken by [`state`].
pub(crate) fn set_state(s: GeneratorState) {
    RNG.with(|r| *r.borrow_mut() = s.0);
}

/// Which distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dist {
    /// N(0, 1).
    Normal,
    /// U[0, 1).
    Uniform,
}

/// Which generator a draw advances. Part of the primitive's data, so a recorded program says
/// where its randomness comes from (an explicit generator object would be a second variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// This thread's generator, reseeded by `manual_seed`.
    ThreadLocal,
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

fn draw(shape: &[usize], dtype: DType, dist: Dist) -> Array {
    let n: usize = shape.iter().product();
    RNG.with(|r| {
        let mut r = r.borrow_mut();
        let v: Vec<f64> = match dist {
            Dist::Normal => (0..n).map(|_| r.sample::<f64, _>(StandardNormal)).collect(),
            Dist::Uniform => (0..n).map(|_| r.random::<f64>()).collect(),
        };
        match dtype {
            // rounding to f32 can carry a uniform draw just below 1 up to 1: keep [0, 1)
            DType::F32 => Array::from_vec(
                v.into_iter()
                    .map(|x| match x as f32 {
                        y if dist == Dist::Uniform && y >= 1.0 => 1.0 - f32::EPSILON / 2.0,
                        y => y,
                    })
                    .collect(),
                shape,
            ),
            _ => Array::from_vec(v, shape),
        }
    })
}

impl Primitive for Draw {
    fn name(&self) -> &'static str {
        match self.dist {
            Dist::Normal => "randn",
            Dist::Uniform => "rand",
        }
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Random
    }
    fn eval(&self, _: &[&Array]) -> Result<Array> {
        let Source::ThreadLocal = self.source;
        Ok(draw(&self.shape, self.dtype, self.dist))
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
