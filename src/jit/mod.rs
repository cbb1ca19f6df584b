//! Compiled mode: the graphs the staging interpreter records (`core::stage`, `NOTE: [staging]`),
//! the passes that simplify them, and the executor that replays them.
//!
//! A [`Program`] is an optimized graph plus two ways to replay it:
//!
//! - **On concrete inputs** (the usual case: `jit(hessian(f))` called on tensors), it runs a
//!   list of steps (`fuse`) on arrays directly: each primitive's kernel (what `bind` would call
//!   on concrete operands, without tensor handles, validation, rules or tracers), and *fused
//!   kernels* (`tile`) for the runs of elementwise float equations of one shape, which make
//!   one pass over tiles of the output, with no intermediate arrays, on all cores for large
//!   outputs. A fused run whose outputs only one later fused run reads, through pads along the
//!   rows (the gradients of `x[1:]` and `x[:-1]` added), becomes that run's *prologue*: it is
//!   computed a row at a time into row buffers just before the row that reads it, so its
//!   outputs are never materialized. A replay holds only the values the steps materialize, each freed after its last
//!   reader.
//! - **On concrete inputs, when every value is tiny** (at most `small::SMALL_VALUE` elements,
//!   one float dtype; a Hessian of a few variables), it runs a *small program* (`small`)
//!   instead: every value has a fixed place in one buffer kept between calls (so a replay
//!   allocates only its outputs), views and other data movement are index maps computed at
//!   compile time (a contiguous one is an alias: nothing runs; chains of them fold into one
//!   gather), and elementwise ops run on slices of that buffer with no per-step allocation.
//! - **Under running transforms** (`grad(jit(f))`, `vmap(jit(f))`, a jit inside another's
//!   trace), or when the graph has a random draw (which must reach the running levels through
//!   `bind`), it binds each equation of the (unfused) optimized graph, so each goes through the
//!   transforms' rules as it would eagerly: a compiled function composes with every transform.
//!   (Once a signature is compiled, a call under transforms binds it as one primitive with
//!   compiled rules instead, where it can: `NOTE: [jit-call]` in `transforms::jit_call`.)
//!
//! Which rewrites can change results: **none**, bit for bit (except for the payload of a
//! signaling NaN, which arithmetic quiets). Dead-code elimination drops equations whose values
//! nothing reads (but never a random draw, whose generator state later draws depend on);
//! common-subexpression elimination merges equations that apply an equal primitive to the same
//! inputs (random draws excepted); the algebraic rewrites are exact (`x · 1 = x` against a
//! constant of ones, as eager's `mul` already returns `x` itself against a broadcast one; no
//! `x + 0`, which would turn -0 into +0; `-(-x) = x`; a view to the shape its input has).
//! Fusion changes no arithmetic: each fused instruction runs the kernel eager evaluation runs
//! for that op (the same vectorized `kernels::math` functions for the transcendental ops, the
//! same scalar function for the rest), element by element in the same order of operations, so
//! a fused chain equals the chain run op by op. Its other rewrites only change where operands
//! are read from: a broadcast operand is read through zero strides, a pad read by elementwise
//! equations is a guarded load that gives +0.0 where the pad writes it, and a constant with at
//! most one nonzero a row (a standard basis and its slices and multiples; zeros that are -0.0
//! disqualify it) is generated tile by tile from its nonzeros instead of read, and an operand
//! repeated along leading dims is read in place, one repetition at a time. A small program's
//! rewrites are of the same kind: its index maps are computed by each data-movement
//! primitive's own kernel (so the same elements land in the same places, and the same +0.0
//! where a pad writes zeros), an operand of one element is read as a scalar, and every other
//! primitive runs its own kernel. No fused reduction reassociates a sum: reductions are not
//! fused, so no rewrite can change a result's bits. Where a fused kernel reads constants with
//! one nonzero a row (a standard basis), the columns away from the nonzeros are written as a
//! constant only where an abstract evaluation proves that every instruction gives that
//! constant's bits there, signed zeros included, given inputs checked finite on that call
//! (`skip`); or, where the other inputs are all broadcast along the rows, as one template row:
//! the kernel's own instructions run once per call where the basis is +0.0. The columns that
//! are computed (a few a row) run as one stream of positions over tiles, not a tile a row
//! (`NOTE: [skip-spans]`).
//!
//! Two rewrites of matrix products depend on the operands' values, so each is checked on every
//! call, before the step that relies on it, and a call where a check fails runs the steps of
//! the graph without them (`Program::fallback`) from the start: a product by a constant
//! standard basis (a batch of matrices with few nonzeros: a Hessian's one-hot tangents), read
//! only by elementwise equations, is generated tile by tile inside their fused kernel from its
//! left operand and the basis's nonzeros (found at compile time), exactly as eager's sparse
//! route sums it, when that operand is all finite (`tile::SparseProduct`); and a product with
//! k = 1 (an outer product) read only by elementwise equations is fused into their kernel as
//! the broadcast multiply it is, when no operand is sparse enough for eager to take its sparse
//! route instead (`fuse::outer_products`). Neither product is materialized. An elementwise
//! value of a product read in sparse form that a matrix product reads (so it is materialized)
//! is computed again by the later fused kernels that read it rather than read from memory
//! (`fuse::recompute`): the same instruction on the same operands, so the same bits.

mod display;
mod fuse;
mod passes;
mod skip;
mod small;
mod tile;

pub(crate) use passes::optimize;

use crate::array::pool::{Usage, credit, fallible, hand_over, measure};
use crate::array::{Array, numel};
use crate::core::stage::{Atom, Graph};
use crate::core::{PrimKind, Tensor, bind};
use crate::dtype::DType;
use crate::error::Result;
use crate::kernels::matmul::outer_is_products;
use fuse::Step;
use rayon::prelude::*;
use small::SmallProgram;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, Ordering};

/// A graph ready to replay.
pub(crate) struct Program {
    pub(crate) graph: Graph,
    /// For each equation, the equations whose values are read for the last time by it (their
    /// buffers are released right after it runs, so replay holds only live values).
    free_after: Vec<SmallVec<[usize; 2]>>,
    /// The steps that run the graph on concrete arrays (elementwise runs fused), if the graph
    /// can run that way: it has no random draw (which must go through `bind`, where a running
    /// transform decides how it draws) and its constants are concrete.
    steps: Option<Plan>,
    /// When `steps` rewrote products whose exactness depends on their operands' values (see
    /// `fuse::outer_products`), the steps of the graph as it is, run when a check fails.
    fallback: Option<Plan>,
    /// The graph as a small program (`small`), if all its values are tiny: replays on concrete
    /// inputs run it instead of the steps.
    small: Option<SmallProgram>,
    /// Some step is large enough to be split over the cores ([`splits_over_cores`]) and none
    /// is a custom call: the steps run on a rayon worker (`NOTE: [jit-on-workers]`); otherwise
    /// on the calling thread.
    parallel: bool,
}

/// Whether some equation of `g` is large enough that its kernel splits its work over the
/// cores: a value read or written of at least `strided::PAR_MIN` elements (elementwise kernels,
/// reductions), or a product of at least `matmul::PARALLEL` multiply-adds. Programs without
/// one run on the calling thread: handing them to a worker and back (a wake-up of each
/// thread) costs more than they do (`NOTE: [jit-on-workers]`).
fn splits_over_cores(g: &Graph) -> bool {
    let par_min = crate::kernels::strided::PAR_MIN;
    g.eqns.iter().any(|e| {
        multiply_adds(g, e) >= crate::kernels::matmul::PARALLEL
            || numel(&e.shape) >= par_min
            || e.ins.iter().any(|a| numel(g.shape(*a)) >= par_min)
    })
}

/// The multiply-adds of `e` if it is a matrix product (its output's elements times the
/// depth, the left operand's last dim), else 0.
fn multiply_adds(g: &Graph, e: &crate::core::stage::Eqn) -> usize {
    if !e.prim.as_any().is::<crate::prims::matmul::MatMul>() {
        return 0;
    }
    let depth = e.ins.first().and_then(|a| g.shape(*a).last().copied());
    numel(&e.shape).saturating_mul(depth.unwrap_or(1))
}

/// A condition on values, checked on every call, under which a rewritten step gives eager's
/// bits (else the program runs its `fallback` steps).
#[derive(Clone, Copy, Debug)]
enum Guard {
    /// The product with k = 1 of these operands, computed as a broadcast multiply, is what
    /// eager's product computes (`kernels::matmul::outer_is_products`).
    Outer([Atom; 2]),
    /// The left operand of a product read in sparse form (`tile::SparseProduct`) is all finite.
    Finite(Atom),
}

/// Steps that run a graph on concrete arrays, and where their values live.
struct Plan {
    steps: Vec<Step>,
    /// For each step, the slots of the values read for the last time by it.
    step_free: Vec<SmallVec<[usize; 2]>>,
    /// The slot of each variable the steps write (values fused away have none), and the
    /// number of slots: a replay holds its values in a vector of that size.
    slot: Vec<usize>,
    n_slots: usize,
    /// For each step, what must hold of its operands for its rewrites to give eager's bits,
    /// checked before it runs.
    guards: Vec<SmallVec<[Guard; 1]>>,
    /// The graph the steps were built from, when rewritten (`fuse::recompute`,
    /// `fuse::outer_products`: its values may be numbered differently), and the products with
    /// k = 1 rewritten as multiplies.
    rewritten: Option<Graph>,
    outer: Vec<usize>,
    /// The steps in runs (covering them all, in order) that run together: a run of several
    /// steps reads nothing another of them writes and has at least two heavy ones (`NOTE:
    /// [jit-waves]`); every other step is a run of its own.
    waves: Vec<std::ops::Range<usize>>,
}

impl Plan {
    /// The steps of `graph` with their buffer plan; with `rewrite`, the rewrites that depend on
    /// values (guarded) too.
    fn new(graph: &Graph, rewrite: bool) -> Plan {
        let copies = if rewrite {
            fuse::recompute(graph)
        } else {
            None
        };
        let g0 = copies.as_ref().unwrap_or(graph);
        let outer = if rewrite {
            fuse::outer_products(g0)
        } else {
            None
        };
        let (rewritten, outer) = match outer {
            Some((g, ys)) => (Some(g), ys),
            None => (copies, Vec::new()),
        };
        let g = rewritten.as_ref().unwrap_or(graph);
        let n = g.eqns.len();
        let steps = views_early(g, fuse::steps(g, rewrite));
        let step_free = last_reads(
            n,
            &g.outs,
            steps.iter().map(|s| s.ins()),
            steps.iter().map(|s| SmallVec::from_slice(s.outs())),
        );
        let mut slot = vec![usize::MAX; n];
        let mut n_slots = 0;
        for s in &steps {
            for &o in s.outs() {
                slot[o] = n_slots;
                n_slots += 1;
            }
        }
        let step_free = step_free
            .into_iter()
            .map(|vs| vs.into_iter().map(|v| slot[v]).collect())
            .collect();
        let guards: Vec<SmallVec<[Guard; 1]>> = steps
            .iter()
            .map(|s| {
                let computes = |y: usize| match s {
                    Step::Eval { out, .. } => *out == y,
                    Step::Fused { members, .. } => members.contains(&y),
                };
                let outers = (outer.iter())
                    .filter(|&&y| computes(y))
                    .map(|&y| Guard::Outer([g.eqns[y].ins[0], g.eqns[y].ins[1]]));
                let products = match s {
                    Step::Fused { kernel, ins, .. } => {
                        let own = (kernel.products.iter().zip(&kernel.pre_of))
                            .filter(|(_, pre)| pre.is_none())
                            .map(|(p, _)| p);
                        let pre = kernel.pre.iter().flat_map(|p| &p.products);
                        (ins.iter().zip(own.chain(pre)))
                            .filter(|(_, p)| p.is_some())
                            .map(|(a, _)| Guard::Finite(*a))
                            .collect()
                    }
                    Step::Eval { .. } => Vec::new(),
                };
                outers.chain(products).collect()
            })
            .collect();
        let waves = waves(g, &steps, &guards);
        Plan {
            steps,
            step_free,
            slot,
            n_slots,
            guards,
            rewritten,
            outer,
            waves,
        }
    }
}

// NOTE: [jit-waves]
// Independent heavy steps run at the same time, on the rayon workers the steps already run on
// (`NOTE: [jit-on-workers]`). Each kernel splits its own work over the cores where it is large
// enough, but a product of an MLP's layer (256 × 128 × 10: 13 µs on one core) split in two
// pays a hand-off and a join for 6 µs of work a thread, and a Hessian-vector product of an MLP
// runs eleven of them, in groups that read nothing of each other (the products of a layer's
// tangent and of its primal; the three products of the backward pass of a layer). So a run of
// consecutive steps that reads nothing another of them writes, with at least two heavy steps
// (`heavy`), runs as one parallel loop over its steps, whose kernels split their own work
// inside it as before: one join a run instead of one a step, and steps too small to split run
// side by side. Views (`views_early`) move up to just after the steps that write their
// operands, so that a view between two products does not cut their run. Which thread runs a
// step, and whether its kernel splits, does not change its bits (the kernels split by
// `rayon::current_num_threads`, the same on every worker); the memory each step takes is
// measured where it runs and counted on the thread that runs the program, the run's peaks
// added (`pool::credit`). Steps with a check of their operands (`Plan::guards`) run alone, and
// so do custom calls (the user's closures may read this thread's generator or other
// thread-locals).

/// Run one step on its operands: its outputs, in order.
fn eval_step(s: &Step, args: &[&Array]) -> Result<SmallVec<[Array; 2]>> {
    match s {
        // as `bind` does: a refused allocation is an error naming the op
        Step::Eval { prim, .. } => Ok(SmallVec::from_elem(
            fallible(prim.name(), || prim.eval(args))?,
            1,
        )),
        Step::Fused { kernel, .. } => {
            Ok(
                fallible("jit (fused elementwise ops)", || Ok(kernel.run(args)))?
                    .into_iter()
                    .collect(),
            )
        }
    }
}

/// Whether `prim` makes a view of its operand (no kernel runs, or a copy at most).
fn is_view(prim: &dyn crate::core::Primitive) -> bool {
    use crate::prims::shape::{BroadcastTo, Permute, Reshape};
    let a = prim.as_any();
    a.is::<Reshape>() || a.is::<Permute>() || a.is::<BroadcastTo>()
}

/// `steps` with each view moved up to just after the steps that write its operands (`NOTE:
/// [jit-waves]`); the other steps keep their order.
fn views_early(g: &Graph, steps: Vec<Step>) -> Vec<Step> {
    // after[k], k ≥ 1: the k-th step that stays, then the views that go right after it;
    // after[0]: the views of inputs and constants, which go first
    let mut after: Vec<Vec<Step>> = (0..=steps.len()).map(|_| Vec::new()).collect();
    // for each variable, the index in `after` of the place it is written
    let mut place = vec![0usize; g.eqns.len()];
    let mut kept = 0;
    for s in steps {
        let at = (s.ins().iter())
            .map(|a| match *a {
                Atom::Var(v) => place[v],
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        match &s {
            Step::Eval { prim, out, .. } if is_view(&**prim) => {
                place[*out] = at;
                after[at].push(s);
            }
            _ => {
                kept += 1;
                for &o in s.outs() {
                    place[o] = kept;
                }
                after[kept].push(s);
            }
        }
    }
    after.into_iter().flatten().collect()
}

/// Products of at least this many multiply-adds, and fused kernels of at least this many
/// elements, are heavy steps (`NOTE: [jit-waves]`): a few microseconds of work each.
const WAVE_MIN: usize = 1 << 15;

/// The runs of `steps` that run together (`NOTE: [jit-waves]`).
fn waves(
    g: &Graph,
    steps: &[Step],
    guards: &[SmallVec<[Guard; 1]>],
) -> Vec<std::ops::Range<usize>> {
    let heavy = |s: &Step| match s {
        // a step evaluates its equation on the same operands
        Step::Eval { out, .. } => multiply_adds(g, &g.eqns[*out]) >= WAVE_MIN,
        Step::Fused { kernel, .. } => numel(&kernel.shape) >= WAVE_MIN,
    };
    let mut waves = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let mut written: SmallVec<[usize; 8]> = SmallVec::new();
        let mut j = i;
        while j < steps.len()
            && j - i < 64
            && guards[j].is_empty()
            && !matches!(&steps[j], Step::Eval { prim, .. }
                if prim.as_any().is::<crate::prims::custom::CustomCall>())
            && !(steps[j].ins().iter()).any(|a| matches!(a, Atom::Var(v) if written.contains(v)))
        {
            written.extend_from_slice(steps[j].outs());
            j += 1;
        }
        if steps[i..j].iter().filter(|s| heavy(s)).count() >= 2 {
            waves.push(i..j);
            i = j;
        } else {
            waves.push(i..i + 1);
            i += 1;
        }
    }
    waves
}

/// For each of `reads` (the atoms each step reads, in order), the variables (of `n`) read for
/// the last time by it; a variable never read is freed by the step that writes it (`writes`).
fn last_reads<'a>(
    n: usize,
    outs: &[Atom],
    reads: impl Iterator<Item = &'a [Atom]>,
    writes: impl Iterator<Item = SmallVec<[usize; 2]>>,
) -> Vec<SmallVec<[usize; 2]>> {
    let mut last: Vec<Option<usize>> = vec![None; n];
    let mut count = 0;
    for (i, ins) in reads.enumerate() {
        for a in ins {
            if let Atom::Var(v) = a {
                last[*v] = Some(i);
            }
        }
        count = i + 1;
    }
    for a in outs {
        if let Atom::Var(v) = a {
            last[*v] = Some(usize::MAX);
        }
    }
    let mut free: Vec<SmallVec<[usize; 2]>> = vec![SmallVec::new(); count];
    for (i, ws) in writes.enumerate() {
        for v in ws {
            if last[v].is_none() {
                // never read: free at once
                free[i].push(v);
            }
        }
    }
    for (v, l) in last.iter().enumerate() {
        if let Some(i) = *l
            && i != usize::MAX
        {
            free[i].push(v);
        }
    }
    free
}

impl Program {
    /// Prepare `graph` (already optimized) for replay.
    pub(crate) fn new(graph: Graph) -> Program {
        let n = graph.eqns.len();
        let free_after = last_reads(
            n,
            &graph.outs,
            graph.eqns.iter().map(|e| &e.ins[..]),
            (0..n).map(|i| SmallVec::from_elem(i, 1)),
        );
        let concrete = graph.consts.iter().all(|c| c.tracer().is_none())
            && graph.eqns.iter().all(|e| e.prim.kind() != PrimKind::Random);
        let small = if concrete {
            SmallProgram::new(&graph)
        } else {
            None
        };
        let (steps, fallback) = if concrete && small.is_none() {
            let plan = Plan::new(&graph, true);
            let fallback =
                (plan.guards.iter().any(|g| !g.is_empty())).then(|| Plan::new(&graph, false));
            (Some(plan), fallback)
        } else {
            (None, None)
        };
        // a custom call runs the user's closures, which may draw from this thread's generator
        // or read its other thread-locals: such programs stay on the calling thread
        let custom =
            (graph.eqns.iter()).any(|e| e.prim.as_any().is::<crate::prims::custom::CustomCall>());
        let parallel = splits_over_cores(&graph) && !custom;
        Program {
            graph,
            free_after,
            steps,
            fallback,
            small,
            parallel,
        }
    }

    /// Run on `inputs` (one tensor per graph input, concrete or tracers of running transforms).
    pub(crate) fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        if let Some(small) = &self.small
            && inputs.iter().all(|t| t.tracer().is_none())
            && let Some(r) = small.run(&self.graph, inputs)
        {
            return r;
        }
        if let Some(plan) = &self.steps
            && inputs.iter().all(|t| t.tracer().is_none())
        {
            let run = || {
                if let Some(r) = self.run_concrete(plan, inputs)? {
                    return Ok(r);
                }
                // a rewrite's check failed: the steps of the graph as it is
                let plan = self.fallback.as_ref().expect("a plan without rewrites");
                Ok(self.run_concrete(plan, inputs)?.expect("no checks"))
            };
            return if self.parallel {
                on_workers(run)
            } else {
                run()
            };
        }
        self.run_bind(inputs)
    }

    /// Replay through `bind`: under running transforms, each equation goes through their
    /// rules as it would eagerly (the unfused equations: fused kernels have no rules).
    fn run_bind(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let g = &self.graph;
        let mut vars: Vec<Option<Tensor>> = vec![None; g.eqns.len()];
        for (i, e) in g.eqns.iter().enumerate() {
            let out = {
                let args: SmallVec<[&Tensor; 4]> = e
                    .ins
                    .iter()
                    .map(|a| value(*a, inputs, &g.consts, &vars))
                    .collect();
                bind(&*e.prim, &args)?
            };
            vars[i] = Some(out);
            for &v in &self.free_after[i] {
                vars[v] = None;
            }
        }
        Ok(g.outs
            .iter()
            .map(|a| value(*a, inputs, &g.consts, &vars).clone())
            .collect())
    }

    /// Run the steps on concrete inputs: each primitive's kernel (what `bind` would call on
    /// concrete operands) and the fused kernels, on arrays, without tensor handles. `None` if a
    /// step's check of a rewritten product fails (see [`Plan::guards`]).
    fn run_concrete(&self, plan: &Plan, inputs: &[Tensor]) -> Result<Option<Vec<Tensor>>> {
        let g = plan.rewritten.as_ref().unwrap_or(&self.graph);
        let slot = &plan.slot;
        let mut vars: Vec<Option<Array>> = vec![None; plan.n_slots];
        // runs of steps together only where this thread is a worker (`NOTE: [jit-waves]`)
        let together = rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1;
        // step `i` on the values `vars` holds
        let eval = |i: usize, vars: &[Option<Array>]| {
            let s = &plan.steps[i];
            let args: SmallVec<[&Array; 4]> = (s.ins().iter())
                .map(|a| array(*a, inputs, &g.consts, vars, slot))
                .collect();
            eval_step(s, &args)
        };
        for wave in &plan.waves {
            if wave.len() > 1 && together {
                let vars_now = &vars;
                let ys: Vec<(Result<SmallVec<[Array; 2]>>, Usage)> = (wave.clone())
                    .into_par_iter()
                    .map(|i| {
                        let (y, usage) = measure(|| eval(i, vars_now));
                        hand_over(usage);
                        (y, usage)
                    })
                    .collect();
                credit(
                    ys.iter()
                        .fold(Usage { peak: 0, kept: 0 }, |t, (_, u)| Usage {
                            peak: t.peak + u.peak,
                            kept: t.kept + u.kept,
                        }),
                );
                for (i, (y, _)) in wave.clone().zip(ys) {
                    for (o, y) in plan.steps[i].outs().iter().zip(y?) {
                        vars[slot[*o]] = Some(y);
                    }
                }
                for i in wave.clone() {
                    for &v in &plan.step_free[i] {
                        vars[v] = None;
                    }
                }
                continue;
            }
            for i in wave.clone() {
                for guard in &plan.guards[i] {
                    let at = |a: Atom| array(a, inputs, &g.consts, &vars, slot);
                    let holds = match *guard {
                        Guard::Outer([a, b]) => match at(a).dtype() {
                            DType::F32 => outer_is_products::<f32>(at(a), at(b)),
                            DType::F64 => outer_is_products::<f64>(at(a), at(b)),
                            _ => false,
                        },
                        Guard::Finite(a) => at(a).all_finite(),
                    };
                    if !holds {
                        return Ok(None);
                    }
                }
                let ys = eval(i, &vars)?;
                for (o, y) in plan.steps[i].outs().iter().zip(ys) {
                    vars[slot[*o]] = Some(y);
                }
                for &v in &plan.step_free[i] {
                    vars[v] = None;
                }
            }
        }
        Ok(Some(
            g.outs
                .iter()
                .map(|a| match *a {
                    Atom::In(i) => inputs[i].clone(),
                    Atom::Const(i) => g.consts[i].clone(),
                    Atom::Var(i) => {
                        Tensor::from_array(vars[slot[i]].clone().expect("an output is never freed"))
                    }
                })
                .collect(),
        ))
    }
}

// NOTE: [jit-on-workers]
// The steps of a program run on one of rayon's workers, the calling thread waiting for them:
// each parallel kernel (a product split over the cores, a large fused kernel) then starts from
// inside the pool, where handing work to the other worker is a cheap push onto its deque,
// instead of injecting a job from outside and sleeping on a latch until the pool wakes up,
// finishes and wakes the caller (a round trip through the scheduler per parallel step, which
// was a fifth of a call of a Hessian-vector product of an MLP). Where that happens is all that
// changes: the kernels and how they split their work (by `rayon::current_num_threads`, the
// same inside the pool and out) are those the calling thread would run, so the same bits. The
// tensor memory the steps take is measured on the worker and counted on the caller as if it
// had been taken there, and what they keep (the outputs, which the caller frees) is no longer
// counted on the worker (`NOTE: [memory-budget]`, `pool::credit`, `pool::hand_over`); a failed
// allocation unwinds to the step's own `fallible` boundary, on the worker. The pool's other
// workers stay awake while the steps run (`NOTE: [keep-awake]`).
/// Run `f` on a rayon worker, unless this thread is one already or there is only one
/// (`NOTE: [jit-on-workers]`).
fn on_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() || rayon::current_num_threads() < 2 {
        return f();
    }
    // the program's steps split on the pool's workers (`NOTE: [team]`)
    let (r, usage) = crate::kernels::pieces::to_the_pool(|| {
        with_others_awake(|| {
            let (r, usage) = measure(f);
            hand_over(usage);
            (r, usage)
        })
    });
    credit(usage);
    r
}

/// Run `f` on this thread, a rayon worker, with the pool's other workers kept taking its jobs
/// until `f` returns or unwinds (`NOTE: [keep-awake]`).
fn with_others_awake<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let done = AtomicBool::new(false);
    rayon::scope(|s| {
        let owner = rayon::current_thread_index();
        for _ in 1..rayon::current_num_threads() {
            let done = &done;
            s.spawn(move |s| keep_awake(s, done, owner));
        }
        let _done = SetOnDrop(&done);
        f()
    })
}

/// Sets its flag when dropped: the replay's end, returned or unwound (`NOTE: [keep-awake]`).
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

// NOTE: [keep-awake]
// While the steps of a program run on a worker (`NOTE: [jit-on-workers]`), the pool's other
// workers are kept taking its jobs instead of going to sleep between the parallel steps:
// each runs a job that takes one pending job after another (`rayon::yield_now`) and spins
// when there is none. A worker that found no work sleeps after a few rounds, and waking it
// costs tens of microseconds on a virtual machine (a futex wake and a reschedule), paid at
// every parallel step that follows a sequential one. OpenMP's threads spin at their barriers
// for the same reason. Kept awake, a worker takes the next step's pieces as soon as they are
// pushed. Where work runs is all that changes: the kernels split their work as before, so the
// bits are the same. AMD EPYC Zen 3, two threads, the build before and after alternated twelve
// times (`bench --jit`, the best of the runs' minima): vmap_jacrev_mlp_input 168 → 162 µs,
// vmap_jacfwd_mlp_input 191 → 184, per-sample gradients 379 → 363, the other workloads within
// 1–4% either way (the medians moved more, both ways, with the machine's noise).
//
// A spinning job must not hold its thread for as long as a program runs: a worker waiting
// inside a join takes any job from the deques, so it can take a spinning job on top of a
// piece of a program, and if that piece is what this or another program (from another
// calling thread, whose pieces may in turn sit under this program's spinning jobs) waits
// for, spinning until the programs end would deadlock. So the worker that runs the program
// returns from one at once, and every other spins at most `KEEP_AWAKE` at a time, then
// leaves a fresh job in its place (which the scope waits for too) and returns to whatever it
// was waiting for. The flag is set when the program returns or unwinds, so a panic does not
// leave the jobs spinning.
// Where several threads replay programs at once, a kept-awake worker may take another caller's
// job, and the program that spawned it then waits for that job before it returns: the same
// coupling as a join whose waiting thread takes unrelated work.
/// How long a job of `NOTE: [keep-awake]` spins before it hands over to a fresh one.
const KEEP_AWAKE: std::time::Duration = std::time::Duration::from_micros(20);

/// Keep this worker taking the pool's jobs until `done` (`NOTE: [keep-awake]`).
fn keep_awake<'s>(s: &rayon::Scope<'s>, done: &'s AtomicBool, owner: Option<usize>) {
    if rayon::current_thread_index() == owner {
        return;
    }
    let start = std::time::Instant::now();
    while !done.load(Ordering::Acquire) {
        if start.elapsed() >= KEEP_AWAKE {
            s.spawn(move |s| keep_awake(s, done, owner));
            return;
        }
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::hint::spin_loop();
        }
    }
}

#[inline]
fn array<'a>(
    a: Atom,
    inputs: &'a [Tensor],
    consts: &'a [Tensor],
    vars: &'a [Option<Array>],
    slot: &[usize],
) -> &'a Array {
    match a {
        Atom::In(i) => inputs[i].array().expect("a concrete input"),
        Atom::Const(i) => consts[i].array().expect("a concrete constant"),
        Atom::Var(i) => vars[slot[i]]
            .as_ref()
            .expect("a value is read before it is freed"),
    }
}

#[inline]
fn value<'a>(
    a: Atom,
    inputs: &'a [Tensor],
    consts: &'a [Tensor],
    vars: &'a [Option<Tensor>],
) -> &'a Tensor {
    match a {
        Atom::In(i) => &inputs[i],
        Atom::Const(i) => &consts[i],
        Atom::Var(i) => vars[i]
            .as_ref()
            .expect("a value is read before it is freed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Shape;
    use crate::core::stage::Eqn;
    use crate::prims::binary::{Binary, BinaryOp};
    use crate::prims::matmul::MatMul;
    use crate::prims::unary::{Unary, UnaryOp};
    use std::sync::Arc;

    /// An f64 equation of `prim` on `ins`, of shape `shape`.
    fn eqn(prim: Arc<dyn crate::core::Primitive>, ins: &[Atom], shape: &[usize]) -> Eqn {
        Eqn {
            prim,
            ins: ins.iter().copied().collect(),
            shape: Shape::from_slice(shape),
            dtype: DType::F64,
        }
    }

    /// A program whose steps run on the workers gives the bits of the equations bound one by
    /// one, and the memory it takes is counted on the calling thread as if it ran there.
    #[test]
    fn steps_on_the_workers_give_eager_bits_and_count_memory_here() {
        use Atom::*;
        let (m, k, n) = (300, 40, 200);
        let g = Graph {
            inputs: vec![
                (Shape::from_slice(&[m, k]), DType::F64),
                (Shape::from_slice(&[k, n]), DType::F64),
            ],
            consts: vec![],
            eqns: vec![
                eqn(Arc::new(MatMul), &[In(0), In(1)], &[m, n]),
                eqn(Arc::new(Unary(UnaryOp::Tanh)), &[Var(0)], &[m, n]),
                eqn(Arc::new(Binary(BinaryOp::Mul)), &[Var(1), Var(0)], &[m, n]),
                eqn(Arc::new(Unary(UnaryOp::Sin)), &[Var(2)], &[m, n]),
            ],
            outs: vec![Var(3), Var(1)],
            reusable: true,
        };
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos() * 0.5).collect();
        let inputs = [
            Tensor::from_vec(a, &[m, k]).unwrap(),
            Tensor::from_vec(b, &[k, n]).unwrap(),
        ];
        let p = Program::new(g);
        let plan = p.steps.as_ref().expect("steps on concrete inputs");
        let (here, here_use) = measure(|| p.run_concrete(plan, &inputs).unwrap().unwrap());
        let (ys, usage) = measure(|| p.run(&inputs).unwrap());
        let plain = p.run_bind(&inputs).unwrap();
        for ((y, h), e) in ys.iter().zip(&here).zip(&plain) {
            assert_eq!(y.shape(), e.shape());
            let (y, h, e) = (
                y.to_vec::<f64>().unwrap(),
                h.to_vec::<f64>().unwrap(),
                e.to_vec::<f64>().unwrap(),
            );
            assert!(y.iter().zip(&e).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(h.iter().zip(&e).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        assert!(p.parallel, "a 300 x 200 program splits over the cores");
        // two outputs of m·n f64 kept, and at least that much in use at once
        assert_eq!(usage, here_use);
        assert_eq!(usage.kept, (2 * m * n * 8) as isize);
        assert!(usage.peak >= 2 * m * n * 8);
    }

    /// Keeping the other workers awake (`NOTE: [keep-awake]`) cannot deadlock: on a pool of
    /// four, four callers at once run nested joins whose pieces the spinning jobs and the
    /// waiting workers take from each other's deques, and a panic ends the spinning too.
    #[test]
    fn workers_kept_awake_neither_deadlock_nor_outlive_a_panic() {
        fn tree(lo: u64, hi: u64) -> u64 {
            if hi - lo <= 64 {
                return (lo..hi).map(|i| i * i % 7).sum();
            }
            let mid = lo + (hi - lo) / 2;
            let (a, b) = rayon::join(|| tree(lo, mid), || tree(mid, hi));
            a + b
        }
        let want = (0..20_000u64).map(|i| i * i % 7).sum::<u64>();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        std::thread::scope(|t| {
            for _ in 0..4 {
                t.spawn(|| {
                    for _ in 0..200 {
                        let got = pool.install(|| with_others_awake(|| tree(0, 20_000)));
                        assert_eq!(got, want);
                    }
                });
            }
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| with_others_awake(|| -> u64 { panic!("a step panicked") }))
        }));
        assert!(r.is_err());
        assert_eq!(pool.install(|| with_others_awake(|| tree(0, 20_000))), want);
    }

    /// Two products that read nothing of each other, with a view of an input between them,
    /// run as one run of steps (the view moved up first), and give the bits of the equations
    /// bound one by one, with the memory they keep counted on the calling thread.
    #[test]
    fn independent_products_run_together_with_eager_bits() {
        use crate::prims::shape::Permute;
        use Atom::*;
        let (m, k, n) = (300, 40, 200);
        let g = Graph {
            inputs: vec![
                (Shape::from_slice(&[m, k]), DType::F64),
                (Shape::from_slice(&[k, n]), DType::F64),
                (Shape::from_slice(&[n, k]), DType::F64),
            ],
            consts: vec![],
            eqns: vec![
                eqn(Arc::new(MatMul), &[In(0), In(1)], &[m, n]),
                eqn(
                    Arc::new(Permute {
                        perm: SmallVec::from_slice(&[1, 0]),
                    }),
                    &[In(2)],
                    &[k, n],
                ),
                eqn(Arc::new(MatMul), &[In(0), Var(1)], &[m, n]),
                eqn(Arc::new(Binary(BinaryOp::Mul)), &[Var(0), Var(2)], &[m, n]),
            ],
            outs: vec![Var(3), Var(2)],
            reusable: true,
        };
        let vals = |len: usize, f: f64| (0..len).map(|i| (i as f64 * f).sin()).collect::<Vec<_>>();
        let inputs = [
            Tensor::from_vec(vals(m * k, 0.37), &[m, k]).unwrap(),
            Tensor::from_vec(vals(k * n, 0.11), &[k, n]).unwrap(),
            Tensor::from_vec(vals(n * k, 0.23), &[n, k]).unwrap(),
        ];
        let p = Program::new(g);
        let plan = p.steps.as_ref().expect("steps on concrete inputs");
        // the view first, then both products in one run
        assert!(matches!(&plan.steps[0], Step::Eval { out: 1, .. }));
        let together: Vec<_> = plan.waves.iter().filter(|w| w.len() > 1).collect();
        assert_eq!(together, [&(1..3)]);
        let (here, here_use) = measure(|| p.run_concrete(plan, &inputs).unwrap().unwrap());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (ys, usage) = pool.install(|| measure(|| p.run(&inputs).unwrap()));
        let plain = p.run_bind(&inputs).unwrap();
        for ((y, h), e) in ys.iter().zip(&here).zip(&plain) {
            let bits = |t: &Tensor| {
                t.to_vec::<f64>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(y), bits(e));
            assert_eq!(bits(h), bits(e));
        }
        // two outputs of m·n f64 kept, and at least as much in use at once as one by one
        assert_eq!(usage.kept, (2 * m * n * 8) as isize);
        assert_eq!(usage.kept, here_use.kept);
        assert!(usage.peak >= here_use.peak);
    }

    /// Programs whose every value is small, products included, run on the calling thread;
    /// one large product (by its multiply-adds, not its output) or value sends them to a
    /// worker.
    #[test]
    fn only_programs_with_a_large_step_go_to_the_workers() {
        use Atom::*;
        let graph = |m: usize, k: usize, n: usize| Graph {
            inputs: vec![
                (Shape::from_slice(&[m, k]), DType::F64),
                (Shape::from_slice(&[k, n]), DType::F64),
            ],
            consts: vec![],
            eqns: vec![Eqn {
                prim: Arc::new(MatMul),
                ins: [In(0), In(1)].into_iter().collect(),
                shape: Shape::from_slice(&[m, n]),
                dtype: DType::F64,
            }],
            outs: vec![Var(0)],
            reusable: true,
        };
        assert!(!splits_over_cores(&graph(10, 10, 10)));
        // a 64 x 64 output of depth 4096: 2^24 multiply-adds
        assert!(splits_over_cores(&graph(64, 4096, 64)));
        // an input of 2^15 elements
        assert!(splits_over_cores(&graph(1, 1 << 15, 1)));
        assert!(!splits_over_cores(&graph(100, 100, 1)));
    }
}
