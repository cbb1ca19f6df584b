//! CPU loops only: strided elementwise iteration, reductions, copies, indexing, GEMM calls and
//! factorizations. Nothing here knows about tracers or levels.

pub mod copy;
pub(crate) mod gemm;
pub mod index;
pub mod linalg;
pub mod math;
pub mod matmul;
pub(crate) mod pieces;
pub mod reduce;
pub(crate) mod store;
pub mod strided;

/// Whether this CPU runs the AVX2 + FMA copies of the hot loops (the baseline x86-64 target has
/// only SSE2), under the cap of NOTE: [cpu-capability].
#[inline(always)]
pub(crate) fn simd() -> bool {
    math::isa() >= math::Isa::Avx2
}

/// A loop to run in the copy compiled for the widest vector ISA this CPU has: see
/// [`with_isa`].
pub(crate) trait Vectorized {
    /// What the loop returns.
    type Out;
    /// The loop. Implementations mark it `#[inline(always)]`, and the functions it calls in
    /// its hot loop too, so that they are compiled inside each copy.
    fn run(self) -> Self::Out;
}

/// Run `k` in the copy compiled for the vector ISA `want` (AVX-512, AVX2 + FMA, or the baseline
/// build), or for the best one below it that this CPU has; the tests force each copy.
///
/// NOTE: [isa-copies] The baseline x86-64 target has only SSE2, so a plain loop vectorizes to
/// 2-lane f64 vectors. A `#[target_feature]` function may inline any function compiled with a
/// subset of its features, and an `#[inline(always)]` one is inlined there, so `k.run()` and
/// what it inlines are compiled once per copy below, their loops vectorized for that copy's
/// registers. (A closure cannot be marked `#[inline(always)]`, and one passed in here was found
/// compiled outside the copies, on SSE2; hence a trait.) The loops must not depend on the ISA
/// for their results: without fast-math nothing is contracted into an FMA implicitly, so
/// every copy computes the same bits.
#[inline(always)]
pub(crate) fn with_isa<K: Vectorized>(want: math::Isa, k: K) -> K::Out {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
        fn avx512<K: Vectorized>(k: K) -> K::Out {
            k.run()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<K: Vectorized>(k: K) -> K::Out {
            k.run()
        }
        match want.min(math::isa()) {
            // SAFETY: `isa()` detected every feature this copy was compiled for
            math::Isa::Avx512 => unsafe { avx512(k) },
            // SAFETY: as above
            math::Isa::Avx2 => unsafe { avx2(k) },
            math::Isa::Plain => k.run(),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = want;
        k.run()
    }
}

/// Run `$body` with `$T` bound to the Rust element type of dtype `$dt`.
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        match $dt {
            $crate::array::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::array::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::array::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::array::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;
