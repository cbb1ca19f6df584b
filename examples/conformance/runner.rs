//! The conformance runner's logic, shared by `examples/conformance/main.rs` and
//! `tests/conformance.rs`. It interprets the random tensor programs of a conformance file (format:
//! `../shared/conformance/README.md`) with the library's public ops, applies each case's chain
//! of transforms, and compares with the expected results (torch.func's).

use functorch::{
    Dims, Error, Result, Tensor, Tree, dynamic, grad, hessian, jacfwd, jacrev, jit, vmap,
};
use serde_json::Value;
use std::collections::HashMap;
use std::rc::Rc;

type DynF = Rc<dyn Fn(Vec<Tree>) -> Result<Tree>>;

fn bad(msg: impl Into<String>) -> Error {
    Error::Structure(msg.into())
}

fn tensor(v: &Value) -> Result<Tensor> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .ok_or_else(|| bad("tensor without shape"))?
        .iter()
        .map(|s| s.as_u64().unwrap() as usize)
        .collect();
    let data = v["data"]
        .as_array()
        .ok_or_else(|| bad("tensor without data"))?;
    if v.get("dtype").and_then(|d| d.as_str()) == Some("i64") {
        Tensor::from_vec(data.iter().map(|x| x.as_i64().unwrap()).collect(), &shape)
    } else {
        Tensor::from_vec(data.iter().map(|x| x.as_f64().unwrap()).collect(), &shape)
    }
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_i64().unwrap()).collect())
        .unwrap_or_default()
}

/// One program step: `[name, op, operands..., {params}?]`.
fn step(op: &str, xs: &[&Tensor], p: &Value) -> Result<Tensor> {
    let x = xs.first().copied();
    let x = || x.ok_or_else(|| bad(format!("{op}: missing operand")));
    let f = |k: &str| {
        p[k].as_f64()
            .ok_or_else(|| bad(format!("{op}: missing parameter {k}")))
    };
    let i = |k: &str| {
        p[k].as_i64()
            .ok_or_else(|| bad(format!("{op}: missing parameter {k}")))
    };
    let b = |k: &str| p[k].as_bool().unwrap_or(false);
    Ok(match op {
        "neg" => x()?.neg()?,
        "exp" => x()?.exp()?,
        "log" => x()?.log()?,
        "sin" => x()?.sin()?,
        "cos" => x()?.cos()?,
        "tanh" => x()?.tanh()?,
        "sigmoid" => x()?.sigmoid()?,
        "relu" => x()?.relu()?,
        "abs" => x()?.abs()?,
        "sqrt" => x()?.sqrt()?,
        "softplus" => x()?.softplus()?,
        "log1p" => x()?.log1p()?,
        "expm1" => x()?.expm1()?,
        "atan" => x()?.atan()?,
        "reciprocal" => x()?.reciprocal()?,
        "add" => xs[0].add(xs[1])?,
        "sub" => xs[0].sub(xs[1])?,
        "mul" => xs[0].mul(xs[1])?,
        "div" => xs[0].div(xs[1])?,
        "maximum" => xs[0].maximum(xs[1])?,
        "minimum" => xs[0].minimum(xs[1])?,
        "pow" => xs[0].pow(xs[1])?,
        "add_scalar" => x()?.add_scalar(f("value")?)?,
        "mul_scalar" => x()?.mul_scalar(f("value")?)?,
        "pow_scalar" => x()?.pow_scalar(f("exponent")?)?,
        "clamp" => x()?.clamp(f("min")?, f("max")?)?,
        "where_gt" => Tensor::where_(&xs[0].gt(xs[1])?, xs[2], xs[3])?,
        "sum" => x()?.sum_dims(&ints(&p["dims"]), b("keepdim"))?,
        "mean" => x()?.mean_dims(&ints(&p["dims"]), b("keepdim"))?,
        "amax" => x()?.amax(&ints(&p["dims"]), b("keepdim"))?,
        "prod" => x()?.prod_dim(i("dim")?, b("keepdim"))?,
        "logsumexp" => x()?.logsumexp(&[i("dim")?], b("keepdim"))?,
        "softmax" => x()?.softmax(i("dim")?)?,
        "log_softmax" => x()?.log_softmax(i("dim")?)?,
        "reshape" => x()?.reshape(&ints(&p["shape"]))?,
        "transpose" => x()?.transpose(i("dim0")?, i("dim1")?)?,
        "permute" => x()?.permute(&ints(&p["perm"]))?,
        "unsqueeze" => x()?.unsqueeze(i("dim")?)?,
        "squeeze" => x()?.squeeze(i("dim")?)?,
        "expand" => x()?.expand(&ints(&p["shape"]))?,
        "slice" => x()?.slice(i("dim")?, i("start")?, i("end")?, i("step")?)?,
        "cat" => Tensor::cat(&[xs[0].clone(), xs[1].clone()], i("dim")?)?,
        "stack" => Tensor::stack(&[xs[0].clone(), xs[1].clone()], i("dim")?)?,
        "flip" => x()?.flip(&ints(&p["dims"]))?,
        "index_select" => x()?.index_select(i("dim")?, &Tensor::from_slice(&ints(&p["index"])))?,
        "matmul" => xs[0].matmul(xs[1])?,
        other => return Err(bad(format!("unknown op {other}"))),
    })
}

/// The program as a function of positional trees.
fn program(case: &Value) -> Result<DynF> {
    let prog: Vec<Value> = case["program"]
        .as_array()
        .ok_or_else(|| bad("no program"))?
        .clone();
    let outputs: Vec<String> = case["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    Ok(Rc::new(move |args: Vec<Tree>| {
        let mut env: HashMap<String, Tensor> = HashMap::new();
        for s in &prog {
            let s = s.as_array().unwrap();
            let name = s[0].as_str().unwrap().to_string();
            let op = s[1].as_str().unwrap();
            if op == "input" {
                let k = s[2].as_u64().unwrap() as usize;
                env.insert(name, args[k].clone().into_tensor()?);
                continue;
            }
            let (operands, params) = match s.last() {
                Some(v @ Value::Object(_)) => (&s[2..s.len() - 1], v.clone()),
                _ => (&s[2..], Value::Null),
            };
            let xs: Vec<&Tensor> = operands.iter().map(|o| &env[o.as_str().unwrap()]).collect();
            let v = step(op, &xs, &params)?;
            env.insert(name, v);
        }
        let outs: Vec<Tree> = outputs.iter().map(|o| Tree::Leaf(env[o].clone())).collect();
        Ok(if outs.len() == 1 {
            outs.into_iter().next().unwrap()
        } else {
            Tree::Tuple(outs)
        })
    }))
}

fn argnums(v: &Value) -> functorch::Argnums {
    match v {
        Value::Array(a) => {
            functorch::Argnums::Many(a.iter().map(|x| x.as_i64().unwrap()).collect())
        }
        Value::Number(n) => functorch::Argnums::One(n.as_i64().unwrap()),
        _ => functorch::Argnums::One(0),
    }
}

fn dims(v: &Value) -> Dims {
    match v {
        Value::Array(a) => Dims::Tuple(a.iter().map(dims).collect()),
        Value::Number(n) => Dims::from(n.as_i64().unwrap()),
        _ => Dims::none(),
    }
}

fn chunk(v: &Value) -> Option<usize> {
    v.as_u64().map(|c| c as usize)
}

/// Wrap `inner` in one transform of the call chain.
fn transform(t: &Value, inner: DynF) -> Result<DynF> {
    let f = move || {
        let i = inner.clone();
        dynamic(move |a: &[Tree]| i(a.to_vec()))
    };
    let kind = t["t"].as_str().unwrap_or("");
    let (an, cs) = (argnums(&t["argnums"]), chunk(&t["chunk_size"]));
    Ok(match kind {
        "grad" => Rc::new(move |a| grad(f()).argnums(an.clone()).call_dyn(a)),
        "jacrev" => Rc::new(move |a| jacrev(f()).argnums(an.clone()).chunk_size(cs).call_dyn(a)),
        "jacfwd" => Rc::new(move |a| jacfwd(f()).argnums(an.clone()).chunk_size(cs).call_dyn(a)),
        "hessian" => Rc::new(move |a| hessian(f()).argnums(an.clone()).chunk_size(cs).call_dyn(a)),
        "vmap" => {
            let (id, od) = (
                dims(&t["in_dims"]),
                if t["out_dims"].is_null() {
                    Dims::from(0)
                } else {
                    dims(&t["out_dims"])
                },
            );
            Rc::new(move |a| {
                vmap(f())
                    .in_dims(id.clone())
                    .out_dims(od.clone())
                    .chunk_size(cs)
                    .call_dyn(a)
            })
        }
        other => return Err(bad(format!("unknown transform {other}"))),
    })
}

/// Compare a result with an expected TREE; `None` if equal within tolerance.
fn compare(got: &Tree, want: &Value, path: &str) -> Option<String> {
    if let Some(items) = want.get("tuple").and_then(|t| t.as_array()) {
        let Tree::Tuple(g) = got else {
            return Some(format!(
                "{path}: expected a tuple of {}, got {}",
                items.len(),
                got.describe()
            ));
        };
        if g.len() != items.len() {
            return Some(format!(
                "{path}: expected a tuple of {}, got {}",
                items.len(),
                g.len()
            ));
        }
        return g
            .iter()
            .zip(items)
            .enumerate()
            .find_map(|(k, (g, w))| compare(g, w, &format!("{path}[{k}]")));
    }
    let Tree::Leaf(t) = got else {
        return Some(format!("{path}: expected a tensor, got {}", got.describe()));
    };
    let w = match tensor(want) {
        Ok(w) => w,
        Err(e) => return Some(format!("{path}: bad expected value: {e}")),
    };
    if t.shape() != w.shape() {
        return Some(format!(
            "{path}: shape {:?}, expected {:?}",
            t.shape(),
            w.shape()
        ));
    }
    let (a, b) = (t.to_vec_f64().ok()?, w.to_vec_f64().ok()?);
    let mut worst: Option<(usize, f64, f64)> = None;
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        let ok = (x - y).abs() <= 1e-8 * y.abs() + 1e-10 || (x.is_nan() && y.is_nan());
        if !ok && worst.is_none_or(|(_, wx, wy)| (x - y).abs() > (wx - wy).abs()) {
            worst = Some((k, *x, *y));
        }
    }
    worst.map(|(k, x, y)| {
        format!(
            "{path}: element {k} is {x}, expected {y} (|diff| {:.3e})",
            (x - y).abs()
        )
    })
}

/// How the cases run: eagerly, or with `jit` around the whole transform chain (outermost) or
/// around the program under it (innermost). Under `jit` every case runs twice, so the second
/// call replays the compiled graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Eager,
    JitOutermost,
    JitInnermost,
}

fn jitted(f: DynF) -> DynF {
    let j = jit(dynamic(move |a: &[Tree]| f(a.to_vec())));
    Rc::new(move |a| j.call_dyn(a))
}

fn run_case(case: &Value, mode: Mode) -> Result<Option<String>> {
    let mut f = program(case)?;
    if mode == Mode::JitInnermost {
        f = jitted(f);
    }
    let calls = case["call"].as_array().cloned().unwrap_or_default();
    for t in calls.iter().rev() {
        f = transform(t, f)?;
    }
    if mode == Mode::JitOutermost {
        f = jitted(f);
    }
    let inputs: Vec<Tree> = case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Ok(Tree::Leaf(tensor(v)?)))
        .collect::<Result<_>>()?;
    let runs = if mode == Mode::Eager { 1 } else { 2 };
    for k in 0..runs {
        let got = f(inputs.clone())?;
        if let Some(diff) = compare(&got, &case["expected"], "result") {
            return Ok(Some(if k == 0 {
                diff
            } else {
                format!("replay: {diff}")
            }));
        }
    }
    Ok(None)
}

/// Run every case of a conformance file; returns (passed, one line per failing case).
pub fn run_file(path: &str, mode: Mode) -> std::result::Result<(usize, Vec<String>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{path} is not valid JSON: {e}"))?;
    let cases = doc["cases"].as_array().cloned().unwrap_or_default();
    let mut passed = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(case, mode)));
        let problem = match outcome {
            Ok(Ok(None)) => None,
            Ok(Ok(Some(diff))) => Some(diff),
            Ok(Err(e)) => Some(format!("error: {e}")),
            Err(_) => Some("panicked".into()),
        };
        match problem {
            None => passed += 1,
            Some(p) => failures.push(format!("FAIL {name}: {p}")),
        }
    }
    Ok((passed, failures))
}
