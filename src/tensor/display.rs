//! `Display` and `Debug` in PyTorch's style: `tensor([[1.0000, 2.0000], ...], dtype=float64)`.

use super::{DType, Repr, Tensor};
use std::fmt;

const SUMMARIZE_ABOVE: usize = 1000;
const EDGE: usize = 3;

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

fn write_nested(
    f: &mut fmt::Formatter<'_>,
    s: &[String],
    shape: &[usize],
    width: usize,
    indent: usize,
) -> fmt::Result {
    if shape.is_empty() {
        return write!(f, "{:>width$}", s[0]);
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
    f: &mut fmt::Formatter<'_>,
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
            // PyTorch: "  ..." between numbers, "..." on a line of its own
            f.write_str(if kept.len() > 1 { "...," } else { " ...," })?;
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
            DType::I64 => picked.iter().map(|v| format!("{}", *v as i64)).collect(),
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
        let width = strings.iter().map(|s| s.len()).max().unwrap_or(0);
        f.write_str("tensor(")?;
        if values.is_empty() {
            f.write_str("[]")?;
        } else if kept == shape {
            write_nested(f, &strings, &shape, width, 7)?;
        } else {
            write_summarized(f, &strings, &kept, &shape, width, 7)?;
        }
        if values.is_empty() && shape.len() != 1 {
            // Python's tuple, as PyTorch: size=(2, 0)
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            write!(f, ", size=({})", dims.join(", "))?;
        }
        // an empty tensor shows any dtype but the default float32, as in PyTorch
        if dtype == DType::F64 || (dtype != DType::F32 && values.is_empty()) {
            write!(f, ", dtype={dtype}")?;
        }
        f.write_str(")")
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
        let big = Tensor::zeros(&[100, 100], DType::F32);
        let s = big.to_string();
        assert!(s.contains("..."), "{s}");
        assert!(s.lines().count() < 12, "{s}");
    }
}
