//! Jacobians and Hessians as torch.func computes them, chunked everywhere:
//!
//! - `jacrev`: one VJP, then the pullback vmapped over chunks of the output's standard basis;
//! - `jacfwd`: the JVP vmapped over chunks of the input's standard basis;
//! - `hessian`: `jacfwd(jacrev(f))` (forward-over-reverse), with the chunk size applied to both;
//! - `hvp` / `vhp`: Hessian–vector products that never build the Hessian.
//!
//! Results follow torch.func's structure: the outer level follows the output's structure, the
//! inner level the argnums (an int argnums gives no inner tuple), each block shaped
//! `out.shape + in.shape`.

use super::basis::{basis_chunk, chunks};
use super::jvp::jvp_impl;
use super::vjp::{grad_impl, vjp_impl};
use super::vmap::{self, VmapOpts};
use super::{Argnums, Function, call_string, callable, convert};
use crate::error::{Error, Result};
use crate::interp::Randomness;
use crate::kernels::copy::copy_into;
use crate::kernels::with_dtype;
use crate::tensor::{Array, Buffer, DType, Shape, Tensor, contiguous_strides, numel};
use crate::tree::{Args, Pytree, Tree};

fn specs(leaves: &[&Tensor]) -> Vec<(Shape, DType)> {
    leaves
        .iter()
        .map(|t| (Shape::from_slice(t.shape()), t.dtype()))
        .collect()
}

fn require_float(call: &str, what: &str, leaves: &[&Tensor]) -> Result<()> {
    if leaves.is_empty() {
        return Err(Error::transform(
            call,
            format!("expected {what} to hold at least one tensor"),
        ));
    }
    for t in leaves {
        if !t.dtype().is_float() {
            return Err(Error::transform(
                call,
                format!(
                    "expected {what} to be float tensors, got a {} tensor",
                    t.dtype()
                ),
            ));
        }
    }
    Ok(())
}

/// For each output leaf, the selected arguments' structure holding that output's blocks.
fn assemble(out: &Tree, sel: &[Tree], argnums: &Argnums, blocks: Vec<Vec<Tensor>>) -> Tree {
    let mut rows = blocks.into_iter();
    out.graft(&mut |_| {
        let mut it = rows
            .next()
            .expect("one row of blocks per output")
            .into_iter();
        argnums.select(sel.iter().map(|s| s.with_leaves(&mut it)).collect())
    })
}

/// The rows of one Jacobian column block, gathered chunk by chunk: stacked and concatenated at
/// the end, or copied into a preallocated result as they come (torch.func's
/// `compute_jacobian_preallocate_and_copy`; tracers, which have no memory to copy into, are
/// concatenated).
struct Rows {
    total: usize,
    parts: Vec<Tensor>,
    buf: Option<(Buffer, Shape, usize)>,
    prealloc: bool,
}

impl Rows {
    fn new(total: usize, prealloc: bool) -> Rows {
        Rows {
            total,
            parts: Vec::new(),
            buf: None,
            prealloc,
        }
    }
    fn push(&mut self, t: Tensor) {
        // a chunk holding every row is the result itself: copying it would only add a buffer
        let concrete = t
            .array()
            .filter(|a| self.prealloc && self.parts.is_empty() && a.shape()[0] < self.total);
        let Some(a) = concrete else {
            self.parts.push(t);
            return;
        };
        let (buf, shape, filled) = self.buf.get_or_insert_with(|| {
            let mut shape = Shape::from_slice(a.shape());
            shape[0] = self.total;
            let n = numel(&shape);
            let buf = with_dtype!(a.dtype(), T => <T as crate::tensor::Element>::into_buffer(vec![T::default(); n]));
            (buf, shape, 0)
        });
        let strides = contiguous_strides(shape);
        let at = *filled * strides[0] as usize;
        match buf {
            Buffer::F32(v) => copy_into(v, &strides, at, a.v::<f32>()),
            Buffer::F64(v) => copy_into(v, &strides, at, a.v::<f64>()),
            Buffer::I64(v) => copy_into(v, &strides, at, a.v::<i64>()),
            Buffer::Bool(v) => copy_into(v, &strides, at, a.v::<bool>()),
        }
        *filled += a.shape()[0];
    }
    fn finish(self) -> Result<Tensor> {
        match self.buf {
            Some((buf, shape, _)) => Ok(Tensor::from_array(Array::from_buffer(buf, &shape))),
            None if self.parts.len() == 1 => Ok(self.parts.into_iter().next().unwrap()),
            None => Tensor::cat(&self.parts, 0),
        }
    }
}

/// The Jacobian of `f` with respect to the arguments `argnums` selects, by reverse mode.
pub(crate) fn jacrev_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    argnums: &Argnums,
    has_aux: bool,
    chunk: Option<usize>,
    prealloc: bool,
    call: &str,
) -> Result<Tree> {
    let idx = argnums.resolve(args.len(), call)?;
    let sel: Vec<Tree> = idx.iter().map(|&i| args[i].clone()).collect();
    let (out, pb, aux) = vjp_impl(f, args, Some(&idx), has_aux, call)?;
    let out_leaves = out.leaves();
    require_float(call, "the outputs", &out_leaves)?;
    let out_specs = specs(&out_leaves);
    let in_specs: Vec<(Shape, DType)> = sel.iter().flat_map(|s| specs(&s.leaves())).collect();
    let total: usize = out_specs.iter().map(|(s, _)| numel(s)).sum();
    let mut cols: Vec<Rows> = in_specs
        .iter()
        .map(|_| Rows::new(total, prealloc))
        .collect();
    for (start, len) in chunks(total, chunk, call)? {
        let basis = basis_chunk(&out_specs, start, len);
        let g = if len == 1 {
            let rows: Vec<Tensor> = basis.iter().map(|b| b.squeeze(0)).collect::<Result<_>>()?;
            pb.apply(out.with_leaves(&mut rows.into_iter()))?
                .map(&mut |t| t.unsqueeze(0))?
        } else {
            vmap::run(
                &|a| pb.apply_args(a),
                vec![out.with_leaves(&mut basis.into_iter())],
                &VmapOpts::default(),
            )?
        };
        for (j, leaf) in g.leaves().into_iter().enumerate() {
            cols[j].push(leaf.clone());
        }
    }
    let cols: Vec<Tensor> = cols.into_iter().map(Rows::finish).collect::<Result<_>>()?;
    let mut off = 0;
    let blocks = out_specs
        .iter()
        .map(|(os, _)| {
            let n = numel(os);
            let row = cols
                .iter()
                .zip(&in_specs)
                .map(|(c, (is, _))| {
                    let shape: Vec<i64> = os.iter().chain(is.iter()).map(|&v| v as i64).collect();
                    c.narrow(0, off, n)?.reshape(&shape)
                })
                .collect::<Result<Vec<_>>>();
            off += n;
            row
        })
        .collect::<Result<Vec<_>>>()?;
    let jac = assemble(&out, &sel, argnums, blocks);
    Ok(match aux {
        Some(a) => Tree::Tuple(vec![jac, a]),
        None => jac,
    })
}

/// The Jacobian of `f` with respect to the arguments `argnums` selects, by forward mode.
#[allow(clippy::too_many_arguments)]
pub(crate) fn jacfwd_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    argnums: &Argnums,
    has_aux: bool,
    chunk: Option<usize>,
    randomness: Randomness,
    call: &str,
) -> Result<Tree> {
    let idx = argnums.resolve(args.len(), call)?;
    let sel: Vec<Tree> = idx.iter().map(|&i| args[i].clone()).collect();
    let sel_leaves: Vec<&Tensor> = sel.iter().flat_map(|s| s.leaves()).collect();
    require_float(call, "the differentiated inputs", &sel_leaves)?;
    let in_specs = specs(&sel_leaves);
    let total: usize = in_specs.iter().map(|(s, _)| numel(s)).sum();
    let g = |sel_args: Vec<Tree>| -> Result<Tree> {
        let mut full = args.clone();
        for (k, &i) in idx.iter().enumerate() {
            full[i] = sel_args[k].clone();
        }
        f(full)
    };
    let push = |tangents: Vec<Tree>| -> Result<Tree> {
        let (o, t, aux) = jvp_impl(&g, sel.clone(), tangents, has_aux, call)?;
        Ok(Tree::Tuple(vec![t, o, aux.unwrap_or(Tree::None)]))
    };
    let mut rows: Vec<Rows> = Vec::new();
    let mut head: Option<(Tree, Tree)> = None;
    for (start, len) in chunks(total, chunk, call)? {
        let mut basis = basis_chunk(&in_specs, start, len).into_iter();
        let tangents: Vec<Tree> = sel.iter().map(|s| s.with_leaves(&mut basis)).collect();
        let mut r = if len == 1 {
            let sq: Vec<Tree> = tangents
                .iter()
                .map(|t| t.map(&mut |x| x.squeeze(0)))
                .collect::<Result<_>>()?;
            let mut r = push(sq)?.into_tuple()?;
            r[0] = r[0].map(&mut |x| x.unsqueeze(0))?;
            r
        } else {
            let o = VmapOpts {
                randomness,
                ..VmapOpts::default()
            };
            let mut r = vmap::run(&push, tangents, &o)?.into_tuple()?;
            r[1] = r[1].map(&mut |x| x.select(0, 0))?;
            r[2] = r[2].map(&mut |x| x.select(0, 0))?;
            r
        };
        let aux = r.pop().unwrap();
        let o = r.pop().unwrap();
        let t = r.pop().unwrap();
        let tl = t.leaves();
        if rows.is_empty() {
            require_float(call, "the outputs", &o.leaves())?;
            rows = tl.iter().map(|_| Rows::new(total, false)).collect();
        }
        for (k, leaf) in tl.into_iter().enumerate() {
            rows[k].push(leaf.clone());
        }
        head.get_or_insert((o, aux));
    }
    let (out, aux) = head.expect("at least one chunk");
    let cols: Vec<Tensor> = rows.into_iter().map(Rows::finish).collect::<Result<_>>()?;
    let blocks = cols
        .iter()
        .map(|c| {
            let ro = c.ndim() - 1;
            let mut off = 0;
            in_specs
                .iter()
                .map(|(is, _)| {
                    let n = numel(is);
                    let shape: Vec<i64> = is
                        .iter()
                        .chain(c.shape()[1..].iter())
                        .map(|&v| v as i64)
                        .collect();
                    let b = c.narrow(0, off, n)?.reshape(&shape)?;
                    off += n;
                    let ri = is.len();
                    let perm: Vec<i64> = (ri..ri + ro).chain(0..ri).map(|v| v as i64).collect();
                    b.permute(&perm)
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let jac = assemble(&out, &sel, argnums, blocks);
    Ok(if has_aux {
        Tree::Tuple(vec![jac, aux])
    } else {
        jac
    })
}

/// The Jacobian by reverse mode, as torch.func's `jacrev`: options
/// [`argnums`](Jacrev::argnums), [`has_aux`](Jacrev::has_aux),
/// [`chunk_size`](Jacrev::chunk_size) and [`preallocate`](Jacrev::preallocate).
#[derive(Clone)]
pub struct Jacrev<F> {
    f: F,
    argnums: Argnums,
    has_aux: bool,
    chunk: Option<usize>,
    prealloc: bool,
}

/// The Jacobian of `f` by reverse mode (see [`Jacrev`]).
///
/// ```
/// use functorch::{Tensor, jacrev};
/// // the Jacobian of elementwise sin is diag(cos x)
/// let x = Tensor::from_slice(&[0.0, 1.0, 2.0]);
/// let j: Tensor = jacrev(|x: &Tensor| x.sin()).call(&x)?;
/// assert_eq!(j.to_vec::<f64>()?, x.cos()?.diag()?.to_vec::<f64>()?);
/// // chunk_size bounds memory and changes nothing else
/// let j1: Tensor = jacrev(|x: &Tensor| x.sin()).chunk_size(1).call(&x)?;
/// assert_eq!(j1.to_vec::<f64>()?, j.to_vec::<f64>()?);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn jacrev<F>(f: F) -> Jacrev<F> {
    Jacrev {
        f,
        argnums: Argnums::default(),
        has_aux: false,
        chunk: None,
        prealloc: false,
    }
}

impl<F> Jacrev<F> {
    /// Which positional arguments to differentiate (default 0).
    pub fn argnums(mut self, a: impl Into<Argnums>) -> Self {
        self.argnums = a.into();
        self
    }
    /// The function returns `(output, aux)`; the result is `(jacobian, aux)`.
    pub fn has_aux(mut self, on: bool) -> Self {
        self.has_aux = on;
        self
    }
    /// Compute this many rows of the Jacobian at a time (1: a plain loop of VJPs; `None`: all
    /// at once). Bounds memory; the result is the same.
    pub fn chunk_size(mut self, chunk: impl Into<Option<usize>>) -> Self {
        self.chunk = chunk.into();
        self
    }
    /// Copy each chunk into a preallocated result instead of concatenating the chunks at the
    /// end (lower peak memory when chunking).
    pub fn preallocate(mut self, on: bool) -> Self {
        self.prealloc = on;
        self
    }
    fn call_string(&self) -> String {
        call_string("jacrev", &self.argnums, self.has_aux, self.chunk)
    }
}

impl<A, F: Function<A>> Function<A> for Jacrev<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        jacrev_impl(
            &|a| self.f.apply(a),
            args,
            &self.argnums,
            self.has_aux,
            self.chunk,
            self.prealloc,
            &self.call_string(),
        )
    }
}
callable!(Jacrev, |s: &Self| s.call_string());

/// The Jacobian by forward mode, as torch.func's `jacfwd`: options
/// [`argnums`](Jacfwd::argnums), [`has_aux`](Jacfwd::has_aux),
/// [`randomness`](Jacfwd::randomness), and [`chunk_size`](Jacfwd::chunk_size) (which
/// torch.func's jacfwd lacks; it bounds memory the same way jacrev's does).
#[derive(Clone)]
pub struct Jacfwd<F> {
    f: F,
    argnums: Argnums,
    has_aux: bool,
    chunk: Option<usize>,
    randomness: Randomness,
}

/// The Jacobian of `f` by forward mode (see [`Jacfwd`]).
///
/// ```
/// use functorch::{Tensor, jacfwd};
/// // f(x) = A x has Jacobian A
/// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])?;
/// let f = |x: &Tensor| a.matmul(x);
/// let j: Tensor = jacfwd(f).call(&Tensor::from_slice(&[0.5, -1.0]))?;
/// assert_eq!(j.to_vec::<f64>()?, a.to_vec::<f64>()?);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn jacfwd<F>(f: F) -> Jacfwd<F> {
    Jacfwd {
        f,
        argnums: Argnums::default(),
        has_aux: false,
        chunk: None,
        randomness: Randomness::Error,
    }
}

impl<F> Jacfwd<F> {
    /// Which positional arguments to differentiate (default 0).
    pub fn argnums(mut self, a: impl Into<Argnums>) -> Self {
        self.argnums = a.into();
        self
    }
    /// The function returns `(output, aux)`; the result is `(jacobian, aux)`.
    pub fn has_aux(mut self, on: bool) -> Self {
        self.has_aux = on;
        self
    }
    /// Compute this many columns of the Jacobian at a time; the result is the same.
    pub fn chunk_size(mut self, chunk: impl Into<Option<usize>>) -> Self {
        self.chunk = chunk.into();
        self
    }
    /// The `randomness` of the vmap over the basis (see [`crate::Vmap::randomness`]).
    pub fn randomness(mut self, r: Randomness) -> Self {
        self.randomness = r;
        self
    }
    fn call_string(&self) -> String {
        call_string("jacfwd", &self.argnums, self.has_aux, self.chunk)
    }
}

impl<A, F: Function<A>> Function<A> for Jacfwd<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        jacfwd_impl(
            &|a| self.f.apply(a),
            args,
            &self.argnums,
            self.has_aux,
            self.chunk,
            self.randomness,
            &self.call_string(),
        )
    }
}
callable!(Jacfwd, |s: &Self| s.call_string());

/// The Hessian, `jacfwd(jacrev(f))` (forward-over-reverse), as torch.func's `hessian`, plus
/// `has_aux` (as JAX has it) and `chunk_size` (applied to both Jacobians, so it bounds the
/// memory of the whole computation).
#[derive(Clone)]
pub struct Hessian<F> {
    f: F,
    argnums: Argnums,
    has_aux: bool,
    chunk: Option<usize>,
}

/// The Hessian of `f` (see [`Hessian`]). For a tuple of argnums the result holds the blocks
/// `((H00, H01), (H10, H11))`; each block is `out.shape + in_i.shape + in_j.shape`.
///
/// ```
/// use functorch::{Tensor, hessian};
/// // the Hessian of sum(sin x) is diag(-sin x)
/// let x = Tensor::from_slice(&[0.5, 1.0, 1.5]);
/// let h: Tensor = hessian(|x: &Tensor| x.sin()?.sum()).call(&x)?;
/// assert_eq!(h.to_vec::<f64>()?, x.sin()?.neg()?.diag()?.to_vec::<f64>()?);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn hessian<F>(f: F) -> Hessian<F> {
    Hessian {
        f,
        argnums: Argnums::default(),
        has_aux: false,
        chunk: None,
    }
}

impl<F> Hessian<F> {
    /// Which positional arguments to differentiate (default 0).
    pub fn argnums(mut self, a: impl Into<Argnums>) -> Self {
        self.argnums = a.into();
        self
    }
    /// The function returns `(output, aux)`; the result is `(hessian, aux)`.
    pub fn has_aux(mut self, on: bool) -> Self {
        self.has_aux = on;
        self
    }
    /// Compute this many rows (inner jacrev) and columns (outer jacfwd) at a time.
    pub fn chunk_size(mut self, chunk: impl Into<Option<usize>>) -> Self {
        self.chunk = chunk.into();
        self
    }
}

impl<A, F: Function<A>> Function<A> for Hessian<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let call = call_string("hessian", &self.argnums, self.has_aux, self.chunk);
        let inner = |a: Vec<Tree>| {
            jacrev_impl(
                &|b| self.f.apply(b),
                a,
                &self.argnums,
                self.has_aux,
                self.chunk,
                false,
                &call,
            )
        };
        jacfwd_impl(
            &inner,
            args,
            &self.argnums,
            self.has_aux,
            self.chunk,
            Randomness::Error,
            &call,
        )
    }
}
callable!(Hessian, |s: &Self| call_string(
    "hessian", &s.argnums, s.has_aux, s.chunk
));

/// The tangents for the selected arguments, one tree per argument.
fn per_arg(argnums: &Argnums, t: Tree, n: usize, call: &str) -> Result<Vec<Tree>> {
    let v = match argnums {
        Argnums::One(_) => vec![t],
        Argnums::Many(_) => t
            .into_tuple()
            .map_err(|e| Error::transform(call, format!("expected a tuple of tangents: {e}")))?,
    };
    if v.len() != n {
        return Err(Error::transform(
            call,
            format!("expected {n} tangents, got {}", v.len()),
        ));
    }
    Ok(v)
}

/// `g(sel) = grad(f)(args with the selected ones replaced by sel)`, for hvp and vhp.
fn grad_of_selected<'a>(
    f: &'a dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: &'a [Tree],
    idx: &'a [usize],
    call: &'a str,
) -> impl Fn(Vec<Tree>) -> Result<Tree> + 'a {
    move |sel: Vec<Tree>| {
        let mut full = args.to_vec();
        for (k, &i) in idx.iter().enumerate() {
            full[i] = sel[k].clone();
        }
        let many = Argnums::Many(idx.iter().map(|&i| i as i64).collect());
        Ok(grad_impl(f, full, &many, false, call)?.0)
    }
}

/// The Hessian–vector product `H v` of a scalar function, forward-over-reverse
/// (`jvp(grad(f), primals, v)`), without building `H`.
#[derive(Clone)]
pub struct Hvp<F> {
    f: F,
    argnums: Argnums,
}

/// `H v` for the scalar function `f` (see [`Hvp`]); `v` is shaped like the argument(s)
/// `argnums` selects (a tuple for a tuple of argnums).
///
/// ```
/// use functorch::{Tensor, hvp};
/// // f(x) = sum(x³): H = diag(6x)
/// let f = |x: &Tensor| x.pow_scalar(3.0)?.sum();
/// let x = Tensor::from_slice(&[1.0, 2.0]);
/// let hv: Tensor = hvp(f).call(&x, &Tensor::from_slice(&[1.0, 1.0]))?;
/// assert_eq!(hv.to_vec::<f64>()?, vec![6.0, 12.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn hvp<F>(f: F) -> Hvp<F> {
    Hvp {
        f,
        argnums: Argnums::default(),
    }
}

impl<F> Hvp<F> {
    /// Which positional arguments the Hessian is taken over (default 0).
    pub fn argnums(mut self, a: impl Into<Argnums>) -> Self {
        self.argnums = a.into();
        self
    }
    /// `H v` at `primals`.
    pub fn call<A: Args, V: Pytree, R: Pytree>(&self, primals: &A, v: &V) -> Result<R>
    where
        F: Function<A>,
    {
        convert(self.call_dyn(primals.to_args(), v.to_tree())?, "hvp")
    }
    /// As [`call`](Hvp::call), on trees.
    pub fn call_dyn<A>(&self, args: Vec<Tree>, v: Tree) -> Result<Tree>
    where
        F: Function<A>,
    {
        let call = format!("hvp(f, argnums={})", self.argnums);
        let idx = self.argnums.resolve(args.len(), &call)?;
        let sel: Vec<Tree> = idx.iter().map(|&i| args[i].clone()).collect();
        let tangents = per_arg(&self.argnums, v, idx.len(), &call)?;
        let f = |a: Vec<Tree>| self.f.apply(a);
        let g = grad_of_selected(&f, &args, &idx, &call);
        let (_, t, _) = jvp_impl(&g, sel, tangents, false, &call)?;
        Ok(self.argnums.select(t.into_tuple()?))
    }
}

/// The vector–Hessian product `vᵀ H` of a scalar function, reverse-over-reverse
/// (`vjp(grad(f), primals)` applied to `v`), without building `H`. For a twice continuously
/// differentiable `f`, `H` is symmetric and this equals [`hvp`].
#[derive(Clone)]
pub struct Vhp<F> {
    f: F,
    argnums: Argnums,
}

/// `vᵀ H` for the scalar function `f` (see [`Vhp`]).
///
/// ```
/// use functorch::{Tensor, vhp};
/// let f = |x: &Tensor| x.pow_scalar(3.0)?.sum();
/// let x = Tensor::from_slice(&[1.0, 2.0]);
/// let vh: Tensor = vhp(f).call(&x, &Tensor::from_slice(&[1.0, 1.0]))?;
/// assert_eq!(vh.to_vec::<f64>()?, vec![6.0, 12.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn vhp<F>(f: F) -> Vhp<F> {
    Vhp {
        f,
        argnums: Argnums::default(),
    }
}

impl<F> Vhp<F> {
    /// Which positional arguments the Hessian is taken over (default 0).
    pub fn argnums(mut self, a: impl Into<Argnums>) -> Self {
        self.argnums = a.into();
        self
    }
    /// `vᵀ H` at `primals`.
    pub fn call<A: Args, V: Pytree, R: Pytree>(&self, primals: &A, v: &V) -> Result<R>
    where
        F: Function<A>,
    {
        convert(self.call_dyn(primals.to_args(), v.to_tree())?, "vhp")
    }
    /// As [`call`](Vhp::call), on trees.
    pub fn call_dyn<A>(&self, args: Vec<Tree>, v: Tree) -> Result<Tree>
    where
        F: Function<A>,
    {
        let call = format!("vhp(f, argnums={})", self.argnums);
        let idx = self.argnums.resolve(args.len(), &call)?;
        let sel: Vec<Tree> = idx.iter().map(|&i| args[i].clone()).collect();
        let cts = per_arg(&self.argnums, v, idx.len(), &call)?;
        let f = |a: Vec<Tree>| self.f.apply(a);
        let g = grad_of_selected(&f, &args, &idx, &call);
        let (_, pb, _) = vjp_impl(&g, sel, None, false, &call)?;
        Ok(self
            .argnums
            .select(pb.apply(Tree::Tuple(cts))?.into_tuple()?))
    }
}
