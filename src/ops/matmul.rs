//! Products: `matmul` with torch.matmul's rules (a decomposition over the batched-matrix
//! primitive), `dot`, `outer`, `mv`, and `einsum` for one or two operands.

use super::{require_float, require_same_dtype};
use crate::array::broadcast_shapes;
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::prims::matmul::MatMul;
use std::collections::BTreeMap;

impl Tensor {
    /// Matrix product with torch.matmul's rules: 1-d · 1-d is a dot product, a 1-d operand is
    /// promoted to a matrix (and the added dim removed again), and dims before the last two
    /// broadcast as a batch.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let v = Tensor::from_slice(&[1.0, 1.0]);
    /// assert_eq!(a.matmul(&v)?.to_vec::<f64>()?, vec![3.0, 7.0]);
    /// assert_eq!(v.matmul(&a)?.to_vec::<f64>()?, vec![4.0, 6.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        require_same_dtype("matmul", self, other)?;
        require_float("matmul", self)?;
        let (a, b) = (self, other);
        if a.ndim() == 0 || b.ndim() == 0 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "both operands need at least one dim, got shapes {:?} and {:?}",
                    a.shape(),
                    b.shape()
                ),
            ));
        }
        let ka = a.shape()[a.ndim() - 1];
        let kb = if b.ndim() == 1 {
            b.shape()[0]
        } else {
            b.shape()[b.ndim() - 2]
        };
        if ka != kb {
            return Err(Error::shape(
                "matmul",
                format!(
                    "shapes {:?} and {:?} cannot be multiplied ({ka} != {kb})",
                    a.shape(),
                    b.shape()
                ),
            ));
        }
        let a2 = if a.ndim() == 1 {
            a.unsqueeze(0)?
        } else {
            a.clone()
        };
        let b2 = if b.ndim() == 1 {
            b.unsqueeze(1)?
        } else {
            b.clone()
        };
        broadcast_shapes(
            "matmul",
            &a2.shape()[..a2.ndim() - 2],
            &b2.shape()[..b2.ndim() - 2],
        )?;
        let mut r = bind(&MatMul, &[&a2, &b2])?;
        if b.ndim() == 1 {
            r = r.squeeze(-1)?;
        }
        if a.ndim() == 1 {
            r = r.squeeze(if b.ndim() == 1 { -1 } else { -2 })?;
        }
        Ok(r)
    }
    /// The dot product of two 1-d tensors.
    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 1 || other.ndim() != 1 || self.shape() != other.shape() {
            return Err(Error::shape(
                "dot",
                format!(
                    "expects two 1-d tensors of equal length, got {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul(other)
    }
    /// Matrix–vector product.
    pub fn mv(&self, v: &Tensor) -> Result<Tensor> {
        if self.ndim() != 2 || v.ndim() != 1 || self.shape()[1] != v.shape()[0] {
            return Err(Error::shape(
                "mv",
                format!(
                    "expects a matrix [n, m] and a vector [m], got {:?} and {:?}",
                    self.shape(),
                    v.shape()
                ),
            ));
        }
        self.matmul(v)
    }
    /// The outer product of two 1-d tensors.
    pub fn outer(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 1 || other.ndim() != 1 {
            return Err(Error::shape(
                "outer",
                format!(
                    "expects two 1-d tensors, got {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.unsqueeze(1)?.mul(&other.unsqueeze(0)?)
    }

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
        let bad = |m: String| Error::invalid("einsum", format!("{m} (in \"{spec}\")"));
        let spec_nows: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
        let (lhs, out) = match spec_nows.split_once("->") {
            Some((l, o)) => (l.to_string(), Some(o.to_string())),
            None => (spec_nows.clone(), None),
        };
        let ins: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
        if ins.len() != operands.len() || !(1..=2).contains(&ins.len()) {
            return Err(bad(format!(
                "expects 1 or 2 operands matching the spec, got {} operands",
                operands.len()
            )));
        }
        let mut sizes: BTreeMap<char, usize> = BTreeMap::new();
        for (letters, t) in ins.iter().zip(operands) {
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
        let out: Vec<char> = match out {
            Some(o) => o.chars().collect(),
            None => {
                let mut count: BTreeMap<char, usize> = BTreeMap::new();
                for l in &ins {
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
        for c in &out {
            if !sizes.contains_key(c) {
                return Err(bad(format!("output subscript '{c}' appears in no operand")));
            }
            if out.iter().filter(|&o| o == c).count() > 1 {
                return Err(bad(format!(
                    "output subscript '{c}' appears more than once"
                )));
            }
        }
        // 1. take diagonals of repeated letters; 2. sum letters needed nowhere else
        let mut ops: Vec<(Vec<char>, Tensor)> = Vec::new();
        for (k, (letters, t)) in ins.iter().zip(operands).enumerate() {
            let (mut l, mut t) = (letters.clone(), (*t).clone());
            while let Some((i, j)) = repeated(&l) {
                t = t.diagonal(0, i as i64, j as i64)?;
                let c = l[i];
                l.remove(j);
                l.remove(i);
                l.push(c);
            }
            let other: Vec<char> = ins
                .iter()
                .enumerate()
                .filter(|(o, _)| *o != k)
                .flat_map(|(_, v)| v.clone())
                .collect();
            let drop: Vec<i64> = (0..l.len())
                .filter(|&i| !out.contains(&l[i]) && !other.contains(&l[i]))
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
            ops.push((l, t));
        }
        let (res_letters, res) = if ops.len() == 1 {
            ops.pop().unwrap()
        } else {
            let (lb, b) = ops.pop().unwrap();
            let (la, a) = ops.pop().unwrap();
            let batch: Vec<char> = la
                .iter()
                .filter(|c| lb.contains(c) && out.contains(c))
                .copied()
                .collect();
            let contr: Vec<char> = la
                .iter()
                .filter(|c| lb.contains(c) && !out.contains(c))
                .copied()
                .collect();
            let a_only: Vec<char> = la.iter().filter(|c| !lb.contains(c)).copied().collect();
            let b_only: Vec<char> = lb.iter().filter(|c| !la.contains(c)).copied().collect();
            let pos = |l: &[char], cs: &[char]| -> Vec<i64> {
                cs.iter()
                    .map(|c| l.iter().position(|x| x == c).unwrap() as i64)
                    .collect()
            };
            let prod = |cs: &[char]| -> i64 { cs.iter().map(|c| sizes[c] as i64).product() };
            let pa: Vec<i64> = [pos(&la, &batch), pos(&la, &a_only), pos(&la, &contr)].concat();
            let pb: Vec<i64> = [pos(&lb, &batch), pos(&lb, &contr), pos(&lb, &b_only)].concat();
            let a3 = a
                .permute(&pa)?
                .reshape(&[prod(&batch), prod(&a_only), prod(&contr)])?;
            let b3 = b
                .permute(&pb)?
                .reshape(&[prod(&batch), prod(&contr), prod(&b_only)])?;
            let r = a3.matmul(&b3)?;
            let letters: Vec<char> = [batch.clone(), a_only.clone(), b_only.clone()].concat();
            let shape: Vec<i64> = letters.iter().map(|c| sizes[c] as i64).collect();
            (letters, r.reshape(&shape)?)
        };
        // letters of the result not in the output are summed; then order as the output
        let drop: Vec<i64> = (0..res_letters.len())
            .filter(|&i| !out.contains(&res_letters[i]))
            .map(|i| i as i64)
            .collect();
        let (l, r) = if drop.is_empty() {
            (res_letters, res)
        } else {
            let kept: Vec<char> = res_letters
                .iter()
                .filter(|c| out.contains(c))
                .copied()
                .collect();
            (kept, res.sum_dims(&drop, false)?)
        };
        let perm: Vec<i64> = out
            .iter()
            .map(|c| l.iter().position(|x| x == c).unwrap() as i64)
            .collect();
        r.permute(&perm)
    }
}

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
