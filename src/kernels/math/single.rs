//! Kernels in f32 arithmetic (16 lanes to a 512-bit register): exp, expm1, log, log1p, sin,
//! cos, tan, asin, acos, atan, sinh, cosh, tanh, sigmoid, softplus and erf. Each has a fast
//! path for the arguments that matter (finite, away from overflow, underflow and huge
//! trigonometric arguments) and leaves the rest to the f64 functions, rounded (see the slice
//! kernels of the parent module). The polynomials are minimax fits (Remez exchange in mpmath
//! at 60 digits) with the coefficients rounded to f32.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5 · 2²³: adding it to an integer-valued float k, |k| < 2²², puts k in the low mantissa
/// bits.
const MAGIC: f32 = 12_582_912.0;
/// ln 2 split in two: `k · LN2_HI` is exact for |k| < 2⁸.
const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);

/// (e^r − 1 − r) / r² on [−ln2/2, ln2/2], degree 5: relative error of e^r − 1 below 2⁻³¹·⁸.
const EXPM1_Q: [f32; 6] = [
    f32::from_bits(0x3f00_0000),
    f32::from_bits(0x3e2a_aaab),
    f32::from_bits(0x3d2a_aa4f),
    f32::from_bits(0x3c08_880f),
    f32::from_bits(0x3ab6_c1a6),
    f32::from_bits(0x3951_518e),
];

/// Q(r) of [`EXPM1_Q`] by Horner's scheme.
#[inline(always)]
fn expm1_q(r: f32) -> f32 {
    let c = EXPM1_Q;
    let mut q = c[5];
    q = q.mul_add(r, c[4]);
    q = q.mul_add(r, c[3]);
    q = q.mul_add(r, c[2]);
    q = q.mul_add(r, c[1]);
    q.mul_add(r, c[0])
}

/// Q(r) of [`EXPM1_Q`] by Estrin's scheme (three levels instead of five; the f64
/// `NOTE: [estrin]`).
#[inline(always)]
fn expm1_q_estrin(r: f32) -> f32 {
    let c = EXPM1_Q;
    let r2 = r * r;
    let p01 = c[1].mul_add(r, c[0]);
    let p23 = c[3].mul_add(r, c[2]);
    let p45 = c[5].mul_add(r, c[4]);
    let p03 = p23.mul_add(r2, p01);
    p45.mul_add(r2 * r2, p03)
}

/// e^r − 1 for |r| ≤ ln2 / 2.
#[inline(always)]
fn expm1_poly(r: f32) -> f32 {
    (r * r).mul_add(expm1_q_estrin(r), r)
}

/// `(kb, r)`: x = k ln2 + r with k in the low bits of `kb`.
#[inline(always)]
fn exp_split(x: f32) -> (f32, f32) {
    let kb = x.mul_add(LOG2E, MAGIC);
    let k = kb - MAGIC;
    let r = k.mul_add(-LN2_HI, x);
    (kb, k.mul_add(-LN2_LO, r))
}

/// `y · 2ᵏ` (k in the low bits of `kb`), exact while the result is normal.
#[inline(always)]
fn add_exponent(y: f32, kb: f32) -> f32 {
    f32::from_bits(y.to_bits().wrapping_add(kb.to_bits() << 23))
}

/// The range of [`exp_fast`].
#[inline(always)]
pub(super) fn exp_ok(x: f32) -> bool {
    (-86.5..=88.0).contains(&x)
}

/// eˣ for x in [−86.5, 88] ([`exp_ok`]).
#[inline(always)]
pub(super) fn exp_fast(x: f32) -> f32 {
    let (kb, r) = exp_split(x);
    add_exponent(expm1_q(r).mul_add(r, 1.0).mul_add(r, 1.0), kb)
}

/// eˣ − 1 for x ≤ 88 (as the f64 `expm1_core`; below −20 it rounds to −1).
#[inline(always)]
fn expm1_core(x: f32) -> f32 {
    expm1_above(x.max(-20.0))
}

/// [`expm1_core`] for x ≥ −20 (or NaN, which gives NaN), without the clamp (as the f64
/// `expm1_above`).
#[inline(always)]
fn expm1_above(x: f32) -> f32 {
    let (kb, r) = exp_split(x);
    let s = add_exponent(1.0, kb);
    s.mul_add(expm1_poly(r), s - 1.0)
}

/// The range of [`expm1_fast`] (NaN is outside).
#[inline(always)]
pub(super) fn expm1_ok(x: f32) -> bool {
    x <= 88.0
}

/// eˣ − 1 for x ≤ 88 ([`expm1_ok`]).
#[inline(always)]
pub(super) fn expm1_fast(x: f32) -> f32 {
    let y = expm1_core(x);
    if x == 0.0 { x } else { y }
}

/// tanh x = e / (e + 2), e = expm1(2|x|), for every x (|x| clamped to 10, where tanh rounds
/// to ±1; NaN through the arithmetic, as in the f64 `NOTE: [tanh-nan]`).
#[inline(always)]
pub(super) fn tanh_fast(x: f32) -> f32 {
    let a = x.abs();
    let a = if a > 10.0 { 10.0 } else { a };
    let e = expm1_above(2.0 * a);
    (e / (e + 2.0)).copysign(x)
}

/// The range of [`sinh_fast`] and [`cosh_fast`] (NaN is outside).
#[inline(always)]
pub(super) fn hyperbolic_ok(x: f32) -> bool {
    x.abs() <= 88.0
}

/// sinh x for |x| ≤ 88 ([`hyperbolic_ok`]), as the f64 `sinh_fast`: t = e^|x| − 1,
/// u = t / (t + 1) (one division), then (t + u) / 2, or t − t u / 2 below 1.
#[inline(always)]
pub(super) fn sinh_fast(x: f32) -> f32 {
    let a = x.abs();
    let t = expm1_above(a);
    let u = t / (t + 1.0);
    let y = if a < 1.0 {
        (-0.5 * t).mul_add(u, t)
    } else {
        0.5 * (t + u)
    };
    // ±0 keeps its sign
    y.copysign(x)
}

/// cosh x for |x| ≤ 88 ([`hyperbolic_ok`]): with t and u as in [`sinh_fast`], 1 + t u / 2
/// below ln 2, else (t + 1) / 2 + (1 − u) / 2.
#[inline(always)]
pub(super) fn cosh_fast(x: f32) -> f32 {
    let a = x.abs();
    let t = expm1_above(a);
    let u = t / (t + 1.0);
    let small = (0.5 * t).mul_add(u, 1.0);
    let mid = 0.5 * (t + 1.0) + 0.5 * (1.0 - u);
    if a < std::f32::consts::LN_2 {
        small
    } else {
        mid
    }
}

/// The range of [`sigmoid_fast`].
#[inline(always)]
pub(super) fn sigmoid_ok(x: f32) -> bool {
    x.abs() <= 86.5
}

/// 1 / (1 + e⁻ˣ) for |x| ≤ 86.5 ([`sigmoid_ok`]).
#[inline(always)]
pub(super) fn sigmoid_fast(x: f32) -> f32 {
    let e = exp_fast(-x.abs());
    (if x >= 0.0 { 1.0 } else { e }) / (1.0 + e)
}

/// (log1p f − f + f²/2) / f³ on [√2/2 − 1, √2 − 1], degree 7: error relative to log1p f below
/// 2⁻²⁷·³.
const LOG_A: [f32; 8] = [
    f32::from_bits(0x3eaa_aaaa),
    f32::from_bits(0xbe80_0114),
    f32::from_bits(0x3e4c_d005),
    f32::from_bits(0xbe2a_3914),
    f32::from_bits(0x3e11_6cf5),
    f32::from_bits(0xbe06_c31b),
    f32::from_bits(0x3e02_aeb6),
    f32::from_bits(0xbd9c_5aac),
];

/// log1p f for f in [√2/2 − 1, √2 − 1]: f + f² (−½ + f A(f)), no division.
#[inline(always)]
fn log1p_poly(f: f32) -> f32 {
    let c = LOG_A;
    let mut p = c[7];
    p = p.mul_add(f, c[6]);
    p = p.mul_add(f, c[5]);
    p = p.mul_add(f, c[4]);
    p = p.mul_add(f, c[3]);
    p = p.mul_add(f, c[2]);
    p = p.mul_add(f, c[1]);
    p = p.mul_add(f, c[0]);
    (f * f).mul_add(p.mul_add(f, -0.5), f)
}

/// `(k, m)` with x = 2ᵏ m, m in [√2/2, √2), for positive normal x.
#[inline(always)]
fn log_split(x: f32) -> (f32, f32) {
    const SQRT_HALF: u32 = 0x3f35_04f3;
    let ix = x.to_bits().wrapping_add(0x3f80_0000 - SQRT_HALF);
    let k = ((ix >> 23) as i32 - 127) as f32;
    (k, f32::from_bits((ix & 0x007f_ffff) + SQRT_HALF))
}

/// The range of [`log_fast`]: positive normal numbers.
#[inline(always)]
pub(super) fn log_ok(x: f32) -> bool {
    (f32::MIN_POSITIVE..=f32::MAX).contains(&x)
}

/// ln x for positive normal x ([`log_ok`]).
#[inline(always)]
pub(super) fn log_fast(x: f32) -> f32 {
    let (k, m) = log_split(x);
    let y = log1p_poly(m - 1.0);
    k.mul_add(LN2_HI, k.mul_add(LN2_LO, y))
}

/// The range of [`log1p_fast`] (x > −1, finite).
#[inline(always)]
pub(super) fn log1p_ok(x: f32) -> bool {
    x > -1.0 && x <= f32::MAX
}

/// ln(1 + x) for x > −1 finite ([`log1p_ok`]), as fdlibm: 1 + x = 2ᵏ m and the rounding
/// error of 1 + x carried as a correction; x itself where 1 + x is in [√2/2, √2).
#[inline(always)]
pub(super) fn log1p_fast(x: f32) -> f32 {
    let near = x < 0.414_213_57 && x > -0.292_893_2;
    let u = 1.0 + x;
    let (k, m) = log_split(u);
    let c = (if k >= 2.0 {
        1.0 - (u - x)
    } else {
        x - (u - 1.0)
    }) / u;
    let c = if k < 25.0 { c } else { 0.0 };
    let (k, c, f) = if near { (0.0, 0.0, x) } else { (k, c, m - 1.0) };
    let y = log1p_poly(f) + k.mul_add(LN2_LO, c);
    let y = k.mul_add(LN2_HI, y);
    if x == 0.0 { x } else { y }
}

/// (sin r − r) / r³ as a polynomial in r², r in [−π/2, π/2], degree 3: relative error of
/// sin r below 2⁻²⁷·³.
const SIN_P: [f32; 4] = [
    f32::from_bits(0xbe2a_aaa6),
    f32::from_bits(0x3c08_876a),
    f32::from_bits(0xb94f_b7f7),
    f32::from_bits(0x362e_de75),
];

/// 1/π, and π in three positive parts (the first two rounded down, as in the f64 version).
const INV_PI: f32 = f32::from_bits(0x3ea2_f983);
const PI_1: f32 = f32::from_bits(0x4049_0fda);
const PI_2: f32 = f32::from_bits(0x3422_2168);
const PI_3: f32 = f32::from_bits(0x2842_34c5);

/// Arguments of f32 sin and cos up to this size are reduced in f32; beyond, in f64.
pub(super) const TRIG_MAX: f32 = 32_768.0;

/// ±sin r for |r| ≤ π/2, the sign that of r flipped by bit 0 of `nb`.
#[inline(always)]
fn sin_signed(r: f32, nb: f32) -> f32 {
    let c = SIN_P;
    let z = r * r;
    let mut p = c[3];
    p = p.mul_add(z, c[2]);
    p = p.mul_add(z, c[1]);
    p = p.mul_add(z, c[0]);
    let y = (r * z).mul_add(p, r);
    // |sin r| ≤ 1, as in f64 (NOTE: [sin-unit])
    let a = ((y.to_bits() & !(1 << 31)) as i32).min(1f32.to_bits() as i32) as u32;
    let sign = (r.to_bits() ^ (nb.to_bits() << 31)) & (1 << 31);
    f32::from_bits(a | sign)
}

/// The range of the fast f32 sine and cosine.
#[inline(always)]
pub(super) fn trig_ok(x: f32) -> bool {
    x.abs() <= TRIG_MAX
}

/// sin x for |x| ≤ [`TRIG_MAX`] (as the f64 `sin_fast`).
#[inline(always)]
pub(super) fn sin_fast(x: f32) -> f32 {
    let nb = x.mul_add(INV_PI, MAGIC);
    let n = nb - MAGIC;
    let r = n.mul_add(-PI_1, x);
    let r = n.mul_add(-PI_2, r);
    let r = n.mul_add(-PI_3, r);
    sin_signed(r, nb)
}

/// cos x for |x| ≤ [`TRIG_MAX`] (as the f64 `cos_fast`).
#[inline(always)]
pub(super) fn cos_fast(x: f32) -> f32 {
    const PIO2_1: f32 = PI_1 * 0.5;
    const PIO2_2: f32 = PI_2 * 0.5;
    const PIO2_3: f32 = PI_3 * 0.5;
    let nb = (x * INV_PI - 0.5) + MAGIC;
    let n = nb - MAGIC;
    let q = n.mul_add(2.0, 1.0);
    let r = q.mul_add(-PIO2_1, x);
    let r = q.mul_add(-PIO2_2, r);
    let r = q.mul_add(-PIO2_3, r);
    sin_signed(r, f32::from_bits(nb.to_bits() ^ 1))
}

/// (erf a − a) / a as a polynomial in z = a² on a ≤ 1: minimax of degree 7 (2⁻²⁷ with the
/// coefficients rounded to f32).
const ERF_A: [f32; 8] = [
    f32::from_bits(0x3e03_75d4),
    f32::from_bits(0xbec0_93a3),
    f32::from_bits(0x3de7_1785),
    f32::from_bits(0xbcdc_14ec),
    f32::from_bits(0x3bab_158d),
    f32::from_bits(0xba5e_6bef),
    f32::from_bits(0x38ec_5c47),
    f32::from_bits(0xb722_67e2),
];

/// e^(a²) erfc a as a polynomial in a − 5/2 on [1, 3.92], minimax of degree 9 for the error of
/// erfc a = e^(−a²) R (2⁻³⁰ with the coefficients rounded to f32).
const ERF_B: [f32; 10] = [
    f32::from_bits(0x3e57_dd9e),
    f32::from_bits(0xbd98_447d),
    f32::from_bits(0x3ccc_3905),
    f32::from_bits(0xbc03_1342),
    f32::from_bits(0x3b25_3254),
    f32::from_bits(0xba2a_2cd9),
    f32::from_bits(0x396a_8c48),
    f32::from_bits(0xb90e_d003),
    f32::from_bits(0xb872_52f1),
    f32::from_bits(0xb7ea_d3a8),
];

/// The error function for every x, in f32 arithmetic: a + a P(a²) for |x| = a < 1, and
/// 1 − e^(−a²) R(a) up to 3.92 (where erf rounds to 1), with a² split in two so that the
/// exponential sees it exactly.
#[inline(always)]
pub(super) fn erf_fast(x: f32) -> f32 {
    let a = x.abs();
    let z = a * a;
    let c = ERF_A;
    let mut p = c[7];
    p = p.mul_add(z, c[6]);
    p = p.mul_add(z, c[5]);
    p = p.mul_add(z, c[4]);
    p = p.mul_add(z, c[3]);
    p = p.mul_add(z, c[2]);
    p = p.mul_add(z, c[1]);
    p = p.mul_add(z, c[0]);
    let small = a.mul_add(p, a);
    let b = a.clamp(1.0, 3.92);
    let hi = b * b;
    let lo = b.mul_add(b, -hi);
    let e = exp_fast(-hi) * (1.0 - lo);
    let t = b - 2.5;
    let c = ERF_B;
    let mut q = c[9];
    q = q.mul_add(t, c[8]);
    q = q.mul_add(t, c[7]);
    q = q.mul_add(t, c[6]);
    q = q.mul_add(t, c[5]);
    q = q.mul_add(t, c[4]);
    q = q.mul_add(t, c[3]);
    q = q.mul_add(t, c[2]);
    q = q.mul_add(t, c[1]);
    q = q.mul_add(t, c[0]);
    let big = (-e).mul_add(q, 1.0);
    // NaN fails both comparisons: `big`, NaN (NOTE: [tanh-nan])
    let y = if a < 1.0 { small } else { big };
    let y = if a > 3.92 { 1.0 } else { y };
    y.copysign(x)
}

/// (atan t − t) / (t u), u = t², on |t| ≤ 1/2: minimax of degree 5 for the relative error of
/// atan t (2⁻²⁸·³ with the coefficients rounded to f32).
const ATAN_P: [f32; 6] = [
    f32::from_bits(0xbeaa_aaa9),
    f32::from_bits(0x3e4c_cb7d),
    f32::from_bits(0xbe12_25da),
    f32::from_bits(0x3de0_198b),
    f32::from_bits(0xbda3_9e12),
    f32::from_bits(0x3d1e_e470),
];
/// atan x for every x (±∞ and NaN included), with one division: |x| = a is reduced to
/// |t| ≤ 1/2 by atan a = atan t (a ≤ 1/2), π/4 + atan((a − 1)/(a + 1)) (a ≤ 1 + √2; a − 1 is
/// exact there), π/2 + atan(−1/a) (beyond), and π/4 in two parts.
#[inline(always)]
pub(super) fn atan_fast(x: f32) -> f32 {
    const PIO4_HI: f32 = f32::from_bits(0x3f49_0fdb);
    const PIO4_LO: f32 = -2.185_569_9e-8;
    let a = x.abs();
    let mid = a > 0.5;
    let far = a > 2.414_213_5;
    let num = if far {
        -1.0
    } else if mid {
        a - 1.0
    } else {
        a
    };
    let den = if far {
        a
    } else if mid {
        a + 1.0
    } else {
        1.0
    };
    let (hi, lo) = if far {
        (2.0 * PIO4_HI, 2.0 * PIO4_LO)
    } else if mid {
        (PIO4_HI, PIO4_LO)
    } else {
        (0.0, 0.0)
    };
    let t = num / den;
    let u = t * t;
    let c = ATAN_P;
    let mut p = c[5];
    p = p.mul_add(u, c[4]);
    p = p.mul_add(u, c[3]);
    p = p.mul_add(u, c[2]);
    p = p.mul_add(u, c[1]);
    p = p.mul_add(u, c[0]);
    let y = hi + (t * u).mul_add(p, t + lo);
    if x.is_nan() { x } else { y.copysign(x) }
}

/// The range of [`softplus_fast`] (the fast exp of −|x|; NaN is outside).
#[inline(always)]
pub(super) fn softplus_ok(x: f32) -> bool {
    x.abs() <= 86.5
}

/// log(1 + eˣ) as PyTorch computes it (β = 1: x itself above 20), for |x| ≤ 86.5
/// ([`softplus_ok`]): max(x, 0) + log1p(e^−|x|) with the f32 exp and log1p.
#[inline(always)]
pub(super) fn softplus_fast(x: f32) -> f32 {
    let y = x.max(0.0) + log1p_fast(exp_fast(-x.abs()));
    if x > 20.0 { x } else { y }
}

/// (tan r − r) / (r u), u = r², on |r| ≤ π/4: minimax of degree 6 for the relative error of
/// tan r (2⁻²⁸·⁴ with the coefficients rounded to f32).
const TAN_P: [f32; 7] = [
    f32::from_bits(0x3eaa_aab0),
    f32::from_bits(0x3e08_86c7),
    f32::from_bits(0x3d5d_6df0),
    f32::from_bits(0x3cae_57f1),
    f32::from_bits(0x3c31_88df),
    f32::from_bits(0x38bb_ae4e),
    f32::from_bits(0x3b8f_66fd),
];

/// tan x for |x| ≤ [`TRIG_MAX`]: x = n π/2 + r (the reduction of [`cos_fast`]), tan r = r + e
/// by an odd polynomial, and for odd n −1/(r + e) with the rounding errors of r + e and of the
/// division put back.
#[inline(always)]
pub(super) fn tan_fast(x: f32) -> f32 {
    const PIO2_1: f32 = PI_1 * 0.5;
    const PIO2_2: f32 = PI_2 * 0.5;
    const PIO2_3: f32 = PI_3 * 0.5;
    let nb = x.mul_add(2.0 * INV_PI, MAGIC);
    let n = nb - MAGIC;
    let r = n.mul_add(-PIO2_1, x);
    let r = n.mul_add(-PIO2_2, r);
    let r = n.mul_add(-PIO2_3, r);
    let u = r * r;
    let c = TAN_P;
    let mut p = c[6];
    p = p.mul_add(u, c[5]);
    p = p.mul_add(u, c[4]);
    p = p.mul_add(u, c[3]);
    p = p.mul_add(u, c[2]);
    p = p.mul_add(u, c[1]);
    p = p.mul_add(u, c[0]);
    let e = (r * u) * p;
    let t = r + e;
    // −1/(t + tl) = q (1 + ρ + q tl) to first order, q = −1/t rounded, ρ = q t + 1 exactly
    let tl = e - (t - r);
    let q = -1.0 / t;
    let rho = q.mul_add(t, 1.0);
    let odd = q.mul_add(q.mul_add(tl, rho), q);
    if nb.to_bits() & 1 == 1 { odd } else { t }
}

/// (asin s − s) / (s z), z = s², on s ≤ 1/2: minimax of degree 5 for the relative error of
/// asin s (2⁻²⁹·⁸ with the coefficients rounded to f32).
const ASIN_P: [f32; 6] = [
    f32::from_bits(0x3e2a_aaa6),
    f32::from_bits(0x3d99_9c3e),
    f32::from_bits(0x3d36_5769),
    f32::from_bits(0x3d02_48d2),
    f32::from_bits(0x3c6c_8fc8),
    f32::from_bits(0x3d19_aae3),
];

/// π/2 and π in two parts.
const HALF_PI_HI: f32 = f32::from_bits(0x3fc9_0fdb);
const HALF_PI_LO: f32 = -4.371_139e-8;
const PI_HI: f32 = f32::from_bits(0x4049_0fdb);
const PI_LO: f32 = -8.742_278e-8;

/// `(s, e, big)` for a = |x| ≤ 1: asin s = s + e, with s = a (a ≤ 1/2) or s = √((1 − a)/2)
/// (`big`, where asin a = π/2 − 2 asin s).
#[inline(always)]
fn asin_parts(a: f32) -> (f32, f32, bool) {
    let big = a > 0.5;
    let z = if big { (1.0 - a) * 0.5 } else { a * a };
    let s = if big { z.sqrt() } else { a };
    let c = ASIN_P;
    let mut p = c[5];
    p = p.mul_add(z, c[4]);
    p = p.mul_add(z, c[3]);
    p = p.mul_add(z, c[2]);
    p = p.mul_add(z, c[1]);
    p = p.mul_add(z, c[0]);
    (s, (s * z) * p, big)
}

/// asin x for every x (NaN beyond ±1).
#[inline(always)]
pub(super) fn asin_fast(x: f32) -> f32 {
    let a = x.abs();
    let (s, e, big) = asin_parts(a);
    // π/2 − 2 (s + e), the large parts first
    let y = if big {
        (-2.0f32).mul_add(s, HALF_PI_HI) + (-2.0f32).mul_add(e, HALF_PI_LO)
    } else {
        s + e
    };
    // NaN fails the comparison and went through the arithmetic as NaN (NOTE: [tanh-nan])
    if a > 1.0 { f32::NAN } else { y.copysign(x) }
}

/// acos x for every x (NaN beyond ±1): π/2 − asin x below 1/2 in magnitude, 2 asin s or
/// π − 2 asin s (s as in [`asin_fast`]) beyond.
#[inline(always)]
pub(super) fn acos_fast(x: f32) -> f32 {
    let a = x.abs();
    let (s, e, big) = asin_parts(a);
    let s = s.copysign(x);
    let e = e.copysign(x);
    let small = (HALF_PI_HI - s) + (HALF_PI_LO - e);
    let pos = 2.0 * (s + e);
    let neg = 2.0f32.mul_add(s, PI_HI) + 2.0f32.mul_add(e, PI_LO);
    let y = if x > 0.0 { pos } else { neg };
    let y = if big { y } else { small };
    // NaN: `small`, NaN (NOTE: [tanh-nan])
    if a > 1.0 { f32::NAN } else { y }
}

/// The f64 functions for the arguments outside the fast paths, rounded to f32.
#[inline(never)]
pub(super) fn exp_full(x: f32) -> f32 {
    super::exp_full(x as f64) as f32
}
#[inline(never)]
pub(super) fn expm1_full(x: f32) -> f32 {
    super::expm1_full(x as f64) as f32
}
#[inline(never)]
pub(super) fn log_full(x: f32) -> f32 {
    super::log_full(x as f64) as f32
}
#[inline(never)]
pub(super) fn log1p_full(x: f32) -> f32 {
    super::log1p(x as f64) as f32
}
#[inline(never)]
pub(super) fn sin_full(x: f32) -> f32 {
    super::sin(x as f64) as f32
}
#[inline(never)]
pub(super) fn cos_full(x: f32) -> f32 {
    super::cos(x as f64) as f32
}
#[inline(never)]
pub(super) fn sigmoid_full(x: f32) -> f32 {
    super::sigmoid_full(x as f64) as f32
}
#[inline(never)]
pub(super) fn tan_full(x: f32) -> f32 {
    super::tan(x as f64) as f32
}
#[inline(never)]
pub(super) fn sinh_full(x: f32) -> f32 {
    super::sinh_full(x as f64) as f32
}
#[inline(never)]
pub(super) fn cosh_full(x: f32) -> f32 {
    super::cosh_full(x as f64) as f32
}
#[inline(never)]
pub(super) fn softplus_full(x: f32) -> f32 {
    super::softplus_full(x as f64) as f32
}
