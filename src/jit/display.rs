//! A graph printed like a jaxpr: the inputs with their types, one equation a line, the outputs.
//!
//! ```text
//! { lambda a:f64[3]; consts c0:f64[3]. let
//!     b:f64[3] = sin a
//!     c:f64[] = sum[dims=[0], keepdim=false] b
//!   in (c) }
//! ```

use super::Program;
use super::fuse::Step;
use super::small::{Fate, SmallProgram};
use super::tile::PadSpec;
use crate::core::stage::{Atom, Eqn, Graph};
use crate::dtype::DType;
use std::fmt;

fn short(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::I64 => "i64",
        DType::Bool => "bool",
    }
}

fn ty(shape: &[usize], d: DType) -> String {
    let dims: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
    format!("{}[{}]", short(d), dims.join(","))
}

/// Variable names as a jaxpr has them: a, b, ..., z, ba, bb, ...
fn letters(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (i % 26) as u8);
        i /= 26;
        if i == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8(s).expect("ascii")
}

struct Names<'a>(&'a Graph);

impl Names<'_> {
    fn of(&self, a: Atom) -> String {
        match a {
            Atom::In(i) => letters(i),
            Atom::Var(i) => letters(self.0.inputs.len() + i),
            Atom::Const(i) => format!("c{i}"),
        }
    }
}

/// The primitive and its parameters, from its `Debug` form: `Unary(Sin)` prints as `sin`,
/// `Sum { dims: [0], keepdim: false }` as `sum { dims: [0], keepdim: false }`.
fn op(p: &dyn crate::core::Primitive) -> String {
    let dbg = format!("{p:?}");
    let params = match (dbg.find('{'), dbg.find('(')) {
        (Some(b), _) => dbg[b..].to_string(),
        (None, Some(b)) => {
            let inner = &dbg[b + 1..dbg.len() - 1];
            // the op's own name already says what a bare enum variant says
            if inner.contains('(') || inner.contains(',') {
                format!("[{inner}]")
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    if params.is_empty() {
        p.name().to_string()
    } else {
        format!("{} {params}", p.name())
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        header(self, f)?;
        let n = Names(self);
        for (i, e) in self.eqns.iter().enumerate() {
            eqn(&n, i, e, "    ", f)?;
        }
        footer(self, f)
    }
}

/// One equation's line.
fn eqn(n: &Names<'_>, i: usize, e: &Eqn, indent: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    eqn_tagged(n, i, e, indent, "", f)
}

/// One equation's line, ending with `tag`.
fn eqn_tagged(
    n: &Names<'_>,
    i: usize,
    e: &Eqn,
    indent: &str,
    tag: &str,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let args: Vec<String> = e.ins.iter().map(|a| n.of(*a)).collect();
    writeln!(
        f,
        "{indent}{}:{} = {} {}{tag}",
        n.of(Atom::Var(i)),
        ty(&e.shape, e.dtype),
        op(&*e.prim),
        args.join(" ")
    )
}

/// A compiled program: the graph's equations, with each fused group printed as one `fused`
/// equation (its outputs, its inputs, and the equations it runs in one pass, in braces). An
/// input marked `(sparse)` is a constant with at most one nonzero a row, which the kernel
/// generates from those nonzeros instead of reading; `(a · c sparse)` is the product of `a` by
/// a constant standard basis `c`, generated from `a` and the nonzeros of `c` (the product
/// itself is not materialized); `pad[...](x)` is `x` read through a pad
/// (the pad itself is not materialized unless something else reads it). A fused step whose
/// outputs are constant away from its sparse constants' nonzeros (see `skip`) ends its line
/// with those constants: it computes only the columns near the nonzeros when its other inputs
/// are finite. A product with k = 1 fused into its readers as a broadcast multiply (checked on
/// every call to be what eager's product computes) is marked as such.
impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.graph;
        if let Some(s) = &self.small {
            return small(g, s, f);
        }
        let Some(plan) = &self.steps else {
            return g.fmt(f);
        };
        // the graph as the steps run it (rewritten: equations copied, products with k = 1 as
        // multiplies)
        let g = plan.rewritten.as_ref().unwrap_or(g);
        header(g, f)?;
        let n = Names(g);
        let (eqns, outer) = (&g.eqns, &plan.outer[..]);
        for s in &plan.steps {
            match s {
                Step::Eval { out, .. } => eqn_tagged(&n, *out, &eqns[*out], "    ", "", f)?,
                Step::Fused {
                    ins,
                    outs,
                    members,
                    kernel,
                } => {
                    let outs: Vec<String> = outs
                        .iter()
                        .map(|&o| {
                            format!(
                                "{}:{}",
                                n.of(Atom::Var(o)),
                                ty(&g.eqns[o].shape, g.eqns[o].dtype)
                            )
                        })
                        .collect();
                    // a constant generated from its nonzeros marked `(sparse)`, a product by
                    // one read in sparse form `(a · c sparse)`; the step's inputs are the
                    // kernel's own, then its prologue's
                    let spec = |a: &Atom, sp: bool, pad: Option<PadSpec>, prod: Option<Atom>| match (
                        sp, pad, prod,
                    ) {
                        (true, _, _) => format!("{}(sparse)", n.of(*a)),
                        (_, Some(p), _) => format!(
                            "pad[dim={},start={},step={}]({})",
                            p.dim,
                            p.start,
                            p.step,
                            n.of(*a)
                        ),
                        (_, _, Some(c)) => format!("({} · {} sparse)", n.of(*a), n.of(c)),
                        _ => n.of(*a),
                    };
                    // the constant of each product read in sparse form
                    let prod_const = |k: &super::tile::Kernel, i: usize, a: &Atom| {
                        k.products[i].as_ref().and_then(|_| {
                            (members.iter())
                                .flat_map(|&m| &eqns[m].ins)
                                .filter_map(|x| match x {
                                    Atom::Var(v)
                                        if eqns[*v].prim.name() == "matmul"
                                            && eqns[*v].ins.first() == Some(a) =>
                                    {
                                        eqns[*v].ins.get(1).copied()
                                    }
                                    _ => None,
                                })
                                .next()
                        })
                    };
                    let own = (0..kernel.n_in)
                        .filter(|&i| kernel.pre_of[i].is_none())
                        .map(|i| (kernel.as_ref(), i));
                    let pre = kernel
                        .pre
                        .iter()
                        .flat_map(|p| (0..p.n_in).map(move |i| (&**p, i)));
                    let mut ins: Vec<String> = ins
                        .iter()
                        .zip(own.chain(pre))
                        .map(|(a, (k, i))| {
                            spec(a, k.sparse[i].is_some(), k.pads[i], prod_const(k, i, a))
                        })
                        .collect();
                    // the prologue's outputs, read through pads (computed a row at a time)
                    for (k, p) in kernel.pre_of.iter().zip(&kernel.pads) {
                        if let (Some(k), Some(p)) = (k, p) {
                            let a = Atom::Var(kernel.pre_outs[*k]);
                            ins.push(format!("{}(row)", spec(&a, false, Some(*p), None)));
                        }
                    }
                    // rows computed only near the sparse constants' nonzeros: the outputs'
                    // values elsewhere
                    let skip = match &kernel.skip {
                        Some(s) if s.template => {
                            "  -- elsewhere than the nonzeros' columns: the template row".into()
                        }
                        Some(s) => {
                            let cs: Vec<String> =
                                s.consts.iter().map(|c| format!("{c:?}")).collect();
                            format!(
                                "  -- elsewhere than the nonzeros' columns: {}",
                                cs.join(" ")
                            )
                        }
                        None => String::new(),
                    };
                    writeln!(
                        f,
                        "    {} = fused {} {{{skip}",
                        outs.join(" "),
                        ins.join(" ")
                    )?;
                    for &m in members {
                        let tag = if outer.contains(&m) {
                            "    -- matmul with k = 1 (checked: each element one product)"
                        } else {
                            ""
                        };
                        eqn_tagged(&n, m, &eqns[m], "        ", tag, f)?;
                    }
                    writeln!(f, "      }}")?;
                }
            }
        }
        footer(g, f)
    }
}

/// A small program: the equations in order, each data-movement equation marked with what
/// became of it (`alias`: a part of the arena, no op; `gather`: an index map; `folded` into the
/// gathers that read it, no op).
fn small(g: &Graph, s: &SmallProgram, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (fate, arena, ops) = match s {
        SmallProgram::F32(s) => (&s.fate, s.arena_len(), s.ops.len()),
        SmallProgram::F64(s) => (&s.fate, s.arena_len(), s.ops.len()),
    };
    header(g, f)?;
    writeln!(
        f,
        "    -- small program: {ops} ops over one arena of {arena} elements"
    )?;
    let n = Names(g);
    for (i, e) in g.eqns.iter().enumerate() {
        let tag = match fate[i] {
            Fate::Op => "",
            Fate::Alias => "    -- alias",
            Fate::Gather => "    -- gather",
            Fate::Folded => "    -- folded",
        };
        let mut line = String::new();
        let args: Vec<String> = e.ins.iter().map(|a| n.of(*a)).collect();
        line.push_str(&format!(
            "    {}:{} = {} {}",
            n.of(Atom::Var(i)),
            ty(&e.shape, e.dtype),
            op(&*e.prim),
            args.join(" ")
        ));
        writeln!(f, "{line}{tag}")?;
    }
    footer(g, f)
}

/// `{ lambda` with the inputs and constants, up to `let`.
fn header(g: &Graph, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let n = Names(g);
    let ins: Vec<String> = g
        .inputs
        .iter()
        .enumerate()
        .map(|(i, (s, d))| format!("{}:{}", n.of(Atom::In(i)), ty(s, *d)))
        .collect();
    write!(f, "{{ lambda {}", ins.join(" "))?;
    if !g.consts.is_empty() {
        let cs: Vec<String> = g
            .consts
            .iter()
            .enumerate()
            .map(|(i, c)| format!("c{i}:{}", ty(c.shape(), c.dtype())))
            .collect();
        write!(f, "; consts {}", cs.join(" "))?;
    }
    writeln!(f, ". let")
}

/// `in (outputs) }`.
fn footer(g: &Graph, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let n = Names(g);
    let outs: Vec<String> = g.outs.iter().map(|a| n.of(*a)).collect();
    write!(f, "  in ({}) }}", outs.join(", "))
}
