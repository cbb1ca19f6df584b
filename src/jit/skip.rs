//! Skipping the zeros of standard bases: a fused kernel (with its prologue) that reads constants
//! with at most one nonzero a row (`SparseRows`) computes, in each row, only the columns near
//! those nonzeros, and writes a constant everywhere else, when that constant is provably what
//! every instruction would compute there, bit for bit.
//!
//! The proof is an abstract evaluation of the kernel at compile time, over the positions where
//! every sparse input is +0.0 (exactly: `SparseRows` admits no -0.0), every other input is
//! finite (checked at run time, per buffer and cached; a NaN or an infinity anywhere runs the
//! kernel in full), and each value read from the prologue through a pad is the prologue's
//! abstract value there or the pad's +0.0. Its values are exact numbers, "a zero of either
//! sign", "finite" or "anything"; the rules are IEEE facts only: `±0 · finite = ±0`,
//! `+0 + ±0 = +0`, `c + ±0 = c` for a nonzero `c`, `-(±0) = ∓0`, `(±0)² = +0`, `|±0| = +0`,
//! and an operation on exact numbers is the kernel's own function applied to them. So a
//! zero's sign may be unknown in the middle of a chain (Rosenbrock's `0 · x` for an `x` of
//! either sign) as long as the chain ends in a value whose bits do not depend on it (`+0 + ±0`).
//! Nothing is reassociated: the columns that are computed run the kernel's instructions
//! unchanged.
//!
//! Where no such constant exists (`0 · x` ends a chain: its sign is `x`'s), a kernel without
//! pads or prologue whose other inputs are all broadcast along the rows still skips: each row's
//! skipped columns are then one *template row*, the kernel evaluated once per call over a row
//! where every sparse input is +0.0 (its instructions on the same values, so the same bits).
//! The broadcasts are checked at run time; no input need be finite. Hessians of separable
//! functions (`Σ sin xᵢ`: the diagonal times a vector) take this form.
//!
//! NOTE: [skip-spans] A plan's computed columns are a few a row (three for Rosenbrock's band,
//! one for a diagonal), so the kernel does not run them row by row: each chunk of rows is
//! first filled with the constants (one fill) or the template row (one copy a row), then the
//! spans of all its rows are computed together as one stream of positions over tiles (every
//! input, and the prologue over the columns the spans read through its pads, gathered at
//! those positions), and scattered into the rows. A tile a row cost its setup (classifying
//! reads, the prologue's call, an instruction dispatch per op) a thousand times a call for an
//! n = 1000 Hessian, a third of Rosenbrock's time; the stream pays it once per 256 positions.
//! The instructions are the same, on the same values, so the bits are too.

use super::tile::{Arg, Code, Kernel, ROW_MIN, Src, Zip, unary};
use crate::array::{Float, numel};
use crate::dtype::DType;
use crate::prims::binary::BinaryOp;
use crate::prims::unary::UnaryOp;

/// Where a fused kernel's rows are computed (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Skip {
    /// For each row of the output (along its last dim), the columns `lo..hi` that are computed.
    pub(crate) spans: Vec<(u32, u32)>,
    /// Each output's value outside the spans (a finite value of the kernel's dtype, as f64);
    /// empty when they come from the template row instead (`template`).
    pub(crate) consts: Vec<f64>,
    /// Whether the values outside the spans are a template row computed on each call (see the
    /// module docs): every input but the sparse ones must then be broadcast along the rows.
    pub(crate) template: bool,
    /// The smallest and largest start of the pads through which the kernel reads its
    /// prologue (all of step 1): a tile of columns `j..j + m` reads the prologue's columns
    /// `j - max..j + m - min`.
    pub(crate) pre_starts: (usize, usize),
}

/// An abstract value: the set of values an instruction can have at a skipped position.
#[derive(Clone, Copy, Debug)]
enum Lat {
    /// Exactly this value (of the kernel's dtype, held as f64).
    Val(f64),
    /// +0.0 or -0.0.
    Zero,
    /// Any finite value.
    Finite,
    /// Anything.
    Any,
}

use Lat::*;

impl PartialEq for Lat {
    /// Exact values compare by their bits (+0 and -0 differ).
    fn eq(&self, other: &Lat) -> bool {
        match (self, other) {
            (Val(a), Val(b)) => a.to_bits() == b.to_bits(),
            (Zero, Zero) | (Finite, Finite) | (Any, Any) => true,
            _ => false,
        }
    }
}

fn zeroish(a: Lat) -> bool {
    match a {
        Zero => true,
        Val(v) => v == 0.0,
        _ => false,
    }
}

fn finiteish(a: Lat) -> bool {
    match a {
        Zero | Finite => true,
        Val(v) => v.is_finite(),
        Any => false,
    }
}

fn pos_zero(a: Lat) -> bool {
    matches!(a, Val(v) if v == 0.0 && v.is_sign_positive())
}

/// The smallest abstract value holding both.
fn join(a: Lat, b: Lat) -> Lat {
    if a == b {
        a
    } else if zeroish(a) && zeroish(b) {
        Zero
    } else if finiteish(a) && finiteish(b) {
        Finite
    } else {
        Any
    }
}

fn neg(a: Lat) -> Lat {
    match a {
        Val(v) => Val(-v),
        a => a,
    }
}

/// `a + b`, not both exact.
fn add(a: Lat, b: Lat) -> Lat {
    if zeroish(a) && zeroish(b) {
        // round to nearest: +0 + ±0 = +0, -0 + -0 = -0
        if pos_zero(a) || pos_zero(b) {
            Val(0.0)
        } else {
            Zero
        }
    } else if zeroish(a) && finiteish(b) {
        // c + ±0 = c for c ≠ 0; a finite value plus a zero is finite
        match b {
            Val(c) => Val(c),
            _ => Finite,
        }
    } else if finiteish(a) && zeroish(b) {
        add(b, a)
    } else {
        Any
    }
}

fn un<T: Float>(op: UnaryOp, a: Lat) -> Lat {
    if let Val(v) = a {
        let y = unary(op, Arg::C(T::from_f64(v)), &mut []).expect("a scalar operand");
        return Val(y.to_f64());
    }
    match (op, a) {
        (UnaryOp::Neg, a) => neg(a),
        (UnaryOp::Abs, Finite) => Finite,
        (UnaryOp::Abs | UnaryOp::Square, Zero) => Val(0.0),
        (UnaryOp::MulScalar(c), Zero) if T::from_f64(c.0).to_f64().is_finite() => Zero,
        (UnaryOp::AddScalar(c), Zero) => {
            let c = T::from_f64(c.0).to_f64();
            if !c.is_finite() {
                Any
            } else if c != 0.0 {
                Val(c)
            } else if c.is_sign_positive() {
                Val(0.0)
            } else {
                Zero
            }
        }
        _ => Any,
    }
}

fn bin<T: Float>(op: BinaryOp, a: Lat, b: Lat) -> Lat {
    if let (Val(x), Val(y)) = (a, b) {
        let y = op
            .visit(Zip {
                a: Arg::C(T::from_f64(x)),
                b: Arg::C(T::from_f64(y)),
                out: &mut [],
            })
            .expect("scalar operands");
        return Val(y.to_f64());
    }
    match op {
        BinaryOp::Mul if (zeroish(a) && finiteish(b)) || (finiteish(a) && zeroish(b)) => Zero,
        BinaryOp::Add => add(a, b),
        // IEEE: a - b is a + (-b), signed zeros included
        BinaryOp::Sub => add(a, neg(b)),
        BinaryOp::Div if zeroish(a) && matches!(b, Val(y) if y != 0.0 && y.is_finite()) => Zero,
        _ => Any,
    }
}

/// The abstract value of each of `k`'s outputs, given its inputs'.
fn outputs<T: Float>(k: &Kernel, ins: &[Lat]) -> Vec<Lat> {
    let mut vals: Vec<Lat> = Vec::with_capacity(k.instrs.len());
    let mut outs = vec![Any; k.n_out];
    for i in &k.instrs {
        let arg = |s: Src| match s {
            Src::In(j) => ins[j],
            Src::Val(j) => vals[j],
        };
        let v = match i.code {
            Code::Un(op) => un::<T>(op, arg(i.args[0])),
            Code::Bin(op) => bin::<T>(op, arg(i.args[0]), arg(i.args[1])),
        };
        vals.push(v);
        if i.dst < k.n_out {
            outs[i.dst] = v;
        }
    }
    outs
}

impl Skip {
    /// The plan for `k` (its prologue merged), if it reads sparse constants, its outputs are
    /// provably constant away from their nonzeros, and those columns are few (at most a quarter
    /// of the output).
    pub(crate) fn plan(k: &Kernel) -> Option<Skip> {
        match k.dtype {
            DType::F32 => Skip::plan_typed::<f32>(k),
            DType::F64 => Skip::plan_typed::<f64>(k),
            _ => None,
        }
    }

    fn plan_typed<T: Float>(k: &Kernel) -> Option<Skip> {
        let row = *k.shape.last()?;
        if k.shape.len() < 2 || row < ROW_MIN || row > u32::MAX as usize {
            return None;
        }
        let pre_sparse = k
            .pre
            .as_ref()
            .is_some_and(|p| p.sparse.iter().any(Option::is_some));
        if !pre_sparse && k.sparse.iter().all(Option::is_none) {
            return None;
        }
        // a product read in sparse form may hold anything where it is not +0
        let products = |k: &Kernel| k.products.iter().any(Option::is_some);
        if products(k) || k.pre.as_deref().is_some_and(products) {
            return None;
        }
        let pre_outs = match &k.pre {
            Some(p) => {
                let ins: Vec<Lat> = (p.sparse.iter())
                    .map(|s| if s.is_some() { Val(0.0) } else { Finite })
                    .collect();
                outputs::<T>(p, &ins)
            }
            None => Vec::new(),
        };
        let mut starts: Vec<usize> = Vec::new();
        let mut ins = Vec::with_capacity(k.n_in);
        for i in 0..k.n_in {
            ins.push(match (k.pre_of[i], &k.sparse[i]) {
                (Some(o), _) => {
                    let pad = k.pads[i]?;
                    if pad.step != 1 || pad.dim + 1 != k.shape.len() {
                        return None;
                    }
                    starts.push(pad.start);
                    // the prologue's value, or the pad's +0 where it pads
                    join(pre_outs[o], Val(0.0))
                }
                (None, Some(_)) => Val(0.0),
                (None, None) => Finite,
            });
        }
        let consts = outputs::<T>(k, &ins)
            .into_iter()
            .map(|v| match v {
                Val(c) if c.is_finite() => Some(c),
                _ => None,
            })
            .collect::<Option<Vec<f64>>>();
        // no constants: a template row, where the kernel reads nothing through pads
        let template = consts.is_none();
        if template && (k.pre.is_some() || k.pads.iter().any(Option::is_some)) {
            return None;
        }
        let consts = consts.unwrap_or_default();
        // the columns each row computes: every column where a sparse input has its nonzero
        let rows = numel(&k.shape) / row;
        let mut spans = vec![(u32::MAX, 0u32); rows];
        let mut mark = |r: usize, c: usize| {
            if c < row {
                let s = &mut spans[r];
                s.0 = s.0.min(c as u32);
                s.1 = s.1.max(c as u32 + 1);
            }
        };
        for sp in k.sparse.iter().flatten() {
            for (r, c) in sp.nonzero_cols() {
                mark(r, c);
            }
        }
        if let Some(p) = &k.pre {
            for sp in p.sparse.iter().flatten() {
                for (r, c) in sp.nonzero_cols() {
                    for &s in &starts {
                        mark(r, c + s);
                    }
                }
            }
        }
        let mut computed = 0;
        for s in &mut spans {
            if s.0 >= s.1 {
                *s = (0, 0);
            }
            computed += (s.1 - s.0) as usize;
        }
        if computed * 4 > rows * row {
            return None;
        }
        let pre_starts = (
            starts.iter().copied().min().unwrap_or(0),
            starts.iter().copied().max().unwrap_or(0),
        );
        Some(Skip {
            spans,
            consts,
            template,
            pre_starts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_of_either_sign_are_tracked_exactly() {
        // +0 + ±0 = +0; -0 + -0 may stay -0; 0 · finite is a zero of unknown sign
        assert_eq!(add(Val(0.0), Zero), Val(0.0));
        assert_eq!(add(Zero, Val(-0.0)), Zero);
        assert_eq!(add(Zero, Val(2.5)), Val(2.5));
        assert_eq!(add(Zero, Finite), Finite);
        assert_eq!(add(Finite, Finite), Any);
        assert_eq!(bin::<f64>(BinaryOp::Mul, Val(0.0), Finite), Zero);
        assert_eq!(bin::<f64>(BinaryOp::Mul, Val(0.0), Any), Any);
        assert_eq!(bin::<f64>(BinaryOp::Mul, Finite, Finite), Any);
        // +0 - ±0 = +0, and -0 - +0 = -0
        assert_eq!(bin::<f64>(BinaryOp::Sub, Val(0.0), Zero), Val(0.0));
        assert_eq!(bin::<f64>(BinaryOp::Sub, Zero, Val(0.0)), Zero);
        assert_eq!(bin::<f64>(BinaryOp::Sub, Zero, Val(-0.0)), Val(0.0));
        // exact values go through the kernels' own functions
        let v = bin::<f64>(BinaryOp::Sub, Val(-0.0), Val(0.0));
        assert!(matches!(v, Val(x) if x == 0.0 && x.is_sign_negative()));
        assert_eq!(un::<f32>(UnaryOp::Square, Val(3.0)), Val(9.0));
        assert_eq!(un::<f64>(UnaryOp::Square, Zero), Val(0.0));
        assert_eq!(un::<f64>(UnaryOp::Sin, Zero), Any);
        let big = crate::prims::Bits(1e300);
        // f32: 1e300 is infinite, and ∞ · 0 is NaN
        assert_eq!(un::<f32>(UnaryOp::MulScalar(big), Zero), Any);
        assert_eq!(un::<f64>(UnaryOp::MulScalar(big), Zero), Zero);
        assert_eq!(
            un::<f64>(UnaryOp::AddScalar(crate::prims::Bits(-0.0)), Zero),
            Zero
        );
        assert_eq!(
            un::<f64>(UnaryOp::AddScalar(crate::prims::Bits(0.0)), Zero),
            Val(0.0)
        );
        assert_eq!(join(Val(0.0), Zero), Zero);
        assert_eq!(join(Val(1.0), Val(0.0)), Finite);
    }
}
