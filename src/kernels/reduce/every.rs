//! Every `S`-th element of a slice, read a row of [`LANES`] at a time with AVX-512 loads and
//! permutes (NOTE: [strided-direct]).

use super::{LANES, LaneRows};
use crate::array::Element;
use crate::kernels::math::{self, Isa};
use std::arch::x86_64::*;

/// Every `S`-th element of `x` from its first, `len` of them. It exists only where the CPU
/// has AVX-512, the elements have 4 or 8 bytes and `S` is 2, 3 or 4: each row of [`LANES`]
/// is read with `S` wide loads per vector and one to three permutes ([`row`]), so it is
/// folded only in code compiled for AVX-512 (`fold_every`).
#[derive(Clone, Copy)]
pub(super) struct Every<'a, T, const S: usize> {
    x: &'a [T],
    len: usize,
}

impl<'a, T: Element, const S: usize> Every<'a, T, S> {
    /// `None` unless the CPU has AVX-512, `T` has 4 or 8 bytes, `S` is 2, 3 or 4, and `x` holds
    /// element `(len - 1) * S` and all that the wide loads of the whole rows read (`S - 1`
    /// elements past the last one of the last whole row).
    pub(super) fn new(x: &'a [T], len: usize) -> Option<Self> {
        let ok = math::isa() == Isa::Avx512
            && matches!(size_of::<T>(), 4 | 8)
            && matches!(S, 2..=4)
            && (len == 0 || (len - 1) * S < x.len())
            && len / LANES * LANES * S <= x.len();
        ok.then_some(Every { x, len })
    }
}

impl<T: Element, const S: usize> LaneRows<T> for Every<'_, T, S> {
    #[inline(always)]
    fn len(self) -> usize {
        self.len
    }
    #[inline(always)]
    fn row(self, k: usize) -> [T; LANES] {
        assert!(
            k < self.len / LANES,
            "internal error: a row past the last whole one"
        );
        // SAFETY: the row reads `x[k * LANES * S..(k + 1) * LANES * S]`, inside `x` for a whole
        // row (checked by `new`); the CPU has AVX-512 (checked by `new`); `T` has 4 or 8 bytes
        // (checked by `new`) and is `f32`, `f64` or `i64` (`Element` is sealed), for which any
        // bits are a value.
        unsafe { row::<T, S>(self.x.as_ptr().add(k * LANES * S)) }
    }
    #[inline(always)]
    fn at(self, i: usize) -> T {
        self.x[i * S]
    }
}

/// The `LANES` elements `p[0], p[S], ..., p[(LANES - 1) * S]`.
///
/// # Safety
/// The CPU has AVX-512F; `T` has 4 or 8 bytes and every bit pattern is a `T`; `p` may be read
/// for `LANES * S` elements.
#[inline(always)]
unsafe fn row<T: Copy, const S: usize>(p: *const T) -> [T; LANES] {
    // SAFETY (all blocks): as the caller promises; each vector reads its `8 * S` or `16 * S`
    // elements from inside the row's `LANES * S`
    unsafe {
        if size_of::<T>() == 8 {
            let p = p.cast::<i64>();
            let v = [
                pick64::<S>(p),
                pick64::<S>(p.add(8 * S)),
                pick64::<S>(p.add(16 * S)),
                pick64::<S>(p.add(24 * S)),
            ];
            std::mem::transmute_copy::<[__m512i; 4], [T; LANES]>(&v)
        } else {
            let p = p.cast::<i32>();
            let v = [pick32::<S>(p), pick32::<S>(p.add(16 * S))];
            std::mem::transmute_copy::<[__m512i; 2], [T; LANES]>(&v)
        }
    }
}

/// The 8 elements `p[0], p[S], ..., p[7 * S]` of 8 bytes, from `S` loads of 8.
///
/// # Safety
/// The CPU has AVX-512F, and `p` may be read for `8 * S` elements.
#[inline(always)]
unsafe fn pick64<const S: usize>(p: *const i64) -> __m512i {
    // vector `i` of the `S` (a macro, not a closure: no function between the loads and the
    // AVX-512 code they are inlined into)
    macro_rules! ld {
        ($i:expr) => {
            _mm512_loadu_epi64(p.add(8 * $i))
        };
    }
    // SAFETY (all blocks): as the caller promises
    unsafe {
        match S {
            2 => _mm512_permutex2var_epi64(
                ld!(0),
                _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14),
                ld!(1),
            ),
            3 => {
                // 0 3 6 9 12 15 from the first two, then 18 21 from the third
                let ab = _mm512_permutex2var_epi64(
                    ld!(0),
                    _mm512_setr_epi64(0, 3, 6, 9, 12, 15, 0, 0),
                    ld!(1),
                );
                _mm512_permutex2var_epi64(ab, _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 10, 13), ld!(2))
            }
            _ => {
                // 0 4 8 12 from the first two, 16 20 24 28 from the last two
                let ab = _mm512_permutex2var_epi64(
                    ld!(0),
                    _mm512_setr_epi64(0, 4, 8, 12, 0, 0, 0, 0),
                    ld!(1),
                );
                let cd = _mm512_permutex2var_epi64(
                    ld!(2),
                    _mm512_setr_epi64(0, 0, 0, 0, 0, 4, 8, 12),
                    ld!(3),
                );
                _mm512_mask_blend_epi64(0xF0, ab, cd)
            }
        }
    }
}

/// The 16 elements `p[0], p[S], ..., p[15 * S]` of 4 bytes, from `S` loads of 16.
///
/// # Safety
/// The CPU has AVX-512F, and `p` may be read for `16 * S` elements.
#[inline(always)]
unsafe fn pick32<const S: usize>(p: *const i32) -> __m512i {
    // vector `i` of the `S` (as in `pick64`)
    macro_rules! ld {
        ($i:expr) => {
            _mm512_loadu_epi32(p.add(16 * $i))
        };
    }
    // SAFETY (all blocks): as the caller promises
    unsafe {
        match S {
            2 => _mm512_permutex2var_epi32(
                ld!(0),
                _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
                ld!(1),
            ),
            3 => {
                // 0 3 ... 30 from the first two, then 33 36 39 42 45 from the third
                let ab = _mm512_permutex2var_epi32(
                    ld!(0),
                    _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0),
                    ld!(1),
                );
                _mm512_permutex2var_epi32(
                    ab,
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 20, 23, 26, 29),
                    ld!(2),
                )
            }
            _ => {
                // 0 4 ... 28 from the first two, 32 36 ... 60 from the last two
                let ab = _mm512_permutex2var_epi32(
                    ld!(0),
                    _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0),
                    ld!(1),
                );
                let cd = _mm512_permutex2var_epi32(
                    ld!(2),
                    _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 8, 12, 16, 20, 24, 28),
                    ld!(3),
                );
                _mm512_mask_blend_epi32(0xFF00, ab, cd)
            }
        }
    }
}
