//! Random draws. They have no operands, so `bind` never sees them: a draw consults the running
//! vmap levels itself and applies each level's `randomness` (`NOTE: [levels]`): "error" refuses,
//! "different" draws one sample per batch element (the draw is batched at that level), "same"
//! draws one sample for the whole batch.

use crate::array::{Array, DType};
use crate::core::Tensor;
use crate::core::{LevelKind, Randomness, active_batch_levels};
use crate::error::{Error, Result};
use rand::rngs::Xoshiro256PlusPlus as StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use std::cell::RefCell;

/// The default seed of every thread's generator (so runs are reproducible unless seeded).
const DEFAULT_SEED: u64 = 0x5eed_f00d;

thread_local! {
    static RNG: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(DEFAULT_SEED));
}

/// Which distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Dist {
    /// N(0, 1).
    Normal,
    /// U[0, 1).
    Uniform,
}

/// Reseed this thread's generator.
pub(crate) fn seed(s: u64) {
    RNG.with(|r| *r.borrow_mut() = StdRng::seed_from_u64(s));
}

/// A saved generator state.
pub(crate) type State = StdRng;

/// A copy of this thread's generator state.
pub(crate) fn state() -> StdRng {
    RNG.with(|r| r.borrow().clone())
}

/// Restore a state taken by [`state`].
pub(crate) fn set_state(s: StdRng) {
    RNG.with(|r| *r.borrow_mut() = s);
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

/// A random tensor of `shape` (the per-example shape inside vmap).
pub(crate) fn sample(
    op: &'static str,
    shape: &[usize],
    dtype: DType,
    dist: Dist,
) -> Result<Tensor> {
    if !dtype.is_float() {
        return Err(Error::DType {
            op,
            expected: "a float dtype",
            got: dtype,
        });
    }
    let levels = active_batch_levels();
    let mut phys = Vec::new();
    for l in &levels {
        if let LevelKind::Batch { size, randomness } = &l.kind {
            match randomness {
                Randomness::Error => return Err(Error::Randomness { op }),
                Randomness::Different => phys.push(*size),
                Randomness::Same => {}
            }
        }
    }
    phys.extend_from_slice(shape);
    let mut t = Tensor::from_array(draw(&phys, dtype, dist));
    // the outermost level wraps first: its batch is the leading dim
    for l in &levels {
        if let LevelKind::Batch {
            randomness: Randomness::Different,
            ..
        } = &l.kind
        {
            t = crate::core::batched(l, t);
        }
    }
    Ok(t)
}
