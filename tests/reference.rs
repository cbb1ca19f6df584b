//! The reference cases of `tests/data/reference_cases.json` (a copy of the project's
//! `../shared/reference/cases.json`, with its README beside it): outputs of torch.func (float64) for
//! the catalogue of functions in `../shared/reference/README.md`, each under one transform or
//! composition. Every catalogue function is written here with the crate's public ops, exactly
//! as the README defines it; every call kind is run through the public transforms; the result's
//! tree structure, shapes and values must match (values to a relative tolerance of 1e-9).
//!
//! There is one `#[test]` per case, named after it, and one more that checks the list of tests
//! is exactly the list of cases in the file.
//!
//! Compositions given as strings (`vmap(jacrev(argnums=4), in_dims=(None,...,0))`) are parsed by
//! a small recursive-descent parser into a [`Spec`] and realized by nesting the builders, each
//! level wrapped with [`dynamic`].

use functorch::{
    Argnums, DType, Dims, Result, Tensor, Tree, dynamic, grad, hessian, hvp, jacfwd, jacrev, jvp,
    vjp, vmap,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::OnceLock;

/// Relative tolerance (float64), as the reference README asks.
const RTOL: f64 = 1e-9;
/// Absolute floor, for entries whose reference value is (or is near) zero: a Hessian's exact
/// zeros come back from some compositions as sums of cancelling rounding errors.
const ATOL: f64 = 1e-12;

// ---------------------------------------------------------------------------------------------
// The catalogue
// ---------------------------------------------------------------------------------------------

type CatalogueFn = fn(&[Tensor]) -> Result<Tensor>;

/// `sum(sin(x))`
fn sin_sum(a: &[Tensor]) -> Result<Tensor> {
    a[0].sin()?.sum()
}

/// `sum over i < n-1 of 100·(x[i+1] − x[i]²)² + (1 − x[i])²`
fn rosenbrock(a: &[Tensor]) -> Result<Tensor> {
    let x = &a[0];
    let head = x.slice(0, 0, -1, 1)?; // x[i], i < n-1
    let tail = x.slice(0, 1, i64::MAX, 1)?; // x[i+1]
    let t1 = tail.sub(&head.square()?)?.square()?.mul_scalar(100.0)?;
    let t2 = head.rsub_scalar(1.0)?.square()?;
    t1.add(&t2)?.sum()
}

/// `m + log(sum(exp(x − m)))`, `m = max(x)`
fn logsumexp(a: &[Tensor]) -> Result<Tensor> {
    let x = &a[0];
    let m = x.max()?;
    m.add(&x.sub(&m)?.exp()?.sum()?.log()?)
}

/// `x @ A @ x`
fn quad(a: &[Tensor]) -> Result<Tensor> {
    let (x, m) = (&a[0], &a[1]);
    x.matmul(m)?.matmul(x)
}

/// `tanh(x @ W1 + b1) @ W2 + b2`
fn mlp_forward(w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor, x: &Tensor) -> Result<Tensor> {
    let h = x.matmul(w1)?.add(b1)?.tanh()?;
    h.matmul(w2)?.add(b2)
}

/// `mean((mlp(X) − y)²)` over all elements
fn mlp_loss(a: &[Tensor]) -> Result<Tensor> {
    let out = mlp_forward(&a[0], &a[1], &a[2], &a[3], &a[4])?;
    out.sub(&a[5])?.square()?.mean()
}

/// `tanh(x @ W1 + b1) @ W2 + b2`
fn mlp_out(a: &[Tensor]) -> Result<Tensor> {
    mlp_forward(&a[0], &a[1], &a[2], &a[3], &a[4])
}

/// `stack([x0·x1, sin(x2)·x0, exp(x1) + x2², x0 / x2])`
fn vec_fn(a: &[Tensor]) -> Result<Tensor> {
    let x = &a[0];
    let (x0, x1, x2) = (x.get(0)?, x.get(1)?, x.get(2)?);
    Tensor::stack(
        &[
            x0.mul(&x1)?,
            x2.sin()?.mul(&x0)?,
            x1.exp()?.add(&x2.square()?)?,
            x0.div(&x2)?,
        ],
        0,
    )
}

/// `logits = X @ W; logp = logits − logsumexp(logits, 1, keepdim); −mean_r logp[r, y[r]]`
fn softmax_ce(a: &[Tensor]) -> Result<Tensor> {
    let (w, x, y) = (&a[0], &a[1], &a[2]);
    let logits = x.matmul(w)?;
    let logp = logits.sub(&logits.logsumexp(&[1], true)?)?;
    logp.gather(1, &y.unsqueeze(1)?)?.mean()?.neg()
}

/// `x / sqrt(sum(x·x))`
fn normalize(a: &[Tensor]) -> Result<Tensor> {
    let x = &a[0];
    x.div(&x.mul(x)?.sum()?.sqrt()?)
}

/// `sum((A @ Aᵀ)²)`
fn matfn(a: &[Tensor]) -> Result<Tensor> {
    let m = &a[0];
    m.matmul(&m.t()?)?.square()?.sum()
}

/// `softmax(Q @ Kᵀ / sqrt(d), last axis) @ V`, `d` = columns of Q
fn attention(a: &[Tensor]) -> Result<Tensor> {
    let (q, k, v) = (&a[0], &a[1], &a[2]);
    let d = q.dim(-1)? as f64;
    let scores = q.matmul(&k.t()?)?.div_scalar(d.sqrt())?;
    scores.softmax(-1)?.matmul(v)
}

/// `sum(where(x > 0, x³, −x²) + relu(x)·abs(x))`
fn piecewise(a: &[Tensor]) -> Result<Tensor> {
    let x = &a[0];
    let w = Tensor::where_(&x.gt_scalar(0.0)?, &x.pow_scalar(3.0)?, &x.square()?.neg()?)?;
    w.add(&x.relu()?.mul(&x.abs()?)?)?.sum()
}

/// `cat([mean over axis 0, max over axis 1, [prod of all], sum over axis 1])`
fn reductions(a: &[Tensor]) -> Result<Tensor> {
    let x = &a[0];
    Tensor::cat(
        &[
            x.mean_dims(&[0], false)?,
            x.amax(&[1], false)?,
            x.prod()?.reshape(&[1])?,
            x.sum_dims(&[1], false)?,
        ],
        0,
    )
}

/// `cat([flatten(xᵀ), flatten(x[:, 1:]), flatten(stack([sum₀ x, prod₀ x])),
/// flatten(sum₀ broadcast_to(x[None], [2, rows, cols]))])`
fn shapes(a: &[Tensor]) -> Result<Tensor> {
    let x = &a[0];
    let (rows, cols) = (x.dim(0)?, x.dim(1)?);
    let stacked = Tensor::stack(&[x.sum_dims(&[0], false)?, x.prod_dim(0, false)?], 0)?;
    let bcast = x.unsqueeze(0)?.broadcast_to(&[2, rows, cols])?;
    Tensor::cat(
        &[
            x.t()?.flatten()?,
            x.slice(1, 1, i64::MAX, 1)?.flatten()?,
            stacked.flatten()?,
            bcast.sum_dims(&[0], false)?.flatten()?,
        ],
        0,
    )
}

/// `sum(sigmoid(x)·tanh(x) + softplus(x) + log1p(x²) + sqrt(x² + 1) + x³ / (1 + exp(x))
/// + cos(x)·exp(x) − atan(x/3) + maximum(x, 0.5·x) + clamp(x, −0.3, 0.4))`
fn zoo(a: &[Tensor]) -> Result<Tensor> {
    let x = &a[0];
    let x2 = x.square()?;
    let terms = [
        x.sigmoid()?.mul(&x.tanh()?)?,
        x.softplus()?,
        x2.log1p()?,
        x2.add_scalar(1.0)?.sqrt()?,
        x.pow_scalar(3.0)?.div(&x.exp()?.add_scalar(1.0)?)?,
        x.cos()?.mul(&x.exp()?)?,
        x.div_scalar(3.0)?.atan()?.neg()?,
        x.maximum(&x.mul_scalar(0.5)?)?,
        x.clamp(-0.3, 0.4)?,
    ];
    let mut acc = terms[0].clone();
    for t in &terms[1..] {
        acc = acc.add(t)?;
    }
    acc.sum()
}

/// `sum(x[idx]² · w)`, `idx` an i64 index with repeats
fn gather_fn(a: &[Tensor]) -> Result<Tensor> {
    let (x, idx, w) = (&a[0], &a[1], &a[2]);
    x.index_select(0, idx)?.square()?.mul(w)?.sum()
}

/// `M = A @ Aᵀ + I; logdet(M) + sum(solve(M, sum of A over axis 1)) + trace(inverse(M))`
fn logdet_fn(a: &[Tensor]) -> Result<Tensor> {
    let m0 = &a[0];
    let n = m0.dim(0)?;
    let m = m0.matmul(&m0.t()?)?.add(&Tensor::eye(n, DType::F64)?)?;
    let rhs = m0.sum_dims(&[1], false)?;
    m.logdet()?
        .add(&m.solve(&rhs)?.sum()?)?
        .add(&m.inv()?.trace()?)
}

/// The catalogue function `name` and its number of positional arguments.
fn catalogue(name: &str) -> (CatalogueFn, usize) {
    match name {
        "sin_sum" => (sin_sum, 1),
        "rosenbrock" => (rosenbrock, 1),
        "logsumexp" => (logsumexp, 1),
        "quad" => (quad, 2),
        "mlp_loss" => (mlp_loss, 6),
        "mlp_out" => (mlp_out, 5),
        "vec_fn" => (vec_fn, 1),
        "softmax_ce" => (softmax_ce, 3),
        "normalize" => (normalize, 1),
        "matfn" => (matfn, 1),
        "attention" => (attention, 3),
        "piecewise" => (piecewise, 1),
        "reductions" => (reductions, 1),
        "shapes" => (shapes, 1),
        "zoo" => (zoo, 1),
        "gather_fn" => (gather_fn, 3),
        "logdet_fn" => (logdet_fn, 1),
        other => panic!("unknown catalogue function {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the file
// ---------------------------------------------------------------------------------------------

fn cases() -> &'static [Value] {
    static CASES: OnceLock<Value> = OnceLock::new();
    CASES
        .get_or_init(|| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/reference_cases.json"
            );
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {path}: {e}"))
        })
        .get("cases")
        .and_then(Value::as_array)
        .expect("cases.json has a \"cases\" array")
}

fn shape_of(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .expect("a TENSOR has a shape")
        .iter()
        .map(|d| d.as_u64().expect("dims are non-negative integers") as usize)
        .collect()
}

fn tensor_from_json(v: &Value) -> Tensor {
    let shape = shape_of(v);
    let data = v["data"].as_array().expect("a TENSOR has data");
    let t = match v.get("dtype").and_then(Value::as_str) {
        None | Some("f64") | Some("float64") => {
            let d: Vec<f64> = data.iter().map(|x| x.as_f64().expect("a number")).collect();
            Tensor::from_vec(d, &shape)
        }
        Some("i64") | Some("int64") => {
            let d: Vec<i64> = data
                .iter()
                .map(|x| x.as_i64().expect("an integer"))
                .collect();
            Tensor::from_vec(d, &shape)
        }
        Some(other) => panic!("unknown dtype {other:?}"),
    };
    t.expect("the data fits the shape")
}

fn tensors(case: &Value, key: &str) -> Vec<Tensor> {
    case[key]
        .as_array()
        .unwrap_or_else(|| panic!("the case has no {key:?} list"))
        .iter()
        .map(tensor_from_json)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Composition strings: `vmap(jacrev(argnums=4), in_dims=(None,None,None,None,0))`
// ---------------------------------------------------------------------------------------------

/// A keyword value: an int, `None`, or a tuple of values.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Int(i64),
    None,
    Tuple(Vec<Val>),
}

/// A composition: the catalogue function, or a transform (`name`, its keyword options) of one.
#[derive(Clone, Debug)]
enum Spec {
    Base,
    Transform {
        name: String,
        kw: BTreeMap<String, Val>,
        inner: Box<Spec>,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Open,
    Close,
    Comma,
    Eq,
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < c.len() {
        let punct = match c[i] {
            '(' => Some(Tok::Open),
            ')' => Some(Tok::Close),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Eq),
            _ => None,
        };
        if let Some(t) = punct {
            out.push(t);
            i += 1;
            continue;
        }
        match c[i] {
            ' ' => i += 1,
            ch if ch == '-' || ch.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < c.len() && c[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = c[start..i].iter().collect();
                out.push(Tok::Int(
                    text.parse()
                        .unwrap_or_else(|_| panic!("bad integer {text:?} in {s:?}")),
                ));
            }
            ch if ch.is_ascii_alphabetic() || ch == '_' => {
                let start = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            }
            ch => panic!("unexpected {ch:?} in {s:?}"),
        }
    }
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    src: String,
}

impl Parser {
    fn peek(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k)
    }
    fn next(&mut self) -> Tok {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t.unwrap_or_else(|| panic!("{:?} ends too early", self.src))
    }
    fn expect(&mut self, want: Tok) {
        let got = self.next();
        assert_eq!(got, want, "in {:?}", self.src);
    }
    /// `name` or `name(item, ...)`, an item being `key=value` or a nested transform.
    fn transform(&mut self) -> Spec {
        let Tok::Ident(name) = self.next() else {
            panic!("expected a transform name in {:?}", self.src)
        };
        let mut kw = BTreeMap::new();
        let mut inner = Spec::Base;
        if self.peek(0) == Some(&Tok::Open) {
            self.pos += 1;
            loop {
                if self.peek(0) == Some(&Tok::Close) {
                    break;
                }
                if matches!(self.peek(0), Some(Tok::Ident(_))) && self.peek(1) == Some(&Tok::Eq) {
                    let Tok::Ident(key) = self.next() else {
                        unreachable!()
                    };
                    self.expect(Tok::Eq);
                    let v = self.value();
                    assert!(
                        kw.insert(key.clone(), v).is_none(),
                        "{key} given twice in {:?}",
                        self.src
                    );
                } else {
                    assert!(
                        matches!(inner, Spec::Base),
                        "two inner functions in {:?}",
                        self.src
                    );
                    inner = self.transform();
                }
                if self.peek(0) == Some(&Tok::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            self.expect(Tok::Close);
        }
        Spec::Transform {
            name,
            kw,
            inner: Box::new(inner),
        }
    }
    fn value(&mut self) -> Val {
        match self.next() {
            Tok::Int(i) => Val::Int(i),
            Tok::Ident(s) if s == "None" => Val::None,
            Tok::Open => {
                let mut v = Vec::new();
                while self.peek(0) != Some(&Tok::Close) {
                    v.push(self.value());
                    if self.peek(0) == Some(&Tok::Comma) {
                        self.pos += 1;
                    }
                }
                self.expect(Tok::Close);
                Val::Tuple(v)
            }
            t => panic!("unexpected {t:?} for a value in {:?}", self.src),
        }
    }
}

fn parse_call(s: &str) -> Spec {
    let mut p = Parser {
        toks: tokenize(s),
        pos: 0,
        src: s.to_string(),
    };
    let spec = p.transform();
    assert_eq!(p.pos, p.toks.len(), "trailing tokens in {s:?}");
    spec
}

fn json_to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::None,
        Value::Number(n) => Val::Int(n.as_i64().expect("an integer option")),
        Value::Array(a) => Val::Tuple(a.iter().map(json_to_val).collect()),
        other => panic!("unsupported option value {other}"),
    }
}

fn to_argnums(v: &Val) -> Argnums {
    match v {
        Val::Int(i) => Argnums::One(*i),
        Val::Tuple(t) => Argnums::Many(
            t.iter()
                .map(|x| match x {
                    Val::Int(i) => *i,
                    other => panic!("argnums entries must be ints, got {other:?}"),
                })
                .collect(),
        ),
        Val::None => panic!("argnums=None"),
    }
}

fn to_dims(v: &Val) -> Dims {
    match v {
        Val::Int(i) => Dims::Dim(Some(*i)),
        Val::None => Dims::Dim(None),
        Val::Tuple(t) => Dims::Tuple(t.iter().map(to_dims).collect()),
    }
}

fn to_chunk(v: &Val) -> Option<usize> {
    match v {
        Val::Int(i) => Some(usize::try_from(*i).expect("chunk_size >= 0")),
        Val::None => None,
        other => panic!("chunk_size must be an int, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Running a composition
// ---------------------------------------------------------------------------------------------

type DynFn = Rc<dyn Fn(&[Tree]) -> Result<Tree>>;

/// The catalogue function as a function of positional trees (each a tensor).
fn base_fn(name: &str) -> DynFn {
    let (f, arity) = catalogue(name);
    let name = name.to_string();
    Rc::new(move |args: &[Tree]| {
        assert_eq!(args.len(), arity, "{name} takes {arity} arguments");
        let ts = args
            .iter()
            .map(|t| t.clone().into_tensor())
            .collect::<Result<Vec<_>>>()?;
        Ok(Tree::Leaf(f(&ts)?))
    })
}

/// The function `spec` describes, over `base`.
fn realize(spec: &Spec, base: &DynFn) -> DynFn {
    let Spec::Transform { name, kw, inner } = spec else {
        return base.clone();
    };
    let inner = realize(inner, base);
    let keys: Vec<&str> = kw.keys().map(String::as_str).collect();
    let allowed: &[&str] = match name.as_str() {
        "grad" => &["argnums"],
        "jacrev" | "jacfwd" | "hessian" => &["argnums", "chunk_size"],
        "vmap" => &["in_dims", "out_dims", "chunk_size"],
        other => panic!("unknown transform {other:?}"),
    };
    if let Some(k) = keys.iter().find(|k| !allowed.contains(k)) {
        panic!("{name} does not take the option {k:?}");
    }
    let argnums = kw.get("argnums").map(to_argnums).unwrap_or_default();
    let chunk = kw.get("chunk_size").and_then(to_chunk);
    let in_dims = kw.get("in_dims").map(to_dims).unwrap_or(Dims::Dim(Some(0)));
    let out_dims = kw
        .get("out_dims")
        .map(to_dims)
        .unwrap_or(Dims::Dim(Some(0)));
    let name = name.clone();
    Rc::new(move |args: &[Tree]| {
        let g = inner.clone();
        let f = dynamic(move |a: &[Tree]| g(a));
        let args = args.to_vec();
        match name.as_str() {
            "grad" => grad(f).argnums(argnums.clone()).call_dyn(args),
            "jacrev" => jacrev(f)
                .argnums(argnums.clone())
                .chunk_size(chunk)
                .call_dyn(args),
            "jacfwd" => jacfwd(f)
                .argnums(argnums.clone())
                .chunk_size(chunk)
                .call_dyn(args),
            "hessian" => hessian(f)
                .argnums(argnums.clone())
                .chunk_size(chunk)
                .call_dyn(args),
            "vmap" => vmap(f)
                .in_dims(in_dims.clone())
                .out_dims(out_dims.clone())
                .chunk_size(chunk)
                .call_dyn(args),
            _ => unreachable!(),
        }
    })
}

/// A tree from a list of cotangents or tangents: the leaf itself for one, a tuple for several.
fn one_or_tuple(ts: Vec<Tensor>) -> Tree {
    if ts.len() == 1 {
        Tree::Leaf(ts.into_iter().next().unwrap())
    } else {
        Tree::Tuple(ts.into_iter().map(Tree::Leaf).collect())
    }
}

fn run_case(case: &Value) -> Result<Tree> {
    let function = case["function"].as_str().expect("a function name");
    let call = case["call"].as_str().expect("a call");
    let options = case
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let args: Vec<Tree> = tensors(case, "args").into_iter().map(Tree::Leaf).collect();
    let base = base_fn(function);
    let plain = {
        let b = base.clone();
        dynamic(move |a: &[Tree]| b(a))
    };
    match call {
        "jvp" | "vjp" | "hvp" => {
            assert!(options.is_empty(), "{call} takes no options here");
        }
        _ => {}
    }
    match call {
        // jvp(f, args, tangents) = (f(args), J tangents)
        "jvp" => {
            let tangents: Vec<Tree> = tensors(case, "tangents")
                .into_iter()
                .map(Tree::Leaf)
                .collect();
            jvp(plain).call_dyn::<Tree>(args, tangents)
        }
        // vjp(f, *args) = (f(args), pullback); the pullback gives one cotangent per argument
        "vjp" => {
            let (out, pullback, _) = vjp(plain).call_dyn::<Tree>(args)?;
            let cts = pullback.apply(one_or_tuple(tensors(case, "cotangents")))?;
            Ok(Tree::Tuple(vec![out, cts]))
        }
        // the tangent output of jvp(grad(f), args, tangents)
        "hvp" => {
            let tangents = tensors(case, "tangents");
            assert_eq!(
                (args.len(), tangents.len()),
                (1, 1),
                "hvp cases here have one argument and one tangent"
            );
            hvp(plain).call_dyn::<Tree>(args, one_or_tuple(tangents))
        }
        _ => {
            let mut spec = parse_call(call);
            if !options.is_empty() {
                let Spec::Transform { kw, .. } = &mut spec else {
                    unreachable!("parse_call gives a transform")
                };
                for (k, v) in &options {
                    assert!(
                        kw.insert(k.clone(), json_to_val(v)).is_none(),
                        "option {k} given twice"
                    );
                }
            }
            realize(&spec, &base)(&args)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing with `expected`
// ---------------------------------------------------------------------------------------------

fn describe_json(v: &Value) -> String {
    match v.get("tuple").and_then(Value::as_array) {
        Some(items) => format!(
            "({})",
            items
                .iter()
                .map(describe_json)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => format!("tensor{:?}", shape_of(v)),
    }
}

/// Compare `got` with the expected TREE, pushing one line per difference onto `errs`.
fn compare(path: &str, got: &Tree, want: &Value, errs: &mut Vec<String>) {
    if let Some(items) = want.get("tuple").and_then(Value::as_array) {
        match got {
            Tree::Tuple(v) if v.len() == items.len() => {
                for (i, (g, w)) in v.iter().zip(items).enumerate() {
                    compare(&format!("{path}.{i}"), g, w, errs);
                }
            }
            other => errs.push(format!(
                "{path}: structure differs: expected {}, got {}",
                describe_json(want),
                other.describe()
            )),
        }
        return;
    }
    let Tree::Leaf(t) = got else {
        errs.push(format!(
            "{path}: structure differs: expected {}, got {}",
            describe_json(want),
            got.describe()
        ));
        return;
    };
    let shape = shape_of(want);
    if t.shape() != shape.as_slice() {
        errs.push(format!(
            "{path}: shape differs: expected {shape:?}, got {:?}",
            t.shape()
        ));
        return;
    }
    if t.dtype() != DType::F64 {
        errs.push(format!(
            "{path}: dtype differs: expected float64, got {}",
            t.dtype()
        ));
        return;
    }
    let g = t.to_vec::<f64>().expect("a concrete f64 tensor");
    let w: Vec<f64> = want["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect();
    assert_eq!(
        w.len(),
        g.len(),
        "{path}: the reference data fits its shape"
    );
    let mut bad = 0;
    let mut worst: Option<(usize, f64)> = None; // (index, excess over the tolerance)
    let mut max_abs = 0.0f64;
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        let diff = (a - b).abs();
        let tol = RTOL * b.abs() + ATOL;
        if diff.is_nan() || diff > tol {
            bad += 1;
            let excess = if diff.is_nan() {
                f64::INFINITY
            } else {
                diff / tol
            };
            if worst.is_none_or(|(_, e)| excess > e) {
                worst = Some((i, excess));
            }
        }
        if diff.is_nan() {
            max_abs = f64::NAN;
        } else if !max_abs.is_nan() {
            max_abs = max_abs.max(diff);
        }
    }
    if let Some((i, _)) = worst {
        errs.push(format!(
            "{path}: {bad} of {} values differ (shape {shape:?}); max |got − expected| = {max_abs:e}; \
             worst at flat index {i}: got {:e}, expected {:e} (tolerance {:e})",
            g.len(),
            g[i],
            w[i],
            RTOL * w[i].abs() + ATOL
        ));
    }
}

fn find_case(name: &str) -> &'static Value {
    cases()
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no case named {name:?} in cases.json"))
}

fn check(name: &str) {
    let case = find_case(name);
    let got = match run_case(case) {
        Ok(t) => t,
        Err(e) => panic!(
            "case {name} ({} of {}): the call failed: {e}",
            case["call"], case["function"]
        ),
    };
    let mut errs = Vec::new();
    compare("result", &got, &case["expected"], &mut errs);
    assert!(
        errs.is_empty(),
        "case {name} ({} of {}) differs from torch.func:\n  {}",
        case["call"],
        case["function"],
        errs.join("\n  ")
    );
}

macro_rules! reference_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            #[allow(non_snake_case)]
            fn $name() {
                check(stringify!($name));
            }
        )*

        /// The tests above are exactly the cases of the file, each once.
        #[test]
        fn every_case_has_a_test() {
            let mut listed = vec![$(stringify!($name)),*];
            let mut in_file: Vec<&str> = cases()
                .iter()
                .map(|c| c["name"].as_str().expect("a case name"))
                .collect();
            assert_eq!(in_file.len(), 41, "the reference file has 41 cases");
            listed.sort_unstable();
            in_file.sort_unstable();
            let n = in_file.len();
            in_file.dedup();
            assert_eq!(in_file.len(), n, "case names in the file are unique");
            assert_eq!(listed, in_file, "one test per case of the file");
        }
    };
}

reference_cases! {
    sin_sum_hessian,
    sin_sum_jacrev,
    sin_sum_jacfwd,
    rosenbrock_hessian,
    rosenbrock_grad,
    logsumexp_hessian,
    quad_hessian,
    quad_jacrev_argnums01,
    mlp_loss_hessian_W1,
    mlp_loss_jacrev_params,
    mlp_loss_hessian_b1_W2,
    vec_fn_jacrev,
    vec_fn_jacfwd,
    vec_fn_hessian,
    vec_fn_jacrev_chunk1,
    vec_fn_jacrev_chunk3,
    softmax_ce_hessian,
    normalize_jacrev,
    normalize_hessian,
    matfn_hessian,
    attention_jacrev_Q,
    attention_jacfwd_K,
    piecewise_hessian,
    reductions_jacrev,
    shapes_jacrev,
    shapes_jacfwd,
    zoo_hessian,
    zoo_grad,
    gather_hessian,
    logdet_hessian,
    zoo_jvp,
    vec_fn_vjp,
    rosenbrock_hvp,
    mlp_out_vmap_jacrev,
    mlp_out_vmap_jacfwd,
    mlp_loss_per_sample_grad,
    sin_sum_vmap_hessian,
    vec_fn_vmap_out_dims1,
    quad_vmap_in_dims_1_none,
    matfn_vmap_vmap,
    rosenbrock_vmap_chunk2,
}

// ---------------------------------------------------------------------------------------------
// The test harness itself
// ---------------------------------------------------------------------------------------------

/// The parser reads every composition string of the file into the nesting it spells.
#[test]
fn composition_strings_parse() {
    let spec = parse_call("vmap(jacrev(argnums=4), in_dims=(None,None,None,None,0))");
    let Spec::Transform { name, kw, inner } = spec else {
        panic!("a transform")
    };
    assert_eq!(name, "vmap");
    assert_eq!(
        kw["in_dims"],
        Val::Tuple(vec![
            Val::None,
            Val::None,
            Val::None,
            Val::None,
            Val::Int(0)
        ])
    );
    let Spec::Transform { name, kw, inner } = *inner else {
        panic!("a nested transform")
    };
    assert_eq!((name.as_str(), &kw["argnums"]), ("jacrev", &Val::Int(4)));
    assert!(matches!(*inner, Spec::Base));
    let Spec::Transform { name, inner, .. } = parse_call("vmap(vmap)") else {
        panic!("a transform")
    };
    assert_eq!(name, "vmap");
    assert!(matches!(&*inner, Spec::Transform { name, .. } if name == "vmap"));
}

/// The comparison catches a wrong value, a wrong shape and a wrong structure.
#[test]
fn comparison_can_fail() {
    let want: Value =
        serde_json::from_str(r#"{"tuple": [{"shape": [2], "data": [1.0, 0.0]}]}"#).unwrap();
    let leaf = |v: Vec<f64>| Tree::Leaf(Tensor::from_slice(&v));
    let mut errs = Vec::new();
    compare(
        "r",
        &Tree::Tuple(vec![leaf(vec![1.0, 0.0])]),
        &want,
        &mut errs,
    );
    assert!(errs.is_empty(), "{errs:?}");
    compare(
        "r",
        &Tree::Tuple(vec![leaf(vec![1.0 + 1e-8, 0.0])]),
        &want,
        &mut errs,
    );
    compare(
        "r",
        &Tree::Tuple(vec![leaf(vec![1.0, 1e-10])]),
        &want,
        &mut errs,
    );
    compare(
        "r",
        &Tree::Tuple(vec![leaf(vec![1.0, f64::NAN])]),
        &want,
        &mut errs,
    );
    compare("r", &Tree::Tuple(vec![leaf(vec![1.0])]), &want, &mut errs);
    compare("r", &leaf(vec![1.0, 0.0]), &want, &mut errs);
    compare("r", &Tree::Tuple(vec![]), &want, &mut errs);
    assert_eq!(errs.len(), 6, "{errs:#?}");
}
