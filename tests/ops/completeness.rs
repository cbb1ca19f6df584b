//! The op database is complete: a scan of the library's sources (all of `src/`, read at test
//! time) for the public methods of `Tensor` fails when one has no entry in the database
//! (`tests/common/opinfo.rs`) and is not listed in [`NOT_OPS`], or when an entry names no
//! public method.
//!
//! The scan reads inherent `impl Tensor { … }` blocks, and the methods that `macro_rules!`
//! expansions declare (`pub fn $name` inside an `impl Tensor` of the macro's transcriber): it
//! matches each invocation against the macro's matcher to find what `$name` binds to.

use crate::common::opinfo::ops;

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
    ("to_vec", "conversion to a Vec"),
    ("to_vec_f64", "conversion to a Vec"),
    ("to_scalar", "conversion to a Rust scalar"),
    ("item", "conversion to an f64"),
    ("to_ndarray", "conversion to an ndarray"),
];

/// Rust source with comments and char literals blanked out, and string literals reduced to
/// their quotes (byte offsets and newlines kept, so that positions and line numbers stay
/// right).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, s: &[u8]| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    // a string literal: its quotes kept (so that it stays a token), its contents blanked
    let quoted = |out: &mut String, s: &[u8]| {
        if s.len() < 2 {
            return blank(out, s);
        }
        out.push('"');
        blank(out, &s[1..s.len() - 1]);
        out.push('"');
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
            quoted(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            quoted(&mut out, &rest[..end]);
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

/// A token tree of blanked code (see [`code_only`]): an identifier with its byte position, a
/// literal, a punctuation character, or a delimited group.
#[derive(Clone, Debug)]
enum Tt {
    Ident(String, usize),
    Lit,
    Punct(char),
    Group(char, Vec<Tt>),
}

/// The same token (positions aside; groups by their delimiter).
fn same(a: &Tt, b: &Tt) -> bool {
    match (a, b) {
        (Tt::Ident(x, _), Tt::Ident(y, _)) => x == y,
        (Tt::Lit, Tt::Lit) => true,
        (Tt::Punct(x), Tt::Punct(y)) => x == y,
        (Tt::Group(x, _), Tt::Group(y, _)) => x == y,
        _ => false,
    }
}

/// The token trees of `code[from..to]`.
fn tokens(code: &str, from: usize, to: usize) -> Vec<Tt> {
    let mut out = Vec::new();
    let mut i = from;
    let at = |i: usize| code[i..].chars().next().unwrap();
    while i < to {
        let c = at(i);
        if c.is_whitespace() {
            i += c.len_utf8();
        } else if c.is_ascii_digit() {
            // a number, 1.5e-3 and 2_usize included
            while i < to
                && (is_ident(at(i)) || (at(i) == '.' && i + 1 < to && at(i + 1).is_ascii_digit()))
            {
                i += at(i).len_utf8();
            }
            out.push(Tt::Lit);
        } else if is_ident(c) {
            let start = i;
            while i < to && is_ident(at(i)) {
                i += at(i).len_utf8();
            }
            out.push(Tt::Ident(code[start..i].to_string(), start));
        } else if c == '"' {
            // (its contents are blanked)
            i = code[i + 1..to].find('"').map_or(to, |p| i + p + 2);
            out.push(Tt::Lit);
        } else if c == '\'' {
            // a lifetime (char literals are blanked)
            i += 1;
            while i < to && is_ident(at(i)) {
                i += at(i).len_utf8();
            }
            out.push(Tt::Lit);
        } else if "([{".contains(c) {
            let end = closing(code, i).min(to);
            out.push(Tt::Group(
                c,
                tokens(code, i + 1, end.saturating_sub(1).max(i + 1)),
            ));
            i = end;
        } else {
            out.push(Tt::Punct(c));
            i += c.len_utf8();
        }
    }
    out
}

/// Whether `tts` contain `pub fn $var` (at any depth): the vars.
fn declared_vars(tts: &[Tt], out: &mut Vec<String>) {
    for (k, t) in tts.iter().enumerate() {
        if let (Tt::Ident(p, _), Some(Tt::Ident(f, _)), Some(Tt::Punct('$')), Some(Tt::Ident(v, _))) =
            (t, tts.get(k + 1), tts.get(k + 2), tts.get(k + 3))
            && p == "pub"
            && f == "fn"
        {
            out.push(v.clone());
        }
        if let Tt::Group(_, inner) = t {
            declared_vars(inner, out);
        }
    }
}

/// One element of a macro matcher.
#[derive(Debug)]
enum Item {
    /// A token to match as it is.
    Lit(Tt),
    /// `$name:fragment`.
    Var(String, String),
    /// A nested repetition (`$(#[$doc:meta])*`): matches the attributes, which are dropped
    /// from the invocations before matching.
    Attrs,
    /// A delimited group, matched item by item inside.
    Group(char, Vec<Item>),
}

/// What a macro's invocations must look like, and which of its vars name methods.
#[derive(Debug)]
struct Matcher {
    items: Vec<Item>,
    /// Whether the items repeat (`$( … ) sep *`), and the separator.
    repeated: bool,
    sep: Option<Tt>,
    /// The vars of `pub fn $var` in the transcriber.
    names: Vec<String>,
}

fn items(tts: &[Tt], names: &[String]) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < tts.len() {
        match (&tts[k], tts.get(k + 1), tts.get(k + 2), tts.get(k + 3)) {
            (
                Tt::Punct('$'),
                Some(Tt::Ident(v, _)),
                Some(Tt::Punct(':')),
                Some(Tt::Ident(f, _)),
            ) => {
                out.push(Item::Var(v.clone(), f.clone()));
                k += 4;
            }
            (Tt::Punct('$'), Some(Tt::Group('(', inner)), ..) => {
                let mut vars = Vec::new();
                collect_vars(inner, &mut vars);
                if vars.iter().any(|v| names.contains(v)) {
                    return Err("a method name inside a nested repetition".into());
                }
                out.push(Item::Attrs);
                k += 2;
                // the repetition operator, after an optional separator
                k += if matches!(tts.get(k), Some(Tt::Punct('*' | '+' | '?'))) {
                    1
                } else {
                    2
                };
            }
            (Tt::Group(d, inner), ..) => {
                out.push(Item::Group(*d, items(inner, names)?));
                k += 1;
            }
            (t, ..) => {
                out.push(Item::Lit(t.clone()));
                k += 1;
            }
        }
    }
    Ok(out)
}

fn collect_vars(tts: &[Tt], out: &mut Vec<String>) {
    for (k, t) in tts.iter().enumerate() {
        if let (Tt::Punct('$'), Some(Tt::Ident(v, _))) = (t, tts.get(k + 1)) {
            out.push(v.clone());
        }
        if let Tt::Group(_, inner) = t {
            collect_vars(inner, out);
        }
    }
}

/// The matcher of the first rule of `macro_rules! mac` in `code` whose transcriber declares
/// methods; None if `code` does not define `mac`.
fn matcher(code: &str, mac: &str) -> Option<Result<Matcher, String>> {
    let def = words(code, "macro_rules").find(|&m| {
        let rest = code[m + "macro_rules".len()..].trim_start();
        rest.strip_prefix('!')
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix(mac))
            .is_some_and(|r| r.starts_with(|c: char| !is_ident(c)))
    })?;
    let open = def + code[def..].find(['{', '(', '['])?;
    let body = tokens(code, open + 1, closing(code, open) - 1);
    // rules: (matcher) => {transcriber} ;
    let rule = body.chunks(4).find_map(|r| match r {
        [
            Tt::Group(_, m),
            Tt::Punct('='),
            Tt::Punct('>'),
            Tt::Group(_, t),
            ..,
        ] => {
            let mut names = Vec::new();
            declared_vars(t, &mut names);
            (!names.is_empty()).then(|| (m.clone(), names))
        }
        _ => None,
    });
    let Some((m, names)) = rule else {
        return Some(Err(format!("{mac}!: no rule declares `pub fn $name`")));
    };
    // the repetition that holds the names, or the whole matcher
    let rep = m
        .iter()
        .enumerate()
        .find_map(|(k, t)| match (t, m.get(k + 1)) {
            (Tt::Punct('$'), Some(Tt::Group('(', inner))) => {
                let mut vars = Vec::new();
                collect_vars(inner, &mut vars);
                vars.iter().any(|v| names.contains(v)).then_some((k, inner))
            }
            _ => None,
        });
    Some(match rep {
        Some((k, inner)) => items(inner, &names).map(|items| Matcher {
            items,
            repeated: true,
            sep: match m.get(k + 2) {
                Some(Tt::Punct('*' | '+' | '?')) | None => None,
                Some(sep) => Some(sep.clone()),
            },
            names,
        }),
        None => items(&m, &names).map(|items| Matcher {
            items,
            repeated: false,
            sep: None,
            names,
        }),
    })
}

/// Matches `items` once against `toks` from `pos`, pushing the identifiers bound to the
/// method-name vars `names` (with their byte positions) to `out`.
fn match_items(
    items: &[Item],
    sep: Option<&Tt>,
    names: &[String],
    toks: &[Tt],
    pos: &mut usize,
    out: &mut Vec<(String, usize)>,
) -> Result<(), String> {
    for (j, item) in items.iter().enumerate() {
        let start = *pos;
        match item {
            Item::Attrs => {}
            Item::Lit(t) => {
                if !toks.get(*pos).is_some_and(|x| same(x, t)) {
                    return Err(format!("expected {t:?}, found {:?}", toks.get(*pos)));
                }
                *pos += 1;
            }
            Item::Group(d, inner) => match toks.get(*pos) {
                Some(Tt::Group(e, content)) if e == d => {
                    let mut p = 0;
                    match_items(inner, None, names, content, &mut p, out)?;
                    if p < content.len() {
                        return Err(format!("unmatched tokens from {:?}", content[p]));
                    }
                    *pos += 1;
                }
                other => return Err(format!("expected a {d:?} group, found {other:?}")),
            },
            Item::Var(v, frag) => {
                match frag.as_str() {
                    "ident" | "tt" | "lifetime" => *pos += 1,
                    "literal" => {
                        *pos += if matches!(toks.get(*pos), Some(Tt::Punct('-'))) {
                            2
                        } else {
                            1
                        }
                    }
                    // expr, ty, path, …: up to the matcher's next token, or the separator
                    _ => {
                        let stop = items[j + 1..]
                            .iter()
                            .find_map(|i| match i {
                                Item::Lit(t) => Some(t),
                                _ => None,
                            })
                            .or(sep);
                        while *pos < toks.len() && !stop.is_some_and(|s| same(&toks[*pos], s)) {
                            *pos += 1;
                        }
                    }
                }
                if *pos > toks.len() || *pos == start {
                    return Err(format!("nothing for ${v}:{frag}"));
                }
                if names.contains(v) {
                    match &toks[start] {
                        Tt::Ident(name, at) if frag == "ident" => out.push((name.clone(), *at)),
                        other => return Err(format!("${v} binds {other:?}, not a method name")),
                    }
                }
            }
        }
    }
    Ok(())
}

/// The identifiers that an invocation's tokens bind to the matcher's method-name vars, with
/// their byte positions.
fn bind(m: &Matcher, inv: &[Tt]) -> Result<Vec<(String, usize)>, String> {
    // attributes (doc comments are already blanked): `#[…]`, `#![…]`
    let mut toks = Vec::new();
    let mut k = 0;
    while k < inv.len() {
        match (&inv[k], inv.get(k + 1), inv.get(k + 2)) {
            (Tt::Punct('#'), Some(Tt::Group('[', _)), _) => k += 2,
            (Tt::Punct('#'), Some(Tt::Punct('!')), Some(Tt::Group('[', _))) => k += 3,
            (t, ..) => {
                toks.push(t.clone());
                k += 1;
            }
        }
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < toks.len() {
        match_items(
            &m.items,
            m.sep.as_ref(),
            &m.names,
            &toks,
            &mut pos,
            &mut out,
        )?;
        if !m.repeated {
            break;
        }
        if let Some(sep) = &m.sep
            && pos < toks.len()
        {
            if !same(&toks[pos], sep) {
                return Err(format!(
                    "expected the separator {sep:?}, found {:?}",
                    toks[pos]
                ));
            }
            pos += 1;
        }
    }
    if pos < toks.len() {
        return Err(format!("unmatched tokens from {:?}", toks[pos]));
    }
    Ok(out)
}

/// The methods that invocations of `mac!` in one file declare, read by matching each
/// invocation against the macro's matcher `m`; an invocation that does not match is reported
/// as unreadable.
fn macro_methods(
    file: &str,
    src: &str,
    mac: &str,
    m: &Matcher,
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
        let open = code.len() - r.trim_start().len();
        if !code[open..].starts_with(['{', '(', '[']) {
            continue;
        }
        match bind(m, &tokens(&code, open + 1, closing(&code, open) - 1)) {
            Ok(names) => found.extend(names.into_iter().map(|(name, at)| Found {
                name,
                file: file.to_string(),
                line: line_of(at),
            })),
            Err(e) => unreadable.push(format!(
                "{file}:{}: this invocation of {mac}! does not match the macro's matcher: {e}",
                line_of(open)
            )),
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
        let m = sources
            .iter()
            .find_map(|(_, src)| matcher(&code_only(src), mac));
        match m {
            Some(Ok(m)) => {
                for (file, src) in &sources {
                    macro_methods(file, src, mac, &m, &mut found, &mut unreadable);
                }
            }
            Some(Err(e)) => unreadable.push(e),
            None => unreadable.push(format!("{mac}!: its definition was not found")),
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
        macro_rules! table {
            ($( ($op:ident, $label:literal, $float:expr, $name:ident) ),* $(,)?) => {
                impl Tensor { $( pub fn $name(&self) {} )* }
            };
        }
        table! {
            (Three, "third", true, third),
            (Four, "fourth", 1.5 > 2.0, fourth),
        }
        macro_rules! one {
            ($name:ident => $op:path) => { impl Tensor { pub fn $name(&self) {} } };
        }
        one!(fifth => ops::Five);
        one!(sixth => Six);
        one!("not a name" => Seven);
    "##;
    let (mut found, mut macros, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    scan_file("x.rs", src, &mut found, &mut macros);
    assert_eq!(macros, ["gen", "gen", "table", "one"]);
    for mac in ["gen", "table", "one"] {
        let m = matcher(&code_only(src), mac).unwrap().unwrap();
        macro_methods("x.rs", src, mac, &m, &mut found, &mut unreadable);
    }
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
            "second_scalar",
            "third",
            "fourth",
            "fifth",
            "sixth",
        ]
    );
    assert_eq!(found[0].line, 4);
    assert_eq!(found.last().unwrap().line, 36);
    // the invocation that does not fit the matcher is reported, with its line
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert!(unreadable[0].starts_with("x.rs:37:"), "{unreadable:?}");
}

#[test]
fn every_public_op_is_in_the_database() {
    let (found, unreadable) = public_methods();
    assert!(
        unreadable.is_empty(),
        "cannot read the methods some macros declare (the scanner is in \
         tests/ops/completeness.rs):\n{}",
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
         tests/ops/completeness.rs, with the reason.",
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
        "entries of the op database (tests/common/opinfo.rs) or NOT_OPS (tests/ops/completeness.rs) \
         name no public method of Tensor in src/ (renamed or removed?): {stale:?}"
    );
}
