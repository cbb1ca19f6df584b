//! `einsum` for one or two operands, in four named steps: `parse` the spec against the
//! operands' shapes, `reduce_alone` each operand (diagonals of repeated letters, sums over
//! letters needed nowhere else), `contract` the pair as one batched matrix product, and
//! `finish` (sum what the output drops, order its dims).

use crate::core::Tensor;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// A parsed spec: each operand's letters, the output's letters, and each letter's size.
struct Spec {
    inputs: Vec<Vec<char>>,
    output: Vec<char>,
    sizes: BTreeMap<char, usize>,
}

/// A tensor with the letter of each of its dims.
struct Labeled {
    letters: Vec<char>,
    t: Tensor,
}

impl Tensor {
    /// Einstein summation over one or two operands, e.g. `"ij,jk->ik"`, `"bij,bjk->bik"`,
    /// `"ii->i"`, `"ij->"`. Without `->` the output lists the letters that appear once, sorted.
    /// Contractions run as one batched matrix product.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let tr = Tensor::einsum("ii->", &[&a])?;
    /// assert_eq!(tr.to_scalar::<f64>()?, 5.0);
    /// let ab = Tensor::einsum("ij,jk->ik", &[&a, &a])?;
    /// assert_eq!(ab.to_vec::<f64>()?, a.matmul(&a)?.to_vec::<f64>()?);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn einsum(spec: &str, operands: &[&Tensor]) -> Result<Tensor> {
        let s = parse(spec, operands)?;
        let mut ops: Vec<Labeled> = operands
            .iter()
            .enumerate()
            .map(|(k, t)| reduce_alone(&s, k, t))
            .collect::<Result<_>>()?;
        let r = match (ops.pop(), ops.pop()) {
            (Some(b), Some(a)) => contract(&s, a, b)?,
            (Some(a), None) => a,
            (None, _) => unreachable!("parse checked there are one or two operands"),
        };
        finish(&s, r)
    }
}

/// Split the spec into operand and output letters and check them against the operands: one
/// letter per dim, ASCII letters only, one size per letter, output letters that appear in an
/// operand and only once. Without `->` the output is the letters that appear once, sorted.
fn parse(spec: &str, operands: &[&Tensor]) -> Result<Spec> {
    let bad = |m: String| Error::invalid("einsum", format!("{m} (in \"{spec}\")"));
    let spec_nows: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, out) = match spec_nows.split_once("->") {
        Some((l, o)) => (l.to_string(), Some(o.to_string())),
        None => (spec_nows.clone(), None),
    };
    let inputs: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
    if inputs.len() != operands.len() || !(1..=2).contains(&inputs.len()) {
        return Err(bad(format!(
            "expects 1 or 2 operands matching the spec, got {} operands",
            operands.len()
        )));
    }
    let mut sizes: BTreeMap<char, usize> = BTreeMap::new();
    for (letters, t) in inputs.iter().zip(operands) {
        if letters.len() != t.ndim() {
            return Err(bad(format!(
                "operand of shape {:?} has {} dims but {} letters",
                t.shape(),
                t.ndim(),
                letters.len()
            )));
        }
        for (c, &s) in letters.iter().zip(t.shape()) {
            if !c.is_ascii_alphabetic() {
                return Err(bad(format!("invalid subscript '{c}'")));
            }
            if let Some(&prev) = sizes.get(c)
                && prev != s
            {
                return Err(bad(format!("subscript '{c}' has sizes {prev} and {s}")));
            }
            sizes.insert(*c, s);
        }
    }
    let output: Vec<char> = match out {
        Some(o) => o.chars().collect(),
        None => {
            let mut count: BTreeMap<char, usize> = BTreeMap::new();
            for l in &inputs {
                for c in l {
                    *count.entry(*c).or_default() += 1;
                }
            }
            count
                .into_iter()
                .filter(|(_, n)| *n == 1)
                .map(|(c, _)| c)
                .collect()
        }
    };
    for c in &output {
        if !sizes.contains_key(c) {
            return Err(bad(format!("output subscript '{c}' appears in no operand")));
        }
        if output.iter().filter(|&o| o == c).count() > 1 {
            return Err(bad(format!(
                "output subscript '{c}' appears more than once"
            )));
        }
    }
    Ok(Spec {
        inputs,
        output,
        sizes,
    })
}

/// Operand `k` with what it can do alone done: the diagonal of each repeated letter taken (the
/// letter moves to the end), and the letters that neither the output nor the other operand
/// has summed away.
fn reduce_alone(s: &Spec, k: usize, t: &Tensor) -> Result<Labeled> {
    let (mut l, mut t) = (s.inputs[k].clone(), t.clone());
    while let Some((i, j)) = repeated(&l) {
        t = t.diagonal(0, i as i64, j as i64)?;
        let c = l[i];
        l.remove(j);
        l.remove(i);
        l.push(c);
    }
    let other: Vec<char> = s
        .inputs
        .iter()
        .enumerate()
        .filter(|(o, _)| *o != k)
        .flat_map(|(_, v)| v.clone())
        .collect();
    let drop: Vec<i64> = (0..l.len())
        .filter(|&i| !s.output.contains(&l[i]) && !other.contains(&l[i]))
        .map(|i| i as i64)
        .collect();
    if !drop.is_empty() {
        t = t.sum_dims(&drop, false)?;
        l = l
            .iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(&(*i as i64)))
            .map(|(_, c)| *c)
            .collect();
    }
    Ok(Labeled { letters: l, t })
}

/// The first pair of positions holding the same letter.
fn repeated(l: &[char]) -> Option<(usize, usize)> {
    for i in 0..l.len() {
        for j in i + 1..l.len() {
            if l[i] == l[j] {
                return Some((i, j));
            }
        }
    }
    None
}

/// Two operands as one batched matrix product: the letters both have and the output keeps
/// are the batch, the letters both have and the output drops are contracted, the rest are the
/// rows (from `a`) and columns (from `b`). The result's letters are batch, rows, columns.
fn contract(s: &Spec, a: Labeled, b: Labeled) -> Result<Labeled> {
    let (la, lb) = (&a.letters, &b.letters);
    let batch: Vec<char> = la
        .iter()
        .filter(|c| lb.contains(c) && s.output.contains(c))
        .copied()
        .collect();
    let contr: Vec<char> = la
        .iter()
        .filter(|c| lb.contains(c) && !s.output.contains(c))
        .copied()
        .collect();
    let a_only: Vec<char> = la.iter().filter(|c| !lb.contains(c)).copied().collect();
    let b_only: Vec<char> = lb.iter().filter(|c| !la.contains(c)).copied().collect();
    let pos = |l: &[char], cs: &[char]| -> Vec<i64> {
        cs.iter()
            .map(|c| l.iter().position(|x| x == c).unwrap() as i64)
            .collect()
    };
    let prod = |cs: &[char]| -> i64 { cs.iter().map(|c| s.sizes[c] as i64).product() };
    let pa: Vec<i64> = [pos(la, &batch), pos(la, &a_only), pos(la, &contr)].concat();
    let pb: Vec<i64> = [pos(lb, &batch), pos(lb, &contr), pos(lb, &b_only)].concat();
    let a3 =
        a.t.permute(&pa)?
            .reshape(&[prod(&batch), prod(&a_only), prod(&contr)])?;
    let b3 =
        b.t.permute(&pb)?
            .reshape(&[prod(&batch), prod(&contr), prod(&b_only)])?;
    let r = a3.matmul(&b3)?;
    let letters: Vec<char> = [batch, a_only, b_only].concat();
    let shape: Vec<i64> = letters.iter().map(|c| s.sizes[c] as i64).collect();
    Ok(Labeled {
        letters,
        t: r.reshape(&shape)?,
    })
}

/// Sum the result's letters the output does not list, then order the dims as the output.
fn finish(s: &Spec, r: Labeled) -> Result<Tensor> {
    let drop: Vec<i64> = (0..r.letters.len())
        .filter(|&i| !s.output.contains(&r.letters[i]))
        .map(|i| i as i64)
        .collect();
    let (l, t) = if drop.is_empty() {
        (r.letters, r.t)
    } else {
        let kept: Vec<char> = r
            .letters
            .iter()
            .filter(|c| s.output.contains(c))
            .copied()
            .collect();
        (kept, r.t.sum_dims(&drop, false)?)
    };
    let perm: Vec<i64> = s
        .output
        .iter()
        .map(|c| l.iter().position(|x| x == c).unwrap() as i64)
        .collect();
    t.permute(&perm)
}
