//! Fused elementwise kernels: a chain of unary and binary float ops over one output shape,
//! evaluated in one pass over tiles of [`TILE`] positions, without intermediate arrays.
//!
//! A [`Kernel`] is a small register bytecode (as numexpr's): each instruction applies one op to
//! operands that are the kernel's inputs (arrays of any layout that broadcasts to the output
//! shape) or earlier instructions' values, and writes its value into a tile-sized register or
//! straight into the tile of one of the kernel's outputs. Per tile, an input that is contiguous
//! is read in place, a broadcast scalar stays a scalar (an instruction whose operands are all
//! scalars computes one value), and any other layout is gathered into a register first. The
//! ops run the loops eager evaluation runs: the vectorized slice kernels of `kernels::math` for
//! the transcendental functions, and the table's scalar function in the AVX2 + FMA copy of a
//! plain loop for the rest, so a fused chain gives the same bits as the chain run op by op.
//! Large outputs are split into chunks filled on all cores (as the eager kernels' `build`).

use super::skip::Skip;
use crate::array::{AlignedVec, Array, DType, Float, Shape, alloc, numel};
use crate::kernels::store;
use crate::kernels::strided::{PAR_MIN, Plan};
use crate::prims::binary::{BinaryOp, ScalarFn2};
use crate::prims::unary::{ScalarFn, UnaryOp, vector_kernel};
use rayon::prelude::*;
use smallvec::SmallVec;
use std::mem::MaybeUninit;

/// Positions per tile: 8 KiB of f64 a register, so a kernel's registers stay in L1/L2.
pub(crate) const TILE: usize = 1024;

/// What an instruction computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Un(UnaryOp),
    Bin(BinaryOp),
}

impl Code {
    pub(crate) fn arity(self) -> usize {
        match self {
            Code::Un(_) => 1,
            Code::Bin(_) => 2,
        }
    }
}

/// An instruction's operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    /// The kernel's `i`-th input.
    In(usize),
    /// The value of instruction `j` (an earlier one).
    Val(usize),
}

/// One instruction: `slot[dst] = code(args)`. Slots `0..n_out` are the tiles of the outputs,
/// the next `n_reg` are registers.
#[derive(Clone, Debug)]
pub(crate) struct Instr {
    pub(crate) code: Code,
    pub(crate) args: [Src; 2],
    pub(crate) dst: usize,
}

/// A fused elementwise kernel (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Kernel {
    /// The output shape, which every instruction's value has.
    pub(crate) shape: Shape,
    /// F32 or F64: every operand and value.
    pub(crate) dtype: DType,
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
    pub(crate) n_reg: usize,
    pub(crate) instrs: Vec<Instr>,
    /// For each input that is a constant with at most one nonzero per row (a standard basis, a
    /// slice of one, a multiple of one), those nonzeros: row mode generates its tiles instead
    /// of reading the array.
    pub(crate) sparse: Vec<Option<SparseRows>>,
    /// For each input that is the left operand of a product by a constant standard basis, read
    /// as that product (see [`SparseProduct`]): the product is never materialized.
    pub(crate) products: Vec<Option<SparseProduct>>,
    /// For each input read through a pad (the pad equation fused as a guarded load), where its
    /// elements go. Only in kernels whose rows are long enough for row mode.
    pub(crate) pads: Vec<Option<PadSpec>>,
    /// A *prologue*: a kernel whose outputs this one reads only through pads along the last dim,
    /// with the same leading dims. It runs one row at a time, just before this kernel's tiles of
    /// that row, into row-sized buffers; its outputs are never materialized.
    pub(crate) pre: Option<Box<Kernel>>,
    /// For each input, the prologue's output it is (read through `pads`), if it is one: such
    /// inputs take no array (the arrays are this kernel's other inputs, then the prologue's).
    pub(crate) pre_of: Vec<Option<usize>>,
    /// The prologue's outputs (equations of the graph), for display.
    pub(crate) pre_outs: Vec<usize>,
    /// Where the rows are computed when the sparse inputs make the rest of each row a known
    /// constant (`skip`); used when the other inputs are all finite.
    pub(crate) skip: Option<Skip>,
}

/// A pad fused into its reader: along `dim`, output position `start + k·step` reads the
/// input's position `k`, and every other position is +0.0 (as `pad` writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PadSpec {
    pub(crate) dim: usize,
    pub(crate) start: usize,
    pub(crate) step: usize,
}

impl PadSpec {
    /// The input position of output position `i` along `dim`, if it is not padding.
    #[inline]
    fn source(&self, i: usize, len: usize) -> Option<usize> {
        let k = i.checked_sub(self.start)?;
        (k % self.step == 0 && k / self.step < len).then_some(k / self.step)
    }

    /// For a pad of step 1 along the rows (the last dim of an output of rank `rank`), of an
    /// input of shape `shape`: the columns `lo..hi` of each row that read the input, the rest
    /// padding. Tiles and pieces of rows that end at these read a padded input in place.
    #[inline]
    fn row_cols(&self, shape: &[usize], rank: usize) -> Option<(usize, usize)> {
        (self.step == 1 && self.dim + 1 == rank).then(|| (self.start, self.start + shape[self.dim]))
    }
}

/// A constant with at most one nonzero in each row (of its last dim), every other element
/// +0.0: the column of each row's nonzero (`usize::MAX`: none) and its value.
#[derive(Clone, Debug)]
pub(crate) struct SparseRows {
    cols: Vec<usize>,
    vals: Vec<f64>,
}

impl SparseRows {
    /// The sparse form of `a`, if it has the output shape `shape`, is large enough for row mode
    /// to pay (4096 elements; below `fuse::SPARSE_SMALL` it is kept only under a skip plan
    /// with constants), and has at most one nonzero (anything but +0.0) per row.
    pub(crate) fn of(a: &Array, shape: &[usize]) -> Option<SparseRows> {
        let row = *shape.last()?;
        if a.shape() != shape || shape.len() < 2 || row < ROW_MIN || a.numel() < 1 << 12 {
            return None;
        }
        let v: Vec<f64> = match a.dtype() {
            DType::F64 => a.to_vec::<f64>()?,
            DType::F32 => a.to_vec::<f32>()?.into_iter().map(f64::from).collect(),
            _ => return None,
        };
        let rows = v.len() / row;
        let mut cols = vec![usize::MAX; rows];
        let mut vals = vec![0.0; rows];
        for (r, xs) in v.chunks_exact(row).enumerate() {
            for (j, &x) in xs.iter().enumerate() {
                if x.to_bits() != 0 {
                    if cols[r] != usize::MAX {
                        return None;
                    }
                    cols[r] = j;
                    vals[r] = x;
                }
            }
        }
        Some(SparseRows { cols, vals })
    }

    /// The (row, column) of each row's nonzero.
    pub(crate) fn nonzero_cols(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (self.cols.iter().enumerate()).filter_map(|(r, &c)| (c != usize::MAX).then_some((r, c)))
    }
}

/// A product `a[..., m, k] · c[..., k, n]` by a constant `c` with few nonzeros in each batch
/// matrix (a standard basis), as eager's sparse route computes it for a finite `a`
/// (`kernels::matmul::sparse_right_nonzeros`): column j of batch element b is +0 plus
/// `a[b, :, l] · v` for each nonzero `c[b, l, j] = v` in turn, every other column +0. The
/// kernel's input is `a`; each tile of the product is generated from it.
#[derive(Clone, Debug)]
pub(crate) struct SparseProduct {
    /// The product's batch dims (those of `c`), rows and columns.
    pub(crate) batch: Shape,
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) n: usize,
    /// For each batch element, its nonzero columns in order, each with its terms `(l, v)`.
    cols: Vec<Vec<NonzeroColumn>>,
}

/// A nonzero column `j` of a product by a sparse constant, and its terms `(l, v)` in order.
type NonzeroColumn = (usize, Vec<(usize, f64)>);

impl SparseProduct {
    /// The product of `a[..., m, k]` by the constant `c`, if eager runs it by the sparse route
    /// over `c` for every finite `a`, and its output has `c`'s batch dims.
    pub(crate) fn of(c: &Array, out_shape: &[usize]) -> Option<SparseProduct> {
        let r = c.shape().len();
        if r < 3 || out_shape.len() != r || out_shape[..r - 2] != c.shape()[..r - 2] {
            return None;
        }
        let m = out_shape[r - 2];
        let nz: Vec<Vec<(usize, usize, f64)>> = match c.dtype() {
            DType::F64 => crate::kernels::matmul::sparse_right_nonzeros::<f64>(c, m)?,
            DType::F32 => crate::kernels::matmul::sparse_right_nonzeros::<f32>(c, m)?
                .into_iter()
                .map(|b| {
                    b.into_iter()
                        .map(|(l, j, v)| (l, j, f64::from(v)))
                        .collect()
                })
                .collect(),
            _ => return None,
        };
        let cols = nz
            .into_iter()
            .map(|b| {
                let mut cols: Vec<NonzeroColumn> = Vec::new();
                for (l, j, v) in b {
                    match cols.iter_mut().find(|(c, _)| *c == j) {
                        Some((_, t)) => t.push((l, v)),
                        None => cols.push((j, vec![(l, v)])),
                    }
                }
                cols.sort_by_key(|(j, _)| *j);
                cols
            })
            .collect();
        Some(SparseProduct {
            batch: Shape::from_slice(&c.shape()[..r - 2]),
            m,
            k: c.shape()[r - 2],
            n: c.shape()[r - 1],
            cols,
        })
    }

    /// The shape `a` is broadcast to: the batch, then m × k.
    fn operand_shape(&self) -> Vec<usize> {
        let mut s = self.batch.to_vec();
        s.extend([self.m, self.k]);
        s
    }
}

/// An operand over one tile: a slice of its values, or one value seen at every position.
#[derive(Clone, Copy)]
pub(super) enum Arg<'a, T> {
    S(&'a [T]),
    C(T),
}

/// A kernel input, classified once per call by its layout (broadcast to the output shape).
enum Input<'a, T> {
    /// Row-major contiguous: a tile is a subslice.
    Slice(&'a [T]),
    /// Every stride zero: one value.
    Scalar(T),
    /// Output `k` of the prologue, read through a pad (row mode only).
    Pre {
        k: usize,
        shape: &'a [usize],
        pad: PadSpec,
        slot: usize,
    },
    /// Contiguous and repeated along the output's leading dims (a `[64, 32]` operand of a
    /// `[512, 64, 32]` output): position `p` reads element `p % len` (tiles end where a
    /// repetition does, so each is a subslice).
    Periodic(&'a [T]),
    /// Repeated along the output's last dim and row-major over the others (a `[.., m, 1]`
    /// operand of a `[.., m, n]` output): position `p` reads element `p / row`, filled into
    /// `slot` (one value when the tile lies within one row).
    Column {
        data: &'a [T],
        row: usize,
        slot: usize,
    },
    /// Anything else. Tiles that lie within one row of the output's last dim read it in place
    /// when its stride along that dim is 1, as one value when it is 0, and otherwise (or when
    /// tiles span rows) gather it into register `slot` first.
    Strided {
        data: &'a [T],
        offset: usize,
        strides: &'a [isize],
        plan: Plan<1>,
        slot: usize,
    },
    /// A constant in sparse form (row mode only): a tile holds its row's nonzero, or is zero.
    Sparse { rows: &'a SparseRows, slot: usize },
    /// A product by a constant standard basis, generated into `slot` from its left operand
    /// (`data`, each batch element's matrix at `offs[b]`, strides `rs`, `cs`).
    Product {
        data: &'a [T],
        offs: Vec<usize>,
        rs: isize,
        cs: isize,
        spec: &'a SparseProduct,
        slot: usize,
    },
    /// An array read through a pad (row mode only).
    Padded {
        data: &'a [T],
        offset: usize,
        shape: &'a [usize],
        strides: &'a [isize],
        pad: PadSpec,
        slot: usize,
    },
}

/// A prologue ready to run: its kernel and classified inputs.
struct Pro<'a, T> {
    kernel: &'a Kernel,
    ins: SmallVec<[Input<'a, T>; 8]>,
    gathered: usize,
    row: usize,
}

/// An input over one tile: a slice, one value, or a gathered register.
#[derive(Clone, Copy)]
enum At<'a, T> {
    S(&'a [T]),
    C(T),
    Slot(usize),
}

/// Outputs whose last dim has at least this many positions run in row mode: tiles never span
/// two rows, so inputs broadcast along rows or columns are read in place (no gather).
pub(crate) const ROW_MIN: usize = 64;

// NOTE: [row-blocks]
// In row mode a tile never spans two rows, and each costs its bookkeeping (where it starts,
// which inputs it reads in place, a dispatch per instruction): about 100 cycles, as much as
// the arithmetic of a tile of 64 to 100 elements. So where the rows are at most half a tile
// and every input can be read over several rows (contiguous, one value, a column, or through
// a pad), a tile takes as many whole rows as fit, and an input read through a pad is copied
// into its register row by row, each row in pieces that are all padding or all input. Only
// where the positions go is changed, not what is computed at each, so the bits are the same.
// Rosenbrock's Hessian at n = 100 (its [100, 100] sum of two pads, 300 tiles a call before,
// three a row): 31 → 24 µs a call (best of 5000, alternated four times, AMD Zen 3).

impl Kernel {
    /// Evaluate on `inputs` (one array per kernel input, each broadcastable to the output
    /// shape, of the kernel's dtype): the outputs, freshly allocated.
    pub(crate) fn run(&self, inputs: &[&Array]) -> Vec<Array> {
        match self.dtype {
            DType::F32 => self.run_typed::<f32>(inputs),
            DType::F64 => self.run_typed::<f64>(inputs),
            d => unreachable!("a fused kernel over {d:?}"),
        }
    }

    /// The inputs broadcast to the output shape (those read through pads as they are; `None`
    /// for the prologue's outputs).
    fn views(&self, inputs: &[&Array]) -> SmallVec<[Option<Array>; 8]> {
        let mut it = inputs.iter();
        self.pads
            .iter()
            .zip(&self.pre_of)
            .zip(&self.products)
            .map(|((pad, pre), prod)| {
                if pre.is_some() {
                    return None;
                }
                let a = it.next().expect("an array for each input");
                if let Some(p) = prod {
                    return Some(a.broadcast_to(&p.operand_shape()));
                }
                Some(if a.shape() == self.shape.as_slice() || pad.is_some() {
                    (*a).clone()
                } else {
                    a.broadcast_to(&self.shape)
                })
            })
            .collect()
    }

    /// Classify each input by its layout (see [`Input`]): the inputs, the number of them that
    /// need a register per tile, and the row length in row mode (0 otherwise).
    fn classify<'a, T: Float>(
        &'a self,
        views: &'a [Option<Array>],
        inputs: &[&'a Array],
        reps: &'a [Option<Vec<T>>],
    ) -> (SmallVec<[Input<'a, T>; 8]>, usize, usize) {
        let mut gathered = 0;
        let sparse_mode = self.shape.last().is_some_and(|&l| l >= ROW_MIN);
        let mut origs = inputs.iter();
        let pre_shape: &[usize] = self.pre.as_ref().map_or(&[], |p| &p.shape);
        let ins: SmallVec<[Input<'a, T>; 8]> = views
            .iter()
            .zip(&self.pre_of)
            .zip(self.sparse.iter().zip(&self.pads))
            .zip(reps)
            .zip(&self.products)
            .map(|((((a, pre), (sp, pad)), rep), prod)| {
                let (Some(a), None) = (a, pre) else {
                    gathered += 1;
                    return Input::Pre {
                        k: pre.expect("a prologue output"),
                        shape: pre_shape,
                        pad: pad.expect("read through a pad"),
                        slot: self.n_out + self.n_reg + gathered - 1,
                    };
                };
                let orig = origs.next().expect("an array for each input");
                let v = a.v::<T>();
                if let Some(spec) = prod {
                    gathered += 1;
                    let nd = spec.batch.len();
                    let mut offs = Vec::with_capacity(numel(&spec.batch));
                    Plan::new(&spec.batch, [&v.strides[..nd]]).run(
                        [v.offset],
                        0,
                        numel(&spec.batch),
                        |[o]| offs.push(o),
                    );
                    return Input::Product {
                        data: v.data,
                        offs,
                        rs: v.strides[nd],
                        cs: v.strides[nd + 1],
                        spec,
                        slot: self.n_out + self.n_reg + gathered - 1,
                    };
                }
                if let Some(pad) = pad {
                    gathered += 1;
                    Input::Padded {
                        data: v.data,
                        offset: v.offset,
                        shape: v.shape,
                        strides: v.strides,
                        pad: *pad,
                        slot: self.n_out + self.n_reg + gathered - 1,
                    }
                } else if let (Some(rows), true) = (sp, sparse_mode) {
                    gathered += 1;
                    Input::Sparse {
                        rows,
                        slot: self.n_out + self.n_reg + gathered - 1,
                    }
                } else if let Some(s) = v.contiguous() {
                    Input::Slice(s)
                } else if v.strides.iter().all(|&s| s == 0) {
                    Input::Scalar(v.data[v.offset])
                } else if let Some(r) = rep {
                    Input::Periodic(r)
                } else if let Some(s) = leading_block::<T>(a).filter(|s| s.len() >= PERIOD_MIN) {
                    Input::Periodic(s)
                } else if let Some(s) = periodic(orig, &self.shape) {
                    Input::Periodic(s)
                } else if let Some((data, row)) = column::<T>(a) {
                    gathered += 1;
                    Input::Column {
                        data,
                        row,
                        slot: self.n_out + self.n_reg + gathered - 1,
                    }
                } else {
                    gathered += 1;
                    Input::Strided {
                        data: v.data,
                        offset: v.offset,
                        strides: v.strides,
                        plan: Plan::new(v.shape, [v.strides]),
                        slot: self.n_out + self.n_reg + gathered - 1,
                    }
                }
            })
            .collect();
        let row = match self.shape.last() {
            Some(&l) if l >= ROW_MIN && gathered > 0 => l,
            _ => 0,
        };
        (ins, gathered, row)
    }

    /// For each input (broadcast to the output shape) that repeats a contiguous block shorter
    /// than [`PERIOD_MIN`] along leading dims (a bias row), that block repeated to about a tile:
    /// read as [`Input::Periodic`], it needs no gather and no row mode.
    fn repeats<T: Float>(&self, views: &[Option<Array>]) -> SmallVec<[Option<Vec<T>>; 8]> {
        let sparse_mode = self.shape.last().is_some_and(|&l| l >= ROW_MIN);
        views
            .iter()
            .zip(self.pads.iter().zip(&self.sparse))
            .zip(&self.products)
            .map(|((a, (pad, sp)), prod)| {
                let a = a.as_ref()?;
                if pad.is_some() || prod.is_some() || (sp.is_some() && sparse_mode) {
                    return None;
                }
                let s = leading_block::<T>(a)?;
                (s.len() > 1 && s.len() < PERIOD_MIN).then(|| s.repeat((TILE / s.len()).max(1)))
            })
            .collect()
    }

    fn run_typed<T: Float>(&self, inputs: &[&Array]) -> Vec<Array> {
        debug_assert_eq!(self.pre_of.len(), self.n_in);
        let n = numel(&self.shape);
        let n_own = self.pre_of.iter().filter(|p| p.is_none()).count();
        let (own, pre_inputs) = inputs.split_at(n_own);
        let views = self.views(own);
        let reps = self.repeats::<T>(&views);
        let (ins, gathered, row) = self.classify::<T>(&views, own, &reps);
        let pre_views = self.pre.as_ref().map(|p| p.views(pre_inputs));
        let pre_reps = match (&self.pre, &pre_views) {
            (Some(p), Some(v)) => p.repeats::<T>(v),
            _ => SmallVec::new(),
        };
        let pre = match (&self.pre, &pre_views) {
            (Some(p), Some(v)) => {
                let (ins, gathered, row) = p.classify::<T>(v, pre_inputs, &pre_reps);
                Some(Pro {
                    kernel: p,
                    ins,
                    gathered,
                    row,
                })
            }
            _ => None,
        };
        let pre = pre.as_ref();
        // the skip plan, if every input it assumes finite is (constants), or if every input
        // but the sparse ones is broadcast along the rows (a template row)
        let skip = self.skip.as_ref().filter(|s| {
            row > 0
                && if s.template {
                    self.along_rows(&views)
                } else {
                    self.finite_inputs(own)
                        && pre.is_none_or(|p| p.kernel.finite_inputs(pre_inputs))
                }
        });
        let consts: AlignedVec<T> = match skip {
            Some(s) if s.template => self.template_row(&ins, gathered, row),
            Some(s) => s.consts.iter().map(|&c| T::from_f64(c)).collect(),
            None => AlignedVec::new(),
        };
        let skip = skip.map(|s| (s, &consts[..]));
        let mut outs: SmallVec<[AlignedVec<T>; 2]> =
            (0..self.n_out).map(|_| alloc::<T>(n)).collect();
        {
            let mut spare: SmallVec<[&mut [MaybeUninit<T>]; 2]> = outs
                .iter_mut()
                .map(|v| &mut v.spare_capacity_mut()[..n])
                .collect();
            let threads = rayon::current_num_threads();
            // positions `start..` of every output: tiles, or under a skip plan whole rows
            let run = |start: usize, o: &mut [&mut [MaybeUninit<T>]]| match skip {
                Some((sk, consts)) => self.run_spans(&ins, row, start / row, o, pre, sk, consts),
                None => self.run_range(&ins, gathered, row, start, o, pre),
            };
            if n >= PAR_MIN && threads > 1 {
                let mut chunk = n.div_ceil(threads * 4).max(4096);
                if skip.is_some() {
                    chunk = chunk.div_ceil(row) * row;
                }
                let mut per: Vec<SmallVec<[&mut [MaybeUninit<T>]; 2]>> =
                    (0..n.div_ceil(chunk)).map(|_| SmallVec::new()).collect();
                for s in spare {
                    for (c, piece) in s.chunks_mut(chunk).enumerate() {
                        per[c].push(piece);
                    }
                }
                per.into_par_iter()
                    .enumerate()
                    .for_each(|(c, mut o)| run(c * chunk, &mut o));
            } else {
                run(0, &mut spare);
            }
        }
        outs.into_iter()
            .map(|mut v| {
                // SAFETY: `run_range` wrote every position of every output: each instruction
                // writing an output slot writes the whole tile, and the tiles cover 0..n.
                unsafe { v.set_len(n) };
                Array::from_vec(v, &self.shape)
            })
            .collect()
    }

    /// Whether every input but the sparse constants (broadcast to the output shape: `views`)
    /// has the same value in every row: all its strides but the last are zero.
    fn along_rows(&self, views: &[Option<Array>]) -> bool {
        views.iter().zip(&self.sparse).all(|(v, sp)| {
            sp.is_some()
                || v.as_ref().is_some_and(|a| {
                    let st = a.strides();
                    st[..st.len().saturating_sub(1)].iter().all(|&s| s == 0)
                })
        })
    }

    /// The template row of a skip plan (see `skip`): each output over one row where every
    /// sparse input is +0.0 (the inputs otherwise as in row 0, which every row repeats),
    /// outputs one after another.
    fn template_row<T: Float>(
        &self,
        ins: &[Input<'_, T>],
        gathered: usize,
        row: usize,
    ) -> AlignedVec<T> {
        let zeroed: SmallVec<[Input<'_, T>; 8]> = ins
            .iter()
            .map(|i| match i {
                Input::Slice(s) => Input::Slice(s),
                Input::Scalar(c) => Input::Scalar(*c),
                Input::Periodic(s) => Input::Periodic(s),
                Input::Sparse { .. } => Input::Scalar(T::ZERO),
                Input::Strided {
                    data,
                    offset,
                    strides,
                    slot,
                    ..
                } => Input::Strided {
                    data,
                    offset: *offset,
                    strides,
                    plan: Plan::new(&self.shape, [strides]),
                    slot: *slot,
                },
                Input::Column { data, row, slot } => Input::Column {
                    data,
                    row: *row,
                    slot: *slot,
                },
                Input::Pre { .. } | Input::Padded { .. } | Input::Product { .. } => {
                    unreachable!("a template row is planned only without pads and products")
                }
            })
            .collect();
        let mut out = alloc::<T>(self.n_out * row);
        {
            let spare = &mut out.spare_capacity_mut()[..self.n_out * row];
            let mut parts: SmallVec<[&mut [MaybeUninit<T>]; 2]> = spare.chunks_mut(row).collect();
            self.run_range(&zeroed, gathered, row, 0, &mut parts, None);
        }
        // SAFETY: `run_range` wrote every position of each output's row
        unsafe { out.set_len(self.n_out * row) };
        out
    }

    /// Whether every input a skip plan assumes finite (all but the sparse constants and the
    /// prologue's outputs) has only finite elements: `arrays` are the kernel's own inputs.
    fn finite_inputs(&self, arrays: &[&Array]) -> bool {
        let mut it = arrays.iter();
        self.pre_of.iter().zip(&self.sparse).all(|(pre, sp)| {
            pre.is_some() || {
                let a = it.next().expect("an array for each input");
                sp.is_some() || a.all_finite()
            }
        })
    }

    /// Fill positions `start..start + outs[k].len()` of every output; `row`: the length of the
    /// output's rows in row mode, 0 otherwise.
    fn run_range<T: Float>(
        &self,
        ins: &[Input<'_, T>],
        gathered: usize,
        row: usize,
        start: usize,
        outs: &mut [&mut [MaybeUninit<T>]],
        pre: Option<&Pro<'_, T>>,
    ) {
        let len = outs.first().map_or(0, |o| o.len());
        if len == 0 {
            return;
        }
        // the prologue's outputs over the current row, and which row that is
        let pre_len = pre.map_or(0, |p| p.kernel.shape.last().copied().unwrap_or(1));
        let mut pre_buf: SmallVec<[Vec<MaybeUninit<T>>; 2]> = pre
            .iter()
            .flat_map(|p| (0..p.kernel.n_out).map(|_| vec![MaybeUninit::new(T::ZERO); pre_len]))
            .collect();
        let mut pre_row = usize::MAX;
        // a prologue output's row seen with the rank of the output: every row at offset 0
        let mut pre_strides: SmallVec<[isize; 4]> = SmallVec::from_elem(0, self.shape.len());
        if let Some(l) = pre_strides.last_mut() {
            *l = 1;
        }
        let tile = TILE.min(len);
        // registers on the stack for small kernels (no allocation per call)
        let regs = (self.n_reg + gathered) * tile;
        let mut scratch: SmallVec<[MaybeUninit<T>; 128]> = SmallVec::with_capacity(regs);
        // SAFETY: the capacity is there, and `MaybeUninit` elements need no initialization
        // (writing uninitialized placeholders would cost a pass over every register per call)
        unsafe { scratch.set_len(regs) };
        // the value of each instruction in the current tile: a scalar, or the slot it wrote
        let mut vals: SmallVec<[Result<T, usize>; 16]> =
            SmallVec::from_elem(Err(0), self.instrs.len());
        // NOTE: [row-blocks] rows of at most half a tile, where every input can be read over
        // several rows: tiles of whole rows
        let blocks = row > 0
            && 2 * row <= tile
            && pre.is_none()
            && ins.iter().all(|i| {
                matches!(
                    i,
                    Input::Slice(_)
                        | Input::Scalar(_)
                        | Input::Column { .. }
                        | Input::Padded { .. }
                )
            });
        let mut t0 = 0;
        while t0 < len {
            let pos = start + t0;
            let block = blocks && pos.is_multiple_of(row) && len - t0 >= 2 * row;
            let mut m = if block {
                ((len - t0) / row).min(tile / row) * row
            } else if row > 0 {
                tile.min(len - t0).min(row - pos % row)
            } else {
                tile.min(len - t0)
            };
            // tiles end where a pad along the rows starts or stops, so that each tile of a
            // padded input is all padding or all input (read in place)
            for inp in ins.iter().filter(|_| !block) {
                if let Input::Padded { shape, pad, .. } | Input::Pre { shape, pad, .. } = inp
                    && let Some((lo, hi)) = pad.row_cols(shape, self.shape.len())
                {
                    let j = pos % row;
                    if j < lo {
                        m = m.min(lo - j);
                    } else if j < hi {
                        m = m.min(hi - j);
                    }
                }
            }
            for inp in ins {
                if let Input::Periodic(s) = inp {
                    m = m.min(s.len() - pos % s.len());
                }
            }
            if let Some(p) = pre {
                // the whole row, once a row
                if pos / row != pre_row && pre_len > 0 {
                    pre_row = pos / row;
                    let mut bufs: SmallVec<[&mut [MaybeUninit<T>]; 2]> =
                        pre_buf.iter_mut().map(|b| &mut b[..]).collect();
                    p.kernel.run_range(
                        &p.ins,
                        p.gathered,
                        p.row,
                        pre_row * pre_len,
                        &mut bufs,
                        None,
                    );
                }
            }
            let mut slots: SmallVec<[&mut [MaybeUninit<T>]; 16]> = SmallVec::new();
            for o in outs.iter_mut() {
                slots.push(&mut o[t0..t0 + m]);
            }
            for r in scratch.chunks_mut(tile) {
                slots.push(&mut r[..m]);
            }
            let mut at: SmallVec<[At<'_, T>; 8]> = SmallVec::new();
            for inp in ins {
                at.push(match inp {
                    Input::Slice(s) => At::S(&s[pos..pos + m]),
                    Input::Scalar(c) => At::C(*c),
                    Input::Periodic(s) => {
                        let p = pos % s.len();
                        At::S(&s[p..p + m])
                    }
                    Input::Pre {
                        k,
                        shape,
                        pad,
                        slot,
                    } => {
                        // SAFETY: the row buffers start zeroed, and the prologue wrote the
                        // columns this tile reads (the whole row, or those of the tile)
                        let data = unsafe { init(&pre_buf[*k]) };
                        match padded(
                            &self.shape,
                            (data, 0, shape, &pre_strides),
                            pad,
                            (pos, m, row),
                            slots[*slot],
                        ) {
                            At::Slot(_) => At::Slot(*slot),
                            a => a,
                        }
                    }
                    Input::Padded {
                        data,
                        offset,
                        shape,
                        strides,
                        pad,
                        slot,
                    } => {
                        let src = (*data, *offset, *shape, *strides);
                        if block {
                            // row by row into the register, each row in pieces that are all
                            // padding or all input (NOTE: [row-blocks])
                            let cuts = pad
                                .row_cols(shape, self.shape.len())
                                .map_or([row, row], |(lo, hi)| [lo.min(row), hi.min(row)]);
                            let dst = &mut slots[*slot][..m];
                            for (k, part) in dst.chunks_mut(row).enumerate() {
                                let mut a = 0;
                                for b in [cuts[0], cuts[1], row] {
                                    if b > a {
                                        let at = (pos + k * row + a, b - a, row);
                                        padded_into(&self.shape, src, pad, at, &mut part[a..b]);
                                        a = b;
                                    }
                                }
                            }
                            At::Slot(*slot)
                        } else {
                            match padded(&self.shape, src, pad, (pos, m, row), slots[*slot]) {
                                At::Slot(_) => At::Slot(*slot),
                                a => a,
                            }
                        }
                    }
                    Input::Sparse { rows, slot } => {
                        let (r, j) = (pos / row, pos % row);
                        let c = rows.cols[r];
                        if c >= j && c < j + m {
                            let dst = &mut slots[*slot];
                            for x in dst.iter_mut() {
                                x.write(T::ZERO);
                            }
                            dst[c - j].write(T::from_f64(rows.vals[r]));
                            At::Slot(*slot)
                        } else {
                            At::C(T::ZERO)
                        }
                    }
                    Input::Product {
                        data,
                        offs,
                        rs,
                        cs,
                        spec,
                        slot,
                    } => {
                        // +0 everywhere, then each nonzero column of the rows the tile meets,
                        // summed as eager's sparse route sums it
                        let dst = &mut slots[*slot];
                        for x in dst.iter_mut() {
                            x.write(T::ZERO);
                        }
                        for r in pos / spec.n..(pos + m).div_ceil(spec.n) {
                            let (b, i) = (r / spec.m, r % spec.m);
                            let base = offs[b] as isize + i as isize * rs;
                            for (j, terms) in &spec.cols[b] {
                                let p = r * spec.n + j;
                                if p < pos || p >= pos + m {
                                    continue;
                                }
                                let mut acc = T::ZERO;
                                for &(l, v) in terms {
                                    acc += data[(base + l as isize * cs) as usize] * T::from_f64(v);
                                }
                                dst[p - pos].write(acc);
                            }
                        }
                        At::Slot(*slot)
                    }
                    Input::Column { data, row: n, slot } => {
                        let (r, j) = (pos / n, pos % n);
                        if j + m <= *n {
                            At::C(data[r])
                        } else {
                            let dst = &mut slots[*slot];
                            let mut t = 0;
                            while t < m {
                                let (r, j) = ((pos + t) / n, (pos + t) % n);
                                let len = (n - j).min(m - t);
                                for x in &mut dst[t..t + len] {
                                    x.write(data[r]);
                                }
                                t += len;
                            }
                            At::Slot(*slot)
                        }
                    }
                    Input::Strided {
                        data,
                        offset,
                        strides,
                        plan,
                        slot,
                    } => {
                        if let Some(r) = pos.checked_div(row) {
                            // the row's first element, then along the last dim
                            let base = row_start(&self.shape, *offset, strides, r);
                            let inner = strides[self.shape.len() - 1];
                            let first = (base + (pos % row) as isize * inner) as usize;
                            match inner {
                                1 => At::S(&data[first..first + m]),
                                0 => At::C(data[first]),
                                s => {
                                    for (t, x) in slots[*slot].iter_mut().enumerate() {
                                        x.write(data[(first as isize + t as isize * s) as usize]);
                                    }
                                    At::Slot(*slot)
                                }
                            }
                        } else {
                            gather(data, *offset, plan, pos, slots[*slot]);
                            At::Slot(*slot)
                        }
                    }
                });
            }
            self.exec(&at, &mut slots, &mut vals);
            t0 += m;
        }
    }

    /// Run the instructions over one tile: `at` the inputs, `slots` the outputs' tiles, then the
    /// registers, then the inputs gathered into registers; `vals` each instruction's value.
    fn exec<T: Float>(
        &self,
        at: &[At<'_, T>],
        slots: &mut [&mut [MaybeUninit<T>]],
        vals: &mut [Result<T, usize>],
    ) {
        for (j, ins_j) in self.instrs.iter().enumerate() {
            let dst = std::mem::take(&mut slots[ins_j.dst]);
            let arg = |s: Src| match s {
                Src::In(i) => match at[i] {
                    At::S(s) => Arg::S(s),
                    At::C(c) => Arg::C(c),
                    // SAFETY: gathered above, for this tile
                    At::Slot(k) => Arg::S(unsafe { init(slots[k]) }),
                },
                Src::Val(v) => match vals[v] {
                    Ok(c) => Arg::C(c),
                    // SAFETY: instruction `v` (an earlier one) wrote this slot in this
                    // tile, and the slot is not reused while `v`'s value is live
                    Err(slot) => Arg::S(unsafe { init(slots[slot]) }),
                },
            };
            let a = arg(ins_j.args[0]);
            let scalar = match ins_j.code {
                Code::Un(op) => unary(op, a, &mut *dst),
                Code::Bin(op) => op.visit(Zip {
                    a,
                    b: arg(ins_j.args[1]),
                    out: &mut *dst,
                }),
            };
            vals[j] = match scalar {
                Some(c) => {
                    if ins_j.dst < self.n_out {
                        // an output that is one value: written out in full
                        for o in dst.iter_mut() {
                            o.write(c);
                        }
                    }
                    Ok(c)
                }
                None => Err(ins_j.dst),
            };
            slots[ins_j.dst] = dst;
        }
    }

    /// Rows `r0..` of the outputs under a skip plan (`outs`: whole rows of each output): every
    /// output's constant, or its template row, over the rows, then the rows' spans computed
    /// together as one stream of positions (see `run_pieces`). NOTE: [skip-spans]
    #[allow(clippy::too_many_arguments)]
    fn run_spans<T: Float>(
        &self,
        ins: &[Input<'_, T>],
        row: usize,
        r0: usize,
        outs: &mut [&mut [MaybeUninit<T>]],
        pre: Option<&Pro<'_, T>>,
        sk: &Skip,
        consts: &[T],
    ) {
        let rows = outs.first().map_or(0, |o| o.len() / row);
        for (k, o) in outs.iter_mut().enumerate() {
            // the bulk of the bytes, in whole aligned cache lines (`NOTE: [aligned-stores]`)
            // (a template row of one value, as 0 · c where no c is negative: a fill, which
            // writes from registers, measured faster than copying rows on AVX2)
            if sk.template {
                let t = &consts[k * row..(k + 1) * row];
                match uniform(t) {
                    Some(v) => store::fill_float(o, v),
                    None => {
                        for dst in o.chunks_exact_mut(row) {
                            store::copy(dst, t);
                        }
                    }
                }
            } else {
                store::fill_float(o, consts[k]);
            }
        }
        let spans = &sk.spans[r0..r0 + rows];
        let pieces: Vec<Piece> = (r0..)
            .zip(spans)
            .filter(|(_, (lo, hi))| hi > lo)
            .map(|(r, &(lo, hi))| (r, lo as usize, (hi - lo) as usize))
            .collect();
        let total: usize = pieces.iter().map(|p| p.2).sum();
        if total == 0 {
            return;
        }
        // the prologue over the columns the spans read through its pads (of step 1): row r's
        // columns `a..b` at `at[r - r0].0` of its compacted outputs, `a` at `at[r - r0].1`
        let pre_vals = pre.map(|p| {
            let pre_len = p.kernel.shape.last().copied().unwrap_or(1);
            let mut at = Vec::with_capacity(rows);
            let mut pre_pieces = Vec::with_capacity(pieces.len());
            let mut off = 0;
            for (r, &(lo, hi)) in (r0..).zip(spans) {
                let a = (lo as usize).saturating_sub(sk.pre_starts.1).min(pre_len);
                let b = (hi as usize).saturating_sub(sk.pre_starts.0).min(pre_len);
                at.push((off, a));
                if hi > lo && b > a {
                    pre_pieces.push((r, a, b - a));
                    off += b - a;
                }
            }
            let mut vals: SmallVec<[Vec<MaybeUninit<T>>; 2]> =
                (0..p.kernel.n_out).map(|_| uninit(off)).collect();
            {
                let mut bufs: SmallVec<[&mut [MaybeUninit<T>]; 2]> =
                    vals.iter_mut().map(|v| &mut v[..]).collect();
                p.kernel
                    .run_pieces(&p.ins, pre_len, &pre_pieces, &mut bufs, None);
            }
            let vals: SmallVec<[Vec<T>; 2]> = vals
                .into_iter()
                .map(|v| {
                    let mut v = std::mem::ManuallyDrop::new(v);
                    // SAFETY: `run_pieces` wrote every element; `MaybeUninit<T>` has `T`'s
                    // layout, so the allocation is a `Vec<T>`'s
                    unsafe {
                        Vec::from_raw_parts(v.as_mut_ptr().cast::<T>(), v.len(), v.capacity())
                    }
                })
                .collect();
            (vals, at)
        });
        let pre_vals = pre_vals.as_ref().map(|(v, at)| PreVals { vals: v, at, r0 });
        let mut compact: SmallVec<[Vec<MaybeUninit<T>>; 2]> =
            (0..self.n_out).map(|_| uninit(total)).collect();
        {
            let mut bufs: SmallVec<[&mut [MaybeUninit<T>]; 2]> =
                compact.iter_mut().map(|v| &mut v[..]).collect();
            self.run_pieces(ins, row, &pieces, &mut bufs, pre_vals.as_ref());
        }
        for (o, c) in outs.iter_mut().zip(&compact) {
            let mut t = 0;
            for &(r, j, l) in &pieces {
                let at = (r - r0) * row + j;
                for (x, y) in o[at..at + l].iter_mut().zip(&c[t..t + l]) {
                    *x = *y;
                }
                t += l;
            }
        }
    }

    /// The outputs (`outs`, compacted) at the positions of `pieces` (row, first column,
    /// columns; rows of length `row`) one after another, over tiles of [`SPAN_TILE`] positions,
    /// every input gathered: under a skip plan the positions computed are a few columns a row,
    /// and a tile per row would cost its setup (the inputs' layouts, the prologue's call,
    /// each instruction's dispatch) once per row. The instructions run unchanged on the same
    /// values as in row mode, so the bits are the same. NOTE: [skip-spans]
    fn run_pieces<T: Float>(
        &self,
        ins: &[Input<'_, T>],
        row: usize,
        pieces: &[Piece],
        outs: &mut [&mut [MaybeUninit<T>]],
        pre: Option<&PreVals<'_, T>>,
    ) {
        let total = outs.first().map_or(0, |o| o.len());
        let n_slots = self.n_reg + ins.len();
        let mut scratch: Vec<MaybeUninit<T>> = Vec::with_capacity(n_slots * SPAN_TILE);
        // SAFETY: the capacity is there, and `MaybeUninit` elements need no initialization
        unsafe { scratch.set_len(n_slots * SPAN_TILE) };
        let mut vals: SmallVec<[Result<T, usize>; 16]> =
            SmallVec::from_elem(Err(0), self.instrs.len());
        let (mut p, mut done) = (0, 0);
        let mut parts: Vec<Part> = Vec::with_capacity(SPAN_TILE);
        let mut t0 = 0;
        while t0 < total {
            let m = SPAN_TILE.min(total - t0);
            // the pieces of this tile: (row, first column, columns, position in the tile)
            parts.clear();
            let mut t = 0;
            while t < m {
                let (r, j, l) = pieces[p];
                let take = (l - done).min(m - t);
                parts.push((r, j + done, take, t));
                t += take;
                done += take;
                if done == l {
                    p += 1;
                    done = 0;
                }
            }
            let mut slots: SmallVec<[&mut [MaybeUninit<T>]; 16]> = SmallVec::new();
            for o in outs.iter_mut() {
                slots.push(&mut o[t0..t0 + m]);
            }
            for r in scratch.chunks_mut(SPAN_TILE) {
                slots.push(&mut r[..m]);
            }
            let mut at: SmallVec<[At<'_, T>; 8]> = SmallVec::new();
            for (i, inp) in ins.iter().enumerate() {
                if let Input::Scalar(c) = inp {
                    at.push(At::C(*c));
                    continue;
                }
                let slot = self.n_out + self.n_reg + i;
                self.gather_parts(inp, row, &parts, slots[slot], pre);
                at.push(At::Slot(slot));
            }
            self.exec(&at, &mut slots, &mut vals);
            t0 += m;
        }
    }

    /// Input `inp` at the positions of `parts` (row, first column, columns, position in the
    /// tile; rows of length `row`), into the tile `dst`.
    fn gather_parts<T: Float>(
        &self,
        inp: &Input<'_, T>,
        row: usize,
        parts: &[Part],
        dst: &mut [MaybeUninit<T>],
        pre: Option<&PreVals<'_, T>>,
    ) {
        match inp {
            Input::Scalar(c) => {
                for x in dst.iter_mut() {
                    x.write(*c);
                }
            }
            Input::Slice(s) => {
                for &(r, j, l, t) in parts {
                    let p = r * row + j;
                    for (x, &v) in dst[t..t + l].iter_mut().zip(&s[p..p + l]) {
                        x.write(v);
                    }
                }
            }
            Input::Periodic(s) => {
                for &(r, j, l, t) in parts {
                    let p = r * row + j;
                    for (k, x) in dst[t..t + l].iter_mut().enumerate() {
                        x.write(s[(p + k) % s.len()]);
                    }
                }
            }
            Input::Column { data, row: n, .. } => {
                for &(r, j, l, t) in parts {
                    let p = r * row + j;
                    for (k, x) in dst[t..t + l].iter_mut().enumerate() {
                        x.write(data[(p + k) / n]);
                    }
                }
            }
            Input::Sparse { rows, .. } => {
                for x in dst.iter_mut() {
                    x.write(T::ZERO);
                }
                for &(r, j, l, t) in parts {
                    let c = rows.cols[r];
                    if c >= j && c < j + l {
                        dst[t + c - j].write(T::from_f64(rows.vals[r]));
                    }
                }
            }
            Input::Strided {
                data,
                offset,
                strides,
                ..
            } => {
                let inner = strides[self.shape.len() - 1];
                for &(r, j, l, t) in parts {
                    let base = row_start(&self.shape, *offset, strides, r) + j as isize * inner;
                    for (k, x) in dst[t..t + l].iter_mut().enumerate() {
                        x.write(data[(base + k as isize * inner) as usize]);
                    }
                }
            }
            Input::Padded {
                data,
                offset,
                shape,
                strides,
                pad,
                ..
            } => {
                for &(r, j, l, t) in parts {
                    let d = &mut dst[t..t + l];
                    let at = (r * row + j, l, row);
                    padded_into(&self.shape, (data, *offset, shape, strides), pad, at, d);
                }
            }
            Input::Pre { k, shape, pad, .. } => {
                // through a pad of step 1 along the rows (as a skip plan requires): column
                // `c` reads the prologue's column `c - start`, or +0
                let pre = pre.expect("the prologue's values");
                let len = shape[shape.len() - 1];
                let vals = &pre.vals[*k];
                for &(r, j, l, t) in parts {
                    let (off, a) = pre.at[r - pre.r0];
                    for (q, x) in dst[t..t + l].iter_mut().enumerate() {
                        x.write(match (j + q).checked_sub(pad.start) {
                            Some(c) if c < len => vals[off + c - a],
                            _ => T::ZERO,
                        });
                    }
                }
            }
            Input::Product { .. } => unreachable!("a skip plan is made only without products"),
        }
    }
}

/// A piece of a tile of compacted positions: row, first column, columns, position in the tile.
type Part = (usize, usize, usize, usize);

/// `n` uninitialized values (to be written before they are read).
fn uninit<T>(n: usize) -> Vec<MaybeUninit<T>> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: the capacity is there, and `MaybeUninit` elements need no initialization
    unsafe { v.set_len(n) };
    v
}

/// A run of positions of a kernel's output: row, first column, number of columns.
type Piece = (usize, usize, usize);

/// Positions per tile of the compacted spans of a skip plan (`run_pieces`).
const SPAN_TILE: usize = 256;

/// A prologue's outputs over the columns a skip plan's spans read (see `run_spans`).
struct PreVals<'a, T> {
    /// Each output, compacted.
    vals: &'a [Vec<T>],
    /// For each row from `r0`: where its columns start in `vals`, and the first column.
    at: &'a [(usize, usize)],
    r0: usize,
}

/// The offset of row `r`'s first element (rows along the last dim of `shape`) of an input
/// with these `strides` (broadcast to `shape`) from `offset`.
fn row_start(shape: &[usize], offset: usize, strides: &[isize], mut r: usize) -> isize {
    let mut base = offset as isize;
    for d in (0..shape.len() - 1).rev() {
        base += (r % shape[d]) as isize * strides[d];
        r /= shape[d];
    }
    base
}

/// Repetitions shorter than this are gathered instead (tiles as short as a repetition would
/// cost more than the copy).
const PERIOD_MIN: usize = 256;

/// If `a` (not contiguous) repeats a contiguous block along its leading dims (strides 0 there,
/// row-major after them), that block.
fn leading_block<T: Float>(a: &Array) -> Option<&[T]> {
    let v = a.v::<T>();
    let nd = v.shape.len();
    let p = (0..nd)
        .find(|&d| v.strides[d] != 0 && v.shape[d] != 1)
        .unwrap_or(nd);
    if p == 0 {
        return None;
    }
    let mut len = 1usize;
    for d in (p..nd).rev() {
        if v.shape[d] != 1 && v.strides[d] != len as isize {
            return None;
        }
        len *= v.shape[d];
    }
    v.data.get(v.offset..v.offset + len)
}

/// If `a` (broadcast to the output shape) repeats each element along the last dim and is
/// row-major over the others, its elements (one a row) and the row length.
fn column<T: Float>(a: &Array) -> Option<(&[T], usize)> {
    let v = a.v::<T>();
    let (&row, lead) = v.shape.split_last()?;
    if row < 2 || v.strides.last() != Some(&0) {
        return None;
    }
    let mut len = 1usize;
    for (&d, &s) in lead.iter().zip(v.strides.iter()).rev() {
        if d != 1 && s != len as isize {
            return None;
        }
        len *= d;
    }
    Some((v.data.get(v.offset..v.offset + len)?, row))
}

/// If `a` is contiguous and only repeated along leading dims of `shape` (its shape, without
/// leading 1s, is a suffix of `shape`), its elements: read as [`Input::Periodic`].
fn periodic<'a, T: Float>(a: &'a Array, shape: &[usize]) -> Option<&'a [T]> {
    let own = a.shape();
    let own = &own[own.iter().take_while(|&&d| d == 1).count()..];
    if a.numel() < PERIOD_MIN || own.len() > shape.len() || !shape.ends_with(own) {
        return None;
    }
    a.v::<T>().contiguous()
}

/// A padded input over the tile of `m` positions from `pos` (within one row of length `row`):
/// a slice of the input's row, zero, or (where the tile straddles the padding or the input is
/// strided along the row) gathered into `slot` (returned as `At::Slot(0)`: the caller knows
/// which slot).
#[inline(always)]
fn padded<'a, T: Float>(
    out_shape: &[usize],
    (data, offset, shape, strides): (&'a [T], usize, &[usize], &[isize]),
    pad: &PadSpec,
    (pos, m, row): (usize, usize, usize),
    slot: &mut [MaybeUninit<T>],
) -> At<'a, T> {
    let last = out_shape.len() - 1;
    let (mut r, j) = (pos / row, pos % row);
    let mut base = offset as isize;
    for d in (0..last).rev() {
        let i = r % out_shape[d];
        r /= out_shape[d];
        let i = if d == pad.dim {
            match pad.source(i, shape[d]) {
                Some(k) => k,
                None => return At::C(T::ZERO),
            }
        } else {
            i
        };
        base += i as isize * strides[d];
    }
    let inner = strides[last];
    if pad.dim != last {
        let first = (base + j as isize * inner) as usize;
        return match inner {
            1 => At::S(&data[first..first + m]),
            0 => At::C(data[first]),
            _ => {
                for (t, x) in slot.iter_mut().enumerate() {
                    x.write(data[(first as isize + t as isize * inner) as usize]);
                }
                At::Slot(0)
            }
        };
    }
    let len = shape[last];
    if pad.step == 1 && inner == 1 {
        let (lo, hi) = (pad.start, pad.start + len);
        if j >= lo && j + m <= hi {
            let first = base as usize + (j - lo);
            return At::S(&data[first..first + m]);
        }
        if j + m <= lo || j >= hi {
            return At::C(T::ZERO);
        }
    }
    for x in slot.iter_mut() {
        x.write(T::ZERO);
    }
    // the input positions k whose column start + k·step falls in j..j + m
    let mut k = j.saturating_sub(pad.start).div_ceil(pad.step);
    let mut col = pad.start + k * pad.step;
    while col < j + m && k < len {
        slot[col - j].write(data[(base + k as isize * inner) as usize]);
        k += 1;
        col += pad.step;
    }
    At::Slot(0)
}

/// [`padded`] written into `dst` (the positions `at` of the output, `dst.len()` of them), in
/// place or not.
#[inline(always)]
fn padded_into<T: Float>(
    out_shape: &[usize],
    src: (&[T], usize, &[usize], &[isize]),
    pad: &PadSpec,
    at: (usize, usize, usize),
    dst: &mut [MaybeUninit<T>],
) {
    match padded(out_shape, src, pad, at, dst) {
        At::S(s) => {
            for (x, &v) in dst.iter_mut().zip(s) {
                x.write(v);
            }
        }
        At::C(c) => {
            for x in dst.iter_mut() {
                x.write(c);
            }
        }
        At::Slot(_) => {}
    }
}

/// `s` as initialized values.
///
/// # Safety
/// Every element of `s` has been written.
unsafe fn init<T>(s: &[MaybeUninit<T>]) -> &[T] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and the caller guarantees initialization
    unsafe { &*(s as *const [MaybeUninit<T>] as *const [T]) }
}

/// Copy positions `pos..pos + dst.len()` of a strided input into `dst`.
fn gather<T: Copy>(
    data: &[T],
    offset: usize,
    plan: &Plan<1>,
    pos: usize,
    dst: &mut [MaybeUninit<T>],
) {
    let [inner] = plan.inner();
    let mut at = 0;
    plan.rows([offset], pos, dst.len(), |[o], l| {
        let d = &mut dst[at..at + l];
        match inner {
            1 => {
                for (x, &v) in d.iter_mut().zip(&data[o..o + l]) {
                    x.write(v);
                }
            }
            0 => {
                let v = data[o];
                for x in d.iter_mut() {
                    x.write(v);
                }
            }
            s => {
                for (t, x) in d.iter_mut().enumerate() {
                    x.write(data[(o as isize + t as isize * s) as usize]);
                }
            }
        }
        at += l;
    });
}

/// Apply a unary op to a tile (into `out`, returning `None`) or to a scalar (returning it).
pub(super) fn unary<T: Float>(op: UnaryOp, x: Arg<'_, T>, out: &mut [MaybeUninit<T>]) -> Option<T> {
    match x {
        Arg::S(s) => {
            match vector_kernel::<T>(op) {
                Some(k) => k(s, out),
                None => op.visit(Map { x: s, out }),
            }
            None
        }
        Arg::C(c) => {
            let mut o = [MaybeUninit::uninit()];
            unary(op, Arg::S(&[c]), &mut o);
            // SAFETY: written by the call above
            Some(unsafe { o[0].assume_init() })
        }
    }
}

/// `out[t] = f(x[t])`.
struct Map<'a, 'b, T> {
    x: &'a [T],
    out: &'b mut [MaybeUninit<T>],
}

impl<T: Float> ScalarFn<T> for Map<'_, '_, T> {
    type Out = ();
    fn visit(self, f: impl Fn(T) -> T + Copy) {
        map_run(self.x, self.out, &f)
    }
}

/// `out[t] = f(a[t], b[t])`, either operand possibly a scalar; `Some` if both are.
pub(super) struct Zip<'a, 'b, T> {
    pub(super) a: Arg<'a, T>,
    pub(super) b: Arg<'a, T>,
    pub(super) out: &'b mut [MaybeUninit<T>],
}

impl<T: Float> ScalarFn2<T> for Zip<'_, '_, T> {
    type Out = Option<T>;
    fn visit(self, f: impl Fn(T, T) -> T + Copy) -> Option<T> {
        match (self.a, self.b) {
            (Arg::C(x), Arg::C(y)) => return Some(f(x, y)),
            (Arg::S(x), Arg::S(y)) => zip_run(x, y, self.out, &f),
            (Arg::S(x), Arg::C(y)) => map_run(x, self.out, &move |v| f(v, y)),
            (Arg::C(x), Arg::S(y)) => map_run(y, self.out, &move |v| f(x, v)),
        }
        None
    }
}

#[inline(always)]
fn map_chunk<T: Copy>(x: &[T], out: &mut [MaybeUninit<T>], f: &impl Fn(T) -> T) {
    for (o, &i) in out.iter_mut().zip(x) {
        o.write(f(i));
    }
}

#[inline(always)]
fn zip_chunk<T: Copy>(a: &[T], b: &[T], out: &mut [MaybeUninit<T>], f: &impl Fn(T, T) -> T) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        o.write(f(x, y));
    }
}

// The loops compiled for AVX2 + FMA, as eager's (`kernels::strided`): the same IEEE operations
// in wider registers, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_chunk_avx2<T: Copy>(x: &[T], out: &mut [MaybeUninit<T>], f: &impl Fn(T) -> T) {
    map_chunk(x, out, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn zip_chunk_avx2<T: Copy>(
    a: &[T],
    b: &[T],
    out: &mut [MaybeUninit<T>],
    f: &impl Fn(T, T) -> T,
) {
    zip_chunk(a, b, out, f)
}

#[inline(always)]
fn map_run<T: Copy>(x: &[T], out: &mut [MaybeUninit<T>], f: &impl Fn(T) -> T) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::simd() {
        // SAFETY: the features were detected
        return unsafe { map_chunk_avx2(x, out, f) };
    }
    map_chunk(x, out, f)
}

#[inline(always)]
fn zip_run<T: Copy>(a: &[T], b: &[T], out: &mut [MaybeUninit<T>], f: &impl Fn(T, T) -> T) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::simd() {
        // SAFETY: the features were detected
        return unsafe { zip_chunk_avx2(a, b, out, f) };
    }
    zip_chunk(a, b, out, f)
}

/// The value every element of `t` holds, bit for bit, if they all hold the same one (a row
/// that a fill can write).
fn uniform<T: Float>(t: &[T]) -> Option<T> {
    let first = *t.first()?;
    let size = std::mem::size_of::<T>();
    // SAFETY: `Float` is sealed to f32 and f64, which have no padding, so every byte of `t`
    // is initialized
    let bytes =
        unsafe { std::slice::from_raw_parts(t.as_ptr().cast::<u8>(), std::mem::size_of_val(t)) };
    let head = &bytes[..size];
    bytes.chunks_exact(size).all(|c| c == head).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::uniform;

    #[test]
    fn uniform_rows_compare_bits() {
        assert_eq!(uniform::<f64>(&[]), None);
        assert_eq!(uniform(&[0.0f64; 9]), Some(0.0));
        assert_eq!(uniform(&[2.5f32; 3]), Some(2.5));
        // -0.0 == 0.0, but a fill of the first would change the second's bits
        assert_eq!(uniform(&[0.0f64, -0.0]), None);
        assert_eq!(uniform(&[1.0f32, 1.0, 1.0 + f32::EPSILON]), None);
        let nan = uniform(&[f64::NAN; 4]).expect("one NaN throughout");
        assert_eq!(nan.to_bits(), f64::NAN.to_bits());
    }
}
