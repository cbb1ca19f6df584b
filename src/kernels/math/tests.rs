//! Accuracy against libm (f64) and against the correctly rounded result (f32, libm in f64
//! rounded), special values, and the agreement of the copies of the loops.

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
        3,
    );
}

/// Near its clamp tanh x is 1 − 2/(e²ˣ + 1) rounded: one of the two or three floats below 1,
/// or 1 itself. Every copy keeps |tanh x| ≤ 1 there and stays within an ulp of libm, whose
/// derivative 1 − tanh² would otherwise turn negative (NOTE: [tanh-quotient]).
#[test]
fn tanh_never_leaves_the_unit_interval_near_its_clamp() {
    let mut near: Vec<f64> = points(16.0, 21.0, 20_000).collect();
    near.extend(points(-21.0, -16.0, 5_000));
    // around e = expm1(2|x|) = 2, where the quotient changes its numerator (libm itself is
    // up to 2 ulp off there, 1.5 at 0.5487)
    let turn = 3f64.ln() / 2.0;
    let mut mid: Vec<f64> = points(turn - 1e-3, turn + 1e-3, 5_000).collect();
    mid.extend((-64..=64).map(|i| turn + i as f64 * f64::EPSILON / 4.0));
    for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
        for (xs, max) in [(&near, 1), (&mid, 2)] {
            for (x, y) in xs.iter().zip(run(tanh_slice_on, isa, xs)) {
                let want = x.tanh();
                assert!(
                    y.abs() <= 1.0 && ulps(y, want) <= max,
                    "tanh({x:e}) = {y:e} with {isa:?}, libm {want:e}"
                );
            }
        }
    }
}

/// sin and cos near ±1 (x near the multiples of π/2) stay within [−1, 1] in every copy and
/// both types (NOTE: [sin-unit]).
#[test]
fn sine_and_cosine_never_leave_the_unit_interval() {
    let h = std::f64::consts::FRAC_PI_2;
    let mut xs = Vec::new();
    for c in [0.0, h, 2.0 * h, 3.0 * h, -h, 4.0 * h, 101.0 * h, 200.0 * h] {
        for w in [1e-2, 1e-5, 1e-8] {
            xs.extend(points(c - w, c + w, 20_000));
        }
    }
    let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
        for (name, k) in [("sin", sin_slice_on as Kernel), ("cos", cos_slice_on)] {
            for (x, y) in xs.iter().zip(run(k, isa, &xs)) {
                assert!(y.abs() <= 1.0, "{name}({x:e}) = {y:e} with {isa:?}");
            }
        }
        for (name, k) in [("sin", sin_slice_on as Kernel32), ("cos", cos_slice_on)] {
            for (x, y) in xs32.iter().zip(run(k, isa, &xs32)) {
                assert!(y.abs() <= 1.0, "{name}({x:e}f32) = {y:e} with {isa:?}");
            }
        }
    }
}

/// The hand-written loops of tanh (two passes over runs of up to 512 elements, the last
/// vector masked in AVX-512, the scalar function after the last whole vector in AVX2) give
/// the bits of the scalar [`tanh`] for every length and position, in one run and in several
/// (NOTE: [tanh-passes]).
#[test]
fn tanh_slices_of_every_length_give_the_scalar_bits() {
    let mut u = xorshift(3);
    for n in (0..=150).chain([511, 512, 513, 1023, 1030, 1543]) {
        let xs: Vec<f64> = (0..n)
            .map(|i| match i % 5 {
                0 => (u() - 0.5) * 50.0,
                1 => (u() - 0.5) * 2.0,
                2 => (u() - 0.5) * 1e-6,
                3 => 0.54 + u() * 0.02,
                _ => (u() - 0.5) * 8.0,
            })
            .collect();
        for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
            for (x, y) in xs.iter().zip(run(tanh_slice_on, isa, &xs)) {
                let want = tanh(*x);
                assert!(
                    y.to_bits() == want.to_bits(),
                    "tanh({x:e}) = {y:e} with {isa:?} in a slice of {n}, scalar {want:e}"
                );
            }
        }
    }
}

#[test]
fn erf_sigmoid_softplus_are_within_a_few_ulp() {
    within(
        "erf",
        erf,
        libm::erf,
        &[(-1.0, 1.0), (0.8, 1.3), (1.2, 3.0), (2.8, 6.5), (-7.0, 7.0)],
        &[(-1074, 3, true)],
        1,
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

/// erf's slice loop reads a block's table entries before its arithmetic (`NOTE:
/// [erf-two-passes]`): every element, across blocks and a partial last one, gets the bits of
/// the scalar [`erf`] that `erf_sigmoid_softplus_are_within_a_few_ulp` holds to libm.
#[test]
fn erf_slice_gives_the_scalar_bits_in_every_copy() {
    let mut xs = special();
    xs.extend(points(-7.0, 7.0, 3001));
    xs.extend(log_points(-1074, 3, true, 1000));
    for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
        for (x, y) in xs.iter().zip(run(erf_slice_on, isa, &xs)) {
            let alone = erf(*x);
            assert!(
                y.to_bits() == alone.to_bits() || (y.is_nan() && alone.is_nan()),
                "erf({x:e}): {y:e} in the slice with {isa:?}, {alone:e} alone"
            );
        }
    }
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
        // the edges of the fast paths (f64 and f32)
        707.0,
        707.1,
        708.4,
        709.0,
        709.1,
        86.5,
        86.6,
        87.4,
        88.0,
        88.1,
        88.73,
        103.9,
        104.0,
        10.0,
        19.0,
        single::TRIG_MAX as f64,
        single::TRIG_MAX as f64 + 4.0,
        f32::MIN_POSITIVE as f64,
        f32::MAX as f64,
        1e-45,
        1e-40,
        0.999_999_9,
        1.000_000_1,
        0.997,
        1.0027,
    ];
    let neg: Vec<f64> = v.iter().map(|x| -x).collect();
    v.extend(neg);
    v
}

type Kernel = fn(Isa, &[f64], &mut [MaybeUninit<f64>]);
type Kernel32 = fn(Isa, &[f32], &mut [MaybeUninit<f32>]);
/// A kernel's name, its f64 and f32 slice functions, the f64 reference (libm), and the ulp
/// budgets in f64 (against libm) and in f32 (against the reference rounded to f32).
type Case = (&'static str, Kernel, Kernel32, fn(f64) -> f64, u64, u64);

fn sig64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

fn sp64(x: f64) -> f64 {
    if x > 20.0 {
        x
    } else {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }
}

fn rs64(x: f64) -> f64 {
    1.0 / x.sqrt()
}

/// Every slice kernel with its reference and budgets.
fn kernels() -> Vec<Case> {
    vec![
        ("exp", exp_slice_on, exp_slice_on, f64::exp, 1, 2),
        ("expm1", expm1_slice_on, expm1_slice_on, f64::exp_m1, 2, 2),
        ("log", log_slice_on, log_slice_on, f64::ln, 1, 2),
        ("log1p", log1p_slice_on, log1p_slice_on, f64::ln_1p, 2, 2),
        ("sin", sin_slice_on, sin_slice_on, f64::sin, 2, 2),
        ("cos", cos_slice_on, cos_slice_on, f64::cos, 2, 2),
        ("tan", tan_slice_on, tan_slice_on, f64::tan, 3, 2),
        ("asin", asin_slice_on, asin_slice_on, f64::asin, 2, 2),
        ("acos", acos_slice_on, acos_slice_on, f64::acos, 2, 2),
        ("atan", atan_slice_on, atan_slice_on, f64::atan, 2, 2),
        ("sinh", sinh_slice_on, sinh_slice_on, f64::sinh, 3, 2),
        ("cosh", cosh_slice_on, cosh_slice_on, f64::cosh, 3, 2),
        ("tanh", tanh_slice_on, tanh_slice_on, f64::tanh, 3, 2),
        ("sigmoid", sigmoid_slice_on, sigmoid_slice_on, sig64, 4, 2),
        ("softplus", softplus_slice_on, softplus_slice_on, sp64, 4, 2),
        ("erf", erf_slice_on, erf_slice_on, libm::erf, 1, 1),
        ("sqrt", sqrt_slice_on, sqrt_slice_on, f64::sqrt, 0, 0),
        ("rsqrt", rsqrt_slice_on, rsqrt_slice_on, rs64, 0, 1),
        ("recip", recip_slice_on, recip_slice_on, f64::recip, 0, 0),
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

/// The same sign, also for zeros.
fn same_zero(y: f64, want: f64) -> bool {
    y != 0.0 || y.is_sign_negative() == want.is_sign_negative()
}

#[test]
fn special_values_match_libm_in_both_dtypes() {
    let xs = special();
    let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    for (name, k, k32, g, max, max32) in kernels() {
        for (x, y) in xs.iter().zip(run(k, Isa::Avx512, &xs)) {
            let want = g(*x);
            assert!(
                ulps(y, want) <= max && same_zero(y, want),
                "{name}({x:e}) = {y:e}, libm {want:e}"
            );
        }
        for (x, y) in xs32.iter().zip(run(k32, Isa::Avx512, &xs32)) {
            let want = g(*x as f64) as f32;
            assert!(
                ulps32(y, want) <= max32 && same_zero(y as f64, want as f64),
                "{name}({x:e}f32) = {y:e}, reference {want:e}"
            );
        }
    }
}

/// f32 arguments over the whole range: every binade from the subnormals to f32::MAX (both
/// signs), and uniform samples of [−r, r] for a few r.
fn f32_points() -> Vec<f32> {
    let mut u = xorshift(7);
    let mut xs: Vec<f32> = log_points(-149, 128, true, 60_000)
        .into_iter()
        .map(|x| x as f32)
        .collect();
    for r in [1.0, 4.0, 12.0, 100.0, 1e4] {
        xs.extend((0..15_000).map(|_| ((u() - 0.5) * 2.0 * r) as f32));
    }
    xs
}

#[test]
fn f32_kernels_are_within_a_few_ulp_of_the_rounded_reference() {
    let xs = f32_points();
    for (name, _, k32, g, _, max32) in kernels() {
        let (mut worst, mut at) = (0, 0.0);
        for (x, y) in xs.iter().zip(run(k32, Isa::Avx512, &xs)) {
            let u = ulps32(y, g(*x as f64) as f32);
            if u > worst {
                (worst, at) = (u, *x);
            }
        }
        assert!(
            worst <= max32,
            "{name}({at:e}f32) is {worst} ulp from the rounded reference"
        );
    }
}

/// A kernel's name, its f32 slice function, the f64 reference, and a range of arguments.
type HardCase = (&'static str, Kernel32, fn(f64) -> f64, f32, f32);

/// Dense f32 samples where the native kernels change rules or lose the most: around 1 for the
/// logarithms, around the reduction's multiples of π/2 for sin and cos, small and medium
/// arguments of tanh and expm1.
#[test]
fn native_f32_kernels_near_their_hard_cases() {
    let cases: [HardCase; 17] = [
        ("log", log_slice_on, f64::ln, 0.9, 1.1),
        ("log1p", log1p_slice_on, f64::ln_1p, -0.3, 0.42),
        ("expm1", expm1_slice_on, f64::exp_m1, -0.4, 0.4),
        ("tanh", tanh_slice_on, f64::tanh, -1.0, 1.0),
        ("sin", sin_slice_on, f64::sin, -7.0, 7.0),
        ("cos", cos_slice_on, f64::cos, -7.0, 7.0),
        ("exp", exp_slice_on, f64::exp, -1.0, 1.0),
        ("sigmoid", sigmoid_slice_on, sig64, -5.0, 5.0),
        ("atan", atan_slice_on, f64::atan, -3.0, 3.0),
        ("softplus", softplus_slice_on, sp64, -25.0, 25.0),
        ("erf", erf_slice_on, libm::erf, -4.0, 4.0),
        ("tan", tan_slice_on, f64::tan, -7.0, 7.0),
        ("asin", asin_slice_on, f64::asin, -1.0, 1.0),
        ("acos", acos_slice_on, f64::acos, -1.0, 1.0),
        ("sinh", sinh_slice_on, f64::sinh, -2.0, 2.0),
        ("cosh", cosh_slice_on, f64::cosh, -2.0, 2.0),
        ("sinh", sinh_slice_on, f64::sinh, 80.0, 90.0),
    ];
    for (name, k, g, lo, hi) in cases {
        // every f32 between lo and hi, subsampled to ~100k
        let (a, b) = (lo.to_bits() as i64, hi.to_bits() as i64);
        let xs: Vec<f32> = if lo < 0.0 {
            let neg = (0..=a - (-0.0f32).to_bits() as i64)
                .step_by(((a - (1 << 31)) / 50_000).max(1) as usize);
            let neg: Vec<f32> = neg
                .map(|d| f32::from_bits(((1i64 << 31) + d) as u32))
                .collect();
            let pos = (0..=b).step_by((b / 50_000).max(1) as usize);
            neg.into_iter()
                .chain(pos.map(|d| f32::from_bits(d as u32)))
                .collect()
        } else {
            (a..=b)
                .step_by(((b - a) / 100_000).max(1) as usize)
                .map(|d| f32::from_bits(d as u32))
                .collect()
        };
        let max = kernels().into_iter().find(|c| c.0 == name).unwrap().5;
        for (x, y) in xs.iter().zip(run(k, Isa::Avx512, &xs)) {
            let want = g(*x as f64) as f32;
            assert!(
                ulps32(y, want) <= max,
                "{name}({x:e}f32) = {y:e}, reference {want:e}"
            );
        }
        // near multiples of π/2 (sin, cos, tan)
        if matches!(name, "sin" | "cos" | "tan") {
            let near: Vec<f32> = (1..30_000)
                .flat_map(|k| {
                    let c = (k as f64 * std::f64::consts::FRAC_PI_2) as f32;
                    [
                        c,
                        f32::from_bits(c.to_bits() + 1),
                        f32::from_bits(c.to_bits() - 1),
                    ]
                })
                .collect();
            for (x, y) in near.iter().zip(run(k, Isa::Avx512, &near)) {
                let want = g(*x as f64) as f32;
                assert!(
                    ulps32(y, want) <= max,
                    "{name}({x:e}f32) = {y:e}, reference {want:e}"
                );
            }
        }
    }
}

/// A slice that mixes arguments inside and outside the fast paths, across block boundaries,
/// gives every element the value it gets alone.
#[test]
fn out_of_range_arguments_anywhere_in_a_slice() {
    let sp = special();
    let mut u = xorshift(11);
    let xs: Vec<f64> = (0..3 * CHUNK + 17)
        .map(|i| {
            if i % 97 == 0 || i == CHUNK - 1 || i == CHUNK {
                sp[(u() * sp.len() as f64) as usize]
            } else {
                (u() - 0.5) * 20.0
            }
        })
        .collect();
    let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    for (name, k, k32, ..) in kernels() {
        for (i, y) in run(k, Isa::Avx512, &xs).into_iter().enumerate() {
            let alone = run(k, Isa::Avx512, &xs[i..i + 1])[0];
            assert!(
                y.to_bits() == alone.to_bits() || (y.is_nan() && alone.is_nan()),
                "{name}({:e}): {y:e} in the slice, {alone:e} alone",
                xs[i]
            );
        }
        for (i, y) in run(k32, Isa::Avx512, &xs32).into_iter().enumerate() {
            let alone = run(k32, Isa::Avx512, &xs32[i..i + 1])[0];
            assert!(
                y.to_bits() == alone.to_bits() || (y.is_nan() && alone.is_nan()),
                "{name}({:e}f32): {y:e} in the slice, {alone:e} alone",
                xs32[i]
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
        for isa in [Isa::Avx2, Isa::Avx512] {
            for ((x, a), b) in xs32.iter().zip(&plain).zip(run(k32, isa, &xs32)) {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{name}({x:e}f32): {a:e} plain, {b:e} with {isa:?}"
                );
            }
        }
    }
}

/// Exponents for the pow tests: fractional, integer (odd and even, for negative bases),
/// large and small.
const POW_P: [f64; 24] = [
    2.7,
    -2.7,
    0.1,
    -0.1,
    1e-5,
    -1e-5,
    1e3,
    -1e3,
    999.5,
    -333.3,
    0.5,
    -0.5,
    1.5,
    7.0,
    -7.0,
    4.0,
    -4.0,
    1.0 / 3.0,
    12.34,
    100.25,
    2.0,
    3.0,
    0.75,
    37.0,
];

fn pow_run(isa: Isa, x: &[f64], p: f64) -> Vec<f64> {
    let mut out = vec![MaybeUninit::uninit(); x.len()];
    pow_slice_on(isa, x, p, &mut out);
    // SAFETY: the kernel wrote every element
    out.into_iter()
        .map(|o| unsafe { o.assume_init() })
        .collect()
}

fn pow_run32(isa: Isa, x: &[f32], p: f64) -> Vec<f32> {
    let mut out = vec![MaybeUninit::uninit(); x.len()];
    pow_slice_on(isa, x, p, &mut out);
    // SAFETY: the kernel wrote every element
    out.into_iter()
        .map(|o| unsafe { o.assume_init() })
        .collect()
}

/// Bases for x^p: every binade (subnormals included) of both signs, and bases whose power
/// spans the whole range of results, dense near overflow and underflow.
fn pow_bases(p: f64) -> Vec<f64> {
    let mut xs = log_points(-1074, 1024, true, 40_000);
    xs.extend(points(-745.2, 709.8, 40_000).map(|t| (t / p).exp()));
    xs.extend(points(700.0, 709.8, 10_000).map(|t| (t / p).exp()));
    xs.extend(points(-745.2, -700.0, 10_000).map(|t| (t / p).exp()));
    xs.extend(points(0.99, 1.01, 10_000));
    xs
}

#[test]
fn pow_is_within_2_ulp_of_libm() {
    for p in POW_P {
        let xs = pow_bases(p);
        let (mut worst, mut at) = (0, 0.0);
        for (x, y) in xs.iter().zip(pow_run(Isa::Avx512, &xs, p)) {
            let want = x.powf(p);
            let u = ulps(y, want);
            assert!(same_zero(y, want), "pow({x:e}, {p}) = {y:e}, libm {want:e}");
            if u > worst {
                (worst, at) = (u, *x);
            }
        }
        assert!(
            worst <= 2,
            "pow({at:e}, {p}) is {worst} ulp from libm ({:e} vs {:e})",
            pow(at, p),
            at.powf(p)
        );
    }
}

#[test]
fn pow_special_values_match_libm_in_both_dtypes() {
    let mut xs = special();
    xs.extend([2.0, -2.0, 3.0, -3.0, 1e-300, -1e-300, 0.1, -0.1]);
    let ps = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.0,
        2.5,
        -2.5,
        3.0,
        -3.0,
        4.0,
        -4.0,
        0.5,
        -0.5,
        1e-5,
        1075.0,
        -1075.0,
        1e300,
        -1e300,
        9_007_199_254_740_993.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MIN_POSITIVE,
    ];
    let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    for p in ps {
        for (x, y) in xs.iter().zip(pow_run(Isa::Avx512, &xs, p)) {
            let want = x.powf(p);
            assert!(
                ulps(y, want) <= 2 && same_zero(y, want),
                "pow({x:e}, {p:e}) = {y:e}, libm {want:e}"
            );
        }
        let p32 = p as f32 as f64;
        for (x, y) in xs32.iter().zip(pow_run32(Isa::Avx512, &xs32, p)) {
            let want = (*x as f64).powf(p32) as f32;
            assert!(
                ulps32(y, want) <= 1 && same_zero(y as f64, want as f64),
                "pow({x:e}f32, {p:e}) = {y:e}, reference {want:e}"
            );
        }
    }
}

#[test]
fn pow_f32_is_within_1_ulp_of_the_rounded_reference() {
    let mut xs = f32_points();
    xs.extend(points(0.0, 2.0, 20_000).map(|x| x as f32));
    for p in POW_P {
        // the exponent as an f32 tensor takes it
        let p32 = p as f32 as f64;
        let mut ys = xs.clone();
        ys.extend(points(-104.0, 89.0, 20_000).map(|t| (t / p32).exp() as f32));
        for (x, y) in ys.iter().zip(pow_run32(Isa::Avx512, &ys, p)) {
            let want = (*x as f64).powf(p32) as f32;
            assert!(
                ulps32(y, want) <= 1 && same_zero(y as f64, want as f64),
                "pow({x:e}f32, {p}) = {y:e}, reference {want:e}"
            );
        }
    }
}

#[test]
fn pow_gives_the_same_bits_in_every_copy_alone_and_in_a_slice() {
    let sp = special();
    let mut u = xorshift(13);
    let xs: Vec<f64> = (0..3 * CHUNK + 17)
        .map(|i| {
            if i % 97 == 0 || i == CHUNK - 1 || i == CHUNK {
                sp[(u() * sp.len() as f64) as usize]
            } else {
                (u() - 0.3) * 20.0
            }
        })
        .collect();
    let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    for p in [2.7, -3.0, 1e3, 0.1] {
        let plain = pow_run(Isa::Plain, &xs, p);
        for isa in [Isa::Avx2, Isa::Avx512] {
            for ((x, a), b) in xs.iter().zip(&plain).zip(pow_run(isa, &xs, p)) {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "pow({x:e}, {p}): {a:e} plain, {b:e} with {isa:?}"
                );
            }
        }
        let plain32 = pow_run32(Isa::Plain, &xs32, p);
        for isa in [Isa::Avx2, Isa::Avx512] {
            for ((x, a), b) in xs32.iter().zip(&plain32).zip(pow_run32(isa, &xs32, p)) {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "pow({x:e}f32, {p}): {a:e} plain, {b:e} with {isa:?}"
                );
            }
        }
        for (x, y) in xs.iter().zip(&plain) {
            let alone = pow(*x, p);
            assert!(
                y.to_bits() == alone.to_bits() || (y.is_nan() && alone.is_nan()),
                "pow({x:e}, {p}): {y:e} in the slice, {alone:e} alone"
            );
        }
        for (x, y) in xs32.iter().zip(&plain32) {
            let alone = pow_t(*x, p);
            assert!(
                y.to_bits() == alone.to_bits() || (y.is_nan() && alone.is_nan()),
                "pow({x:e}f32, {p}): {y:e} in the slice, {alone:e} alone"
            );
        }
    }
}

/// `m · 2^k` for an integer `m` below 2⁵³, exactly.
fn scaled(m: u64, k: i32) -> f64 {
    m as f64 * (k as f64).exp2()
}

/// The arguments of [`sqrt_points`] in the range the checks of NOTE: [sqrt-newton] prove
/// (finite, at least 2⁻⁹⁰⁰).
fn checked_sqrt_points() -> Vec<f64> {
    sqrt_points()
        .into_iter()
        .filter(|x| *x >= f64::from_bits((1023 - 900) << 52) && x.is_finite())
        .collect()
}

/// Reciprocals' arguments from `xs`: their roots (what `1/√x` takes), `xs` themselves, and
/// both negated (NOTE: [reciprocal-sign]).
fn reciprocal_points(xs: &[f64]) -> Vec<f64> {
    xs.iter()
        .map(|x| x.sqrt())
        .chain(xs.iter().copied())
        .flat_map(|s| [s, -s])
        .collect()
}

/// f64 arguments for the square root: random bit patterns of every binade (subnormals and
/// zeros among them), perfect squares, and arguments whose roots lie next to a midpoint between
/// two floats (the squares of midpoints rounded to f64), with their neighbours.
fn sqrt_points() -> Vec<f64> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut bits = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut xs: Vec<f64> = (0..300_000).map(|_| f64::from_bits(bits() >> 1)).collect();
    for _ in 0..100_000 {
        let b = bits();
        // a 53-bit mantissa and an even binade from 2⁻⁸⁰⁰ to 2⁸⁰⁰
        let m = (1 << 52) | (b & ((1 << 52) - 1));
        let k = 2 * ((b >> 52) as i32 % 800 - 400);
        // a perfect square: the square of a 26-bit integer
        let r = m >> 27;
        xs.push(scaled(r * r, k));
        // the square of the midpoint (2m + 1) / 2, rounded down to 53 bits, and neighbours
        let mid = (2 * m + 1) as u128;
        let sq = mid * mid;
        let shift = 128 - sq.leading_zeros() as i32 - 53;
        let near = (sq >> shift) as u64;
        for d in [near - 1, near, near + 1, near + 2] {
            if d < 1 << 53 {
                xs.push(scaled(d, shift - 106 + k));
            }
        }
    }
    xs.extend(special());
    xs
}

#[test]
fn sqrt_is_correctly_rounded_in_every_copy() {
    let xs = sqrt_points();
    for isa in [Isa::Avx512, Isa::Avx2, Isa::Plain] {
        for (x, y) in xs.iter().zip(run(sqrt_slice_on::<f64>, isa, &xs)) {
            assert_eq!(y.to_bits(), x.sqrt().to_bits(), "sqrt({x:e}) in {isa:?}");
        }
        // rsqrt: the root and its reciprocal, each correctly rounded
        for (x, y) in xs.iter().zip(run(rsqrt_slice_on::<f64>, isa, &xs)) {
            let want = x.sqrt().recip();
            assert_eq!(y.to_bits(), want.to_bits(), "rsqrt({x:e}) in {isa:?}");
        }
        // and every length of a tail
        for n in 0..20 {
            let ys = run(sqrt_slice_on::<f64>, isa, &xs[..n]);
            assert!(ys.iter().zip(&xs).all(|(y, x)| *y == x.sqrt()));
        }
    }
}

/// Every loop of NOTE: [unit-mix] (each pattern of the divide unit and multiply-adds, and the
/// vectors after the last group, masked or not) gives the hardware's bits, whichever the
/// first call chose: the root, `1/√x` and the reciprocal, over the arguments of
/// [`sqrt_points`] (also as reciprocals' arguments, with their roots) and every length of a
/// slice up to three groups.
#[cfg(target_arch = "x86_64")]
#[test]
fn every_mix_of_units_gives_the_hardware_bits() {
    use super::sqrt::{Loop, RECIP, RSQRT, SQRT, avx2};
    // the hardware's features, not the cap of NOTE: [cpu-capability]: the loops are called
    // directly
    if detected_isa() < Isa::Avx2 {
        eprintln!("no AVX2: the mixed loops are not built for this CPU");
        return;
    }
    let xs = sqrt_points();
    let roots = reciprocal_points(&xs);
    let apply = |f: Loop, x: &[f64]| -> Vec<f64> {
        let mut out = vec![MaybeUninit::uninit(); x.len()];
        // SAFETY: the CPU has what each loop needs: AVX2 and FMA (detected above), or
        // AVX-512F (checked where the cases are chosen)
        unsafe { f(x, &mut out) };
        // SAFETY: the loop wrote every element
        out.into_iter()
            .map(|o| unsafe { o.assume_init() })
            .collect()
    };
    type Case<'a> = (&'a str, &'a [Loop], fn(f64) -> f64, &'a [f64]);
    // NOTE: [unit-mix-avx2]: the AVX2 loops too, on any CPU with AVX2
    let mut cases: Vec<Case> = vec![
        ("sqrt avx2", avx2::SQRT.loops, f64::sqrt, &xs),
        ("rsqrt avx2", avx2::RSQRT.loops, rs64, &xs),
        ("recip avx2", avx2::RECIP.loops, f64::recip, &roots),
    ];
    if detected_isa() == Isa::Avx512 {
        cases.extend([
            ("sqrt", SQRT.loops, f64::sqrt as fn(f64) -> f64, &xs[..]),
            ("rsqrt", RSQRT.loops, rs64, &xs),
            ("recip", RECIP.loops, f64::recip, &roots),
        ]);
    } else {
        eprintln!("no AVX-512: only the AVX2 loops are checked");
    }
    for (name, loops, want, args) in cases {
        assert!(loops.len() >= 6, "{name}");
        for (i, &f) in loops.iter().enumerate() {
            for (x, y) in args.iter().zip(apply(f, args)) {
                assert_eq!(y.to_bits(), want(*x).to_bits(), "{name} loop {i} at {x:e}");
            }
            for n in 0..=3 * 48 + 9 {
                let ys = apply(f, &args[..n]);
                assert!(
                    ys.iter()
                        .zip(args)
                        .all(|(y, x)| y.to_bits() == want(*x).to_bits()),
                    "{name} loop {i}, {n} elements"
                );
            }
        }
    }
}

/// [`Mixes::pick`](super::sqrt::Mixes) times every candidate once, on the first call only,
/// and hands out the same loop from then on: counted with two loops that record their calls.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_mix_is_timed_once_and_kept() {
    use super::sqrt::Mixes;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static CALLS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    unsafe fn first(x: &[f64], out: &mut [MaybeUninit<f64>]) {
        CALLS[0].fetch_add(1, Relaxed);
        for (o, v) in out.iter_mut().zip(x) {
            o.write(*v);
        }
    }
    unsafe fn second(x: &[f64], out: &mut [MaybeUninit<f64>]) {
        CALLS[1].fetch_add(1, Relaxed);
        for (o, v) in out.iter_mut().zip(x) {
            o.write(-v);
        }
    }
    static MIXES: Mixes = Mixes::new(&[first, second]);
    // SAFETY: the two loops use no AVX-512 instruction
    let picked = unsafe { MIXES.pick() };
    let timed = [CALLS[0].load(Relaxed), CALLS[1].load(Relaxed)];
    assert!(timed[0] >= 1 && timed[0] == timed[1], "{timed:?}");
    for _ in 0..3 {
        // SAFETY: as above
        let again = unsafe { MIXES.pick() };
        assert!(std::ptr::fn_addr_eq(again, picked));
    }
    assert_eq!([CALLS[0].load(Relaxed), CALLS[1].load(Relaxed)], timed);
}

/// The checks of NOTE: [sqrt-newton] accept the correctly rounded root (and reciprocal) of
/// arguments in their range (nearly always) and never a neighbour of it.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_sqrt_check_accepts_correct_roots_only() {
    use std::arch::x86_64::*;
    // the hardware's features, not the cap of NOTE: [cpu-capability]: the loops are called
    // directly
    if detected_isa() != Isa::Avx512 {
        eprintln!("no AVX-512: the checked square root is not built for this CPU");
        return;
    }
    let xs = checked_sqrt_points();
    let (mut accepted, mut total) = (0, 0);
    for c in xs.chunks_exact(8) {
        for ulps in [-2i64, -1, 0, 1, 2] {
            let s: Vec<f64> = c
                .iter()
                .map(|x| f64::from_bits((x.sqrt().to_bits() as i64 + ulps) as u64))
                .collect();
            // SAFETY: AVX-512F is detected above; both chunks hold 8 elements
            let ok = unsafe {
                let (v, s) = (_mm512_loadu_pd(c.as_ptr()), _mm512_loadu_pd(s.as_ptr()));
                super::sqrt::exact(v, s, 0xff)
            };
            if ulps != 0 {
                assert_eq!(ok, 0, "a root {ulps} ulp off accepted among {c:?}");
            } else {
                accepted += ok.count_ones();
                total += 8;
            }
        }
        // nor a root of the wrong sign, or a candidate that is 0, ∞, NaN or tiny
        let negated: Vec<f64> = c.iter().map(|x| -x.sqrt()).collect();
        let bad = [
            0.0,
            f64::INFINITY,
            f64::NAN,
            1e-310,
            -1e-310,
            1e-300,
            -1e-300,
            -1e-200,
        ];
        for s in [negated].into_iter().chain(bad.map(|b| vec![b; 8])) {
            // SAFETY: as above
            let ok = unsafe {
                let (v, s) = (_mm512_loadu_pd(c.as_ptr()), _mm512_loadu_pd(s.as_ptr()));
                super::sqrt::exact(v, s, 0xff)
            };
            assert_eq!(ok, 0, "{s:?} accepted among {c:?}");
        }
    }
    assert!(
        accepted as f64 >= 0.999 * total as f64,
        "{accepted} of {total}"
    );
    // the estimate is accepted as it is in all but a few lanes
    let mut kept = 0;
    for c in xs.chunks_exact(8) {
        // SAFETY: as above
        kept += unsafe {
            let v = _mm512_loadu_pd(c.as_ptr());
            super::sqrt::exact(v, super::sqrt::estimate(v), 0xff).count_ones()
        };
    }
    assert!(kept as f64 >= 0.999 * (xs.len() / 8 * 8) as f64, "{kept}");
    // and the reciprocal's estimate, of the roots (the arguments it takes in `1/√x`): two
    // Newton steps from 14 bits leave about 2⁻⁵⁶, so a few lanes in a thousand (972 of
    // 781 920 here) are near enough to a midpoint to take `vdivpd`
    // (and of their negatives, NOTE: [reciprocal-sign])
    let roots: Vec<f64> = xs.iter().flat_map(|x| [x.sqrt(), -x.sqrt()]).collect();
    let mut kept = 0;
    for c in roots.chunks_exact(8) {
        // SAFETY: as above
        kept += unsafe {
            let s = _mm512_loadu_pd(c.as_ptr());
            super::sqrt::reciprocal_exact(s, super::sqrt::reciprocal_estimate(s), 0xff).count_ones()
        };
    }
    assert!(
        kept as f64 >= 0.998 * (roots.len() / 8 * 8) as f64,
        "{kept} of {}",
        roots.len()
    );
    // the reciprocal's check, on the roots and on the arguments themselves, and on both
    // negated; a candidate of the wrong sign is never accepted
    let ss = reciprocal_points(&xs);
    let (mut accepted, mut total) = (0, 0);
    for c in ss.chunks_exact(8) {
        for ulps in [-2i64, -1, 0, 1, 2, i64::MIN] {
            let q: Vec<f64> = c
                .iter()
                .map(|s| f64::from_bits((s.recip().to_bits() as i64).wrapping_add(ulps) as u64))
                .collect();
            // SAFETY: AVX-512F is detected above; both chunks hold 8 elements
            let ok = unsafe {
                let (s, q) = (_mm512_loadu_pd(c.as_ptr()), _mm512_loadu_pd(q.as_ptr()));
                super::sqrt::reciprocal_exact(s, q, 0xff)
            };
            if ulps != 0 {
                assert_eq!(ok, 0, "a reciprocal {ulps} ulp off accepted among {c:?}");
            } else {
                accepted += ok.count_ones();
                total += 8;
            }
        }
        // nor a candidate that is ±0, ±∞, NaN or tiny (a 0 once passed: NOTE:
        // [reciprocal-sign])
        let bad = [
            0.0,
            -0.0,
            f64::INFINITY,
            -f64::INFINITY,
            f64::NAN,
            1e-310,
            -1e-300,
        ];
        for q in bad {
            // SAFETY: as above
            let ok = unsafe {
                let s = _mm512_loadu_pd(c.as_ptr());
                super::sqrt::reciprocal_exact(s, _mm512_set1_pd(q), 0xff)
            };
            assert_eq!(ok, 0, "{q} accepted among {c:?}");
        }
    }
    assert!(
        accepted as f64 >= 0.99 * total as f64,
        "{accepted} of {total}"
    );
}

/// The AVX2 checks of NOTE: [unit-mix-avx2] accept the correctly rounded root and
/// reciprocal nearly always and never a neighbour; the f32 estimates refined (the root's and
/// the reciprocal's) are accepted as they are for nearly every argument in f32's normal range
/// (else the hardware would take every lane, with the same bits); and candidates of 0, ∞, NaN or a
/// subnormal are never accepted (the estimate of an argument past f32's range).
#[cfg(target_arch = "x86_64")]
#[test]
fn the_avx2_sqrt_check_accepts_correct_roots_only() {
    use super::sqrt::avx2;
    use std::arch::x86_64::*;
    if detected_isa() < Isa::Avx2 {
        eprintln!("no AVX2: the checked square root is not built for this CPU");
        return;
    }
    let xs = checked_sqrt_points();
    let ss = reciprocal_points(&xs);
    // SAFETY (every block below): AVX2 and FMA are detected above; each chunk holds 4
    // elements
    let root_ok = |c: &[f64], s: &[f64]| unsafe {
        let (v, s) = (_mm256_loadu_pd(c.as_ptr()), _mm256_loadu_pd(s.as_ptr()));
        _mm256_movemask_pd(avx2::exact(v, s)).count_ones()
    };
    let recip_ok = |s: &[f64], q: &[f64]| unsafe {
        let (s, q) = (_mm256_loadu_pd(s.as_ptr()), _mm256_loadu_pd(q.as_ptr()));
        _mm256_movemask_pd(avx2::reciprocal_exact(s, q)).count_ones()
    };
    // `ulps` of i64::MIN flips the sign bit: a candidate of the wrong sign
    let off = |c: &[f64], f: fn(f64) -> f64, ulps: i64| -> Vec<f64> {
        c.iter()
            .map(|x| f64::from_bits((f(*x).to_bits() as i64).wrapping_add(ulps) as u64))
            .collect()
    };
    for (args, f, check, min) in [
        (
            &xs,
            f64::sqrt as fn(f64) -> f64,
            &root_ok as &dyn Fn(&[f64], &[f64]) -> u32,
            0.999,
        ),
        (&ss, f64::recip, &recip_ok, 0.99),
    ] {
        let (mut accepted, mut total) = (0, 0);
        for c in args.chunks_exact(4) {
            for ulps in [-2i64, -1, 0, 1, 2, i64::MIN] {
                let ok = check(c, &off(c, f, ulps));
                if ulps != 0 {
                    assert_eq!(ok, 0, "{ulps} ulp off accepted among {c:?}");
                } else {
                    accepted += ok;
                    total += 4;
                }
            }
            for bad in [0.0, -0.0, f64::INFINITY, f64::NAN, 1e-310, -1e-300] {
                assert_eq!(check(c, &[bad; 4]), 0, "{bad} accepted among {c:?}");
            }
        }
        assert!(
            accepted as f64 >= min * total as f64,
            "{accepted} of {total}"
        );
    }
    // the estimates, refined, accepted as they are within f32's normal range
    let in_f32 = |x: &f64| (f32::MIN_POSITIVE as f64..f32::MAX as f64).contains(x);
    let near: Vec<f64> = xs.iter().copied().filter(in_f32).collect();
    let kept: u32 = near
        .chunks_exact(4)
        // SAFETY: as above
        .map(|c| unsafe {
            let v = _mm256_loadu_pd(c.as_ptr());
            _mm256_movemask_pd(avx2::exact(v, avx2::estimate(v))).count_ones()
        })
        .sum();
    assert!(
        kept as f64 >= 0.999 * (near.len() / 4 * 4) as f64,
        "{kept} of {}",
        near.len()
    );
    // and the reciprocal's, of the roots and their negatives
    let roots: Vec<f64> = near.iter().flat_map(|x| [x.sqrt(), -x.sqrt()]).collect();
    let kept: u32 = roots
        .chunks_exact(4)
        // SAFETY: as above
        .map(|c| unsafe {
            let s = _mm256_loadu_pd(c.as_ptr());
            let q = avx2::reciprocal_estimate(s);
            _mm256_movemask_pd(avx2::reciprocal_exact(s, q)).count_ones()
        })
        .sum();
    assert!(
        kept as f64 >= 0.999 * (roots.len() / 4 * 4) as f64,
        "{kept} of {}",
        roots.len()
    );
    assert!(near.len() > 10_000, "{}", near.len());
}

#[test]
fn the_capability_names_are_torchs() {
    assert_eq!(capability("avx512"), Some(Isa::Avx512));
    assert_eq!(capability(" AVX2\n"), Some(Isa::Avx2));
    assert_eq!(capability("Default"), Some(Isa::Plain));
    assert_eq!(capability(""), Some(Isa::Avx512));
    assert_eq!(capability("avx"), None);
    assert_eq!(capability("sse4"), None);
}

/// NOTE: [cpu-capability] the cap is read once per process, so each value runs this test again
/// in a child process of the test binary, which checks the ISA and the product backend it sees.
#[test]
fn the_capability_variable_caps_every_route() {
    use crate::kernels::matmul::Backend;
    const NAME: &str = "kernels::math::tests::the_capability_variable_caps_every_route";
    if let Ok(v) = std::env::var(CAPABILITY_VAR) {
        let want = detected_isa().min(capability(&v).expect("a value the parent sets"));
        assert_eq!(isa(), want);
        assert_eq!(crate::kernels::simd(), want >= Isa::Avx2);
        assert_eq!(crate::kernels::gemm::available(), want == Isa::Avx512);
        let backend = Backend::best();
        match want {
            Isa::Avx512 => assert_eq!(backend, Backend::Avx512),
            Isa::Avx2 => assert_eq!(backend, Backend::Avx2),
            Isa::Plain => assert_eq!(backend, Backend::Portable),
        }
        // a product and an op still give their values on the capped routes
        let a = crate::Tensor::from_vec((0..12).map(f64::from).collect(), &[3, 4]).unwrap();
        let p = a.matmul(&a.transpose(0, 1).unwrap()).unwrap();
        assert_eq!(
            p.to_vec::<f64>().unwrap(),
            [14., 38., 62., 38., 126., 214., 62., 214., 366.]
        );
        let e = a.exp().unwrap().to_vec::<f64>().unwrap();
        for (i, y) in e.iter().enumerate() {
            assert!(ulps(*y, (i as f64).exp()) <= 2, "exp({i}) = {y}");
        }
        return;
    }
    assert_eq!(isa(), detected_isa());
    let exe = std::env::current_exe().unwrap();
    for v in ["avx512", "avx2", "default"] {
        let out = std::process::Command::new(&exe)
            .args(["--exact", NAME, "--test-threads=1"])
            .env(CAPABILITY_VAR, v)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{v}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("1 passed"),
            "{v}: the child ran no test: {text}"
        );
    }
}

/// A CPU whose 512-bit operations run in halves has AVX-512 and is AMD Zen 4 (NOTE:
/// [halved-512]).
#[test]
fn a_cpu_that_halves_512_bit_operations_is_zen_4() {
    // (`crate::cpu`'s test checks Zen 4 itself against /proc/cpuinfo)
    if halved_512() {
        assert_eq!(detected_isa(), Isa::Avx512);
        assert_eq!(crate::cpu::amd_family(), Some(25));
    }
}
