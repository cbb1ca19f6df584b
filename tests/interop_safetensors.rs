//! safetensors: names from field paths, round trips through bytes and a file for a nested
//! parameter struct, maps and tuples, dtype conversion on load, a file written by hand in the
//! format (as another library writes it), and the errors (missing and unexpected names, a shape
//! mismatch, unsupported dtypes, a corrupt buffer, a missing file).
#![cfg(feature = "safetensors")]

use functorch::interop::safetensors;
use functorch::{DType, Error, Pytree, Tensor, grad};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Pytree)]
struct Layer {
    w: Tensor,
    b: Tensor,
}

#[derive(Clone, Debug, Pytree)]
struct Mlp {
    layers: Vec<Layer>,
    extra: (Tensor, BTreeMap<String, Tensor>),
}

fn mlp(scale: f64) -> Mlp {
    let mut map = BTreeMap::new();
    map.insert("mask".to_string(), Tensor::from_slice(&[true, false, true]));
    map.insert("steps".to_string(), Tensor::from_slice(&[3i64]));
    Mlp {
        layers: vec![
            Layer {
                w: Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])
                    .unwrap()
                    .mul_scalar(scale)
                    .unwrap(),
                b: Tensor::from_slice(&[0.1, 0.2, 0.3])
                    .mul_scalar(scale)
                    .unwrap(),
            },
            Layer {
                w: Tensor::from_vec(vec![1.0f32, -1.0, 0.5], &[1, 3]).unwrap(),
                b: Tensor::from_slice(&[0.25f32]),
            },
        ],
        extra: (Tensor::scalar(scale), map),
    }
}

fn leaves(m: &Mlp) -> Vec<(Vec<usize>, DType, Vec<f64>)> {
    m.to_tree()
        .leaves()
        .iter()
        .map(|t| (t.shape().to_vec(), t.dtype(), t.to_vec_f64().unwrap()))
        .collect()
}

#[test]
fn names_are_field_paths() {
    assert_eq!(
        safetensors::names(&mlp(1.0)),
        [
            "layers.0.w",
            "layers.0.b",
            "layers.1.w",
            "layers.1.b",
            "extra.0",
            "extra.1.mask",
            "extra.1.steps"
        ]
    );
    assert_eq!(safetensors::names(&Tensor::scalar(1.0)), ["tensor"]);
}

#[test]
fn bytes_and_files_round_trip() {
    let m = mlp(1.5);
    let bytes = safetensors::to_bytes(&m).unwrap();
    let back = safetensors::from_bytes(&bytes, &mlp(0.0)).unwrap();
    assert_eq!(leaves(&back), leaves(&m));
    let all = safetensors::from_bytes_all(&bytes).unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(all["layers.1.w"].dtype(), DType::F32);
    assert_eq!(
        all["extra.1.mask"].to_vec::<bool>().unwrap(),
        vec![true, false, true]
    );

    let path = std::env::temp_dir().join(format!(
        "functorch-interop-{}.safetensors",
        std::process::id()
    ));
    safetensors::save(&m, &path).unwrap();
    let back: Mlp = safetensors::load(&path, &mlp(0.0)).unwrap();
    assert_eq!(leaves(&back), leaves(&m));
    assert_eq!(safetensors::load_all(&path).unwrap().len(), 7);
    std::fs::remove_file(&path).unwrap();
    // the loaded structure is a normal parameter struct: differentiate through it
    let g: Layer = grad(|l: &Layer| l.w.sum()?.add(&l.b.sum()?))
        .call(&back.layers[0])
        .unwrap();
    assert_eq!(g.w.to_vec::<f64>().unwrap(), vec![1.0; 6]);
}

#[test]
fn loading_converts_to_the_structure_dtype() {
    // a float32 file (as PyTorch writes) into a float64 structure
    let w32 = Tensor::from_slice(&[0.5f32, 0.25]);
    let bytes = safetensors::to_bytes(&(w32,)).unwrap();
    let (w,): (Tensor,) =
        safetensors::from_bytes(&bytes, &(Tensor::zeros(&[2], DType::F64).unwrap(),)).unwrap();
    assert_eq!(
        (w.dtype(), w.to_vec::<f64>().unwrap()),
        (DType::F64, vec![0.5, 0.25])
    );
}

#[test]
fn a_file_in_the_format_written_by_hand_reads() {
    // 8-byte little-endian header length, JSON header, then the data (what every writer does)
    let header = r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[1,2],"data_offsets":[16,24]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    for v in [1.0f64, -2.0] {
        bytes.extend(v.to_le_bytes());
    }
    for v in [3.0f32, 4.0] {
        bytes.extend(v.to_le_bytes());
    }
    let mut like = BTreeMap::new();
    like.insert("b".to_string(), Tensor::zeros(&[2], DType::F64).unwrap());
    like.insert("w".to_string(), Tensor::zeros(&[1, 2], DType::F32).unwrap());
    let got: BTreeMap<String, Tensor> = safetensors::from_bytes(&bytes, &like).unwrap();
    assert_eq!(got["b"].to_vec::<f64>().unwrap(), vec![1.0, -2.0]);
    assert_eq!(got["w"].to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
}

#[test]
fn mismatches_are_errors() {
    let bytes = safetensors::to_bytes(&mlp(1.0)).unwrap();
    // missing and unexpected names are both listed
    let mut other = mlp(1.0);
    other.layers.pop();
    let msg = safetensors::from_bytes(&bytes, &other)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("unexpected [`layers.1.b`, `layers.1.w`]") && msg.contains("missing []"),
        "{msg}"
    );
    let mut more = mlp(1.0);
    more.layers.push(more.layers[0].clone());
    let msg = safetensors::from_bytes(&bytes, &more)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("missing [`layers.2.w`, `layers.2.b`]"),
        "{msg}"
    );
    // a shape mismatch names the tensor and both shapes
    let mut wrong = mlp(1.0);
    wrong.layers[0].b = Tensor::zeros(&[4], DType::F64).unwrap();
    match safetensors::from_bytes(&bytes, &wrong).unwrap_err() {
        Error::Shape { msg, .. } => assert!(
            msg.contains("`layers.0.b`") && msg.contains("[3]") && msg.contains("[4]"),
            "{msg}"
        ),
        e => panic!("{e}"),
    }
    // not a safetensors buffer
    assert!(matches!(
        safetensors::from_bytes_all(b"nonsense").unwrap_err(),
        Error::Invalid { .. }
    ));
    // an unsupported dtype
    let header = r#"{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#;
    let mut f16 = (header.len() as u64).to_le_bytes().to_vec();
    f16.extend(header.as_bytes());
    f16.extend([0u8, 60]);
    let msg = safetensors::from_bytes_all(&f16).unwrap_err().to_string();
    assert!(msg.contains("F16"), "{msg}");
    // a missing file names the path
    let msg = safetensors::load_all("/nonexistent/params.safetensors")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/nonexistent/params.safetensors"), "{msg}");
    // two leaves with the same name: key "a" holding a 1-tuple, and key "a.0"
    let clash = BTreeMap::from([
        (
            "a".to_string(),
            functorch::Tree::Tuple(vec![functorch::Tree::Leaf(Tensor::scalar(1.0))]),
        ),
        (
            "a.0".to_string(),
            functorch::Tree::Leaf(Tensor::scalar(2.0)),
        ),
    ]);
    let msg = safetensors::to_bytes(&clash).unwrap_err().to_string();
    assert!(msg.contains("two leaves have the same name `a.0`"), "{msg}");
}
