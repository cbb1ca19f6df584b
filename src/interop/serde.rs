//! `serde::Serialize` and `serde::Deserialize` for [`Tensor`] (feature `serde`).
//!
//! A tensor is written as a struct of three fields, in this order: `dtype` (PyTorch's name,
//! e.g. `"float64"`), `shape` (a list of sizes) and `data` (the elements in row-major order, as
//! numbers or booleans). Reading checks that the element count matches the shape.
//!
//! Because `Tensor` is `Serialize + Deserialize`, a parameter struct simply derives serde's
//! traits beside [`Pytree`](crate::Pytree):
//!
//! ```
//! use functorch::{Pytree, Tensor, grad};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Pytree, Serialize, Deserialize)]
//! struct Linear { w: Tensor, b: Tensor }
//!
//! let p = Linear { w: Tensor::from_slice(&[1.0, -1.0]), b: Tensor::scalar(0.5) };
//! let json = serde_json::to_string(&p).unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"w":{"dtype":"float64","shape":[2],"data":[1.0,-1.0]},"b":{"dtype":"float64","shape":[],"data":[0.5]}}"#
//! );
//! let back: Linear = serde_json::from_str(&json).unwrap();
//! assert_eq!(back.w.to_vec::<f64>()?, vec![1.0, -1.0]);
//!
//! // gradients come back as the same struct, so they serialize the same way
//! let x = Tensor::from_slice(&[2.0, 3.0]);
//! let g: Linear = grad(|p: &Linear| x.dot(&p.w)?.add(&p.b)).call(&p)?;
//! assert_eq!(serde_json::to_string(&g.w).unwrap(), r#"{"dtype":"float64","shape":[2],"data":[2.0,3.0]}"#);
//! # Ok::<(), functorch::Error>(())
//! ```
//!
//! A tensor being traced inside a transform has no values and refuses to serialize. JSON has
//! no NaN or infinity (serde_json writes `null`, which does not read back); use a binary
//! format for such values.

use crate::array::Element;
use crate::{DType, Tensor};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

const FIELDS: &[&str] = &["dtype", "shape", "data"];

impl Serialize for Tensor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Tensor", 3)?;
        st.serialize_field("dtype", self.dtype().name())?;
        st.serialize_field("shape", self.shape())?;
        let err = |e: crate::Error| S::Error::custom(e);
        match self.dtype() {
            DType::F32 => st.serialize_field("data", &self.to_vec::<f32>().map_err(err)?)?,
            DType::F64 => st.serialize_field("data", &self.to_vec::<f64>().map_err(err)?)?,
            DType::I64 => st.serialize_field("data", &self.to_vec::<i64>().map_err(err)?)?,
            DType::Bool => st.serialize_field("data", &self.to_vec::<bool>().map_err(err)?)?,
        }
        st.end()
    }
}

fn parse_dtype<E: de::Error>(name: &str) -> Result<DType, E> {
    Ok(match name {
        "float32" => DType::F32,
        "float64" => DType::F64,
        "int64" => DType::I64,
        "bool" => DType::Bool,
        other => {
            return Err(E::invalid_value(
                de::Unexpected::Str(other),
                &"one of \"float32\", \"float64\", \"int64\", \"bool\"",
            ));
        }
    })
}

/// The `data` field, read as the element type the `dtype` field named.
struct DataSeed(DType);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Data;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Data, D::Error> {
        Ok(match self.0 {
            DType::F32 => Data::F32(Vec::deserialize(d)?),
            DType::F64 => Data::F64(Vec::deserialize(d)?),
            DType::I64 => Data::I64(Vec::deserialize(d)?),
            DType::Bool => Data::Bool(Vec::deserialize(d)?),
        })
    }
}

enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

fn build<E: de::Error>(shape: Vec<usize>, data: Data) -> Result<Tensor, E> {
    fn make<T: Element, E: de::Error>(v: Vec<T>, shape: &[usize]) -> Result<Tensor, E> {
        Tensor::from_vec(v, shape).map_err(E::custom)
    }
    match data {
        Data::F32(v) => make(v, &shape),
        Data::F64(v) => make(v, &shape),
        Data::I64(v) => make(v, &shape),
        Data::Bool(v) => make(v, &shape),
    }
}

struct TensorVisitor;

impl<'de> Visitor<'de> for TensorVisitor {
    type Value = Tensor;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tensor: a struct with fields dtype, shape and data")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tensor, A::Error> {
        let name: String = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let dtype = parse_dtype(&name)?;
        let shape: Vec<usize> = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let data = seq
            .next_element_seed(DataSeed(dtype))?
            .ok_or_else(|| de::Error::invalid_length(2, &self))?;
        build(shape, data)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tensor, A::Error> {
        let (mut dtype, mut shape, mut data) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "dtype" if dtype.is_none() => {
                    dtype = Some(parse_dtype(&map.next_value::<String>()?)?)
                }
                "shape" if shape.is_none() => shape = Some(map.next_value::<Vec<usize>>()?),
                "data" if data.is_none() => {
                    let Some(dt) = dtype else {
                        return Err(de::Error::custom(
                            "tensor: the field `dtype` must come before `data`",
                        ));
                    };
                    data = Some(map.next_value_seed(DataSeed(dt))?);
                }
                "dtype" | "shape" | "data" => {
                    return Err(de::Error::custom(format!(
                        "tensor: duplicate field `{key}`"
                    )));
                }
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        let shape = shape.ok_or_else(|| de::Error::missing_field("shape"))?;
        let data = data.ok_or_else(|| de::Error::missing_field("data"))?;
        build(shape, data)
    }
}

impl<'de> Deserialize<'de> for Tensor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tensor, D::Error> {
        d.deserialize_struct("Tensor", FIELDS, TensorVisitor)
    }
}
