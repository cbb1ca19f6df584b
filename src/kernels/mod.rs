//! CPU loops only: strided elementwise iteration, reductions, copies, indexing, GEMM calls and
//! factorizations. Nothing here knows about tracers or levels.

pub mod copy;
pub mod index;
pub mod linalg;
pub mod math;
pub mod matmul;
pub mod reduce;
pub mod strided;

/// Whether this CPU runs the AVX2 + FMA copies of the hot loops (the baseline x86-64 target has
/// only SSE2; the check is cached by std).
#[inline(always)]
pub(crate) fn simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
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
