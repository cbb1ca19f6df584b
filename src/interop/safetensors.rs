//! Load and save parameter structures as [safetensors](https://github.com/huggingface/safetensors)
//! files (feature `safetensors`), the format Hugging Face and PyTorch users exchange weights in.
//!
//! Any [`Pytree`] (a `#[derive(Pytree)]` struct, a tuple, a `Vec`, a `BTreeMap<String, _>`, …)
//! is flattened to named tensors, the name of a leaf being its path: struct fields and map keys
//! by name, tuple and list elements by position, joined with dots (`layers.0.w`, as PyTorch's
//! `state_dict` names them). A lone tensor is saved under the name `tensor`. Loading takes a
//! value of the same type (`like`, e.g. a freshly initialized model) for the structure; each
//! tensor must have the shape of its counterpart in `like` and is converted to its dtype (so a
//! float32 file loads into a float64 model). Names missing from the file, or in the file but
//! not in the structure, are errors.
//!
//! ```
//! use functorch::interop::safetensors;
//! use functorch::{DType, Pytree, Tensor};
//!
//! #[derive(Clone, Pytree)]
//! struct Layer { w: Tensor, b: Tensor }
//! #[derive(Clone, Pytree)]
//! struct Mlp { layers: Vec<Layer> }
//!
//! let mlp = Mlp { layers: vec![
//!     Layer { w: Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?, b: Tensor::from_slice(&[0.5, -0.5]) },
//!     Layer { w: Tensor::from_vec(vec![1.0, -1.0], &[1, 2])?, b: Tensor::from_slice(&[0.0]) },
//! ] };
//! assert_eq!(safetensors::names(&mlp), ["layers.0.w", "layers.0.b", "layers.1.w", "layers.1.b"]);
//!
//! let bytes = safetensors::to_bytes(&mlp)?; // or safetensors::save(&mlp, "mlp.safetensors")
//! let like = Mlp { layers: vec![
//!     Layer { w: Tensor::zeros(&[2, 2], DType::F64)?, b: Tensor::zeros(&[2], DType::F64)? },
//!     Layer { w: Tensor::zeros(&[1, 2], DType::F64)?, b: Tensor::zeros(&[1], DType::F64)? },
//! ] };
//! let back: Mlp = safetensors::from_bytes(&bytes, &like)?;
//! assert_eq!(back.layers[0].w.to_vec::<f64>()?, vec![1.0, 2.0, 3.0, 4.0]);
//!
//! // a structure the file does not hold is refused, naming what is missing
//! let err = safetensors::from_bytes(&bytes, &(Tensor::zeros(&[2], DType::F64)?,)).unwrap_err();
//! assert!(err.to_string().contains("`0`"));
//! # Ok::<(), functorch::Error>(())
//! ```

use super::elements;
use crate::tree::{Pytree, Tree};
use crate::{DType, Error, Result, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// The names under which [`save`] writes the leaves of `params`, in flattening order.
pub fn names<T: Pytree>(params: &T) -> Vec<String> {
    named_leaves(&params.to_tree())
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

fn named_leaves(tree: &Tree) -> Vec<(String, Tensor)> {
    fn walk(t: &Tree, path: &str, out: &mut Vec<(String, Tensor)>) {
        let join = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        match t {
            Tree::Leaf(x) => out.push((
                if path.is_empty() {
                    "tensor".into()
                } else {
                    path.into()
                },
                x.clone(),
            )),
            Tree::Tuple(v) | Tree::List(v) => {
                for (i, c) in v.iter().enumerate() {
                    walk(c, &join(&i.to_string()), out)
                }
            }
            Tree::Dict(v) => {
                for (k, c) in v {
                    walk(c, &join(k), out)
                }
            }
            Tree::Struct { fields, .. } => {
                for (k, c) in fields {
                    walk(c, &join(k), out)
                }
            }
            Tree::None => {}
        }
    }
    let mut out = Vec::new();
    walk(tree, "", &mut out);
    out
}

/// One tensor's bytes, ready for the writer.
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_le(t: &Tensor, op: &'static str) -> Result<Bytes> {
    let (dtype, data) = match t.dtype() {
        DType::F32 => (
            Dtype::F32,
            elements::<f32>(t, op)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::F64 => (
            Dtype::F64,
            elements::<f64>(t, op)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::I64 => (
            Dtype::I64,
            elements::<i64>(t, op)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::Bool => (
            Dtype::BOOL,
            elements::<bool>(t, op)?.iter().map(|&v| v as u8).collect(),
        ),
    };
    Ok(Bytes {
        dtype,
        shape: t.shape().to_vec(),
        data,
    })
}

fn prepare<T: Pytree>(params: &T, op: &'static str) -> Result<BTreeMap<String, Bytes>> {
    let mut out = BTreeMap::new();
    for (name, t) in named_leaves(&params.to_tree()) {
        let b = to_le(&t, op)?;
        if out.insert(name.clone(), b).is_some() {
            return Err(Error::Invalid {
                op,
                msg: format!("two leaves have the same name `{name}`"),
            });
        }
    }
    Ok(out)
}

/// The safetensors bytes of `params` (see the [module docs](self) for the names).
///
/// # Errors
/// [`Error::Traced`] for a tensor being traced inside a transform, [`Error::Invalid`] if two
/// leaves get the same name (a map key with a dot can collide with a nested path).
pub fn to_bytes<T: Pytree>(params: &T) -> Result<Vec<u8>> {
    let op = "safetensors::to_bytes";
    let m = prepare(params, op)?;
    safetensors::serialize(m.iter(), None).map_err(|e| Error::Invalid {
        op,
        msg: e.to_string(),
    })
}

/// Write `params` to a safetensors file at `path`.
///
/// # Errors
/// As [`to_bytes`], and [`Error::Invalid`] naming the path if the file cannot be written.
pub fn save<T: Pytree>(params: &T, path: impl AsRef<Path>) -> Result<()> {
    let op = "safetensors::save";
    let m = prepare(params, op)?;
    safetensors::serialize_to_file(m.iter(), None, path.as_ref()).map_err(|e| Error::Invalid {
        op,
        msg: format!("{}: {e}", path.as_ref().display()),
    })
}

fn from_le(
    name: &str,
    dtype: Dtype,
    shape: &[usize],
    b: &[u8],
    op: &'static str,
) -> Result<Tensor> {
    fn chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        b.chunks_exact(N)
            .map(|c| c.try_into().expect("chunk of N bytes"))
    }
    let t = match dtype {
        Dtype::F32 => Tensor::from_aligned_vec(chunks(b).map(f32::from_le_bytes).collect(), shape),
        Dtype::F64 => Tensor::from_aligned_vec(chunks(b).map(f64::from_le_bytes).collect(), shape),
        Dtype::I64 => Tensor::from_aligned_vec(chunks(b).map(i64::from_le_bytes).collect(), shape),
        Dtype::BOOL => {
            if let Some(v) = b.iter().find(|&&v| v > 1) {
                return Err(Error::Invalid {
                    op,
                    msg: format!("tensor `{name}`: the byte {v} is not a bool (0 or 1)"),
                });
            }
            Tensor::from_aligned_vec(b.iter().map(|&v| v == 1).collect(), shape)
        }
        other => {
            return Err(Error::Invalid {
                op,
                msg: format!("tensor `{name}` has dtype {other:?}; supported: F32, F64, I64, BOOL"),
            });
        }
    };
    t.map_err(|e| Error::Invalid {
        op,
        msg: format!("tensor `{name}`: {e}"),
    })
}

fn parse<'a>(bytes: &'a [u8], op: &'static str) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| Error::Invalid {
        op,
        msg: format!("not a valid safetensors buffer: {e}"),
    })
}

/// Every tensor of a safetensors buffer, by name, in the file's dtypes.
///
/// # Errors
/// [`Error::Invalid`] if the buffer is not safetensors or holds a dtype other than F32, F64,
/// I64 or BOOL.
pub fn from_bytes_all(bytes: &[u8]) -> Result<BTreeMap<String, Tensor>> {
    let op = "safetensors::from_bytes_all";
    let st = parse(bytes, op)?;
    st.iter()
        .map(|(name, v)| {
            Ok((
                name.to_string(),
                from_le(name, v.dtype(), v.shape(), v.data(), op)?,
            ))
        })
        .collect()
}

/// A value of the structure of `like` with its tensors read from a safetensors buffer; each
/// tensor has the shape of its counterpart in `like` and is converted to its dtype.
///
/// # Errors
/// [`Error::Invalid`] if the buffer is not safetensors, lacks a name of the structure, holds a
/// name the structure lacks, or holds an unsupported dtype; [`Error::Shape`] naming the tensor
/// if a shape differs.
pub fn from_bytes<T: Pytree>(bytes: &[u8], like: &T) -> Result<T> {
    load_into(bytes, like, "safetensors::from_bytes")
}

fn load_into<T: Pytree>(bytes: &[u8], like: &T, op: &'static str) -> Result<T> {
    let st = parse(bytes, op)?;
    let tree = like.to_tree();
    let wanted = named_leaves(&tree);
    let missing: Vec<&str> = wanted
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| st.tensor(n).is_err())
        .collect();
    let mut extra: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| !wanted.iter().any(|(w, _)| w == n))
        .collect();
    extra.sort();
    if !missing.is_empty() || !extra.is_empty() {
        let list = |v: &[&str]| {
            v.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::Invalid {
            op,
            msg: format!(
                "the file does not match the structure {}: missing [{}], unexpected [{}]",
                tree.describe(),
                list(&missing),
                list(&extra)
            ),
        });
    }
    let mut leaves = Vec::with_capacity(wanted.len());
    for (name, want) in &wanted {
        let v = st.tensor(name).expect("checked above");
        if v.shape() != want.shape() {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "tensor `{name}` has shape {:?} in the file, the structure wants {:?}",
                    v.shape(),
                    want.shape()
                ),
            });
        }
        let t = from_le(name, v.dtype(), v.shape(), v.data(), op)?;
        leaves.push(if t.dtype() == want.dtype() {
            t
        } else {
            t.to_dtype(want.dtype())?
        });
    }
    T::from_tree(tree.with_leaves(&mut leaves.into_iter()))
}

fn read(path: &Path, op: &'static str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Invalid {
        op,
        msg: format!("{}: {e}", path.display()),
    })
}

/// A value of the structure of `like` with its tensors read from the safetensors file at
/// `path` (see [`from_bytes`]).
///
/// # Errors
/// As [`from_bytes`], and [`Error::Invalid`] naming the path if the file cannot be read.
pub fn load<T: Pytree>(path: impl AsRef<Path>, like: &T) -> Result<T> {
    let op = "safetensors::load";
    load_into(&read(path.as_ref(), op)?, like, op)
}

/// Every tensor of the safetensors file at `path`, by name, in the file's dtypes.
///
/// # Errors
/// As [`from_bytes_all`], and [`Error::Invalid`] naming the path if the file cannot be read.
pub fn load_all(path: impl AsRef<Path>) -> Result<BTreeMap<String, Tensor>> {
    from_bytes_all(&read(path.as_ref(), "safetensors::load_all")?)
}
