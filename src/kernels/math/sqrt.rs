//! The f64 square root (and `1/√x`) of the AVX-512 and AVX2 copies: an estimate refined by
//! multiply-adds, checked to be the correctly rounded root (and reciprocal), and the
//! hardware's root (and division) where the check fails.
//!
//! NOTE: [sqrt-newton] `vsqrtpd` on 512-bit vectors issues one every 16 cycles on the Intel
//! Xeon (Emerald Rapids) of the benchmarks: 2 cycles an element, where torch (MKL's
//! vector math) took 1.3, from a reciprocal-root estimate and multiply-adds. Here each vector
//! of 8 lanes takes:
//!
//! 1. the estimate `r ≈ 1/√x` of `vrsqrt14pd` (relative error under 2⁻¹⁴);
//! 2. `g = x·r ≈ √x` and `h = r/2 ≈ 1/(2√x)`, refined by two steps of Goldschmidt's iteration
//!    (`ε = ½ − g·h`, `g += g·ε`, `h += h·ε`: 14 → 28 → about 52 bits, the limit of f64);
//! 3. `s = g + h·(x − g²)`, the residual `x − g²` and the last step each one multiply-add
//!    (one rounding): `s` is within about 2⁻¹⁰³ of √x (relative) before it is rounded, so it
//!    is √x correctly rounded unless √x lies that close to a midpoint between two floats;
//! 4. the check, which alone makes the result exact, whatever steps 1–3 gave: with
//!    `e = RN(x − s²)` (one multiply-add), `u` the spacing of floats just below `s` (its ulp,
//!    or half of it when `s` is a power of two) and `t` = `RN(s·u)` lowered by 8 units in its
//!    last place (`t < s·u·(1 − 2⁻⁵¹)`), a lane is accepted when `s ≥ 2⁻⁴⁵⁰` and `|e| < t`.
//!    Then `|x − s²| < s·u·(1 − 2⁻⁵²)` (`e` is `x − s²` rounded, relative error 2⁻⁵³, or
//!    absolute 2⁻¹⁰⁷⁵ if subnormal, far below `t ≥ 2⁻⁹⁵³`), and since
//!    `|√x − s| = |x − s²| / (√x + s)` with `√x + s > 2s − u` (as `|x − s²| < s·u`),
//!    `|√x − s| < u/2`: `s` is nearer to √x than half the spacing on either side of it (at a
//!    power of two the spacing above is `2u`), so `s` is the correctly rounded root (ties
//!    cannot occur).
//!    Lanes not accepted (zeros, negatives, subnormals, arguments under about 2⁻⁹⁰⁰, ±∞, NaN, and
//!    in principle a near-midpoint root, never seen in 2·10⁷ random arguments) take
//!    `vsqrtpd`, masked to those lanes.
//!
//! The results are the bits of `f64::sqrt` for every argument (checked against it over random
//! bit patterns of every binade, perfect squares, roots next to midpoints and the special
//! values, in `tests.rs`), so every copy of the loops, strided and jit code agree. Measured on
//! that Xeon, one thread, 10⁶ elements: 1.00 ms with `vsqrtpd`, 0.70 ms like this; 4096
//! elements in L1, 4.1 against 2.6 µs. On the AMD Zen 4 machine each way alone took about
//! the same (546 and 570 µs), and the two taken in turn 341 µs: each op's loop is chosen
//! among such mixes by timing them (NOTE: [unit-mix]). The AVX2 copy has loops of its own,
//! from f32 estimates ([`avx2`], NOTE: [unit-mix-avx2]); the plain copy keeps the hardware's
//! root.
//!
//! `1/√x` (rsqrt, two roundings as `x.sqrt().recip()`) takes the checked root, then its
//! reciprocal the same way: `vrcp14pd`, two Newton steps, and the check that `|RN(1 − q·s)|`
//! is under `s·u/2` less 8 ulps ([`reciprocal`]), `vdivpd` where it is not. One thread, 10⁶
//! elements, builds alternated, three rounds: 1.72 → 1.21–1.25 ms on the Xeon (root and
//! `vdivpd` before). The reciprocal alone (`1/x`) mixes `vdivpd` with the same checked
//! reciprocal.

use std::mem::MaybeUninit;

/// `out[i] = √x[i]`, correctly rounded (NOTE: [sqrt-newton]). Elements past the shorter of
/// the two slices are left alone.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn sqrt64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
    // SAFETY: the caller's CPU has AVX-512F, what every loop of SQRT needs
    unsafe { SQRT.pick()(x, out) }
}

/// `out[i] = 1/√x[i]` with two roundings, as `x.sqrt().recip()` gives it: the checked root,
/// then its reciprocal checked the same way (NOTE: [sqrt-newton]). Elements past the shorter
/// of the two slices are left alone.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn rsqrt64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
    // SAFETY: as in `sqrt64`
    unsafe { RSQRT.pick()(x, out) }
}

/// `out[i] = 1/x[i]`, correctly rounded: `vdivpd` and the checked reciprocal of
/// [`reciprocal`] side by side (NOTE: [unit-mix]). Elements past the shorter of the two
/// slices are left alone.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn recip64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
    // SAFETY: as in `sqrt64`
    unsafe { RECIP.pick()(x, out) }
}

// NOTE: [unit-mix] A vector's square root or reciprocal can come from the core's divide unit
// (`vsqrtpd`, `vdivpd`: one every 9–16 cycles, not pipelined) or from multiply-adds checked
// exact (NOTE: [sqrt-newton]: about 13 on the FMA pipes), with the same bits either way. One
// way alone leaves the other's units idle; vectors taken in turn by both keep both busy. How
// many of each is best depends on the core: on the AMD Zen 4 machine (two 256-bit FMA pipes,
// so a 512-bit multiply-add takes both; a divide unit beside them), one thread, 10⁶ f64,
// medians of three: the square root 546 µs by `vsqrtpd` alone, 570 by multiply-adds alone,
// 341 with the two in turn; `1/√x` 1160 µs by multiply-adds alone, 850 by the unit alone,
// 689 with the root by multiply-adds and `vdivpd`, 525 with that for two vectors of three and
// the unit alone for the third. On the Intel Xeon (Emerald Rapids) the multiply-adds alone
// were the faster of the two single ways (NOTE: [sqrt-newton]), and a mix that leans on the
// unit would lose there. So each op has a few loops, each a fixed pattern over a group of
// six vectors (the rest of a slice one vector at a time by multiply-adds), and the first call
// in a process times each on 2048 elements in the L1 cache (best of five, 20–70 µs in all)
// and keeps the fastest ([`Mixes::pick`]). The bits do not depend on the choice: every
// pattern gives the correctly rounded result in every lane (tests.rs checks each loop).
//
// Not in f32: there `vsqrtps` and `vdivps` take 16 lanes at a time, and the multiply-add way
// (in f64, whose rounding to f32 needs no check) takes two 8-lane halves. On the Zen 4
// machine, 10⁶ f32, one thread: the root 174 µs by the unit alone, 448 by f64 multiply-adds
// alone, 250 with the two in turn; `1/√x` 274 against 368 at best; the reciprocal 104
// against 150. A build with those mixes (2026-12-04) chose the unit alone each time.

/// A loop over a slice for one op, one of its [`Mixes`].
///
/// # Safety
/// The CPU must have what the loop is compiled for: AVX-512F, or AVX2 and FMA for those of
/// [`avx2`].
pub(super) type Loop = unsafe fn(&[f64], &mut [MaybeUninit<f64>]);

/// Loops that give the same bits for one op, and the one measured fastest on this machine
/// (NOTE: [unit-mix]).
pub(super) struct Mixes {
    /// The candidates, each a pattern of hardware and multiply-add vectors.
    pub(super) loops: &'static [Loop],
    /// The index of the fastest in `loops`, or `UNTIMED`.
    chosen: std::sync::atomic::AtomicU8,
}

/// `Mixes::chosen` before the loops are timed.
const UNTIMED: u8 = u8::MAX;

impl Mixes {
    pub(super) const fn new(loops: &'static [Loop]) -> Mixes {
        Mixes {
            loops,
            chosen: std::sync::atomic::AtomicU8::new(UNTIMED),
        }
    }

    /// The fastest loop, timed on the first call (a race between threads times twice; either
    /// result is a loop of the same bits).
    ///
    /// # Safety
    /// The CPU must have what the loops need ([`Loop`]).
    pub(super) unsafe fn pick(&self) -> Loop {
        use std::sync::atomic::Ordering::Relaxed;
        let mut c = self.chosen.load(Relaxed);
        if c == UNTIMED {
            // SAFETY: the caller's CPU has what the loops need
            c = unsafe { fastest(self.loops) };
            self.chosen.store(c, Relaxed);
        }
        self.loops[c as usize]
    }
}

/// The index of the fastest of `loops` on 2048 arguments in [1, 4) (an L1-resident input
/// and output: the loops differ in the units they keep busy, not in memory traffic), by the
/// best of five calls each, taken in turn.
///
/// # Safety
/// The CPU must have what the loops need ([`Loop`]).
unsafe fn fastest(loops: &[Loop]) -> u8 {
    const LEN: usize = 2048;
    let x: Vec<f64> = (0..LEN)
        .map(|i| 1.0 + 3.0 * (i as f64 * 0.618_033_988_749_895).fract())
        .collect();
    let mut out = vec![MaybeUninit::<f64>::uninit(); LEN];
    let mut best = vec![f64::INFINITY; loops.len()];
    for _ in 0..5 {
        for (b, f) in best.iter_mut().zip(loops) {
            let t = std::time::Instant::now();
            // SAFETY: the caller's CPU has what the loops need
            unsafe { f(&x, &mut out) };
            *b = b.min(t.elapsed().as_secs_f64());
        }
    }
    let mut c = 0;
    for (i, b) in best.iter().enumerate() {
        if *b < best[c] {
            c = i;
        }
    }
    c as u8
}

/// The [`Mixes`] `$mixes` of an op (documented by `$doc`, visible to `$vis`): loops (each a
/// [`Loop`], compiled with `$feature`) named `$name` that take each group of six vectors of
/// `$lanes` lanes (`$load` and `$store` read and write one) by their pattern `$m` (`$by::<M>`
/// for a vector, the const `M` saying which units compute it), and the vectors after the last
/// whole group by `$rest` through `$tail` (`lanes` or `lanes4`: a vector `v` at a time, the
/// last one's lanes `k`). The AVX-512 and AVX2 loops of NOTE: [unit-mix] and
/// [unit-mix-avx2].
macro_rules! mixed {
    ($feature:literal, $lanes:literal, $load:ident, $store:ident, $tail:ident;
     $(#[doc = $doc:literal])* $vis:vis $mixes:ident = $by:ident, |$v:ident, $k:ident| $rest:expr;
     $($name:ident: [$($m:literal),+]),+ $(,)?) => {
        $(#[doc = $doc])*
        $vis static $mixes: Mixes = Mixes::new(&[$($name),+]);
        $(
        /// A loop of NOTE: [unit-mix]; see [`mixed`].
        ///
        /// # Safety
        #[doc = concat!("The CPU must have ", $feature, ".")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(x: &[f64], out: &mut [MaybeUninit<f64>]) {
            use std::arch::x86_64::*;
            const GROUP: usize = $lanes * [$($m),+].len();
            let n = x.len().min(out.len());
            let whole = n / GROUP * GROUP;
            let (src, dst) = (x.as_ptr(), out.as_mut_ptr().cast::<f64>());
            let mut i = 0;
            while i < whole {
                let mut j = i;
                $(
                    // SAFETY: j + (a vector's lanes) ≤ whole ≤ n, the length of both slices;
                    // MaybeUninit<f64> has f64's layout
                    unsafe { $store(dst.add(j), $by::<$m>($load(src.add(j)))) };
                    j += $lanes;
                )+
                let _ = j;
                i += GROUP;
            }
            $tail!(&x[whole..n], &mut out[whole..n], |$v, $k| $rest)
        }
    )+};
}

/// For one vector ISA (`$feature`, vectors `$vec` of `$lanes` lanes, as [`mixed`] takes
/// them): `rsqrt_by`, and the three ops' [`Mixes`] `SQRT`, `RECIP` and `RSQRT` (visible to
/// `$vis`, first), each the same candidates of NOTE: [unit-mix], the rest of a slice by `$sqrt`,
/// `$recip` and `$rsqrt`. The ISA's `root_by` and `recip_by` must be in scope.
///
/// The candidates: for the root and the reciprocal, none, one, two, three, four and six
/// vectors of six by the unit; for `1/√x` (bit 0 the root, bit 1 the reciprocal, 1 =
/// multiply-adds), multiply-adds throughout, the root by multiply-adds and the division by
/// the unit, that with one, two or three vectors of six by the unit alone, the two taken in
/// turn, the root by the unit and the reciprocal by multiply-adds, and the unit alone.
macro_rules! unit_mixes {
    ($vis:vis, $feature:literal, $lanes:literal, $vec:ty, $load:ident, $store:ident, $tail:ident;
     sqrt: |$v1:ident, $k1:ident| $sqrt:expr;
     recip: |$v2:ident, $k2:ident| $recip:expr;
     rsqrt: |$v3:ident, $k3:ident| $rsqrt:expr;) => {
        /// 1/√v, two roundings: the root by the units of bit 0 of `M` (`root_by`), its
        /// reciprocal by those of bit 1 (`recip_by`).
        #[inline]
        #[target_feature(enable = $feature)]
        fn rsqrt_by<const M: u8>(v: $vec) -> $vec {
            let s = if M & 1 == FMA {
                root_by::<FMA>(v)
            } else {
                root_by::<HARD>(v)
            };
            if M >> 1 == FMA {
                recip_by::<FMA>(s)
            } else {
                recip_by::<HARD>(s)
            }
        }
        mixed!(
            $feature, $lanes, $load, $store, $tail;
            /// The square root's loops (NOTE: [unit-mix]).
            $vis SQRT = root_by, |$v1, $k1| $sqrt;
            sqrt_f6: [1, 1, 1, 1, 1, 1],
            sqrt_h1: [0, 1, 1, 1, 1, 1],
            sqrt_h2: [0, 1, 1, 0, 1, 1],
            sqrt_h3: [0, 1, 0, 1, 0, 1],
            sqrt_h4: [0, 0, 1, 0, 0, 1],
            sqrt_h6: [0, 0, 0, 0, 0, 0],
        );
        mixed!(
            $feature, $lanes, $load, $store, $tail;
            /// The reciprocal's loops (NOTE: [unit-mix]).
            $vis RECIP = recip_by, |$v2, $k2| $recip;
            recip_f6: [1, 1, 1, 1, 1, 1],
            recip_h1: [0, 1, 1, 1, 1, 1],
            recip_h2: [0, 1, 1, 0, 1, 1],
            recip_h3: [0, 1, 0, 1, 0, 1],
            recip_h4: [0, 0, 1, 0, 0, 1],
            recip_h6: [0, 0, 0, 0, 0, 0],
        );
        mixed!(
            $feature, $lanes, $load, $store, $tail;
            /// The loops of `1/√x` (NOTE: [unit-mix]).
            $vis RSQRT = rsqrt_by, |$v3, $k3| $rsqrt;
            rsqrt_f6: [3, 3, 3, 3, 3, 3],
            rsqrt_d6: [1, 1, 1, 1, 1, 1],
            rsqrt_d5: [1, 1, 1, 1, 1, 0],
            rsqrt_d4: [1, 1, 0, 1, 1, 0],
            rsqrt_d3: [1, 0, 1, 0, 1, 0],
            rsqrt_f3: [3, 1, 3, 1, 3, 1],
            rsqrt_r6: [2, 2, 2, 2, 2, 2],
            rsqrt_h6: [0, 0, 0, 0, 0, 0],
        );
    };
}

/// Which units compute a vector's square root: `HARD` the divide unit (`vsqrtpd`), `FMA`
/// multiply-adds checked exact (NOTE: [sqrt-newton]); for `1/√x`, `HARD | FMA << 1` and the
/// like, bit 0 for the root and bit 1 for its reciprocal.
const HARD: u8 = 0;
/// See [`HARD`].
const FMA: u8 = 1;

/// √v by the units `M` says ([`HARD`] or [`FMA`]), correctly rounded in every lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn root_by<const M: u8>(v: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    if M == HARD {
        std::arch::x86_64::_mm512_sqrt_pd(v)
    } else {
        root(v, 0xff)
    }
}

/// 1/v by the units `M` says ([`HARD`]: `vdivpd`, or [`FMA`]), correctly rounded.
#[inline]
#[target_feature(enable = "avx512f")]
fn recip_by<const M: u8>(v: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    if M == FMA {
        reciprocal(v, 0xff)
    } else {
        _mm512_div_pd(_mm512_set1_pd(1.0), v)
    }
}

unit_mixes!(
    pub(super), "avx512f", 8, std::arch::x86_64::__m512d, _mm512_loadu_pd, _mm512_storeu_pd, lanes;
    sqrt: |v, k| root(v, k);
    recip: |v, k| reciprocal(v, k);
    rsqrt: |v, k| reciprocal(root(v, k), k);
);

// NOTE: [reciprocal-sign] The check holds for either sign: with `s < 0`, `1 − q·s` is
// `1 − (−q)·|s|` exactly, and `u` depends on `|q|` alone, so it accepts `(s, q)` just where it
// accepts `(|s|, −q)`, which proves `−q = RN(1/|s|)`; round to nearest is symmetric, so
// `q = −RN(1/|s|) = RN(1/s)`. Its bound was once `s·u/2`, negative for a negative `s`: every
// negative lane took `vdivpd`, except where `|q|` was under about 2⁻⁹⁷⁰. There the spacing
// below `q` is subnormal, `spacing_below` gives a negative number (its arithmetic on the
// exponent wraps), and a negative `s` times it made the bound huge: a wrong estimate of
// `1/s` for `s` in [−2¹⁰²², −2⁹⁷⁰] could pass (found by the test of negative arguments).
// The checks now take candidates whose spacing is true (`|q| ≥ 2⁻⁹⁶⁰`, a root `s ≥ 2⁻⁴⁵⁰`):
// `spacing_below(0)` is 2⁹⁷², which would have let a candidate 0 pass for any `s`.

/// The least root a check of NOTE: [sqrt-newton] accepts (2⁻⁴⁵⁰: `t ≥ 2⁻⁹⁵³`, and a true
/// spacing, NOTE: [reciprocal-sign]), in both ISAs' copies.
const LEAST_ROOT: f64 = f64::from_bits((1023 - 450) << 52);

/// The least `|q|` the reciprocal's check accepts (2⁻⁹⁶⁰, whose spacing is a normal float,
/// NOTE: [reciprocal-sign]), in both ISAs' copies.
const LEAST_RECIPROCAL: f64 = f64::from_bits((1023 - 960) << 52);

/// The correctly rounded reciprocals of the lanes `k` of `s`; the others are unspecified.
/// `vrcp14pd` and two Newton steps (14 → 28 → about 52 bits), then the check of NOTE:
/// [sqrt-newton] for a quotient: `q` is `1/s` correctly rounded where `|RN(1 − q·s)|` is
/// under `|s|·u/2` less 8 ulps (`u` the spacing below `|q|`), as `|1/s − q| = |1 − q·s| / |s|`,
/// `s` is normal and `|q| ≥ 2⁻⁹⁶⁰`; `vdivpd` for the other lanes (zeros, ±∞, NaN, subnormals,
/// and `|s|` past about 2⁹⁶⁰).
#[inline]
#[target_feature(enable = "avx512f")]
fn reciprocal(s: std::arch::x86_64::__m512d, k: u8) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let q = reciprocal_estimate(s);
    let exact = reciprocal_exact(s, q, k);
    if exact == k {
        q
    } else {
        _mm512_mask_div_pd(q, k & !exact, _mm512_set1_pd(1.0), s)
    }
}

/// `vrcp14pd` and two Newton steps: `1/s` within about 2⁻⁵² before the check of
/// [`reciprocal`].
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn reciprocal_estimate(s: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let one = _mm512_set1_pd(1.0);
    let mut q = _mm512_rcp14_pd(s);
    for _ in 0..2 {
        q = _mm512_fmadd_pd(q, _mm512_fnmadd_pd(q, s, one), q);
    }
    q
}

/// The lanes of `k` where `q` is proven to be `1/s` correctly rounded, whatever `q` is (see
/// [`reciprocal`]).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn reciprocal_exact(
    s: std::arch::x86_64::__m512d,
    q: std::arch::x86_64::__m512d,
    k: u8,
) -> u8 {
    use std::arch::x86_64::*;
    let e = _mm512_fnmadd_pd(q, s, _mm512_set1_pd(1.0));
    // |s|, not s: NOTE: [reciprocal-sign]
    let size = _mm512_abs_pd(s);
    let t = _mm512_mul_pd(
        _mm512_set1_pd(0.5),
        below_less_8(_mm512_mul_pd(size, spacing_below(q))),
    );
    // s normal, and |q| at least 2⁻⁹⁶⁰ (NOTE: [reciprocal-sign]: so `spacing_below` gives its
    // true spacing, where a 0 would give 2⁹⁷²)
    let lo = _mm512_set1_pd(f64::MIN_POSITIVE);
    let least = _mm512_set1_pd(LEAST_RECIPROCAL);
    let in_range = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(
        _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(k, size, lo),
        _mm512_abs_pd(q),
        least,
    );
    _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(in_range, _mm512_abs_pd(e), t)
}

/// The spacing of floats just below `|s|` in each lane of `s` (normal): its ulp, or half of
/// it at a power of two. Where that spacing is subnormal (`|s|` under about 2⁻⁹⁷⁰) the result
/// is negative or zero instead (NOTE: [reciprocal-sign]), which the checks reject.
#[inline]
#[target_feature(enable = "avx512f")]
fn spacing_below(s: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let below = _mm512_sub_epi64(_mm512_castpd_si512(s), _mm512_set1_epi64(1));
    _mm512_castsi512_pd(_mm512_sub_epi64(
        _mm512_and_si512(below, _mm512_set1_epi64(0x7ff0_0000_0000_0000)),
        _mm512_set1_epi64(52 << 52),
    ))
}

/// Each lane of `t` (positive) lowered by 8 units in its last place.
#[inline]
#[target_feature(enable = "avx512f")]
fn below_less_8(t: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    _mm512_castsi512_pd(_mm512_sub_epi64(
        _mm512_castpd_si512(t),
        _mm512_set1_epi64(8),
    ))
}

/// The correctly rounded roots of the lanes `k` of `v` (NOTE: [sqrt-newton]); the others are
/// unspecified.
#[inline]
#[target_feature(enable = "avx512f")]
fn root(v: std::arch::x86_64::__m512d, k: u8) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let s = estimate(v);
    let exact = exact(v, s, k);
    if exact == k {
        s
    } else {
        _mm512_mask_sqrt_pd(s, k & !exact, v)
    }
}

/// Steps 1–3 of NOTE: [sqrt-newton]: √v within about 2⁻¹⁰³ before its last rounding.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn estimate(v: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let half = _mm512_set1_pd(0.5);
    let r = _mm512_rsqrt14_pd(v);
    let (mut g, mut h) = (_mm512_mul_pd(v, r), _mm512_mul_pd(r, half));
    for _ in 0..2 {
        let e = _mm512_fnmadd_pd(g, h, half);
        g = _mm512_fmadd_pd(g, e, g);
        h = _mm512_fmadd_pd(h, e, h);
    }
    _mm512_fmadd_pd(h, _mm512_fnmadd_pd(g, g, v), g)
}

/// Step 4 of NOTE: [sqrt-newton]: the lanes of `k` where `s` is proven to be √v correctly
/// rounded, whatever `s` is. The range is set on `s` (at least 2⁻⁴⁵⁰), not on `v`: that also
/// keeps `spacing_below` to its true spacing, where a tiny negative `s` would make the bound
/// positive (NOTE: [reciprocal-sign]).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn exact(v: std::arch::x86_64::__m512d, s: std::arch::x86_64::__m512d, k: u8) -> u8 {
    use std::arch::x86_64::*;
    // |x − s²| against s·u less 8 units in its last place, u the spacing below s
    let e = _mm512_fnmadd_pd(s, s, v);
    let t = below_less_8(_mm512_mul_pd(s, spacing_below(s)));
    let lo = _mm512_set1_pd(LEAST_ROOT);
    let in_range = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(k, s, lo);
    _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(in_range, _mm512_abs_pd(e), t)
}

/// The loops of NOTE: [unit-mix] for the AVX2 copy: the same checked root and reciprocal on
/// vectors of 4 lanes, with AVX2 and FMA, mixed with `vsqrtpd` and `vdivpd` in the same
/// patterns and timed the same way.
///
/// NOTE: [unit-mix-avx2] AVX2 has no 14-bit estimates (`vrsqrt14pd`, `vrcp14pd`): the
/// estimates are those of f32, `vrsqrtps` and `vrcpps` (relative error under 1.5·2⁻¹²), of the
/// argument rounded to f32. The root's two Goldschmidt steps take them to about 45 bits and
/// its last step to about 90 before the rounding, so the check of NOTE: [sqrt-newton] still
/// accepts nearly every lane; the reciprocal takes three Newton steps instead of two (12 → 24
/// → 48 → the limit of f64). An argument outside f32's normal range (under 2⁻¹²⁶ or over
/// 2¹²⁸) has no usable estimate: the check, which proves the result whatever the steps gave,
/// rejects it, and the hardware takes the lane: the checks require the candidate to be at
/// least 2⁻⁹⁶⁰ in size (NOTE: [reciprocal-sign]; an overflow to ∞ gives a reciprocal of 0),
/// and ∞ or NaN fail the comparison itself.
pub(super) mod avx2 {
    use super::{FMA, HARD, LEAST_RECIPROCAL, LEAST_ROOT, Mixes};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// `$out[i] = $f(v, k)` over `$x`, 4 lanes `v` at a time, the last vector padded with
    /// ones (so `k`, the lanes that hold elements, is unused), inside a function compiled with
    /// AVX2 and FMA (a macro, as `lanes`).
    macro_rules! lanes4 {
        ($x:expr, $out:expr, |$v:ident, $k:ident| $f:expr) => {{
            let (x, out): (&[f64], &mut [MaybeUninit<f64>]) = ($x, $out);
            let n = x.len().min(out.len());
            let mut i = 0;
            while i < n {
                let m = (n - i).min(4);
                let mut buf = [1.0f64; 4];
                buf[..m].copy_from_slice(&x[i..i + m]);
                // SAFETY: `buf` holds 4 f64
                let $v = unsafe { _mm256_loadu_pd(buf.as_ptr()) };
                let $k = ();
                let y = $f;
                // SAFETY: as above
                unsafe { _mm256_storeu_pd(buf.as_mut_ptr(), y) };
                for (o, b) in out[i..i + m].iter_mut().zip(buf) {
                    o.write(b);
                }
                i += 4;
            }
        }};
    }

    /// `out[i] = √x[i]`, correctly rounded (NOTE: [unit-mix-avx2]). Elements past the shorter
    /// of the two slices are left alone.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(in super::super) unsafe fn sqrt64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
        // SAFETY: the caller's CPU has AVX2 and FMA, what every loop of SQRT needs
        unsafe { SQRT.pick()(x, out) }
    }

    /// `out[i] = 1/√x[i]` with two roundings, as `x.sqrt().recip()` gives it (NOTE:
    /// [unit-mix-avx2]). Elements past the shorter of the two slices are left alone.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(in super::super) unsafe fn rsqrt64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
        // SAFETY: as in `sqrt64`
        unsafe { RSQRT.pick()(x, out) }
    }

    /// `out[i] = 1/x[i]`, correctly rounded (NOTE: [unit-mix-avx2]). Elements past the
    /// shorter of the two slices are left alone.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(in super::super) unsafe fn recip64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
        // SAFETY: as in `sqrt64`
        unsafe { RECIP.pick()(x, out) }
    }

    /// √v by the units `M` says ([`HARD`] or [`FMA`]), correctly rounded in every lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn root_by<const M: u8>(v: __m256d) -> __m256d {
        if M == HARD {
            _mm256_sqrt_pd(v)
        } else {
            root(v)
        }
    }

    /// 1/v by the units `M` says ([`HARD`]: `vdivpd`, or [`FMA`]), correctly rounded.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn recip_by<const M: u8>(v: __m256d) -> __m256d {
        if M == FMA {
            reciprocal(v)
        } else {
            _mm256_div_pd(_mm256_set1_pd(1.0), v)
        }
    }

    unit_mixes!(
        pub(in super::super), "avx2,fma", 4, __m256d, _mm256_loadu_pd, _mm256_storeu_pd, lanes4;
        sqrt: |v, _k| root(v);
        recip: |v, _k| reciprocal(v);
        rsqrt: |v, _k| reciprocal(root(v));
    );

    /// The correctly rounded roots of the lanes of `v` (NOTE: [unit-mix-avx2]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn root(v: __m256d) -> __m256d {
        let s = estimate(v);
        let ok = exact(v, s);
        if _mm256_movemask_pd(ok) == 0xf {
            s
        } else {
            _mm256_blendv_pd(_mm256_sqrt_pd(v), s, ok)
        }
    }

    /// Steps 1–3 of NOTE: [sqrt-newton] from the f32 estimate (NOTE: [unit-mix-avx2]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(in super::super) fn estimate(v: __m256d) -> __m256d {
        let half = _mm256_set1_pd(0.5);
        let r = _mm256_cvtps_pd(_mm_rsqrt_ps(_mm256_cvtpd_ps(v)));
        let (mut g, mut h) = (_mm256_mul_pd(v, r), _mm256_mul_pd(r, half));
        for _ in 0..2 {
            let e = _mm256_fnmadd_pd(g, h, half);
            g = _mm256_fmadd_pd(g, e, g);
            h = _mm256_fmadd_pd(h, e, h);
        }
        _mm256_fmadd_pd(h, _mm256_fnmadd_pd(g, g, v), g)
    }

    /// Step 4 of NOTE: [sqrt-newton]: all ones in the lanes where `s` is proven to be √v
    /// correctly rounded, whatever `s` is (at least 2⁻⁹⁶⁰, as in the AVX-512 `exact`).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(in super::super) fn exact(v: __m256d, s: __m256d) -> __m256d {
        let e = _mm256_fnmadd_pd(s, s, v);
        let t = below_less_8(_mm256_mul_pd(s, spacing_below(s)));
        let lo = _mm256_set1_pd(LEAST_ROOT);
        let in_range = _mm256_cmp_pd::<_CMP_GE_OQ>(s, lo);
        _mm256_and_pd(in_range, _mm256_cmp_pd::<_CMP_LT_OQ>(abs(e), t))
    }

    /// The correctly rounded reciprocals of the lanes of `s`: the f32 estimate and three
    /// Newton steps, checked as in the AVX-512 `reciprocal`; `vdivpd` for the lanes the check
    /// does not accept.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reciprocal(s: __m256d) -> __m256d {
        let q = reciprocal_estimate(s);
        let ok = reciprocal_exact(s, q);
        if _mm256_movemask_pd(ok) == 0xf {
            q
        } else {
            _mm256_blendv_pd(_mm256_div_pd(_mm256_set1_pd(1.0), s), q, ok)
        }
    }

    /// `vrcpps` of `s` rounded to f32 and three Newton steps (NOTE: [unit-mix-avx2]): `1/s`
    /// to the limit of f64 before the check of [`reciprocal`], where `s` is in f32's range.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(in super::super) fn reciprocal_estimate(s: __m256d) -> __m256d {
        let one = _mm256_set1_pd(1.0);
        let mut q = _mm256_cvtps_pd(_mm_rcp_ps(_mm256_cvtpd_ps(s)));
        for _ in 0..3 {
            q = _mm256_fmadd_pd(q, _mm256_fnmadd_pd(q, s, one), q);
        }
        q
    }

    /// All ones in the lanes where `q` is proven to be `1/s` correctly rounded, whatever `q`
    /// is: the check of the AVX-512 `reciprocal_exact`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(in super::super) fn reciprocal_exact(s: __m256d, q: __m256d) -> __m256d {
        let e = _mm256_fnmadd_pd(q, s, _mm256_set1_pd(1.0));
        // |s|, not s: NOTE: [reciprocal-sign]
        let size = abs(s);
        let t = _mm256_mul_pd(
            _mm256_set1_pd(0.5),
            below_less_8(_mm256_mul_pd(size, spacing_below(q))),
        );
        // s normal, and |q| at least 2⁻⁹⁶⁰, as in the AVX-512 copy (here also what rejects
        // the estimate 0 of an argument past f32's range, NOTE: [unit-mix-avx2])
        let in_range = _mm256_and_pd(
            _mm256_cmp_pd::<_CMP_GE_OQ>(size, _mm256_set1_pd(f64::MIN_POSITIVE)),
            _mm256_cmp_pd::<_CMP_GE_OQ>(abs(q), _mm256_set1_pd(LEAST_RECIPROCAL)),
        );
        _mm256_and_pd(in_range, _mm256_cmp_pd::<_CMP_LT_OQ>(abs(e), t))
    }

    /// `|x|` in every lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn abs(x: __m256d) -> __m256d {
        _mm256_andnot_pd(_mm256_set1_pd(-0.0), x)
    }

    /// The spacing of floats just below `|s|` in each lane of `s` (normal): its ulp, or half
    /// of it at a power of two; negative or zero where it is subnormal, as in the AVX-512
    /// copy.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn spacing_below(s: __m256d) -> __m256d {
        let below = _mm256_sub_epi64(_mm256_castpd_si256(s), _mm256_set1_epi64x(1));
        _mm256_castsi256_pd(_mm256_sub_epi64(
            _mm256_and_si256(below, _mm256_set1_epi64x(0x7ff0_0000_0000_0000)),
            _mm256_set1_epi64x(52 << 52),
        ))
    }

    /// Each lane of `t` (positive) lowered by 8 units in its last place.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn below_less_8(t: __m256d) -> __m256d {
        _mm256_castsi256_pd(_mm256_sub_epi64(
            _mm256_castpd_si256(t),
            _mm256_set1_epi64x(8),
        ))
    }
}
