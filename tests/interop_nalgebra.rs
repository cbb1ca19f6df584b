//! Tensor ⇄ nalgebra `DVector` / `DMatrix`: round trips in both element types, the element
//! order of a matrix against its (column-major) storage, and the shape, dtype and tracer errors.
#![cfg(feature = "nalgebra")]

use functorch::{DType, Error, Tensor, grad, jacrev};
use nalgebra::{DMatrix, DVector};

#[test]
fn vectors_round_trip() {
    let v = DVector::from_vec(vec![1.5, -2.0, 3.25]);
    let t = Tensor::from(&v);
    assert_eq!((t.shape(), t.dtype()), (&[3usize][..], DType::F64));
    assert_eq!(t.to_dvector::<f64>().unwrap(), v);
    let v32 = DVector::from_vec(vec![1.0f32, 2.0]);
    let t32 = Tensor::from(v32.clone());
    assert_eq!(t32.dtype(), DType::F32);
    assert_eq!(DVector::<f32>::try_from(&t32).unwrap(), v32);
    let empty = DVector::<f64>::zeros(0);
    assert_eq!(Tensor::from(&empty).to_dvector::<f64>().unwrap(), empty);
}

#[test]
fn matrices_keep_row_column_positions() {
    let m = DMatrix::from_fn(3, 2, |i, j| (10 * i + j) as f64);
    let t = Tensor::from(&m);
    assert_eq!(t.shape(), &[3, 2]);
    assert_eq!(
        t.to_vec::<f64>().unwrap(),
        vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0]
    );
    assert_eq!(t.to_dmatrix::<f64>().unwrap(), m);
    // a transposed (strided) tensor converts by logical position
    let tt = t.t().unwrap();
    assert_eq!(tt.to_dmatrix::<f64>().unwrap(), m.transpose());
    assert_eq!(DMatrix::<f64>::try_from(&t).unwrap(), m);
    let m32 = DMatrix::from_row_slice(1, 2, &[1.0f32, 2.0]);
    assert_eq!(Tensor::from(m32.clone()).to_dmatrix::<f32>().unwrap(), m32);
}

#[test]
fn products_agree_with_nalgebra() {
    let a = DMatrix::from_fn(4, 3, |i, j| ((i * 3 + j) as f64).sin());
    let x = DVector::from_fn(3, |i, _| i as f64 - 1.0);
    let y = Tensor::from(&a)
        .matmul(&Tensor::from(&x))
        .unwrap()
        .to_dvector::<f64>()
        .unwrap();
    assert!((y - &a * &x).norm() < 1e-14);
    // the Jacobian of x -> A x is A
    let at = Tensor::from(&a);
    let j: Tensor = jacrev(|x: &Tensor| at.matmul(x))
        .call(&Tensor::from(&x))
        .unwrap();
    assert!((j.to_dmatrix::<f64>().unwrap() - &a).norm() < 1e-14);
}

#[test]
fn shape_dtype_and_tracer_errors() {
    let m = Tensor::zeros(&[2, 2], DType::F64).unwrap();
    let v = Tensor::zeros(&[2], DType::F64).unwrap();
    assert!(matches!(
        m.to_dvector::<f64>().unwrap_err(),
        Error::Shape {
            op: "to_dvector",
            ..
        }
    ));
    assert!(matches!(
        v.to_dmatrix::<f64>().unwrap_err(),
        Error::Shape {
            op: "to_dmatrix",
            ..
        }
    ));
    assert!(matches!(
        Tensor::scalar(1.0).to_dvector::<f64>().unwrap_err(),
        Error::Shape { .. }
    ));
    assert_eq!(
        v.to_dvector::<f32>().unwrap_err(),
        Error::DType {
            op: "to_dvector",
            expected: "float32",
            got: DType::F64
        }
    );
    assert!(matches!(
        m.to_dmatrix::<f32>().unwrap_err(),
        Error::DType {
            op: "to_dmatrix",
            ..
        }
    ));
    let msg = m.to_dvector::<f64>().unwrap_err().to_string();
    assert!(
        msg.contains("expected a 1-d tensor") && msg.contains("[2, 2]"),
        "{msg}"
    );
    // inside a transform the values do not exist yet
    let err = grad(|x: &Tensor| {
        x.to_dvector::<f64>()?;
        x.sum()
    })
    .call::<_, Tensor>(&v)
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Traced {
                op: "to_dvector",
                ..
            }
        ),
        "{err}"
    );
}
