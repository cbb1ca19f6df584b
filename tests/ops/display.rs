//! `Display` prints like PyTorch.

use super::*;

// ----------------------------------------------------------------------------- display

#[test]
fn display_like_pytorch() -> R {
    assert_eq!(
        Tensor::from_slice(&[1.5f32, -2.25, 3.0]).to_string(),
        "tensor([ 1.5000, -2.2500,  3.0000])"
    );
    assert_eq!(
        m64(&[1.0, 2.5, -3.0, 4.0], &[2, 2]).to_string(),
        "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]], dtype=float64)"
    );
    assert_eq!(
        Tensor::from_slice(&[1.0f32, 2.0]).to_string(),
        "tensor([1., 2.])"
    );
    assert_eq!(Tensor::scalar(3.0f32).to_string(), "tensor(3.)");
    assert_eq!(
        Tensor::scalar(2.5f64).to_string(),
        "tensor(2.5000, dtype=float64)"
    );
    assert_eq!(Tensor::scalar(3i64).to_string(), "tensor(3)");
    assert_eq!(
        Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], &[2, 3])?.to_string(),
        "tensor([[1, 2, 3],\n        [4, 5, 6]])"
    );
    assert_eq!(
        Tensor::from_vec(vec![-1i64, 20], &[2])?.to_string(),
        "tensor([-1, 20])"
    );
    assert_eq!(bools(&[true, false]).to_string(), "tensor([ True, False])");
    assert_eq!(
        Tensor::from_vec((0..8).collect::<Vec<i64>>(), &[2, 2, 2])?.to_string(),
        "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])"
    );
    assert_eq!(
        Tensor::from_slice(&[f32::NAN, f32::INFINITY, -1.0]).to_string(),
        "tensor([nan, inf, -1.])"
    );
    assert_eq!(
        Tensor::from_slice(&[0.5f32, f32::NEG_INFINITY]).to_string(),
        "tensor([0.5000,   -inf])"
    );
    // a view prints its logical order
    assert_eq!(
        Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2])?
            .t()?
            .to_string(),
        "tensor([[1, 3],\n        [2, 4]])"
    );
    // scientific notation, with PyTorch's two-digit signed exponent
    assert_eq!(
        Tensor::from_slice(&[1e-5f32, 1.0]).to_string(),
        "tensor([1.0000e-05, 1.0000e+00])"
    );
    assert_eq!(
        Tensor::from_slice(&[1.5e10f32, -2.0]).to_string(),
        "tensor([ 1.5000e+10, -2.0000e+00])"
    );
    // PyTorch switches to scientific notation when max / min > 1000, integers too
    assert_eq!(
        Tensor::from_slice(&[1.0f32, 2000.0]).to_string(),
        "tensor([1.0000e+00, 2.0000e+03])"
    );
    assert_eq!(
        Tensor::from_slice(&[0.5f32, 1000.0]).to_string(),
        "tensor([5.0000e-01, 1.0000e+03])"
    );
    assert_eq!(
        Tensor::from_slice(&[1.0f32, 1000.0]).to_string(),
        "tensor([   1., 1000.])"
    );
    assert_eq!(
        Tensor::from_slice(&[0.0f32, 0.001]).to_string(),
        "tensor([0.0000, 0.0010])"
    );
    // empty tensors
    assert_eq!(Tensor::zeros(&[0], DType::F32)?.to_string(), "tensor([])");
    assert_eq!(
        Tensor::zeros(&[0], DType::I64)?.to_string(),
        "tensor([], dtype=int64)"
    );
    assert_eq!(
        Tensor::zeros(&[2, 0], DType::F32)?.to_string(),
        "tensor([], size=(2, 0))"
    );
    assert_eq!(
        Tensor::zeros(&[0, 3], DType::F64)?.to_string(),
        "tensor([], size=(0, 3), dtype=float64)"
    );
    assert_eq!(
        Tensor::zeros(&[0], DType::Bool)?.to_string(),
        "tensor([], dtype=bool)"
    );
    // 2-d summary: "  ..." inside a row, "..." on a line of its own
    let big = Tensor::zeros(&[100, 100], DType::F32)?;
    let row = "[0., 0., 0.,  ..., 0., 0., 0.]";
    let want = format!(
        "tensor([{row},\n        {row},\n        {row},\n        ...,\n        {row},\n        {row},\n        {row}])"
    );
    assert_eq!(big.to_string(), want);
    // nan and inf do not widen the column (PyTorch pads to the widest nonzero finite value)
    assert_eq!(
        Tensor::from_slice(&[1.0f32, f32::NEG_INFINITY]).to_string(),
        "tensor([1., -inf])"
    );
    // i64 values print exactly, beyond f64's 2^53
    assert_eq!(
        Tensor::scalar(9_007_199_254_740_993i64).to_string(),
        "tensor(9007199254740993)"
    );
    // rows wrap at 80 columns, as PyTorch's linewidth
    assert_eq!(
        Tensor::arange(0.0, 20.0, 1.0, DType::F32)?.to_string(),
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n        14., 15., 16., 17., 18., 19.])"
    );
    assert_eq!(
        Tensor::arange(0.0, 40.0, 1.0, DType::F32)?
            .reshape(&[2, 20])?
            .to_string(),
        "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n         14., 15., 16., 17., 18., 19.],\n        [20., 21., 22., 23., 24., 25., 26., 27., 28., 29., 30., 31., 32., 33.,\n         34., 35., 36., 37., 38., 39.]])"
    );
    assert_eq!(
        Tensor::arange(0.0, 20.0, 1.0, DType::I64)?.to_string(),
        "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n        18, 19])"
    );
    // a suffix that would pass 80 columns goes on its own line
    assert_eq!(
        Tensor::arange(0.0, 14.0, 1.0, DType::F64)?.to_string(),
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.],\n       dtype=float64)"
    );
    assert_eq!(
        Tensor::arange(0.0, 4.0, 1.0, DType::F64)?.to_string(),
        "tensor([0., 1., 2., 3.], dtype=float64)"
    );
    // summarized above 1000 elements: first and last three, with "..."
    let big = Tensor::arange(0.0, 2000.0, 1.0, DType::I64)?;
    assert_eq!(
        big.to_string(),
        "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
    );
    Ok(())
}
