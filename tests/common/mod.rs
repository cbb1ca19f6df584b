//! Helpers shared by the integration tests: tensor shorthands, the tolerance assertions, a
//! seedable generator, input domains, random well-conditioned and SPD matrices, and the op
//! database ([`opinfo`]) that the value, gradient-check and batching suites read.
//!
//! Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

use functorch::Tensor;

pub mod opinfo;

/// A 1-D f64 tensor.
pub fn vec1(v: &[f64]) -> Tensor {
    Tensor::from_slice(v)
}

/// An f64 tensor of the given shape.
pub fn mat(v: Vec<f64>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape).unwrap()
}

/// The values of an f64 tensor, in row-major order.
pub fn vals(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

/// Every `got[i]` is within `tol · (1 + |want[i]|)` of `want[i]`.
#[track_caller]
pub fn close_vals(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: element {i} is {a}, want {b}\n got: {got:?}\nwant: {want:?}"
        );
    }
}

/// `got` has `want`'s shape and its values to `tol` (relative to `1 + |want|`).
#[track_caller]
pub fn close_to(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    close_vals(&vals(got), &vals(want), tol, what);
}

/// SplitMix64: tiny, seedable, good enough for test inputs, so a failure reproduces exactly.
pub struct Rng(pub u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// A generator seeded by the FNV-1a hash of a case's name.
    pub fn for_name(name: &str) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng::new(h)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unif(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unif()
    }
    /// `n` values uniform in [lo, hi).
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unif().max(1e-300);
        let u2 = self.unif();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Where a case's inputs live.
#[derive(Clone, Copy, Debug)]
pub enum Dom {
    /// Uniform in [lo, hi].
    U(f64, f64),
    /// |x| uniform in [lo, hi], random sign (away from a kink or pole at 0).
    Away(f64, f64),
    /// Pairwise at least 0.3 apart (no ties for amax/amin).
    Distinct,
    /// An integer in [-3, 3], plus the offset, plus jitter in ±0.2: operands drawn with offsets
    /// 0 and 0.5 are never within 0.1 of each other (no ties for maximum/minimum).
    Grid(f64),
    /// Uniform in [lo, hi] but at least 0.1 from `a` and from `b` (the bounds of a clamp).
    Avoid(f64, f64, f64, f64),
    /// Small integers (-1, 0, 1) as floats, so that `eq` is sometimes true.
    Ints,
}

/// Uniform in [-2, 2].
pub const ANY: Dom = Dom::U(-2.0, 2.0);
/// Uniform in [0.5, 2].
pub const POS: Dom = Dom::U(0.5, 2.0);
/// Uniform in [-0.8, 0.8].
pub const UNIT: Dom = Dom::U(-0.8, 0.8);
/// |x| in [0.3, 2], either sign.
pub const AWAY: Dom = Dom::Away(0.3, 2.0);

/// `n` values drawn from `dom`.
pub fn sample(r: &mut Rng, dom: Dom, n: usize) -> Vec<f64> {
    match dom {
        Dom::U(lo, hi) => (0..n).map(|_| r.range(lo, hi)).collect(),
        Dom::Away(lo, hi) => (0..n)
            .map(|_| {
                let s = if r.unif() < 0.5 { -1.0 } else { 1.0 };
                s * r.range(lo, hi)
            })
            .collect(),
        Dom::Distinct => {
            let mut perm: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                perm.swap(i, r.below(i + 1));
            }
            perm.iter()
                .map(|&p| (p as f64 - n as f64 / 2.0) * 0.4 + r.range(0.0, 0.1))
                .collect()
        }
        Dom::Grid(off) => (0..n)
            .map(|_| (r.below(7) as f64 - 3.0) + off + r.range(-0.2, 0.2))
            .collect(),
        Dom::Avoid(lo, hi, a, b) => (0..n)
            .map(|_| {
                loop {
                    let v = r.range(lo, hi);
                    if (v - a).abs() > 0.1 && (v - b).abs() > 0.1 {
                        break v;
                    }
                }
            })
            .collect(),
        Dom::Ints => (0..n).map(|_| r.below(3) as f64 - 1.0).collect(),
    }
}

/// A tensor of the given shape with entries drawn from `dom`.
pub fn t(r: &mut Rng, shape: &[usize], dom: Dom) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(sample(r, dom, n), shape).unwrap()
}

/// A batch of diagonally dominant (well-conditioned) n×n matrices.
pub fn well_conditioned(r: &mut Rng, batch: &[usize], n: usize) -> Tensor {
    let count: usize = batch.iter().product();
    let mut v = Vec::with_capacity(count * n * n);
    for _ in 0..count {
        for i in 0..n {
            for j in 0..n {
                v.push(r.range(-0.5, 0.5) + if i == j { 2.5 } else { 0.0 });
            }
        }
    }
    let mut shape = batch.to_vec();
    shape.extend([n, n]);
    mat(v, &shape)
}

/// A batch of symmetric positive definite n×n matrices `M Mᵀ + I`.
pub fn spd(r: &mut Rng, batch: &[usize], n: usize) -> Tensor {
    let count: usize = batch.iter().product();
    let mut v = Vec::with_capacity(count * n * n);
    for _ in 0..count {
        let m: Vec<f64> = (0..n * n).map(|_| r.range(-1.0, 1.0)).collect();
        for i in 0..n {
            for j in 0..n {
                let mut s = if i == j { 1.0 } else { 0.0 };
                for k in 0..n {
                    s += m[i * n + k] * m[j * n + k];
                }
                v.push(s);
            }
        }
    }
    let mut shape = batch.to_vec();
    shape.extend([n, n]);
    mat(v, &shape)
}

/// Run the calling test under a limit on the address space: in the test process, rerun test
/// `name` of this same binary in a child whose address space the shell's `ulimit -v` limits to
/// `kib` KiB, assert that it ran and passed, and return `false` (the caller returns); in that
/// child, return `true` (the caller runs its body). Off Linux, where `ulimit -v` does not limit
/// the address space, it returns `false` without running anything and says so on stderr.
pub fn in_memory_limited_child(name: &str, kib: u64) -> bool {
    const CHILD: &str = "FUNCTORCH_MEMORY_LIMITED_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    if !cfg!(target_os = "linux") {
        eprintln!("{name}: not run (`ulimit -v` limits the address space only on Linux)");
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" --exact {name}"))
        .arg(exe)
        .env(CHILD, "1")
        .output()
        .expect("sh runs");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the limited run failed:\n{log}");
    assert!(
        log.contains("1 passed"),
        "the limited run ran nothing:\n{log}"
    );
    false
}
