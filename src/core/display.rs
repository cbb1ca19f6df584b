//! `Display` and `Debug` in PyTorch's style: `tensor([[1.0000, 2.0000], ...], dtype=float64)`.

use super::{Repr, Tensor};
use crate::dtype::DType;
use std::fmt::{self, Write};

const SUMMARIZE_ABOVE: usize = 1000;
const EDGE: usize = 3;
/// PyTorch's `linewidth`: rows of numbers wrap to stay within it.
const LINEWIDTH: usize = 80;

fn float_strings(v: &[f64]) -> Vec<String> {
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let all_int = finite.iter().all(|x| x.fract() == 0.0);
    let max = finite.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let min_nz = finite
        .iter()
        .filter(|x| **x != 0.0)
        .fold(f64::INFINITY, |m, x| m.min(x.abs()));
    // PyTorch's rule (over the nonzero finite values), for integral values too
    let sci = min_nz.is_finite() && (max / min_nz > 1000.0 || max > 1e8 || min_nz < 1e-4);
    v.iter()
        .map(|&x| {
            if x.is_nan() {
                "nan".into()
            } else if x.is_infinite() {
                if x > 0.0 { "inf".into() } else { "-inf".into() }
            } else if sci {
                sci4(x)
            } else if all_int {
                format!("{x:.0}.")
            } else {
                format!("{x:.4}")
            }
        })
        .collect()
}

/// `{:.4e}` with Python's exponent, a sign and at least two digits: `1.0000e-05`.
fn sci4(x: f64) -> String {
    let s = format!("{x:.4e}");
    let (m, e) = s.split_once('e').expect("LowerExp writes an exponent");
    let e: i32 = e.parse().expect("an integer exponent");
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// A row of already padded items, wrapped as PyTorch's `_vector_str`: as many items per line
/// as fit in `LINEWIDTH - indent`, each taking `width + 2`.
fn write_row(f: &mut String, items: &[String], width: usize, indent: usize) -> fmt::Result {
    let per_line = (LINEWIDTH.saturating_sub(indent) / (width + 2)).max(1);
    f.write_str("[")?;
    for (k, line) in items.chunks(per_line).enumerate() {
        if k > 0 {
            write!(f, ",\n{}", " ".repeat(indent + 1))?;
        }
        f.write_str(&line.join(", "))?;
    }
    f.write_str("]")
}

fn write_nested(
    f: &mut String,
    s: &[String],
    shape: &[usize],
    width: usize,
    indent: usize,
) -> fmt::Result {
    if shape.is_empty() {
        return write!(f, "{:>width$}", s[0]);
    }
    if shape.len() == 1 {
        let items: Vec<String> = s.iter().map(|x| format!("{x:>width$}")).collect();
        return write_row(f, &items, width, indent);
    }
    let n = shape[0];
    let inner: usize = shape[1..].iter().product();
    let summarize = s.len() < n * inner; // flagged by the caller by passing only the edges
    f.write_str("[")?;
    let rows: Vec<usize> = if summarize && n > 2 * EDGE {
        (0..EDGE).chain(n - EDGE..n).collect()
    } else {
        (0..n).collect()
    };
    let _ = rows;
    for i in 0..n {
        if i > 0 {
            f.write_str(",")?;
            if shape.len() > 1 {
                f.write_str(&"\n".repeat(shape.len() - 1))?;
                f.write_str(&" ".repeat(indent + 1))?;
            } else {
                f.write_str(" ")?;
            }
        }
        write_nested(
            f,
            &s[i * inner..(i + 1) * inner],
            &shape[1..],
            width,
            indent + 1,
        )?;
    }
    f.write_str("]")
}

/// Keep only the first and last EDGE entries along every dim longer than 2*EDGE.
fn summarized(shape: &[usize]) -> Vec<Vec<usize>> {
    shape
        .iter()
        .map(|&n| {
            if n > 2 * EDGE {
                (0..EDGE).chain(n - EDGE..n).collect()
            } else {
                (0..n).collect()
            }
        })
        .collect()
}

fn gather_positions(shape: &[usize], keep: &[Vec<usize>]) -> Vec<usize> {
    let mut out = vec![0usize];
    for (d, k) in keep.iter().enumerate() {
        let stride: usize = shape[d + 1..].iter().product();
        out = out
            .iter()
            .flat_map(|&base| k.iter().map(move |&i| base + i * stride))
            .collect();
    }
    out
}

fn write_summarized(
    f: &mut String,
    s: &[String],
    kept: &[usize],
    full: &[usize],
    width: usize,
    indent: usize,
) -> fmt::Result {
    if kept.is_empty() {
        return write!(f, "{:>width$}", s[0]);
    }
    let n = kept[0];
    let inner: usize = kept[1..].iter().product();
    let cut = full[0] > 2 * EDGE;
    if kept.len() == 1 {
        // PyTorch: " ..." as one more item of the row
        let mut items = Vec::with_capacity(n + 1);
        for (i, x) in s.iter().enumerate() {
            if cut && i == EDGE {
                items.push(" ...".to_string());
            }
            items.push(format!("{x:>width$}"));
        }
        return write_row(f, &items, width, indent);
    }
    f.write_str("[")?;
    for i in 0..n {
        if i > 0 {
            f.write_str(",")?;
            if kept.len() > 1 {
                f.write_str(&"\n".repeat(kept.len() - 1))?;
                f.write_str(&" ".repeat(indent + 1))?;
            } else {
                f.write_str(" ")?;
            }
        }
        if cut && i == EDGE {
            f.write_str("...,")?;
            if kept.len() > 1 {
                f.write_str(&"\n".repeat(kept.len() - 1))?;
                f.write_str(&" ".repeat(indent + 1))?;
            } else {
                f.write_str(" ")?;
            }
        }
        write_summarized(
            f,
            &s[i * inner..(i + 1) * inner],
            &kept[1..],
            &full[1..],
            width,
            indent + 1,
        )?;
    }
    f.write_str("]")
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = match &*self.0 {
            Repr::Array(a) => a,
            Repr::Tracer(t) => return write!(f, "{t}"),
        };
        let dtype = a.dtype();
        let shape = a.shape().to_vec();
        let values = self.to_vec_f64().map_err(|_| fmt::Error)?;
        let (positions, kept): (Vec<usize>, Vec<usize>) = if values.len() > SUMMARIZE_ABOVE {
            let keep = summarized(&shape);
            (
                gather_positions(&shape, &keep),
                keep.iter().map(|k| k.len()).collect(),
            )
        } else {
            ((0..values.len()).collect(), shape.clone())
        };
        let picked: Vec<f64> = positions.iter().map(|&i| values[i]).collect();
        let strings: Vec<String> = match dtype {
            DType::F32 | DType::F64 => float_strings(&picked),
            // exactly, not through f64 (which rounds above 2^53)
            DType::I64 => {
                let iv = a.to_vec::<i64>().ok_or(fmt::Error)?;
                positions.iter().map(|&i| iv[i].to_string()).collect()
            }
            DType::Bool => picked
                .iter()
                .map(|v| {
                    if *v != 0.0 {
                        "True".into()
                    } else {
                        "False".into()
                    }
                })
                .collect(),
        };
        // PyTorch pads floats to the widest nonzero finite value (nan, inf may stick out)
        let width = match dtype {
            DType::F32 | DType::F64 => picked
                .iter()
                .zip(&strings)
                .filter(|(v, _)| v.is_finite() && **v != 0.0)
                .map(|(_, s)| s.len())
                .max()
                .unwrap_or(1),
            _ => strings.iter().map(|s| s.len()).max().unwrap_or(0),
        };
        let mut s = String::from("tensor(");
        if values.is_empty() {
            s.push_str("[]");
        } else if kept == shape {
            write_nested(&mut s, &strings, &shape, width, 7)?;
        } else {
            write_summarized(&mut s, &strings, &kept, &shape, width, 7)?;
        }
        let mut suffixes = Vec::new();
        if values.is_empty() && shape.len() != 1 {
            // Python's tuple, as PyTorch: size=(2, 0)
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            suffixes.push(format!("size=({})", dims.join(", ")));
        }
        // an empty tensor shows any dtype but the default float32, as in PyTorch
        if dtype == DType::F64 || (dtype != DType::F32 && values.is_empty()) {
            suffixes.push(format!("dtype={dtype}"));
        }
        // PyTorch's _add_suffixes: a suffix that would pass the line width goes on a new line
        // (Python's `len(s) - s.rfind('\n') + 1`, with rfind -1 when there is no newline)
        let mut last = match s.rfind('\n') {
            Some(i) => s.len() - i + 1,
            None => s.len() + 2,
        };
        for suffix in suffixes {
            if last + suffix.len() + 2 > LINEWIDTH {
                write!(s, ",\n{}{suffix}", " ".repeat(7))?;
                last = 7 + suffix.len();
            } else {
                write!(s, ", {suffix}")?;
                last += suffix.len() + 2;
            }
        }
        s.push(')');
        f.write_str(&s)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    #[test]
    fn prints_like_pytorch() {
        let t = Tensor::from_vec(vec![1.0, 2.5, -3.0, 4.0], &[2, 2]).unwrap();
        assert_eq!(
            t.to_string(),
            "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]], dtype=float64)"
        );
        let t = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
        assert_eq!(t.to_string(), "tensor([1., 2.])");
        assert_eq!(Tensor::scalar(3i64).to_string(), "tensor(3)");
        let big = Tensor::zeros(&[100, 100], DType::F32).unwrap();
        let s = big.to_string();
        assert!(s.contains("..."), "{s}");
        assert!(s.lines().count() < 12, "{s}");
    }
}
