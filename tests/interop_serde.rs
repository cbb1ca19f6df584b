//! serde for Tensor: JSON round trips of every dtype and rank, derived parameter structs (the
//! gradient struct too), field order, and the errors (bad dtype, count/shape mismatch, missing
//! fields, a traced tensor).
#![cfg(feature = "serde")]

use functorch::{DType, Pytree, Tensor, grad};
use serde::{Deserialize, Serialize};

fn round_trip(t: &Tensor) -> Tensor {
    let s = serde_json::to_string(t).unwrap();
    let back: Tensor = serde_json::from_str(&s).unwrap();
    assert_eq!((back.shape(), back.dtype()), (t.shape(), t.dtype()), "{s}");
    assert_eq!(back.to_vec_f64().unwrap(), t.to_vec_f64().unwrap(), "{s}");
    back
}

#[test]
fn every_dtype_and_rank_round_trips() {
    round_trip(&Tensor::scalar(2.5));
    round_trip(&Tensor::from_slice(&[1.0f32, -0.1, 3.5e-8]));
    round_trip(&Tensor::from_vec(vec![1i64, -2, i64::MAX, 4, 5, 6], &[2, 3, 1]).unwrap());
    round_trip(&Tensor::from_slice(&[true, false]));
    round_trip(&Tensor::zeros(&[0, 3], DType::F64).unwrap());
    // a strided view serializes its logical elements
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let t = round_trip(&x.t().unwrap());
    assert_eq!(t.to_vec::<f64>().unwrap(), vec![1.0, 3.0, 2.0, 4.0]);
    // f64 values survive exactly
    let v = Tensor::from_slice(&[0.1, 1.0 / 3.0, f64::MIN_POSITIVE, 1e300]);
    assert_eq!(
        round_trip(&v).to_vec::<f64>().unwrap(),
        v.to_vec::<f64>().unwrap()
    );
    assert_eq!(
        serde_json::to_string(&Tensor::from_slice(&[1i64, 2])).unwrap(),
        r#"{"dtype":"int64","shape":[2],"data":[1,2]}"#
    );
}

#[derive(Clone, Pytree, Serialize, Deserialize)]
struct Layer {
    w: Tensor,
    b: Tensor,
}

#[derive(Clone, Pytree, Serialize, Deserialize)]
struct Model {
    layers: Vec<Layer>,
    scale: Tensor,
}

#[test]
fn derived_parameter_structs_serialize_and_so_do_their_gradients() {
    let m = Model {
        layers: vec![
            Layer {
                w: Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap(),
                b: Tensor::from_slice(&[0.5, -0.5]),
            },
            Layer {
                w: Tensor::from_vec(vec![1.0, -1.0], &[1, 2]).unwrap(),
                b: Tensor::from_slice(&[0.0]),
            },
        ],
        scale: Tensor::scalar(2.0),
    };
    let json = serde_json::to_string(&m).unwrap();
    let back: Model = serde_json::from_str(&json).unwrap();
    assert_eq!(back.layers[1].w.to_vec::<f64>().unwrap(), vec![1.0, -1.0]);
    assert_eq!(back.scale.shape(), &[] as &[usize]);
    let loss = |m: &Model| {
        let x = Tensor::from_slice(&[1.0, 2.0]);
        let h = m.layers[0].w.matmul(&x)?.add(&m.layers[0].b)?.tanh()?;
        m.layers[1]
            .w
            .matmul(&h)?
            .add(&m.layers[1].b)?
            .mul(&m.scale)?
            .sum()
    };
    let g: Model = grad(loss).call(&back).unwrap();
    let g0: Model = grad(loss).call(&m).unwrap();
    let gj: Model = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(
        gj.layers[0].w.to_vec::<f64>().unwrap(),
        g0.layers[0].w.to_vec::<f64>().unwrap()
    );
    assert_eq!(
        gj.scale.to_vec::<f64>().unwrap(),
        g0.scale.to_vec::<f64>().unwrap()
    );
}

#[test]
fn bad_input_is_an_error() {
    let bad = |s: &str| serde_json::from_str::<Tensor>(s).unwrap_err().to_string();
    let e = bad(r#"{"dtype":"float16","shape":[1],"data":[1.0]}"#);
    assert!(e.contains("float16"), "{e}");
    let e = bad(r#"{"dtype":"float64","shape":[2,2],"data":[1.0,2.0,3.0]}"#);
    assert!(e.contains("from_vec") || e.contains("[2, 2]"), "{e}");
    let e = bad(r#"{"dtype":"float64","data":[1.0]}"#);
    assert!(e.contains("dtype") || e.contains("shape"), "{e}");
    let e = bad(r#"{"dtype":"float64","shape":[1]}"#);
    assert!(e.contains("data"), "{e}");
    let e = bad(r#"{"shape":[1],"data":[1.0],"dtype":"float64"}"#);
    assert!(e.contains("must come before"), "{e}");
    let e = bad(r#"{"dtype":"int64","shape":[1],"data":[1.5]}"#);
    assert!(e.contains("invalid type"), "{e}");
    let e = bad(r#"{"dtype":"bool","shape":[1],"data":[true],"extra":1}"#);
    assert!(e.contains("extra"), "{e}");
    // a traced tensor has no values to write
    let err = grad(|x: &Tensor| {
        serde_json::to_string(x).map_err(|e| functorch::Error::Structure(e.to_string()))?;
        x.sum()
    })
    .call::<_, Tensor>(&Tensor::from_slice(&[1.0]))
    .unwrap_err();
    assert!(err.to_string().contains("needs a concrete value"), "{err}");
}
