//! Writing large outputs: copies and fills whose stores are aligned to cache lines.
//!
//! NOTE: [aligned-stores] A buffer of a few MiB comes from the system allocator 16 bytes past a
//! page boundary, so a loop of unaligned 64-byte stores from its start splits every store over
//! two cache lines, and a write-bound loop pays for it. These loops copy or fill a head of up
//! to 63 bytes, then store whole, aligned cache lines. A compiled Hessian of `Σ sin xᵢ` at
//! n = 1000 writes its 8 MB output a row at a time from one template row (the diagonal apart),
//! Rosenbrock's is filled with a constant: in a scratch loop glibc's `memmove` wrote the 8 MB
//! in 117–142 µs on one core, these stores in 91–97 µs. On the benchmark (AMD EPYC Zen 4,
//! 2026-12-01, alternated, one thread) the Rosenbrock Hessian went 171–174 → 146 µs and the
//! `sin` one 124–188 → 108–142 µs; on two threads 73 → 70 µs (`sin`). The bytes written are
//! the same; only where each store falls changes. The AVX2 copy stores two 32-byte halves
//! of each line: on AMD Zen 3 (2026-12-01, two threads, builds alternated) the `sin` Hessian
//! went 129–146 µs (median of the six medians 141) → 108–141 µs (130) against glibc's `memmove`.
//! Tensor buffers of 4 KiB or more now start on a cache line (`NOTE: [aligned]`); the head
//! still matters for rows written from inside a buffer and, on AMD Zen 4, for buffers of 16
//! MiB or more.

use super::math::Isa;
use std::mem::MaybeUninit;

/// The elements from `p` (aligned to its type) to the first 64-byte boundary at or after it:
/// the head a loop writes one at a time so that its vector stores fall on whole cache lines
/// (`NOTE: [aligned-stores]`).
#[inline(always)]
pub(crate) fn head<T>(p: *const T) -> usize {
    (p as usize).wrapping_neg() % 64 / std::mem::size_of::<T>().max(1)
}

/// Copy `src` into `dst` (of the same length) with cache-line-aligned stores where the CPU has
/// AVX-512 or AVX2 (`NOTE: [aligned-stores]`).
///
/// # Panics
/// If the lengths differ.
#[inline]
pub(crate) fn copy<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    copy_on(Isa::Avx512, dst, src)
}

/// [`copy`] in the copy for `want` or the best below it that this CPU has (the tests force each).
pub(crate) fn copy_on<T: Copy>(want: Isa, dst: &mut [MaybeUninit<T>], src: &[T]) {
    assert_eq!(
        dst.len(),
        src.len(),
        "internal error: copy of unequal lengths"
    );
    #[cfg(not(target_arch = "x86_64"))]
    let _ = want;
    #[cfg(target_arch = "x86_64")]
    match want.min(super::math::isa()) {
        Isa::Avx512 => {
            // SAFETY: the CPU has AVX-512 (checked by `isa`); both slices hold `dst.len()`
            // elements, and they cannot overlap (one is borrowed mutably, the other shared)
            unsafe {
                avx512::copy(
                    dst.as_mut_ptr().cast(),
                    src.as_ptr().cast(),
                    std::mem::size_of_val(src),
                )
            };
            return;
        }
        Isa::Avx2 => {
            // SAFETY: the CPU has AVX2 (checked by `isa`); as above
            unsafe {
                avx2::copy(
                    dst.as_mut_ptr().cast(),
                    src.as_ptr().cast(),
                    std::mem::size_of_val(src),
                )
            };
            return;
        }
        Isa::Plain => {}
    }
    // SAFETY: as above, equal lengths that do not overlap; `MaybeUninit<T>` has `T`'s layout
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<T>(), src.len()) };
}

/// Write `v` to every element of `dst`: with cache-line-aligned stores where the CPU has
/// AVX-512 (`NOTE: [aligned-stores]`); below it, a +0.0 (all bytes zero) through `memset`, which
/// glibc writes with its own tuned stores. On AMD Zen 3 (two threads, 8 MB in rows of 8 KB, a
/// scratch loop) it measured 73–84 µs against 104–144 µs for copying a template row
/// and 78–83 µs for aligned 32-byte stores of a constant (`NOTE: [aligned-stores]`).
pub(crate) fn fill_float<T: crate::array::Float>(dst: &mut [MaybeUninit<T>], v: T) {
    fill_float_on(Isa::Avx512, dst, v)
}

/// [`fill_float`] in the copy for `want` or the best below it that this CPU has.
pub(crate) fn fill_float_on<T: crate::array::Float>(want: Isa, dst: &mut [MaybeUninit<T>], v: T) {
    // +0.0 is the only f32 or f64 whose f64 value has no bit set
    if want.min(super::math::isa()) < Isa::Avx512 && v.to_f64().to_bits() == 0 {
        // SAFETY: `dst` holds `dst.len()` elements; all-zero bytes are +0.0 in f32 and f64,
        // the only `Float`s
        unsafe { std::ptr::write_bytes(dst.as_mut_ptr(), 0, dst.len()) };
        return;
    }
    fill_on(want, dst, v)
}

/// [`fill_float`]'s stores for any element type, in the copy for `want` or the best below it
/// that this CPU has (the tests force each).
pub(crate) fn fill_on<T: Copy>(want: Isa, dst: &mut [MaybeUninit<T>], v: T) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = want;
    #[cfg(target_arch = "x86_64")]
    if want.min(super::math::isa()) == Isa::Avx512
        && std::mem::size_of::<T>() > 0
        && 64 % std::mem::size_of::<T>() == 0
        && dst.len() * std::mem::size_of::<T>() >= 128
    {
        // one cache line of copies of `v`
        let mut line = [MaybeUninit::<T>::uninit(); 64];
        let per = 64 / std::mem::size_of::<T>();
        for x in &mut line[..per] {
            x.write(v);
        }
        // SAFETY: the CPU has AVX-512 (checked by `isa`); `dst` holds `dst.len()` elements and
        // `line` 64 bytes of whole copies of `v` (64 is a multiple of its size)
        unsafe {
            avx512::fill(
                dst.as_mut_ptr().cast(),
                std::mem::size_of_val(dst),
                line.as_ptr().cast(),
                std::mem::size_of::<T>(),
            )
        };
        return;
    }
    for x in dst {
        x.write(v);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Copy `bytes` bytes from `src` to `dst`: the head up to a cache line, then whole
    /// aligned lines (two 32-byte stores each), then the tail.
    ///
    /// # Safety
    /// The CPU has AVX2; `src` and `dst` are valid for `bytes` bytes and do not overlap.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy(dst: *mut u8, src: *const u8, bytes: usize) {
        // SAFETY (every block below): the offsets stay below `bytes`, where both pointers are
        // valid and do not overlap; `dst + i` is 64-byte aligned in the line loops
        unsafe {
            let h = super::head(dst.cast_const()).min(bytes);
            std::ptr::copy_nonoverlapping(src, dst, h);
            let mut i = h;
            while i + 128 <= bytes {
                let a = _mm256_loadu_si256(src.add(i).cast());
                let b = _mm256_loadu_si256(src.add(i + 32).cast());
                let c = _mm256_loadu_si256(src.add(i + 64).cast());
                let d = _mm256_loadu_si256(src.add(i + 96).cast());
                _mm256_store_si256(dst.add(i).cast(), a);
                _mm256_store_si256(dst.add(i + 32).cast(), b);
                _mm256_store_si256(dst.add(i + 64).cast(), c);
                _mm256_store_si256(dst.add(i + 96).cast(), d);
                i += 128;
            }
            while i + 64 <= bytes {
                let a = _mm256_loadu_si256(src.add(i).cast());
                let b = _mm256_loadu_si256(src.add(i + 32).cast());
                _mm256_store_si256(dst.add(i).cast(), a);
                _mm256_store_si256(dst.add(i + 32).cast(), b);
                i += 64;
            }
            std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), bytes - i);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// The bytes before the first 64-byte boundary at or after `dst`, at most `bytes`.
    #[inline(always)]
    fn head(dst: *mut u8, bytes: usize) -> usize {
        super::head(dst.cast_const()).min(bytes)
    }

    /// Copy `bytes` bytes from `src` to `dst`: the head up to a cache line, then whole
    /// aligned lines, then the tail.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `src` and `dst` are valid for `bytes` bytes and do not overlap.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn copy(dst: *mut u8, src: *const u8, bytes: usize) {
        // SAFETY (every block below): the offsets stay below `bytes`, where both pointers are
        // valid and do not overlap; `dst + i` is 64-byte aligned in the line loops
        unsafe {
            let h = head(dst, bytes);
            std::ptr::copy_nonoverlapping(src, dst, h);
            let mut i = h;
            while i + 256 <= bytes {
                let a = _mm512_loadu_si512(src.add(i).cast());
                let b = _mm512_loadu_si512(src.add(i + 64).cast());
                let c = _mm512_loadu_si512(src.add(i + 128).cast());
                let d = _mm512_loadu_si512(src.add(i + 192).cast());
                _mm512_store_si512(dst.add(i).cast(), a);
                _mm512_store_si512(dst.add(i + 64).cast(), b);
                _mm512_store_si512(dst.add(i + 128).cast(), c);
                _mm512_store_si512(dst.add(i + 192).cast(), d);
                i += 256;
            }
            while i + 64 <= bytes {
                let a = _mm512_loadu_si512(src.add(i).cast());
                _mm512_store_si512(dst.add(i).cast(), a);
                i += 64;
            }
            std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), bytes - i);
        }
    }

    /// Fill `bytes` bytes (a multiple of `size`, an element's size, which divides 64; at least
    /// 128) at `dst` with copies of the 64-byte pattern at `line` (whole elements).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `dst` is valid for `bytes` bytes and aligned to `size`; `line` is
    /// valid for 64 bytes.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fill(dst: *mut u8, bytes: usize, line: *const u8, size: usize) {
        debug_assert!(
            bytes >= 128 && bytes.is_multiple_of(size) && (dst as usize).is_multiple_of(size)
        );
        // SAFETY (every block below): every store lies inside `dst..dst + bytes` (which holds
        // at least two lines) and starts on an element boundary (`dst` is aligned to `size`,
        // which divides 64, and so do `bytes` and the first line boundary), so each writes
        // whole copies of the element; the aligned stores start on 64-byte boundaries
        unsafe {
            let v = _mm512_loadu_si512(line.cast());
            // the head: one unaligned line (bytes >= 128, so it fits), then aligned lines
            // from the first boundary on; the overlap rewrites the same bytes
            _mm512_storeu_si512(dst.cast(), v);
            let mut i = head(dst, bytes);
            while i + 256 <= bytes {
                _mm512_store_si512(dst.add(i).cast(), v);
                _mm512_store_si512(dst.add(i + 64).cast(), v);
                _mm512_store_si512(dst.add(i + 128).cast(), v);
                _mm512_store_si512(dst.add(i + 192).cast(), v);
                i += 256;
            }
            while i + 64 <= bytes {
                _mm512_store_si512(dst.add(i).cast(), v);
                i += 64;
            }
            // the tail: one unaligned line ending at the last byte (again whole elements)
            if i < bytes {
                _mm512_storeu_si512(dst.add(bytes - 64).cast(), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isas() -> Vec<Isa> {
        vec![Isa::Plain, Isa::Avx2, Isa::Avx512]
    }

    /// Every length up to 300 elements, at every offset from a cache line, in every copy.
    #[test]
    fn copies_and_fills_write_exactly_their_elements() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(mk: impl Fn(usize) -> T, guard: T) {
            let per = 64 / std::mem::size_of::<T>();
            let src: Vec<T> = (0..300).map(&mk).collect();
            for isa in isas() {
                for off in 0..per {
                    for len in 0..300 - per {
                        let mut buf = vec![MaybeUninit::new(guard); 300 + 2 * per];
                        // start `off` elements past a cache line
                        let base = buf.as_ptr() as usize;
                        let skip = (base.wrapping_neg() % 64) / std::mem::size_of::<T>() + off;
                        copy_on(isa, &mut buf[skip..skip + len], &src[..len]);
                        // SAFETY: every element was initialized with `guard`
                        let got: Vec<T> = buf.iter().map(|x| unsafe { x.assume_init() }).collect();
                        for (k, g) in got.iter().enumerate() {
                            let want = if (skip..skip + len).contains(&k) {
                                src[k - skip]
                            } else {
                                guard
                            };
                            assert_eq!(*g, want, "copy {isa:?} off {off} len {len} at {k}");
                        }
                        let mut buf = vec![MaybeUninit::new(guard); 300 + 2 * per];
                        fill_on(isa, &mut buf[skip..skip + len], src[7]);
                        // SAFETY: as above
                        let got: Vec<T> = buf.iter().map(|x| unsafe { x.assume_init() }).collect();
                        for (k, g) in got.iter().enumerate() {
                            let want = if (skip..skip + len).contains(&k) {
                                src[7]
                            } else {
                                guard
                            };
                            assert_eq!(*g, want, "fill {isa:?} off {off} len {len} at {k}");
                        }
                    }
                }
            }
        }
        // the float fills, of +0.0 (memset below AVX-512), -0.0 and a value
        for isa in isas() {
            for v in [0.0, -0.0, 1.5] {
                for len in [0, 1, 7, 8, 9, 100, 257] {
                    let mut buf = vec![MaybeUninit::new(f64::NAN); len + 2];
                    fill_float_on(isa, &mut buf[1..=len], v);
                    // SAFETY: every element was initialized
                    let got: Vec<u64> = buf
                        .iter()
                        .map(|x| unsafe { x.assume_init() }.to_bits())
                        .collect();
                    let mut want = vec![v.to_bits(); len + 2];
                    want[0] = f64::NAN.to_bits();
                    want[len + 1] = f64::NAN.to_bits();
                    assert_eq!(got, want, "fill_float {isa:?} {v} len {len}");
                    let mut buf = vec![MaybeUninit::new(f32::NAN); len + 2];
                    fill_float_on(isa, &mut buf[1..=len], v as f32);
                    // SAFETY: as above
                    let got: Vec<u32> = buf
                        .iter()
                        .map(|x| unsafe { x.assume_init() }.to_bits())
                        .collect();
                    let mut want = vec![(v as f32).to_bits(); len + 2];
                    want[0] = f32::NAN.to_bits();
                    want[len + 1] = f32::NAN.to_bits();
                    assert_eq!(got, want, "fill_float f32 {isa:?} {v} len {len}");
                }
            }
        }
        check(|i| (i as f64 * 0.37).sin().to_bits(), u64::MAX);
        check(|i| ((i as f32) * 0.37).sin().to_bits(), u32::MAX);
        check(|i| i as u8 ^ 0x5a, 0xff);
    }
}
