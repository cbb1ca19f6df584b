//! # functorch
//!
//! Composable function transforms over n-dimensional tensors, in pure Rust: [`grad`],
//! [`jacrev`], [`jacfwd`], [`hessian`], [`hvp`], [`jvp`], [`vjp`], [`linearize`] and [`vmap`],
//! nested in any order and to any depth, with torch.func's options (`argnums`, `has_aux`,
//! `chunk_size`, `in_dims`, `out_dims`, `randomness`).
//! Users give their own derivative rules with [`custom_jvp`] and [`custom_vjp`], trade compute
//! for memory with [`checkpoint`], and differentiate solvers implicitly with [`implicit_root`].
//!
//! ```
//! use functorch::{Tensor, grad, hessian, jacrev, vmap};
//!
//! let f = |x: &Tensor| x.sin()?.sum();
//! let x = Tensor::from_slice(&[0.0, 0.5, 1.0]);
//!
//! let g: Tensor = grad(f).call(&x)?;                 // cos x
//! let h: Tensor = hessian(f).call(&x)?;              // diag(-sin x)
//! let j: Tensor = jacrev(|x: &Tensor| x.sin()).call(&x)?; // diag(cos x)
//! assert_eq!(g.to_vec::<f64>()?, x.cos()?.to_vec::<f64>()?);
//! assert_eq!(h.to_vec::<f64>()?, x.sin()?.neg()?.diag()?.to_vec::<f64>()?);
//! assert_eq!(j.to_vec::<f64>()?, x.cos()?.diag()?.to_vec::<f64>()?);
//!
//! // per-row gradients of a batch, with no loop
//! let xs = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[2, 2])?;
//! let gs: Tensor = vmap(grad(f)).call(&xs)?;
//! assert_eq!(gs.to_vec::<f64>()?, xs.cos()?.to_vec::<f64>()?);
//! # Ok::<(), functorch::Error>(())
//! ```
//!
//! ## Layers
//!
//! Every op on [`Tensor`] binds a *primitive* (a small closed set, each with its evaluation,
//! forward, reverse and batching rules side by side); a thread-local stack of *levels*, one per
//! running transform, decides which transform's rule applies (`NOTE: [levels]`); rules are
//! written with the same public ops, so they are themselves transformed by outer levels
//! (`NOTE: [rules-use-ops]`). Everything else (softmax, logsumexp, einsum, prod, ...) is a
//! decomposition over primitives. The modules, bottom to top, each using only those below it:
//! `dtype` and `error`; `array` (concrete strided arrays, no tracers); `kernels` (CPU loops on
//! arrays); `core` (the handle [`Tensor`], the `Primitive` trait, the levels and `bind`);
//! `prims` (the primitive families and their rules) and `ops` (the public methods) — the one
//! loop, by design: ops bind prims, prims' rules call ops; `tree` (structured arguments:
//! [`Tree`], [`Pytree`], [`Args`], `#[derive(Pytree)]`, flattened at the API boundary); and
//! `transforms` (the builders, on one options record; every batched call, chunked or not, in one
//! routine: `NOTE: [chunking]`).
//!
//! ## Optional features
//! Off by default: `argmin`, `nalgebra`, `faer`, `serde`, `safetensors`, the bridges to those
//! crates (see [`interop`]).
//!
//! ## Environment
//! - `RAYON_NUM_THREADS`: the threads of rayon's global pool, where the kernels split their
//!   work (all cores by default). Eager ops split from outside the pool run on a team of as
//!   many threads, the calling one and as many helpers as the pool has threads less one, which
//!   spin for a millisecond between ops before they sleep (none where the threads outnumber
//!   the cores).
//! - `FUNCTORCH_CPU_CAPABILITY`: caps the vector instructions the kernels use, as
//!   `ATEN_CPU_CAPABILITY` does torch's: `avx512` (the default: the best this CPU has), `avx2`
//!   or `default` (the baseline target, SSE2 on x86-64). It can only lower what the CPU runs,
//!   and is read once per process. Its use is to time and test the AVX2 and baseline routes on
//!   an AVX-512 machine. The `gemm` crate (the products' route without AVX2) and faer's
//!   factorizations choose their own instructions.
//!
//! ## Errors
//! Every fallible call returns [`Result`]; nothing panics on user input except the `+ - * /`
//! operators, which panic on mismatched shapes or dtypes (documented under `# Panics`; use the
//! methods `add`, `sub`, `mul`, `div` for a `Result`).

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's tour runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeTour;

mod array;
mod core;
mod cpu;
mod dtype;
mod error;
pub mod interop;
mod jit;
pub(crate) mod kernels;
mod ops;
mod prims;
mod transforms;
pub mod tree;

pub use array::pool::{pooled_bytes, release_pooled_memory};
pub use array::{AlignedVec, Array, Buffer, Element, Float, MAX_NUMEL, View, broadcast_shapes};
pub use core::{Randomness, Tensor};
pub use dtype::DType;
pub use error::{Error, Result};
pub use functorch_derive::Pytree;
pub use ops::{At, Generator, manual_seed};
pub use ops::{Idx, IndexArg, RangeInt, step};
pub use transforms::{
    Argnums, Dims, Dynamic, Function, Grad, GradAndValue, Hessian, Hvp, Jacfwd, Jacrev, Jit, Jvp,
    Linearize, Linearized, Pullback, Trace, Vhp, Vjp, Vmap, dynamic, grad, grad_and_value, hessian,
    hvp, jacfwd, jacrev, jit, jvp, linearize, vhp, vjp, vmap,
};
pub use transforms::{
    Checkpoint, CustomJvp, CustomVjp, ImplicitRoot, checkpoint, custom_jvp, custom_vjp,
    implicit_root,
};
pub use transforms::{Jacobian, JacobianMode, MemoryPlan, jacobian};
pub use transforms::{PreparedSparse, Sparse, SparseMatrix, SparsityPattern};
pub use tree::{Args, Pytree, Tree};
