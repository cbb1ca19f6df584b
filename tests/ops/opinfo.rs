//! The generic checks over the op database (`tests/common/opinfo.rs`), as PyTorch's
//! `test_ops.py` runs over its OpInfos: every sample runs and gives the promised dtype, finite
//! values and the same values twice; f32 agrees with f64; non-contiguous inputs give the same
//! values as contiguous ones; elementwise ops match their scalar reference, broadcasting
//! included; float-only ops refuse integer and bool tensors (and the others accept i64).
//!
//! And the database's completeness: a scan of the library's sources for the public methods of
//! `Tensor` fails when one has no entry (or an entry names no public method).

use super::*;
use crate::common::Rng;
use crate::common::opinfo::{Batch, Family, OpInfo, Out, Reference, Sample, ops};

// ----------------------------------------------------------------------------- helpers

/// The sample's inputs, drawn from a generator seeded by the op and sample names.
fn draw(o: &OpInfo, s: &Sample) -> Vec<Tensor> {
    s.draw(&mut Rng::for_name(&format!("{}/{}", o.name, s.name)))
}

/// Calls the sample (reseeding first, so that random ops repeat).
fn call(s: &Sample, xs: &[Tensor]) -> functorch::Result<Vec<Tensor>> {
    manual_seed(17);
    (s.f)(xs)
}

fn what(o: &OpInfo, s: &Sample) -> String {
    format!("{} sample {:?}", o.name, s.name)
}

/// Values of any dtype as f64 (exactly, for i64 and bool).
fn any_vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().unwrap()
}

/// `got` and `want` agree: same shape and dtype, floats to `tol` relative to `1 + |want|`
/// (NaN meets NaN), everything else exactly.
fn agree(what: &str, got: &[Tensor], want: &[Tensor], tol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} outputs, want {}",
            got.len(),
            want.len()
        ));
    }
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        if g.shape() != w.shape() {
            return Err(format!(
                "{what}: output {k} has shape {:?}, want {:?}",
                g.shape(),
                w.shape()
            ));
        }
        let (gv, wv) = (any_vals(g), any_vals(w));
        for (i, (a, b)) in gv.iter().zip(&wv).enumerate() {
            let ok = if w.dtype().is_float() {
                (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * (1.0 + b.abs())
            } else {
                a == b
            };
            if !ok {
                return Err(format!(
                    "{what}: output {k}, element {i}: {a} vs {b}\n  got:  {gv:?}\n  want: {wv:?}"
                ));
            }
        }
    }
    Ok(())
}

#[track_caller]
fn no_failures(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The ops that take a tensor, and are deterministic.
fn tensor_ops() -> Vec<OpInfo> {
    ops()
        .into_iter()
        .filter(|o| !o.random && o.batch != Batch::NoTensorInput)
        .collect()
}

// ----------------------------------------------------------------------------- the database itself

#[test]
fn the_database_is_well_formed() {
    let all = ops();
    let mut names = std::collections::HashSet::new();
    for o in &all {
        assert!(names.insert(o.name), "{} has two entries", o.name);
        assert!(!o.samples.is_empty(), "{} has no sample", o.name);
        let mut sample_names = std::collections::HashSet::new();
        for s in &o.samples {
            assert!(
                sample_names.insert(s.name.as_str()),
                "{}: two samples named {:?}",
                o.name,
                s.name
            );
        }
        let has_args = o.samples.iter().any(|s| !s.args.is_empty());
        if o.batch == Batch::NoTensorInput {
            assert!(
                !has_args,
                "{}: takes a tensor, so it can be batched",
                o.name
            );
        } else if !has_args {
            assert!(
                matches!(o.batch, Batch::Elsewhere(_)),
                "{}: takes no tensor: Batch::NoTensorInput, or a test that vmaps it",
                o.name
            );
        }
        if o.random {
            assert!(
                !matches!(o.batch, Batch::Checked),
                "{}: a random op cannot be checked against a loop",
                o.name
            );
        }
        if !matches!(o.reference, Reference::None) {
            assert!(
                o.samples.iter().any(|s| s.plain),
                "{}: a reference but no plain sample to compare it on",
                o.name
            );
        }
        // elementwise ops: a 0-d sample; broadcasting ops: operands of different shapes
        let zero_d = o
            .samples
            .iter()
            .any(|s| s.draw(&mut Rng::new(0)).iter().any(|t| t.ndim() == 0));
        if o.family == Family::Unary {
            assert!(zero_d, "{}: no 0-d sample", o.name);
        }
        if o.family == Family::Binary {
            let broadcasting = o.samples.iter().any(|s| {
                let xs = s.draw(&mut Rng::new(0));
                xs.iter().any(|t| t.shape() != xs[0].shape())
            });
            assert!(zero_d, "{}: no 0-d sample", o.name);
            assert!(broadcasting, "{}: no broadcasting sample", o.name);
        }
    }
}

// ----------------------------------------------------------------------------- every sample

#[test]
fn every_sample_runs_with_the_promised_dtype() {
    let mut failures = Vec::new();
    for o in ops() {
        for s in &o.samples {
            let w = what(&o, s);
            let xs = draw(&o, s);
            let ys = match call(s, &xs) {
                Ok(ys) => ys,
                Err(e) => {
                    failures.push(format!("{w}: {e}"));
                    continue;
                }
            };
            let first_float = xs.iter().find(|x| x.dtype().is_float()).map(Tensor::dtype);
            for (k, y) in ys.iter().enumerate() {
                let want = match (o.output, first_float) {
                    (Out::Like, Some(d)) => Some(d),
                    (Out::I64, _) => Some(DType::I64),
                    (Out::Bool, _) => Some(DType::Bool),
                    _ => None,
                };
                if let Some(d) = want
                    && y.dtype() != d
                {
                    failures.push(format!("{w}: output {k} is {}, want {d}", y.dtype()));
                }
                if y.dtype().is_float() && any_vals(y).iter().any(|v| !v.is_finite()) {
                    failures.push(format!(
                        "{w}: output {k} is not finite inside the domain: {y}"
                    ));
                }
            }
            // the same call again gives the same values (random ops: after the same seed)
            match call(s, &xs) {
                Ok(again) => {
                    if let Err(e) = agree(&format!("{w} (twice)"), &again, &ys, 0.0) {
                        failures.push(e);
                    }
                }
                Err(e) => failures.push(format!("{w} (twice): {e}")),
            }
        }
    }
    no_failures("samples failed", failures);
}

#[test]
fn f32_agrees_with_f64() {
    let mut failures = Vec::new();
    for o in tensor_ops() {
        for s in o.samples.iter().filter(|s| !s.has_f32_input()) {
            let xs = draw(&o, s);
            if !xs.iter().any(|x| x.dtype() == DType::F64) {
                continue;
            }
            let w = format!("{} in f32", what(&o, s));
            // the f64 call on the f32-rounded inputs, against the f32 call
            let x32: Vec<Tensor> = xs
                .iter()
                .map(|x| match x.dtype() {
                    DType::F64 => x.to_dtype(DType::F32).unwrap(),
                    _ => x.clone(),
                })
                .collect();
            let x64: Vec<Tensor> = x32
                .iter()
                .map(|x| match x.dtype() {
                    DType::F32 => x.to_dtype(DType::F64).unwrap(),
                    _ => x.clone(),
                })
                .collect();
            let (y32, y64) = match (call(s, &x32), call(s, &x64)) {
                (Ok(a), Ok(b)) => (a, b),
                (a, b) => {
                    failures.push(format!("{w}: {:?} / f64: {:?}", a.err(), b.err()));
                    continue;
                }
            };
            if o.output == Out::Like {
                for (k, (a, b)) in y32.iter().zip(&y64).enumerate() {
                    if b.dtype() == DType::F64 && a.dtype() != DType::F32 {
                        failures.push(format!("{w}: output {k} is {}, want f32", a.dtype()));
                    }
                }
            }
            if let Err(e) = agree(&w, &y32, &y64, 1e-4) {
                failures.push(e);
            }
        }
    }
    no_failures("f32 samples disagree with f64", failures);
}

/// Whether [`noncontiguous`] applies to `x`.
fn has_view(x: &Tensor, transposed: bool) -> bool {
    let s = x.shape();
    if transposed {
        s.len() >= 2 && s[s.len() - 1] > 1 && s[s.len() - 2] > 1
    } else {
        x.numel() > 1
    }
}

/// `x` as a view with the same values that is not contiguous: every other element of a
/// buffer twice the size, or (`transposed`) the transpose of a contiguous copy of `xᵀ`.
fn noncontiguous(x: &Tensor, transposed: bool) -> Tensor {
    let v = if transposed {
        rebuild(&x.mt().unwrap()).mt().unwrap()
    } else {
        Tensor::stack(&[x.clone(), x.zeros_like()], -1)
            .unwrap()
            .select(-1, 0)
            .unwrap()
    };
    assert!(
        !v.array().unwrap().is_contiguous(),
        "the view must not be contiguous"
    );
    v
}

/// A contiguous copy of a concrete tensor, built from its values.
fn rebuild(x: &Tensor) -> Tensor {
    let v = any_vals(x);
    let s = x.shape();
    match x.dtype() {
        DType::F64 => Tensor::from_vec(v, s),
        DType::F32 => Tensor::from_vec(v.iter().map(|&a| a as f32).collect(), s),
        DType::I64 => Tensor::from_vec(v.iter().map(|&a| a as i64).collect(), s),
        DType::Bool => Tensor::from_vec(v.iter().map(|&a| a != 0.0).collect(), s),
    }
    .unwrap()
}

#[test]
fn noncontiguous_inputs_give_the_same_values() {
    let mut failures = Vec::new();
    for o in tensor_ops() {
        for s in &o.samples {
            let xs = draw(&o, s);
            let want = match call(s, &xs) {
                Ok(y) => y,
                Err(_) => continue, // reported by every_sample_runs_with_the_promised_dtype
            };
            for transposed in [false, true] {
                if !xs.iter().any(|x| has_view(x, transposed)) {
                    continue;
                }
                let views: Vec<Tensor> = xs
                    .iter()
                    .map(|x| {
                        if has_view(x, transposed) {
                            noncontiguous(x, transposed)
                        } else {
                            x.clone()
                        }
                    })
                    .collect();
                let w = format!(
                    "{} on {} views",
                    what(&o, s),
                    if transposed { "transposed" } else { "strided" }
                );
                match call(s, &views) {
                    Ok(got) => {
                        if let Err(e) = agree(&w, &got, &want, 1e-12) {
                            failures.push(e);
                        }
                    }
                    Err(e) => failures.push(format!("{w}: {e}")),
                }
            }
        }
    }
    no_failures("samples differ on non-contiguous inputs", failures);
}

/// NumPy's broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let da = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                1
            };
            let db = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                1
            };
            da.max(db)
        })
        .collect()
}

/// The element of a tensor of `shape` that broadcasts to position `k` of `out`.
fn source(shape: &[usize], out: &[usize], mut k: usize) -> usize {
    let mut pos = vec![0; out.len()];
    for i in (0..out.len()).rev() {
        pos[i] = k % out[i];
        k /= out[i];
    }
    let lead = out.len() - shape.len();
    shape.iter().enumerate().fold(0, |acc, (i, &s)| {
        acc * s + if s == 1 { 0 } else { pos[lead + i] }
    })
}

#[test]
fn elementwise_ops_match_their_scalar_reference() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for o in ops() {
        for s in o.samples.iter().filter(|s| s.plain) {
            let xs = draw(&o, s);
            let w = what(&o, s);
            let y = match call(s, &xs) {
                Ok(y) => y[0].clone(),
                Err(e) => {
                    failures.push(format!("{w}: {e}"));
                    continue;
                }
            };
            let want: Vec<f64> = match o.reference {
                Reference::None => continue,
                Reference::Unary(r) => any_vals(&xs[0]).into_iter().map(r).collect(),
                Reference::Binary(r) => {
                    let (a, b) = (any_vals(&xs[0]), any_vals(&xs[1]));
                    let out = broadcast(xs[0].shape(), xs[1].shape());
                    if y.shape() != out {
                        failures.push(format!("{w}: shape {:?}, want {out:?}", y.shape()));
                        continue;
                    }
                    (0..out.iter().product())
                        .map(|k| {
                            r(
                                a[source(xs[0].shape(), &out, k)],
                                b[source(xs[1].shape(), &out, k)],
                            )
                        })
                        .collect()
                }
            };
            checked += 1;
            let got = any_vals(&y);
            for (i, (g, v)) in got.iter().zip(&want).enumerate() {
                if (g - v).abs() > 1e-12 * (1.0 + v.abs()) {
                    failures.push(format!("{w}: element {i} is {g}, the reference {v}"));
                    break;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} samples had a reference");
    no_failures("samples differ from their reference", failures);
}

#[test]
fn float_only_ops_refuse_integer_and_bool_tensors_and_the_others_take_i64() {
    let mut failures = Vec::new();
    for o in tensor_ops() {
        // the first sample with a float input: its float inputs as i64 (and as bool)
        let Some(s) = o
            .samples
            .iter()
            .find(|s| draw(&o, s).iter().any(|x| x.dtype().is_float()))
        else {
            continue;
        };
        let xs = draw(&o, s);
        let cast = |d: DType| -> Vec<Tensor> {
            xs.iter()
                .map(|x| {
                    if x.dtype().is_float() {
                        x.to_dtype(d).unwrap()
                    } else {
                        x.clone()
                    }
                })
                .collect()
        };
        let w = what(&o, s);
        if o.float_only {
            for d in [DType::I64, DType::Bool] {
                match call(s, &cast(d)) {
                    Err(functorch::Error::DType { got, .. }) if got == d => {}
                    other => failures.push(format!(
                        "{w}: float-only, but on {d} inputs gave {other:?} instead of a DType error"
                    )),
                }
            }
        } else if let Err(e) = call(s, &cast(DType::I64)) {
            failures.push(format!(
                "{w}: not flagged float-only, but refuses i64 inputs: {e}"
            ));
        }
    }
    no_failures("ops break their float-only flag", failures);
}

// ----------------------------------------------------------------------------- completeness

/// Public methods of `Tensor` that are not ops, and so have no entry in the database:
/// accessors, conversions out of the tensor world, and introspection.
const NOT_OPS: &[(&str, &str)] = &[
    ("shape", "accessor"),
    ("dtype", "accessor"),
    ("ndim", "accessor"),
    ("numel", "accessor"),
    ("dim", "accessor (the size of one dim)"),
    ("array", "accessor (the concrete array, if any)"),
    ("is_concrete", "introspection (tracer or array)"),
    (
        "same_node",
        "introspection (identity of the underlying node)",
    ),
    ("to_vec", "conversion to a Vec"),
    ("to_vec_f64", "conversion to a Vec"),
    ("to_scalar", "conversion to a Rust scalar"),
    ("item", "conversion to an f64"),
    ("to_ndarray", "conversion to an ndarray"),
];

/// Rust source with comments, string and char literals blanked out (newlines kept, so line
/// numbers stay right).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, s: &[u8]| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (1, 2);
            while j < rest.len() && depth > 0 {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if (rest[0] == b'r' || rest.starts_with(b"br"))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
            && {
                let k = if rest[0] == b'b' { 2 } else { 1 };
                let h = rest[k..].iter().take_while(|&&c| c == b'#').count();
                rest.get(k + h) == Some(&b'"')
            }
        {
            // raw string r#"..."#
            let k = if rest[0] == b'b' { 2 } else { 1 };
            let h = rest[k..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', h))
                .collect();
            let body = k + h + 1;
            let end = rest[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(rest.len(), |p| body + p + close.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            // a char literal ('x', '\n', '\u{..}', '"'), or a lifetime ('a)
            let lit = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&c| c == b'\'').map(|p| p + 3)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch) == Some(&b'\'')).then_some(2 + ch)
            };
            match lit {
                Some(n) => {
                    blank(&mut out, &rest[..n]);
                    i += n;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The index just past the brace that closes the one at `open`.
fn closing(code: &str, open: usize) -> usize {
    let mut depth = 0;
    for (k, c) in code[open..].char_indices() {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return open + k + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// Positions of the whole word `w` in `code`.
fn words<'a>(code: &'a str, w: &'a str) -> impl Iterator<Item = usize> + 'a {
    code.match_indices(w).map(|(p, _)| p).filter(move |&p| {
        let before = code[..p].chars().next_back().is_none_or(|c| !is_ident(c));
        let after = code[p + w.len()..]
            .chars()
            .next()
            .is_none_or(|c| !is_ident(c));
        before && after
    })
}

/// A public method found in the sources: its name, file and line.
#[derive(Debug)]
struct Found {
    name: String,
    file: String,
    line: usize,
}

/// The public methods of the `impl Tensor { … }` blocks of one file (inherent impls only:
/// trait impls like `impl Add for Tensor` are not methods of `Tensor`), and the macros whose
/// expansion declares such methods (`pub fn $name`): (macro name, file).
fn scan_file(file: &str, src: &str, found: &mut Vec<Found>, macros: &mut Vec<String>) {
    let code = code_only(src);
    let line_of = |p: usize| code[..p].matches('\n').count() + 1;
    for p in words(&code, "impl") {
        let Some(open) = code[p..].find('{').map(|k| p + k) else {
            continue;
        };
        let header: String = code[p + 4..open]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // `impl Tensor`, `impl crate::tensor::Tensor`, not `impl X for Tensor`, nor generics
        let target = header.rsplit("::").next().unwrap_or("");
        if target != "Tensor" || header.contains(" for ") || header.contains('<') {
            continue;
        }
        let end = closing(&code, open);
        let body = &code[open + 1..end - 1];
        // items at the top level of the block only (brace depth 0: a macro's `$( … )*` around
        // the items is not a level)
        let mut depth = 0;
        let mut k = 0;
        let bytes = body.as_bytes();
        while k < bytes.len() {
            match bytes[k] {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b'p' if depth == 0
                    && body[k..].starts_with("pub")
                    && (k == 0 || !is_ident(body[..k].chars().next_back().unwrap())) =>
                {
                    // `pub` then qualifiers then `fn NAME`; `pub(crate)` is not public
                    let after = &body[k + 3..];
                    if !after.trim_start().starts_with('(') {
                        let toks: Vec<&str> = after
                            .split(|c: char| !(is_ident(c) || c == '$'))
                            .filter(|t| !t.is_empty())
                            .take(4)
                            .collect();
                        if let Some(i) = toks.iter().position(|&t| t == "fn")
                            && toks[..i]
                                .iter()
                                .all(|t| ["const", "unsafe", "async", "extern"].contains(t))
                            && let Some(name) = toks.get(i + 1)
                        {
                            if let Some(var) = name.strip_prefix('$') {
                                let _ = var;
                                // inside a macro_rules!: find which macro
                                if let Some(m) = enclosing_macro(&code, open) {
                                    macros.push(m);
                                }
                            } else {
                                found.push(Found {
                                    name: name.to_string(),
                                    file: file.to_string(),
                                    line: line_of(open + 1 + k),
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
            k += 1;
        }
    }
}

/// The name of the `macro_rules!` whose body contains position `p`, if any.
fn enclosing_macro(code: &str, p: usize) -> Option<String> {
    words(code, "macro_rules").find_map(|m| {
        let rest = &code[m + "macro_rules".len()..];
        let rest = rest.trim_start().strip_prefix('!')?;
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|&c| is_ident(c))
            .collect();
        let open = m + code[m..].find(['{', '(', '['])?;
        (open < p && p < closing(code, open)).then_some(name)
    })
}

/// The methods that invocations of `mac!` in one file declare. Each entry of these macros'
/// input reads `name => …;` or `name, other_name => …;` (the names the expansion declares
/// left of `=>`); an invocation in another form is reported as unreadable.
fn macro_methods(
    file: &str,
    src: &str,
    mac: &str,
    found: &mut Vec<Found>,
    unreadable: &mut Vec<String>,
) {
    let code = code_only(src);
    let line_of = |p: usize| code[..p].matches('\n').count() + 1;
    for p in words(&code, mac) {
        let rest = &code[p + mac.len()..];
        let Some(r) = rest.trim_start().strip_prefix('!') else {
            continue;
        };
        let open = p + mac.len() + (rest.len() - r.len()) + (r.len() - r.trim_start().len());
        if !code[open..].starts_with(['{', '(', '[']) {
            continue;
        }
        let end = closing(&code, open);
        let body = &code[open + 1..end - 1];
        for entry in body.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            // drop attributes (`#[doc = …]` and others)
            let mut e = entry;
            while let Some(r) = e.strip_prefix('#') {
                let close = closing(r, r.find('[').unwrap_or(0));
                e = r[close..].trim_start();
            }
            let Some((names, _)) = e.split_once("=>") else {
                unreadable.push(format!(
                    "{file}:{}: an entry of {mac}! without `=>`: {e:?}",
                    line_of(open)
                ));
                continue;
            };
            for n in names.split(',').map(str::trim) {
                if n.is_empty() || !n.chars().all(is_ident) {
                    unreadable.push(format!(
                        "{file}:{}: {mac}! entry {e:?}: {n:?} is not a method name",
                        line_of(open)
                    ));
                } else {
                    found.push(Found {
                        name: n.to_string(),
                        file: file.to_string(),
                        line: line_of(open + 1 + body.find(n).unwrap_or(0)),
                    });
                }
            }
        }
    }
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every public method of `Tensor` declared anywhere under `src/`.
fn public_methods() -> (Vec<Found>, Vec<String>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            (rel, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    let mut found = Vec::new();
    let mut macros = Vec::new();
    for (file, src) in &sources {
        scan_file(file, src, &mut found, &mut macros);
    }
    macros.sort();
    macros.dedup();
    let mut unreadable = Vec::new();
    for mac in &macros {
        for (file, src) in &sources {
            macro_methods(file, src, mac, &mut found, &mut unreadable);
        }
    }
    (found, unreadable)
}

#[test]
fn the_scanner_reads_methods_macros_and_skips_the_rest() {
    let src = r##"
        impl Tensor {
            /// `pub fn in_doc` is a comment
            pub fn plain(&self) -> Tensor { let s = "pub fn in_string {"; let c = '{'; todo!() }
            pub(crate) fn hidden(&self) {}
            fn private(&self) {}
            pub const fn konst() {}
            pub fn generic<'a, T: Into<f64>>(&'a self, x: T) -> &'a Tensor { self }
        }
        impl std::ops::Add for Tensor { fn add(self, o: Tensor) -> Tensor { o } }
        impl Array { pub fn not_tensor(&self) {} }
        impl crate::tensor::Tensor { pub fn by_path(&self) {} }
        macro_rules! gen {
            ($($(#[$doc:meta])* $name:ident, $other:ident => $op:ident;)*) => {
                impl Tensor { $( pub fn $name(&self) {} pub fn $other(&self) {} )* }
            };
        }
        gen! {
            /// doc
            first, first_scalar => One;
            #[doc = "x"] second, second_scalar => Two;
        }
    "##;
    let (mut found, mut macros, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    scan_file("x.rs", src, &mut found, &mut macros);
    assert_eq!(macros, ["gen", "gen"]);
    macro_methods("x.rs", src, "gen", &mut found, &mut unreadable);
    let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "plain",
            "konst",
            "generic",
            "by_path",
            "first",
            "first_scalar",
            "second",
            "second_scalar"
        ]
    );
    assert!(unreadable.is_empty(), "{unreadable:?}");
    assert_eq!(found[0].line, 4);
}

#[test]
fn every_public_op_is_in_the_database() {
    let (found, unreadable) = public_methods();
    assert!(
        unreadable.is_empty(),
        "cannot read the methods some macros declare (teach macro_methods in tests/ops/opinfo.rs \
         their form):\n{}",
        unreadable.join("\n")
    );
    // sanity: the scan sees the macro-generated methods and the hand-written ones
    for known in ["exp", "gt_scalar", "add", "matmul", "reshape", "zeros"] {
        assert!(
            found.iter().any(|f| f.name == known),
            "the scan of src/ did not find Tensor::{known}: is the scanner broken?"
        );
    }
    let db: Vec<&'static str> = ops().iter().map(|o| o.name).collect();
    let not_ops: Vec<&str> = NOT_OPS.iter().map(|n| n.0).collect();
    let mut missing: Vec<String> = found
        .iter()
        .filter(|f| !db.contains(&f.name.as_str()) && !not_ops.contains(&f.name.as_str()))
        .map(|f| format!("  Tensor::{} ({}:{})", f.name, f.file, f.line))
        .collect();
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "{} public op(s) of Tensor have no entry in the op database:\n{}\n\nAdd each to `ops()` in \
         tests/common/opinfo.rs, in the function of its family (unary_ops, binary_ops, \
         reduction_ops, shape_ops, index_ops, product_ops, linalg_ops, cast_ops, creation_ops, \
         random_ops), with samples inside its domain (0-d and broadcasting ones where they \
         apply) and its flags; the value, gradient and batching suites then check it. A method \
         that is not an op (an accessor or a conversion out of tensors) goes in NOT_OPS in \
         tests/ops/opinfo.rs, with the reason.",
        missing.len(),
        missing.join("\n")
    );
    let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    let stale: Vec<&str> = db
        .iter()
        .chain(&not_ops)
        .filter(|n| !names.contains(n))
        .copied()
        .collect();
    assert!(
        stale.is_empty(),
        "entries of the op database (tests/common/opinfo.rs) or NOT_OPS (tests/ops/opinfo.rs) \
         name no public method of Tensor in src/ (renamed or removed?): {stale:?}"
    );
}
