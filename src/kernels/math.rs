//! Vectorizable elementary functions: every unary float op of `prims::unary` that libm would
//! evaluate one element at a time (exp, expm1, log, log1p, sin, cos, tan, asin, acos, atan,
//! sinh, cosh, tanh, sigmoid, softplus, erf).
//!
//! The system's libm takes 5–20 ns per call here, which made `tanh` a quarter of the MLP
//! workloads. These versions are branch-free (every special case and every interval of a
//! piecewise approximation is a select), so the compiler turns a loop over a slice into SIMD
//! code; the slice kernels at the bottom run in copies compiled for AVX2 + FMA and for AVX-512,
//! chosen at run time, with the plain build as the fallback. The algorithms are fdlibm's (as in
//! musl), rewritten without branches; `exp` is a Taylor polynomial after the usual reduction.
//! Polynomials are evaluated with fused multiply-adds (`mul_add`: one instruction in the AVX
//! copies; a correctly rounded libm call in the plain copy, so every copy gives the same bits).
//! `exp`, `tanh` and `sigmoid` have native f32 kernels; the other functions evaluate `f32`
//! slices in f64 and round, which is within 1 ulp of the exact f32 result.
//!
//! sin, cos and tan reduce their argument with a three-part π/2 (fdlibm's medium-size
//! reduction, carrying its rounding errors) for |x| ≤ [`TRIG_MAX`]; larger arguments (and ±∞, NaN)
//! are rare and go to libm, element by element, after the vector pass.
//!
//! Accuracy, checked against libm in the tests below over 10⁵–10⁶ points per interval: within
//! 2 ulp for `exp`, `log`, `log1p`, `sin`, `cos`, `atan`, `asin`, `acos`; within 3 ulp for
//! `expm1`, `tan`, `sinh`, `cosh`, `erf`; within 4 ulp for `tanh`, `sigmoid`, `softplus`; with
//! the IEEE special values (±0, ±∞, NaN, overflow to ∞, underflow through subnormals to 0) as
//! libm gives them.

// fdlibm's coefficients are quoted as published (21 significant digits)
#![allow(clippy::excessive_precision)]

use crate::array::Float;
use std::any::TypeId;
use std::mem::MaybeUninit;

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split in two (fdlibm): `k · LN2_HI` is exact for |k| < 2¹¹.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// Above this, exp overflows to ∞; below `EXP_UNDER` it is 0.
const EXP_OVER: f64 = 709.782_712_893_384;
const EXP_UNDER: f64 = -745.133_219_101_941_2;
/// 2⁵², and 1.5 · 2⁵² (adding it to an integer-valued `k`, |k| < 2⁵¹, puts `k` in the low
/// mantissa bits in two's complement).
const TWO52: f64 = 4_503_599_627_370_496.0;
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// 2^k for an integer-valued `k` in [-1022, 1023]. Adding 2⁵² puts `k + 1023` in the low
/// mantissa bits, which the shift moves into the exponent field (no float-to-int conversion,
/// so the loop stays in SIMD registers).
#[inline(always)]
fn pow2(k: f64) -> f64 {
    f64::from_bits((k + (1023.0 + TWO52)).to_bits() << 52)
}

/// The value of a small unsigned integer (below 2⁵²) as a float, with bit operations only.
#[inline(always)]
fn u_to_f(e: u64) -> f64 {
    f64::from_bits(e | TWO52.to_bits()) - TWO52
}

/// The low two bits of an integer-valued float `k` (|k| < 2⁵¹): `k mod 4`.
#[inline(always)]
fn quadrant(k: f64) -> u64 {
    (k + MAGIC).to_bits() & 3
}

/// e^r for |r| ≤ ln2 / 2 (and a little beyond), by its Taylor series to r¹³ (truncation error
/// below 1e-17).
#[inline(always)]
fn exp_poly(r: f64) -> f64 {
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    p = p.mul_add(r, 1.0 / 479_001_600.0);
    p = p.mul_add(r, 1.0 / 39_916_800.0);
    p = p.mul_add(r, 1.0 / 3_628_800.0);
    p = p.mul_add(r, 1.0 / 362_880.0);
    p = p.mul_add(r, 1.0 / 40_320.0);
    p = p.mul_add(r, 1.0 / 5_040.0);
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p.mul_add(r, 1.0)
}

/// `(k, r)` with x = k ln2 + r, |r| ≤ ln2 / 2, k an integer-valued float.
#[inline(always)]
fn exp_reduce(x: f64) -> (f64, f64) {
    let k = (x * LOG2E).round();
    (k, (x - k * LN2_HI) - k * LN2_LO)
}

/// p · 2^k for integer-valued k in [-2044, 2046], in two factors so that neither overflows.
#[inline(always)]
fn scale(p: f64, k: f64) -> f64 {
    let k1 = (k * 0.5).floor();
    p * pow2(k1) * pow2(k - k1)
}

/// eˣ.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let xc = x.clamp(EXP_UNDER - 1.0, EXP_OVER + 1.0);
    let (k, r) = exp_reduce(xc);
    let y = scale(exp_poly(r), k);
    let y = if x > EXP_OVER { f64::INFINITY } else { y };
    let y = if x < EXP_UNDER { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// eˣ / 2 for x ≥ 0 (finite up to 710.47, where eˣ itself has overflowed): the large-argument
/// half of sinh and cosh.
#[inline(always)]
fn exp_half(x: f64) -> f64 {
    let xc = x.min(EXP_OVER + 2.0);
    let (k, r) = exp_reduce(xc);
    let y = scale(exp_poly(r), k - 1.0);
    if x > 710.475_860_073_943_9 {
        f64::INFINITY
    } else {
        y
    }
}

/// eˣ − 1, accurate near 0.
#[inline(always)]
pub fn expm1(x: f64) -> f64 {
    // below -40, eˣ − 1 rounds to −1; above EXP_OVER it overflows
    let xc = x.clamp(-40.0, EXP_OVER + 1.0);
    let k = (xc * LOG2E).round();
    let hi = xc - k * LN2_HI;
    let lo = k * LN2_LO;
    let r = hi - lo;
    // the rounding error of r, carried as a correction
    let c = (hi - r) - lo;
    // e^r − 1 = r + r² (1/2 + r/6 + ...), Taylor to r¹⁴
    let mut q: f64 = 1.0 / 87_178_291_200.0;
    q = q.mul_add(r, 1.0 / 6_227_020_800.0);
    q = q.mul_add(r, 1.0 / 479_001_600.0);
    q = q.mul_add(r, 1.0 / 39_916_800.0);
    q = q.mul_add(r, 1.0 / 3_628_800.0);
    q = q.mul_add(r, 1.0 / 362_880.0);
    q = q.mul_add(r, 1.0 / 40_320.0);
    q = q.mul_add(r, 1.0 / 5_040.0);
    q = q.mul_add(r, 1.0 / 720.0);
    q = q.mul_add(r, 1.0 / 120.0);
    q = q.mul_add(r, 1.0 / 24.0);
    q = q.mul_add(r, 1.0 / 6.0);
    q = q.mul_add(r, 0.5);
    let em = r + r * (r * q);
    // e^(r + c) − 1 ≈ em + c e^r
    let em = em + c * (1.0 + em);
    // 2^k (1 + em) − 1: exact scalings for moderate k, the −1 is lost in rounding for large k
    let s = pow2(k.clamp(-1022.0, 1023.0));
    let moderate = s * em + (s - 1.0);
    let large = scale(1.0 + em, k) - 1.0;
    let y = if k > 56.0 { large } else { moderate };
    let y = if x > EXP_OVER { f64::INFINITY } else { y };
    let y = if x < -40.0 { -1.0 } else { y };
    // ±0 and NaN unchanged
    if x == 0.0 || x.is_nan() { x } else { y }
}

// fdlibm's log polynomial: log(1 + f) = f − f²/2 + s (f²/2 + R(s²)), s = f / (2 + f).
const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593);
const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04);
const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359);
const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af);
const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de);
const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f);
const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244);

/// `(f²/2, s (f²/2 + R(s²)))` of fdlibm's log kernel for f = m − 1, m in [√2/2, √2).
#[inline(always)]
fn log_kernel(f: f64) -> (f64, f64) {
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * w.mul_add(w.mul_add(LG6, LG4), LG2);
    let t2 = z * w.mul_add(w.mul_add(w.mul_add(LG7, LG5), LG3), LG1);
    (hfsq, s * (hfsq + (t2 + t1)))
}

/// The bits of x with the exponent moved so that the mantissa lies in [√2/2, √2), and the
/// exponent k taken out: x = 2^k · m. Valid for positive normal x.
#[inline(always)]
fn log_split(bits: u64) -> (f64, f64) {
    let ix = bits.wrapping_add(0x3ff0_0000_0000_0000 - 0x3fe6_a09e_0000_0000);
    let k = u_to_f((ix >> 52) & 0x7ff) - 1023.0;
    let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff) + 0x3fe6_a09e_0000_0000);
    (k, m)
}

/// ln x.
#[inline(always)]
pub fn log(x: f64) -> f64 {
    // subnormals scaled into the normal range
    let sub = x < f64::MIN_POSITIVE;
    let xs = if sub { x * TWO54 } else { x };
    let (k, m) = log_split(xs.to_bits());
    let k = if sub { k - 54.0 } else { k };
    let f = m - 1.0;
    let (hfsq, t) = log_kernel(f);
    let y = t + k * LN2_LO - hfsq + f + k * LN2_HI;
    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == 0.0 { f64::NEG_INFINITY } else { y };
    if x < 0.0 || x.is_nan() { f64::NAN } else { y }
}

const TWO54: f64 = 18_014_398_509_481_984.0;

/// ln(1 + x), accurate near 0.
#[inline(always)]
pub fn log1p(x: f64) -> f64 {
    // 1 + x in [√2/2, √2): f = x itself, no correction
    let near = x < 0.414_213_562_373_095_1 && x > -0.292_893_218_813_452_5;
    let u = 1.0 + x;
    let (k, m) = log_split(u.to_bits());
    // the rounding error of 1 + x, relative to u (negligible once k ≥ 54)
    let c = (if k >= 2.0 {
        1.0 - (u - x)
    } else {
        x - (u - 1.0)
    }) / u;
    let c = if k < 54.0 { c } else { 0.0 };
    let (k, c, f) = if near { (0.0, 0.0, x) } else { (k, c, m - 1.0) };
    let (hfsq, t) = log_kernel(f);
    let y = t + (k * LN2_LO + c) - hfsq + f + k * LN2_HI;
    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == -1.0 { f64::NEG_INFINITY } else { y };
    let y = if x < -1.0 { f64::NAN } else { y };
    // ±0 and NaN unchanged
    if x == 0.0 || x.is_nan() { x } else { y }
}

/// Arguments up to this size are reduced modulo π/2 in the vector loop (the quotient stays
/// below 2²⁰, so its products with the 33-bit parts of π/2 are exact); beyond, libm's
/// Payne–Hanek reduction takes over.
pub const TRIG_MAX: f64 = 1.0e6;

/// `(s, e)` with s = fl(a − b) and s + e = a − b exactly (Knuth's TwoSum).
#[inline(always)]
fn two_diff(a: f64, b: f64) -> (f64, f64) {
    let s = a - b;
    let bb = s - a;
    (s, (a - (s - bb)) - (b + bb))
}

/// `(n, y0, y1)`: x = n π/2 + y0 + y1, |y0| ≤ π/4 (fdlibm's medium-size reduction, all three
/// rounds, carrying the rounding errors), for |x| ≤ [`TRIG_MAX`].
#[inline(always)]
fn rem_pio2(x: f64) -> (f64, f64, f64) {
    const INVPIO2: f64 = f64::from_bits(0x3fe4_5f30_6dc9_c883);
    const PIO2_1: f64 = f64::from_bits(0x3ff9_21fb_5440_0000);
    const PIO2_2: f64 = f64::from_bits(0x3dd0_b461_1a60_0000);
    const PIO2_3: f64 = f64::from_bits(0x3ba3_198a_2e00_0000);
    const PIO2_3T: f64 = f64::from_bits(0x397b_839a_2520_49c1);
    let n = (x * INVPIO2).round();
    // n · PIO2_1 is exact (33-bit parts, n < 2²⁰), and so is the subtraction (Sterbenz)
    let r = x - n * PIO2_1;
    // the next two parts of π/2, each subtraction with its exact rounding error
    let (r, e2) = two_diff(r, n * PIO2_2);
    let (r, e3) = two_diff(r, n * PIO2_3);
    let w = n * PIO2_3T - (e3 + e2);
    let y0 = r - w;
    let y1 = (r - y0) - w;
    (n, y0, y1)
}

/// fdlibm's sine kernel on [-π/4, π/4], y1 the tail of the argument.
#[inline(always)]
fn sin_kernel(x: f64, y: f64) -> f64 {
    const S1: f64 = f64::from_bits(0xbfc5_5555_5555_5549);
    const S2: f64 = f64::from_bits(0x3f81_1111_1110_f8a6);
    const S3: f64 = f64::from_bits(0xbf2a_01a0_19c1_61d5);
    const S4: f64 = f64::from_bits(0x3ec7_1de3_57b1_fe7d);
    const S5: f64 = f64::from_bits(0xbe5a_e5e6_8a2b_9ceb);
    const S6: f64 = f64::from_bits(0x3de5_d93a_5acf_d57c);
    let z = x * x;
    let w = z * z;
    let r = z.mul_add(z.mul_add(S4, S3), S2) + z * w * z.mul_add(S6, S5);
    let v = z * x;
    x - ((z * (0.5 * y - v * r) - y) - v * S1)
}

/// fdlibm's cosine kernel on [-π/4, π/4], y the tail of the argument.
#[inline(always)]
fn cos_kernel(x: f64, y: f64) -> f64 {
    const C1: f64 = f64::from_bits(0x3fa5_5555_5555_554c);
    const C2: f64 = f64::from_bits(0xbf56_c16c_16c1_5177);
    const C3: f64 = f64::from_bits(0x3efa_01a0_19cb_1590);
    const C4: f64 = f64::from_bits(0xbe92_7e4f_809c_52ad);
    const C5: f64 = f64::from_bits(0x3e21_ee9e_bdb4_b1c4);
    const C6: f64 = f64::from_bits(0xbda8_fae9_be88_38d4);
    let z = x * x;
    let w = z * z;
    let r = z * z.mul_add(z.mul_add(C3, C2), C1) + w * w * z.mul_add(z.mul_add(C6, C5), C4);
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + (z * r - x * y))
}

/// sin x for |x| ≤ [`TRIG_MAX`] (branch-free; [`sin`] handles every x).
#[inline(always)]
pub fn sin_reduced(x: f64) -> f64 {
    let (n, y0, y1) = rem_pio2(x);
    let (s, c) = (sin_kernel(y0, y1), cos_kernel(y0, y1));
    let q = quadrant(n);
    let v = if q & 1 == 0 { s } else { c };
    let v = if q & 2 == 0 { v } else { -v };
    if x == 0.0 { x } else { v }
}

/// cos x for |x| ≤ [`TRIG_MAX`] (branch-free; [`cos`] handles every x).
#[inline(always)]
pub fn cos_reduced(x: f64) -> f64 {
    let (n, y0, y1) = rem_pio2(x);
    let (s, c) = (sin_kernel(y0, y1), cos_kernel(y0, y1));
    let q = quadrant(n);
    let v = if q & 1 == 0 { c } else { s };
    if (q + 1) & 2 == 0 { v } else { -v }
}

/// tan x for |x| ≤ [`TRIG_MAX`] (branch-free; [`tan`] handles every x): sin / cos of the
/// reduced argument, or −cos / sin in the odd quadrants.
#[inline(always)]
pub fn tan_reduced(x: f64) -> f64 {
    let (n, y0, y1) = rem_pio2(x);
    let (s, c) = (sin_kernel(y0, y1), cos_kernel(y0, y1));
    let odd = quadrant(n) & 1 == 1;
    let v = (if odd { -c } else { s }) / (if odd { s } else { c });
    if x == 0.0 { x } else { v }
}

/// sin x.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn sin(x: f64) -> f64 {
    if x.abs() <= TRIG_MAX {
        sin_reduced(x)
    } else {
        x.sin()
    }
}

/// cos x.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn cos(x: f64) -> f64 {
    if x.abs() <= TRIG_MAX {
        cos_reduced(x)
    } else {
        x.cos()
    }
}

/// tan x.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn tan(x: f64) -> f64 {
    if x.abs() <= TRIG_MAX {
        tan_reduced(x)
    } else {
        x.tan()
    }
}

const PIO2_HI: f64 = f64::from_bits(0x3ff9_21fb_5444_2d18);
const PIO2_LO: f64 = f64::from_bits(0x3c91_a626_3314_5c07);

/// atan x.
#[inline(always)]
pub fn atan(x: f64) -> f64 {
    const AT: [f64; 11] = [
        3.333_333_333_333_293_18e-01,
        -1.999_999_999_987_648_32e-01,
        1.428_571_427_250_346_64e-01,
        -1.111_111_040_546_235_58e-01,
        9.090_887_133_436_506_56e-02,
        -7.691_876_205_044_829_99e-02,
        6.661_073_137_387_531_21e-02,
        -5.833_570_133_790_573_49e-02,
        4.976_877_994_615_932_36e-02,
        -3.653_157_274_421_691_55e-02,
        1.628_582_011_536_578_24e-02,
    ];
    let a = x.abs();
    // fdlibm's five intervals: t = (a − c) / (1 + c a) so that atan a = atan c + atan t
    let (num, den, hi, lo) = if a < 0.4375 {
        (a, 1.0, 0.0, 0.0)
    } else if a < 0.6875 {
        (
            2.0 * a - 1.0,
            2.0 + a,
            4.636_476_090_008_060_935_15e-01,
            2.269_877_745_296_168_709_24e-17,
        )
    } else if a < 1.1875 {
        (
            a - 1.0,
            a + 1.0,
            std::f64::consts::FRAC_PI_4,
            3.061_616_997_868_383_017_93e-17,
        )
    } else if a < 2.4375 {
        (
            a - 1.5,
            1.0 + 1.5 * a,
            9.827_937_232_473_290_540_82e-01,
            1.390_331_103_123_099_845_16e-17,
        )
    } else {
        (-1.0, a, PIO2_HI, PIO2_LO)
    };
    let t = num / den;
    let z = t * t;
    let w = z * z;
    let s1 = z * (AT[0] + w * (AT[2] + w * (AT[4] + w * (AT[6] + w * (AT[8] + w * AT[10])))));
    let s2 = w * (AT[1] + w * (AT[3] + w * (AT[5] + w * (AT[7] + w * AT[9]))));
    let r = hi - ((t * (s1 + s2) - lo) - t);
    if x.is_nan() { x } else { r.copysign(x) }
}

/// fdlibm's rational approximation R(z) of (asin √z − √z) / √z³, for asin and acos.
#[inline(always)]
fn asin_r(z: f64) -> f64 {
    const PS: [f64; 6] = [
        1.666_666_666_666_666_574_15e-01,
        -3.255_658_186_224_009_154_05e-01,
        2.012_125_321_348_629_258_81e-01,
        -4.005_553_450_067_941_140_27e-02,
        7.915_349_942_898_145_321_76e-04,
        3.479_331_075_960_211_675_70e-05,
    ];
    const QS: [f64; 4] = [
        -2.403_394_911_734_414_218_78e+00,
        2.020_945_760_233_505_694_71e+00,
        -6.882_839_716_054_532_930_30e-01,
        7.703_815_055_590_193_527_91e-02,
    ];
    let p = z * (PS[0] + z * (PS[1] + z * (PS[2] + z * (PS[3] + z * (PS[4] + z * PS[5])))));
    let q = 1.0 + z * (QS[0] + z * (QS[1] + z * (QS[2] + z * QS[3])));
    p / q
}

/// √z split as `df + (z − df²) / (√z + df)`: `df` is √z with its low 32 bits cleared.
#[inline(always)]
fn sqrt_split(z: f64, s: f64) -> (f64, f64) {
    let df = f64::from_bits(s.to_bits() & 0xffff_ffff_0000_0000);
    (df, (z - df * df) / (s + df))
}

/// asin x.
#[inline(always)]
pub fn asin(x: f64) -> f64 {
    let a = x.abs();
    let big = a >= 0.5;
    let z = if big { (1.0 - a) * 0.5 } else { a * a };
    let r = asin_r(z);
    let s = z.sqrt();
    let small = a + a * r;
    // 0.975 < |x| < 1
    let near1 = PIO2_HI - (2.0 * (s + s * r) - PIO2_LO);
    // 0.5 ≤ |x| ≤ 0.975
    let (df, c) = sqrt_split(z, s);
    let mid = 0.5 * PIO2_HI - (2.0 * s * r - (PIO2_LO - 2.0 * c) - (0.5 * PIO2_HI - 2.0 * df));
    let y = if a > 0.975 { near1 } else { mid };
    let y = if big { y } else { small };
    let y = if a == 1.0 { PIO2_HI } else { y };
    let y = if a > 1.0 { f64::NAN } else { y.copysign(x) };
    if x.is_nan() { x } else { y }
}

/// acos x.
#[inline(always)]
pub fn acos(x: f64) -> f64 {
    let a = x.abs();
    let z = if a < 0.5 { x * x } else { (1.0 - a) * 0.5 };
    let r = asin_r(z);
    let s = z.sqrt();
    let small = PIO2_HI - (x - (PIO2_LO - x * r));
    let neg = 2.0 * (PIO2_HI - (s + (r * s - PIO2_LO)));
    let (df, c) = sqrt_split(z, s);
    let pos = 2.0 * (df + (r * s + c));
    let y = if x < 0.0 { neg } else { pos };
    let y = if a < 0.5 { small } else { y };
    let y = if x == 1.0 { 0.0 } else { y };
    let y = if a > 1.0 { f64::NAN } else { y };
    if x.is_nan() { x } else { y }
}

/// sinh x.
#[inline(always)]
pub fn sinh(x: f64) -> f64 {
    let a = x.abs();
    let t = expm1(a.min(EXP_OVER));
    // (eᵃ − e⁻ᵃ) / 2 through t = eᵃ − 1, in the form that keeps small a accurate
    let small = 0.5 * (2.0 * t - t * t / (t + 1.0));
    let mid = 0.5 * (t + t / (t + 1.0));
    let y = if a < 1.0 { small } else { mid };
    let y = if a < EXP_OVER { y } else { exp_half(a) };
    let y = if a == 0.0 { 0.0 } else { y };
    if x.is_nan() { x } else { y.copysign(x) }
}

/// cosh x.
#[inline(always)]
pub fn cosh(x: f64) -> f64 {
    let a = x.abs();
    let t = expm1(a.min(EXP_OVER));
    let small = 1.0 + t * t / (2.0 * (1.0 + t));
    let e = t + 1.0;
    let mid = 0.5 * e + 0.5 / e;
    let y = if a < std::f64::consts::LN_2 {
        small
    } else {
        mid
    };
    let y = if a < EXP_OVER { y } else { exp_half(a) };
    if x.is_nan() { x } else { y }
}

/// tanh x.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let a = x.abs();
    // |x| >= 1/4: (1 - e^{-2|x|}) / (1 + e^{-2|x|}), which loses at most ~1.3 bits
    let t = exp(-2.0 * a);
    let big = (1.0 - t) / (1.0 + t);
    // |x| < 1/4: the odd Taylor series to x²¹ (next term below 3e-18 relative)
    let z = a * a;
    let mut p: f64 = 18_888_466_084.0 / 194_896_477_400_625.0;
    p = p.mul_add(z, -443_861_162.0 / 1_856_156_927_625.0);
    p = p.mul_add(z, 6_404_582.0 / 10_854_718_875.0);
    p = p.mul_add(z, -929_569.0 / 638_512_875.0);
    p = p.mul_add(z, 21_844.0 / 6_081_075.0);
    p = p.mul_add(z, -1_382.0 / 155_925.0);
    p = p.mul_add(z, 62.0 / 2_835.0);
    p = p.mul_add(z, -17.0 / 315.0);
    p = p.mul_add(z, 2.0 / 15.0);
    p = p.mul_add(z, -1.0 / 3.0);
    let small = a + a * z * p;
    let r = if a < 0.25 { small } else { big };
    // NaN stays NaN
    if x.is_nan() { x } else { r.copysign(x) }
}

/// 1 / (1 + e⁻ˣ), without overflow for either sign.
#[inline(always)]
pub fn sigmoid(x: f64) -> f64 {
    let e = exp(-x.abs());
    let r = if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    if x.is_nan() { x } else { r }
}

/// log(1 + eˣ) as PyTorch computes it (β = 1): x itself above 20.
#[inline(always)]
pub fn softplus(x: f64) -> f64 {
    let y = x.max(0.0) + log1p(exp(-x.abs()));
    if x > 20.0 || x.is_nan() { x } else { y }
}

/// The error function.
#[inline(always)]
pub fn erf(x: f64) -> f64 {
    const ERX: f64 = 8.450_629_115_104_675_292_97e-01;
    const PP: [f64; 5] = [
        1.283_791_670_955_125_585_61e-01,
        -3.250_421_072_470_014_993_70e-01,
        -2.848_174_957_559_851_047_66e-02,
        -5.770_270_296_489_441_591_57e-03,
        -2.376_301_665_665_016_260_84e-05,
    ];
    const QQ: [f64; 5] = [
        3.979_172_239_591_553_528_19e-01,
        6.502_224_998_876_729_444_85e-02,
        5.081_306_281_875_765_627_76e-03,
        1.324_947_380_043_216_445_26e-04,
        -3.960_228_278_775_368_123_20e-06,
    ];
    const PA: [f64; 7] = [
        -2.362_118_560_752_659_440_77e-03,
        4.148_561_186_837_483_316_66e-01,
        -3.722_078_760_357_013_238_47e-01,
        3.183_466_199_011_617_536_74e-01,
        -1.108_946_942_823_966_774_76e-01,
        3.547_830_432_561_823_593_71e-02,
        -2.166_375_594_868_790_843_00e-03,
    ];
    const QA: [f64; 6] = [
        1.064_208_804_008_442_282_86e-01,
        5.403_979_177_021_710_489_37e-01,
        7.182_865_441_419_626_628_68e-02,
        1.261_712_198_087_616_421_12e-01,
        1.363_708_391_202_905_073_62e-02,
        1.198_449_984_679_910_741_70e-02,
    ];
    // erfc on [1.25, 1/0.35) and [1/0.35, 6): R(1/x²) / S(1/x²), one set chosen per lane
    const RA: [f64; 8] = [
        -9.864_944_034_847_148_227_05e-03,
        -6.938_585_727_071_817_643_72e-01,
        -1.055_862_622_532_329_098_14e+01,
        -6.237_533_245_032_600_603_96e+01,
        -1.623_966_694_625_734_703_55e+02,
        -1.846_050_929_067_110_359_94e+02,
        -8.128_743_550_630_659_342_46e+01,
        -9.814_329_344_169_145_485_92e+00,
    ];
    const SA: [f64; 8] = [
        1.965_127_166_743_925_712_92e+01,
        1.376_577_541_435_190_426_00e+02,
        4.345_658_774_752_292_288_21e+02,
        6.453_872_717_332_678_803_36e+02,
        4.290_081_400_275_678_333_86e+02,
        1.086_350_055_417_794_351_34e+02,
        6.570_249_770_319_281_701_35e+00,
        -6.042_441_521_485_809_874_38e-02,
    ];
    const RB: [f64; 8] = [
        -9.864_942_924_700_099_285_97e-03,
        -7.992_832_376_805_230_065_74e-01,
        -1.775_795_491_775_475_198_89e+01,
        -1.606_363_848_558_219_160_62e+02,
        -6.375_664_433_683_896_277_22e+02,
        -1.025_095_131_611_077_249_54e+03,
        -4.835_191_916_086_513_970_19e+02,
        0.0,
    ];
    const SB: [f64; 8] = [
        3.033_806_074_348_245_829_24e+01,
        3.257_925_129_965_739_188_26e+02,
        1.536_729_586_084_436_959_94e+03,
        3.199_858_219_508_595_539_08e+03,
        2.553_050_406_433_164_425_83e+03,
        4.745_285_412_069_553_672_15e+02,
        -2.244_095_244_658_581_833_62e+01,
        0.0,
    ];
    let a = x.abs();
    // |x| < 0.84375: x + x P(x²) / Q(x²)
    let z = a * a;
    let r = PP[0] + z * (PP[1] + z * (PP[2] + z * (PP[3] + z * PP[4])));
    let s = 1.0 + z * (QQ[0] + z * (QQ[1] + z * (QQ[2] + z * (QQ[3] + z * QQ[4]))));
    let small = a + a * (r / s);
    // 0.84375 ≤ |x| < 1.25: erx + P(|x| − 1) / Q(|x| − 1)
    let t = a - 1.0;
    let p = PA[0] + t * (PA[1] + t * (PA[2] + t * (PA[3] + t * (PA[4] + t * (PA[5] + t * PA[6])))));
    let q = 1.0 + t * (QA[0] + t * (QA[1] + t * (QA[2] + t * (QA[3] + t * (QA[4] + t * QA[5])))));
    let mid = ERX + p / q;
    // 1.25 ≤ |x| < 6: 1 − e^(−x² − 0.5625 + R/S) / x, x² split so that its exponential is exact
    let ac = a.clamp(1.0, 6.0);
    let w = 1.0 / (ac * ac);
    let lo = ac < 1.0 / 0.35;
    let c = |i: usize| if lo { RA[i] } else { RB[i] };
    let d = |i: usize| if lo { SA[i] } else { SB[i] };
    let rr = c(0)
        + w * (c(1) + w * (c(2) + w * (c(3) + w * (c(4) + w * (c(5) + w * (c(6) + w * c(7)))))));
    let ss = 1.0
        + w * (d(0)
            + w * (d(1)
                + w * (d(2) + w * (d(3) + w * (d(4) + w * (d(5) + w * (d(6) + w * d(7))))))));
    let zh = f64::from_bits(ac.to_bits() & 0xffff_ffff_0000_0000);
    let tail = 1.0 - exp(-zh * zh - 0.5625) * exp((zh - ac) * (zh + ac) + rr / ss) / ac;
    let y = if a < 0.84375 {
        small
    } else if a < 1.25 {
        mid
    } else if a < 6.0 {
        tail
    } else {
        1.0
    };
    if x.is_nan() { x } else { y.copysign(x) }
}

// Native f32 versions of exp, tanh and sigmoid (16 lanes to a 512-bit register, no f64
// division): the rest of the f32 kernels go through f64.
const LN2_HI_F: f32 = f32::from_bits(0x3f31_7200);
const LN2_LO_F: f32 = f32::from_bits(0x35bf_be8e);

/// 2^k for an integer-valued `k` in [-126, 127] (as [`pow2`]).
#[inline(always)]
fn pow2f(k: f32) -> f32 {
    f32::from_bits((k + (127.0 + 8_388_608.0)).to_bits() << 23)
}

/// eˣ in f32 (within 2 ulp of libm's `expf`).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let xc = x.clamp(-104.0, 89.0);
    let k = (xc * std::f32::consts::LOG2_E).round();
    let r = k.mul_add(-LN2_HI_F, xc);
    let r = k.mul_add(-LN2_LO_F, r);
    // Taylor to r⁷: truncation below 5e-9 for |r| ≤ ln2 / 2
    let mut p: f32 = 1.0 / 5040.0;
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let k1 = (k * 0.5).floor();
    let y = p * pow2f(k1) * pow2f(k - k1);
    let y = if x > 88.722_84 { f32::INFINITY } else { y };
    let y = if x < -103.972_08 { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// tanh x in f32 (within 4 ulp of libm's `tanhf`).
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let t = exp_f32(-2.0 * a);
    let big = (1.0 - t) / (1.0 + t);
    // |x| < 1/4: the odd Taylor series to x¹¹
    let z = a * a;
    let mut p: f32 = -1382.0 / 155_925.0;
    p = p.mul_add(z, 62.0 / 2835.0);
    p = p.mul_add(z, -17.0 / 315.0);
    p = p.mul_add(z, 2.0 / 15.0);
    p = p.mul_add(z, -1.0 / 3.0);
    let small = (a * z).mul_add(p, a);
    let r = if a < 0.25 { small } else { big };
    if x.is_nan() { x } else { r.copysign(x) }
}

/// 1 / (1 + e⁻ˣ) in f32.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    let e = exp_f32(-x.abs());
    let r = if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    if x.is_nan() { x } else { r }
}

/// `x` as a slice of `U`, when `T` is `U`.
fn same<T: 'static, U: 'static>(x: &[T]) -> Option<&[U]> {
    // SAFETY: T and U are the same type
    (TypeId::of::<T>() == TypeId::of::<U>()).then(|| unsafe { &*(x as *const [T] as *const [U]) })
}

/// `out` as a slice of `MaybeUninit<U>`, when `T` is `U`.
fn same_mut<T: 'static, U: 'static>(out: &mut [MaybeUninit<T>]) -> Option<&mut [MaybeUninit<U>]> {
    // SAFETY: T and U are the same type
    (TypeId::of::<T>() == TypeId::of::<U>())
        .then(|| unsafe { &mut *(out as *mut [MaybeUninit<T>] as *mut [MaybeUninit<U>]) })
}

/// Which copy of the slice loops this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// The baseline target (SSE2 on x86-64).
    Plain,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 (F, DQ, VL) besides AVX2 + FMA.
    Avx512,
}

/// The best [`Isa`] of this CPU (the checks are cached by std).
#[inline(always)]
pub(crate) fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            return Isa::Avx512;
        }
        if super::simd() {
            return Isa::Avx2;
        }
    }
    Isa::Plain
}

/// Run `$body(x, out)` in the copy compiled for `$want`, or for the best ISA below it that this
/// CPU has.
macro_rules! dispatch {
    ($want:expr, $body:ident($x:expr, $out:expr) for $T:ty) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
                $body(x, out)
            }
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
                $body(x, out)
            }
            match $want.min(isa()) {
                // SAFETY: `isa()` detected every feature this copy was compiled for
                Isa::Avx512 => unsafe { avx512::<$T>($x, $out) },
                // SAFETY: as above
                Isa::Avx2 => unsafe { avx2::<$T>($x, $out) },
                Isa::Plain => $body($x, $out),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $want;
            $body($x, $out)
        }
    }};
}

macro_rules! slice_kernel {
    ($(#[$doc:meta])* $name:ident, $on:ident => $f:path $(, f32 $f32:path)? $(, beyond $lim:expr => $slow:path)?) => {
        $(#[$doc])*
        pub fn $name<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
            $on(Isa::Avx512, x, out)
        }

        /// The same, in the copy of the loop for `want` (or the best below it on this CPU).
        pub(crate) fn $on<T: Float>(want: Isa, x: &[T], out: &mut [MaybeUninit<T>]) {
            $(
                // f32 in its own kernel
                if let Some(x) = same::<T, f32>(x) {
                    #[inline(always)]
                    fn plain32<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
                        for (o, &v) in out.iter_mut().zip(x) {
                            o.write(T::from_f64($f32(v.to_f64() as f32) as f64));
                        }
                    }
                    let out = same_mut::<T, f32>(out).expect("the same type as x");
                    return dispatch!(want, plain32(x, out) for f32);
                }
            )?
            #[inline(always)]
            fn plain<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
                for (o, &v) in out.iter_mut().zip(x) {
                    o.write(T::from_f64($f(v.to_f64())));
                }
            }
            dispatch!(want, plain(x, out) for T);
            $(
                // the few arguments outside the vector loop's range, element by element
                // (±∞ and NaN included)
                let beyond = |v: T| {
                    !matches!(
                        v.to_f64().abs().partial_cmp(&$lim),
                        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                    )
                };
                if x.iter().fold(false, |b, &v| b | beyond(v)) {
                    for (o, &v) in out.iter_mut().zip(x) {
                        if beyond(v) {
                            o.write(T::from_f64($slow(v.to_f64())));
                        }
                    }
                }
            )?
        }
    };
}

slice_kernel!(
    /// `out[i] = exp(x[i])`, vectorized.
    exp_slice, exp_slice_on => exp, f32 exp_f32
);
slice_kernel!(
    /// `out[i] = expm1(x[i])`, vectorized.
    expm1_slice, expm1_slice_on => expm1
);
slice_kernel!(
    /// `out[i] = ln(x[i])`, vectorized.
    log_slice, log_slice_on => log
);
slice_kernel!(
    /// `out[i] = ln(1 + x[i])`, vectorized.
    log1p_slice, log1p_slice_on => log1p
);
slice_kernel!(
    /// `out[i] = sin(x[i])`, vectorized (libm beyond [`TRIG_MAX`]).
    sin_slice, sin_slice_on => sin_reduced, beyond TRIG_MAX => f64::sin
);
slice_kernel!(
    /// `out[i] = cos(x[i])`, vectorized (libm beyond [`TRIG_MAX`]).
    cos_slice, cos_slice_on => cos_reduced, beyond TRIG_MAX => f64::cos
);
slice_kernel!(
    /// `out[i] = tan(x[i])`, vectorized (libm beyond [`TRIG_MAX`]).
    tan_slice, tan_slice_on => tan_reduced, beyond TRIG_MAX => f64::tan
);
slice_kernel!(
    /// `out[i] = asin(x[i])`, vectorized.
    asin_slice, asin_slice_on => asin
);
slice_kernel!(
    /// `out[i] = acos(x[i])`, vectorized.
    acos_slice, acos_slice_on => acos
);
slice_kernel!(
    /// `out[i] = atan(x[i])`, vectorized.
    atan_slice, atan_slice_on => atan
);
slice_kernel!(
    /// `out[i] = sinh(x[i])`, vectorized.
    sinh_slice, sinh_slice_on => sinh
);
slice_kernel!(
    /// `out[i] = cosh(x[i])`, vectorized.
    cosh_slice, cosh_slice_on => cosh
);
slice_kernel!(
    /// `out[i] = tanh(x[i])`, vectorized.
    tanh_slice, tanh_slice_on => tanh, f32 tanh_f32
);
slice_kernel!(
    /// `out[i] = sigmoid(x[i])`, vectorized.
    sigmoid_slice, sigmoid_slice_on => sigmoid, f32 sigmoid_f32
);
slice_kernel!(
    /// `out[i] = softplus(x[i])` (PyTorch's, β = 1), vectorized.
    softplus_slice, softplus_slice_on => softplus
);
slice_kernel!(
    /// `out[i] = erf(x[i])`, vectorized.
    erf_slice, erf_slice_on => erf
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place (0 for two NaNs; ±0 are checked apart).
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        if a.is_nan() || b.is_nan() || a.signum() != b.signum() {
            return u64::MAX;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    fn ulps32(a: f32, b: f32) -> u64 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        if a.is_nan() || b.is_nan() || a.signum() != b.signum() {
            return u64::MAX;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    fn xorshift(mut s: u64) -> impl FnMut() -> f64 {
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn points(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        let mut u = xorshift(0x9e37_79b9_7f4a_7c15);
        (0..n).map(move |_| lo + (hi - lo) * u())
    }

    /// Points spread evenly over the binades 2^lo..2^hi, both signs if `signed`.
    fn log_points(lo: i32, hi: i32, signed: bool, n: usize) -> Vec<f64> {
        let mut u = xorshift(0x2545_f491_4f6c_dd1d);
        (0..n)
            .map(|_| {
                let e = lo as f64 + (hi - lo) as f64 * u();
                let x = e.exp2();
                if signed && u() < 0.5 { -x } else { x }
            })
            .collect()
    }

    fn worst_on(f: fn(f64) -> f64, g: fn(f64) -> f64, xs: impl Iterator<Item = f64>) -> (u64, f64) {
        xs.map(|x| (ulps(f(x), g(x)), x))
            .max_by_key(|p| p.0)
            .unwrap()
    }

    fn within(
        name: &str,
        f: fn(f64) -> f64,
        g: fn(f64) -> f64,
        ranges: &[(f64, f64)],
        logs: &[(i32, i32, bool)],
        max: u64,
    ) {
        for &(lo, hi) in ranges {
            let (u, x) = worst_on(f, g, points(lo, hi, 200_000));
            assert!(
                u <= max,
                "{name}({x:e}) is {u} ulp from libm ({} vs {})",
                f(x),
                g(x)
            );
        }
        for &(lo, hi, signed) in logs {
            let (u, x) = worst_on(f, g, log_points(lo, hi, signed, 200_000).into_iter());
            assert!(
                u <= max,
                "{name}({x:e}) is {u} ulp from libm ({} vs {})",
                f(x),
                g(x)
            );
        }
    }

    #[test]
    fn exp_is_within_2_ulp_of_libm() {
        within(
            "exp",
            exp,
            f64::exp,
            &[
                (-1.0, 1.0),
                (-50.0, 50.0),
                (-708.0, 709.0),
                (-745.0, -700.0),
            ],
            &[(-60, 9, true)],
            2,
        );
        within(
            "expm1",
            expm1,
            f64::exp_m1,
            &[(-0.4, 0.4), (-2.0, 2.0), (-45.0, 45.0), (-50.0, 709.7)],
            &[(-1074, 9, true)],
            3,
        );
    }

    #[test]
    fn logs_are_within_2_ulp_of_libm() {
        within(
            "log",
            log,
            f64::ln,
            &[(0.5, 2.0), (0.0, 100.0), (0.9, 1.1)],
            &[(-1074, 1024, false)],
            2,
        );
        within(
            "log1p",
            log1p,
            f64::ln_1p,
            &[(-1.0, 1.0), (-0.3, 0.42), (-1e-6, 1e-6), (0.4, 3.0)],
            &[(-1074, 1024, false), (-1074, -1, true)],
            2,
        );
    }

    #[test]
    fn trig_is_within_a_few_ulp_of_libm() {
        let r = [
            (-7.0, 7.0),
            (-1e-6, 1e-6),
            (-1e3, 1e3),
            (-TRIG_MAX, TRIG_MAX),
        ];
        let l = [(-1074, 20, true)];
        within("sin", sin, f64::sin, &r, &l, 2);
        within("cos", cos, f64::cos, &r, &l, 2);
        within("tan", tan, f64::tan, &r, &l, 3);
        // near multiples of π/2, where the reduction cancels most bits
        let near: Vec<f64> = (1..20_000)
            .flat_map(|k| {
                let c = k as f64 * std::f64::consts::FRAC_PI_2;
                [
                    c,
                    f64::from_bits(c.to_bits() + 1),
                    f64::from_bits(c.to_bits() - 1),
                ]
            })
            .collect();
        for (name, f, g, max) in [
            ("sin", sin as fn(f64) -> f64, f64::sin as fn(f64) -> f64, 2),
            ("cos", cos, f64::cos, 2),
            ("tan", tan, f64::tan, 3),
        ] {
            let (u, x) = worst_on(f, g, near.iter().copied());
            assert!(u <= max, "{name}({x:e}) is {u} ulp from libm");
        }
        // beyond TRIG_MAX libm's reduction is used
        within("sin", sin, f64::sin, &[], &[(20, 1024, true)], 0);
    }

    #[test]
    fn inverse_trig_is_within_2_ulp_of_libm() {
        let r = [
            (-1.0, 1.0),
            (-0.5, 0.5),
            (0.97, 1.0),
            (-1.0, -0.97),
            (0.45, 0.55),
        ];
        let l = [(-1074, 0, true)];
        within("asin", asin, f64::asin, &r, &l, 2);
        within("acos", acos, f64::acos, &r, &l, 2);
        within(
            "atan",
            atan,
            f64::atan,
            &[(-3.0, 3.0), (-0.5, 0.5)],
            &[(-1074, 1024, true)],
            2,
        );
    }

    #[test]
    fn hyperbolic_functions_are_within_a_few_ulp_of_libm() {
        let r = [
            (-1.0, 1.0),
            (-0.8, 0.8),
            (-30.0, 30.0),
            (-711.0, 711.0),
            (709.0, 710.5),
        ];
        let l = [(-1074, 9, true)];
        within("sinh", sinh, f64::sinh, &r, &l, 3);
        within("cosh", cosh, f64::cosh, &r, &l, 3);
        within(
            "tanh",
            tanh,
            f64::tanh,
            &[(-0.3, 0.3), (-3.0, 3.0), (-25.0, 25.0)],
            &l,
            4,
        );
    }

    #[test]
    fn erf_sigmoid_softplus_are_within_a_few_ulp() {
        within(
            "erf",
            erf,
            libm::erf,
            &[(-1.0, 1.0), (0.8, 1.3), (1.2, 3.0), (2.8, 6.5), (-7.0, 7.0)],
            &[(-1074, 3, true)],
            3,
        );
        let sig = |x: f64| {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                x.exp() / (1.0 + x.exp())
            }
        };
        within(
            "sigmoid",
            sigmoid,
            sig,
            &[(-1.0, 1.0), (-40.0, 40.0), (-700.0, 700.0)],
            &[],
            4,
        );
        let sp = |x: f64| {
            if x > 20.0 {
                x
            } else {
                x.max(0.0) + (-x.abs()).exp().ln_1p()
            }
        };
        within(
            "softplus",
            softplus,
            sp,
            &[(-5.0, 5.0), (-40.0, 40.0), (-750.0, 30.0)],
            &[],
            4,
        );
    }

    /// The values where the functions change their rules: zeros, infinities, NaN, subnormals,
    /// overflow and underflow thresholds, interval boundaries.
    fn special() -> Vec<f64> {
        let mut v = vec![
            0.0,
            f64::INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            5e-324,
            1e-310,
            2.0f64.powi(-30),
            2.0f64.powi(-60),
            f64::MAX,
            1.0,
            0.5,
            0.25,
            0.4375,
            0.6875,
            1.1875,
            2.4375,
            0.84375,
            0.975,
            1.25,
            1.0 / 0.35,
            6.0,
            20.0,
            22.0,
            40.0,
            std::f64::consts::LN_2,
            std::f64::consts::FRAC_PI_2,
            std::f64::consts::PI,
            EXP_OVER,
            709.79,
            710.47,
            710.48,
            745.13,
            745.14,
            750.0,
            TRIG_MAX,
            TRIG_MAX * 1.5,
            1e300,
            0.414_213_562_373_095_1,
            0.292_893_218_813_452_5,
        ];
        let neg: Vec<f64> = v.iter().map(|x| -x).collect();
        v.extend(neg);
        v
    }

    type Kernel = fn(Isa, &[f64], &mut [MaybeUninit<f64>]);
    type Kernel32 = fn(Isa, &[f32], &mut [MaybeUninit<f32>]);
    /// A kernel's name, its f64 and f32 slice functions, libm's f64 and f32 functions, and
    /// the ulp budget in f64.
    type Case = (
        &'static str,
        Kernel,
        Kernel32,
        fn(f64) -> f64,
        fn(f32) -> f32,
        u64,
    );

    /// Every slice kernel with its libm counterparts (f64 and f32) and the ulp budget.
    fn kernels() -> Vec<Case> {
        fn sig64(x: f64) -> f64 {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                x.exp() / (1.0 + x.exp())
            }
        }
        fn sig32(x: f32) -> f32 {
            sig64(x as f64) as f32
        }
        fn sp64(x: f64) -> f64 {
            if x > 20.0 {
                x
            } else {
                x.max(0.0) + (-x.abs()).exp().ln_1p()
            }
        }
        fn sp32(x: f32) -> f32 {
            sp64(x as f64) as f32
        }
        vec![
            ("exp", exp_slice_on, exp_slice_on, f64::exp, f32::exp, 2),
            (
                "expm1",
                expm1_slice_on,
                expm1_slice_on,
                f64::exp_m1,
                f32::exp_m1,
                3,
            ),
            ("log", log_slice_on, log_slice_on, f64::ln, f32::ln, 2),
            (
                "log1p",
                log1p_slice_on,
                log1p_slice_on,
                f64::ln_1p,
                f32::ln_1p,
                2,
            ),
            ("sin", sin_slice_on, sin_slice_on, f64::sin, f32::sin, 2),
            ("cos", cos_slice_on, cos_slice_on, f64::cos, f32::cos, 2),
            ("tan", tan_slice_on, tan_slice_on, f64::tan, f32::tan, 3),
            (
                "asin",
                asin_slice_on,
                asin_slice_on,
                f64::asin,
                f32::asin,
                2,
            ),
            (
                "acos",
                acos_slice_on,
                acos_slice_on,
                f64::acos,
                f32::acos,
                2,
            ),
            (
                "atan",
                atan_slice_on,
                atan_slice_on,
                f64::atan,
                f32::atan,
                2,
            ),
            (
                "sinh",
                sinh_slice_on,
                sinh_slice_on,
                f64::sinh,
                f32::sinh,
                3,
            ),
            (
                "cosh",
                cosh_slice_on,
                cosh_slice_on,
                f64::cosh,
                f32::cosh,
                3,
            ),
            (
                "tanh",
                tanh_slice_on,
                tanh_slice_on,
                f64::tanh,
                f32::tanh,
                4,
            ),
            (
                "sigmoid",
                sigmoid_slice_on,
                sigmoid_slice_on,
                sig64,
                sig32,
                4,
            ),
            (
                "softplus",
                softplus_slice_on,
                softplus_slice_on,
                sp64,
                sp32,
                4,
            ),
            ("erf", erf_slice_on, erf_slice_on, libm::erf, libm::erff, 3),
        ]
    }

    fn run<T: Copy>(k: fn(Isa, &[T], &mut [MaybeUninit<T>]), isa: Isa, x: &[T]) -> Vec<T> {
        let mut out = vec![MaybeUninit::uninit(); x.len()];
        k(isa, x, &mut out);
        // SAFETY: the kernel wrote every element
        out.into_iter()
            .map(|o| unsafe { o.assume_init() })
            .collect()
    }

    #[test]
    fn special_values_match_libm_in_both_dtypes() {
        let xs = special();
        let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        for (name, k, k32, g, g32, max) in kernels() {
            for (x, y) in xs.iter().zip(run(k, Isa::Avx512, &xs)) {
                let want = g(*x);
                assert!(
                    ulps(y, want) <= max
                        && (y != 0.0 || y.is_sign_negative() == want.is_sign_negative()),
                    "{name}({x:e}) = {y:e}, libm {want:e}"
                );
            }
            for (x, y) in xs32.iter().zip(run(k32, Isa::Avx512, &xs32)) {
                let want = g32(*x);
                assert!(
                    ulps32(y, want) <= max
                        && (y != 0.0 || y.is_sign_negative() == want.is_sign_negative()),
                    "{name}({x:e}f32) = {y:e}, libm {want:e}"
                );
            }
        }
    }

    #[test]
    fn f32_slices_are_within_a_few_ulp_of_libm() {
        let mut u = xorshift(7);
        let xs: Vec<f32> = (0..20_000)
            .map(|i| {
                let v = ((u() - 0.5) * 2.0 * [1.0, 4.0, 30.0, 100.0][i % 4]) as f32;
                if i % 7 == 0 { v.abs() } else { v }
            })
            .collect();
        for (name, _, k32, _, g32, max) in kernels() {
            for (x, y) in xs.iter().zip(run(k32, Isa::Avx512, &xs)) {
                let want = g32(*x);
                assert!(
                    ulps32(y, want) <= max,
                    "{name}({x:e}f32) = {y:e}, libm {want:e}"
                );
            }
        }
    }

    #[test]
    fn every_copy_of_the_loops_gives_the_same_bits() {
        let mut xs = special();
        xs.extend(points(-12.0, 12.0, 3000));
        xs.extend(log_points(-1074, 1024, true, 3000));
        for (name, k, k32, ..) in kernels() {
            let plain = run(k, Isa::Plain, &xs);
            for isa in [Isa::Avx2, Isa::Avx512] {
                for ((x, a), b) in xs.iter().zip(&plain).zip(run(k, isa, &xs)) {
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{name}({x:e}): {a:e} plain, {b:e} with {isa:?}"
                    );
                }
            }
            let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
            let plain = run(k32, Isa::Plain, &xs32);
            for ((x, a), b) in xs32.iter().zip(&plain).zip(run(k32, Isa::Avx512, &xs32)) {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{name}({x:e}f32): {a:e} plain, {b:e} vectorized"
                );
            }
        }
    }
}
