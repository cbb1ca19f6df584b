//! `jit`: trace a function once per input signature into a graph, optimize it, and replay it
//! (`NOTE: [staging]`; the graph, passes and executor are in `jit`).

use super::jit_call::Callable;
use super::options::Opts;
use super::{Function, callable};
use crate::array::Shape;
use crate::core::stage::{Atom, Graph, Recorder, staged};
use crate::core::{LevelGuard, LevelKind, Tensor, TracerKind};
use crate::dtype::DType;
use crate::error::Result;
use crate::jit::{Program, optimize};
use crate::tree::{Args, Tree};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The default number of signatures a [`Jit`] keeps compiled.
const DEFAULT_CACHE_SIZE: usize = 64;

/// A compiled signature: the arguments' structure, shapes and dtypes, and the program.
struct Entry {
    args: Vec<Tree>,
    specs: Vec<(Shape, DType)>,
    out: Tree,
    program: Arc<Program>,
    /// The signature as one primitive, for calls on tracers (`NOTE: [jit-call]`).
    call: Option<Arc<Callable>>,
}

impl Entry {
    fn matches(&self, args: &[Tree], leaves: &[Tensor]) -> bool {
        self.args.len() == args.len()
            && self.specs.len() == leaves.len()
            && self.args.iter().zip(args).all(|(a, b)| a.same_structure(b))
            && self
                .specs
                .iter()
                .zip(leaves)
                .all(|((s, d), t)| s.as_slice() == t.shape() && *d == t.dtype())
    }
}

/// The compiled signatures of one [`Jit`] (shared by its clones), most recently used first.
struct Cache {
    entries: Mutex<Vec<Arc<Entry>>>,
    capacity: AtomicUsize,
    traces: AtomicUsize,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Entry>>> {
        // a panic while another thread held the lock leaves the list itself intact
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn find(&self, args: &[Tree], leaves: &[Tensor]) -> Option<Arc<Entry>> {
        let mut es = self.lock();
        let i = es.iter().position(|e| e.matches(args, leaves))?;
        // most recently used first (already there on repeated calls with one signature)
        es[..=i].rotate_right(1);
        Some(es[0].clone())
    }
    fn insert(&self, e: Entry) {
        let cap = self.capacity.load(Ordering::Relaxed);
        if cap == 0 {
            return;
        }
        let mut es = self.lock();
        es.insert(0, Arc::new(e));
        es.truncate(cap);
    }
}

/// A function compiled by tracing, as `jax.jit`: the first call with a new signature (the
/// arguments' structure, shapes and dtypes) runs `f` while recording the primitives it applies
/// into a graph, optimizes the graph, and caches it; later calls with that signature replay the
/// graph without running `f`.
///
/// `jit` is a transform like the others and composes with them in any order:
/// `jit(hessian(f))` compiles the whole Hessian computation (the transforms run once, while
/// tracing; replays call only the kernels), and under `hessian(jit(f))`, `vmap(jit(f))` or
/// `grad(jit(grad(f)))` the compiled `f` is one primitive for the outer transforms, whose
/// rules are compiled from its graph the first time each is needed
/// ([`rule_traces`](Jit::rule_traces); `NOTE: [jit-call]`).
///
/// **When to use it**: a function called many times with the same shapes (an optimizer's inner
/// loop, a Newton iteration, per-batch gradients): what it saves is the cost of interpreting
/// each op (validation, rules, tracers), which dominates for small tensors.
///
/// **What retraces**: a new structure, shape or dtype of the arguments. Values never retrace.
/// [`traces`](Jit::traces) counts the traces; [`cache_size`](Jit::cache_size) bounds the
/// signatures kept (default 64, least recently used dropped first);
/// [`clear_cache`](Jit::clear_cache) drops them.
///
/// **What cannot be traced**: a Rust `if` or loop bound on a tensor's *value* (`item()`,
/// `to_vec()` on a traced value is an error while tracing, since the graph must hold for every
/// value of that signature: compute both branches and select with `Tensor::where_`). Captured
/// tensors are constants of the graph (kept alive by it); a captured tracer of an outer
/// transform makes the graph valid for that call only, so such a function is retraced every
/// call. Random ops are recorded as draws: every replay draws fresh numbers from the generator,
/// as eager calls do. Errors that depend on values (a singular matrix, an index out of range)
/// are raised by the kernels on every replay.
///
/// ```
/// use functorch::{Tensor, hessian, jit};
/// let f = jit(hessian(|x: &Tensor| x.sin()?.sum()));
/// let x = Tensor::from_slice(&[0.5, 1.0]);
/// let h1: Tensor = f.call(&x)?; // traces
/// let h2: Tensor = f.call(&Tensor::from_slice(&[1.5, 2.0]))?; // replays
/// assert_eq!(f.traces(), 1);
/// assert_eq!(h1.to_vec::<f64>()?, x.sin()?.neg()?.diag()?.to_vec::<f64>()?);
/// assert_eq!(h2.shape(), &[2, 2]);
/// // the program, like a jaxpr
/// println!("{}", f.trace(&x)?);
/// # Ok::<(), functorch::Error>(())
/// ```
#[derive(Clone)]
pub struct Jit<F> {
    f: F,
    o: Opts,
    cache: Arc<Cache>,
}

/// Compile `f` by tracing (see [`Jit`]).
pub fn jit<F>(f: F) -> Jit<F> {
    Jit {
        f,
        o: Opts::new("jit"),
        cache: Arc::new(Cache {
            entries: Mutex::new(Vec::new()),
            capacity: AtomicUsize::new(DEFAULT_CACHE_SIZE),
            traces: AtomicUsize::new(0),
        }),
    }
}

/// A traced program: the graph as recorded and after optimization. `Display` prints the
/// optimized one like a jaxpr (inputs, one equation a line with shapes, outputs).
pub struct Trace {
    recorded: Graph,
    optimized: Graph,
    compiled: Program,
}

impl Trace {
    /// The graph as recorded, before optimization.
    pub fn unoptimized(&self) -> impl fmt::Display + '_ {
        &self.recorded
    }
    /// The program a replay on concrete arguments runs: the optimized graph with each run of
    /// elementwise equations fused into one `fused` equation (one pass over tiles); or, when
    /// every value is tiny, the *small program* that runs the equations over one buffer kept
    /// between calls, with views as index maps (marked `alias`, `gather` or `folded`).
    ///
    /// ```
    /// use functorch::{Tensor, jit};
    /// let f = jit(|x: &Tensor| x.sin()?.mul_scalar(2.0)?.exp()?.sum());
    /// let t = f.trace(&Tensor::ones(&[1000], functorch::DType::F64)?)?;
    /// // sin, mul_scalar and exp run as one pass, then the sum
    /// assert!(t.compiled().to_string().contains("= fused a {"));
    /// // three values: a small program
    /// let t = f.trace(&Tensor::from_slice(&[1.0, 2.0, 3.0]))?;
    /// assert!(t.compiled().to_string().contains("small program"));
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn compiled(&self) -> impl fmt::Display + '_ {
        &self.compiled
    }
    /// The number of equations (primitive applications) before and after optimization.
    pub fn equations(&self) -> (usize, usize) {
        (self.recorded.eqns.len(), self.optimized.eqns.len())
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.optimized.fmt(f)
    }
}

impl<F> Jit<F> {
    /// Keep at most `n` compiled signatures (0: compile nothing, trace every call).
    pub fn cache_size(self, n: usize) -> Self {
        self.cache.capacity.store(n, Ordering::Relaxed);
        self.cache.lock().truncate(n);
        self
    }
    /// How many times `f` has been traced (once per new signature, unless the cache was
    /// cleared or is full).
    pub fn traces(&self) -> usize {
        self.cache.traces.load(Ordering::Relaxed)
    }
    /// The call forms of the compiled signatures (see [`Jit::rule_traces`]).
    pub(super) fn cached_callables(&self) -> Vec<Arc<Callable>> {
        self.cache
            .lock()
            .iter()
            .filter_map(|e| e.call.clone())
            .collect()
    }
    /// Drop every compiled signature (and the constants their graphs hold).
    pub fn clear_cache(&self) {
        self.cache.lock().clear();
    }
    /// Trace `f` at `args` and return the program, without caching it.
    pub fn trace<A: Args>(&self, args: &A) -> Result<Trace>
    where
        F: Function<A>,
    {
        let args = args.to_args();
        let leaves: Vec<Tensor> = args.iter().flat_map(|a| a.leaves()).cloned().collect();
        let (_, recorded) = record(&|a| self.f.apply(a), &args, &leaves)?;
        let optimized = optimize(recorded.clone());
        Ok(Trace {
            compiled: Program::new(optimized.clone()),
            optimized,
            recorded,
        })
    }
}

/// Run `f` on `args` (whose leaves are `leaves`) under a new stage level: the outputs
/// (computed eagerly) and the graph, whose inputs are the leaves.
pub(crate) fn record(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: &[Tree],
    leaves: &[Tensor],
) -> Result<(Tree, Graph)> {
    let specs = leaves
        .iter()
        .map(|t| (Shape::from_slice(t.shape()), t.dtype()))
        .collect();
    let guard = LevelGuard::push(LevelKind::Stage {
        rec: Recorder::new(specs),
    });
    let level = guard.level.clone();
    let LevelKind::Stage { rec } = &level.kind else {
        unreachable!("a stage level")
    };
    let mut it = leaves
        .iter()
        .enumerate()
        .map(|(i, t)| staged(&level, t.clone(), Atom::In(i)));
    let inner: Vec<Tree> = args.iter().map(|a| a.with_leaves(&mut it)).collect();
    let out = super::live_tree(f(inner)?, "jit")?;
    let mut outs = Vec::new();
    let value = out.map(&mut |t| {
        Ok(match t.tracer_at(&level) {
            Some(TracerKind::Staged { value, atom }) => {
                outs.push(*atom);
                value.clone()
            }
            _ => {
                outs.push(rec.constant(t));
                t.clone()
            }
        })
    })?;
    drop(guard);
    let mut g = rec.take();
    g.outs = outs;
    Ok((value, g))
}

impl<A, F: Function<A>> Function<A> for Jit<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let args = super::live_trees(args, "jit")?;
        let leaves: Vec<Tensor> = args.iter().flat_map(|a| a.leaves()).cloned().collect();
        if let Some(e) = self.cache.find(&args, &leaves) {
            let outs = match &e.call {
                Some(c) if Callable::applies(&leaves) => c.bind(&leaves)?,
                _ => e.program.run(&leaves)?,
            };
            return Ok(e.out.with_leaves(&mut outs.into_iter()));
        }
        let (out, graph) = record(&|a| self.f.apply(a), &args, &leaves)?;
        self.cache.traces.fetch_add(1, Ordering::Relaxed);
        if graph.reusable {
            let program = Arc::new(Program::new(optimize(graph)));
            let call = Callable::new(program.clone(), &out.leaves()).map(Arc::new);
            let blank = Tensor::scalar(0.0);
            let template = |t: &Tree| t.map(&mut |_| Ok(blank.clone()));
            self.cache.insert(Entry {
                args: args.iter().map(template).collect::<Result<_>>()?,
                specs: leaves
                    .iter()
                    .map(|t| (Shape::from_slice(t.shape()), t.dtype()))
                    .collect(),
                out: template(&out)?,
                program,
                call,
            });
        }
        Ok(out)
    }
}

callable!(Jit);
