//! Views and copies that move elements: reshape, transpose, squeeze, expand, slice, cat,
//! split, flip, diagonal, tril/triu.

use super::*;

// ----------------------------------------------------------------------------- shapes

#[test]
fn reshape_flatten_and_views_of_shape() -> R {
    let x = seq(&[2, 3]);
    let r = x.reshape(&[3, -1])?;
    exact(&r, &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    exact(&x.reshape(&[-1])?, &[6], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    exact(
        &x.reshape(&[1, -1, 1])?,
        &[1, 6, 1],
        &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    );
    exact(&t64(&[7.0]).reshape(&[])?, &[], &[7.0]);
    exact(&Tensor::scalar(7.0).reshape(&[1, 1])?, &[1, 1], &[7.0]);
    // reshape of a transposed view reads in its logical order
    exact(
        &x.t()?.reshape(&[-1])?,
        &[6],
        &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0],
    );
    exact(&x.flatten()?, &[6], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let y = seq(&[2, 3, 4]);
    assert_eq!(y.flatten_dims(1, 2)?.shape(), &[2, 12]);
    assert_eq!(y.flatten_dims(0, -2)?.shape(), &[6, 4]);
    assert_eq!(y.flatten_dims(-1, -1)?.shape(), &[2, 3, 4]);
    assert_eq!(vals(&y.flatten_dims(0, 1)?), vals(&y));
    assert_eq!(Tensor::scalar(1.0).flatten()?.shape(), &[1]);
    Ok(())
}

#[test]
fn transpose_permute_movedim() -> R {
    let x = seq(&[2, 3]);
    exact(
        &x.transpose(0, 1)?,
        &[3, 2],
        &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0],
    );
    exact(
        &x.transpose(-1, -2)?,
        &[3, 2],
        &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0],
    );
    exact(&x.t()?, &[3, 2], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    exact(&t64(&[1.0, 2.0]).t()?, &[2], &[1.0, 2.0]);
    let y = seq(&[2, 3, 4]);
    // permute [2, 0, 1]: out[k, i, j] = y[i, j, k]
    let p = y.permute(&[2, 0, 1])?;
    let mut want = Vec::new();
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                want.push(flat(&[2, 3, 4], &[i, j, k]) as f64);
            }
        }
    }
    exact(&p, &[4, 2, 3], &want);
    exact(&y.permute(&[-1, 0, -2])?, &[4, 2, 3], &want);
    exact(&y.movedim(2, 0)?, &[4, 2, 3], &want);
    // mT swaps the last two: out[i, k, j] = y[i, j, k]
    let mut want = Vec::new();
    for i in 0..2 {
        for k in 0..4 {
            for j in 0..3 {
                want.push(flat(&[2, 3, 4], &[i, j, k]) as f64);
            }
        }
    }
    exact(&y.mt()?, &[2, 4, 3], &want);
    exact(&y.transpose(1, 2)?, &[2, 4, 3], &want);
    // movedim(0, -1): out[j, k, i] = y[i, j, k]
    let mut want = Vec::new();
    for j in 0..3 {
        for k in 0..4 {
            for i in 0..2 {
                want.push(flat(&[2, 3, 4], &[i, j, k]) as f64);
            }
        }
    }
    exact(&y.movedim(0, -1)?, &[3, 4, 2], &want);
    Ok(())
}

#[test]
fn squeeze_and_unsqueeze() -> R {
    let x = seq(&[2, 1, 3]);
    assert_eq!(x.squeeze(1)?.shape(), &[2, 3]);
    assert_eq!(x.squeeze(-2)?.shape(), &[2, 3]);
    assert_eq!(x.squeeze(0)?.shape(), &[2, 1, 3]); // size 2: unchanged
    let y = seq(&[1, 2, 1, 3, 1]);
    assert_eq!(y.squeeze_dims(&[0, 2])?.shape(), &[2, 3, 1]);
    assert_eq!(y.squeeze_dims(&[-1, 1])?.shape(), &[1, 2, 1, 3]);
    assert_eq!(y.squeeze_all()?.shape(), &[2, 3]);
    assert_eq!(vals(&y.squeeze_all()?), vals(&y));
    assert_eq!(
        Tensor::ones(&[1, 1], DType::F64)?.squeeze_all()?.shape(),
        &[] as &[usize]
    );
    let z = seq(&[2, 3]);
    assert_eq!(z.unsqueeze(0)?.shape(), &[1, 2, 3]);
    assert_eq!(z.unsqueeze(1)?.shape(), &[2, 1, 3]);
    assert_eq!(z.unsqueeze(2)?.shape(), &[2, 3, 1]);
    assert_eq!(z.unsqueeze(-1)?.shape(), &[2, 3, 1]);
    assert_eq!(z.unsqueeze(-2)?.shape(), &[2, 1, 3]);
    assert_eq!(z.unsqueeze(-3)?.shape(), &[1, 2, 3]);
    assert_eq!(Tensor::scalar(1.0).unsqueeze(-1)?.shape(), &[1]);
    exact(
        &z.unsqueeze(1)?,
        &[2, 1, 3],
        &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    );
    Ok(())
}

#[test]
fn expand_and_broadcast_to() -> R {
    let x = m64(&[1.0, 2.0, 3.0], &[3, 1]);
    let e = x.expand(&[2, -1, 4])?;
    let mut want = Vec::new();
    for _ in 0..2 {
        for i in 1..=3 {
            want.extend([i as f64; 4]);
        }
    }
    exact(&e, &[2, 3, 4], &want);
    exact(
        &x.expand(&[3, 2])?,
        &[3, 2],
        &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
    );
    exact(&x.expand(&[-1, -1])?, &[3, 1], &[1.0, 2.0, 3.0]);
    let b = t64(&[1.0, 2.0, 3.0]).broadcast_to(&[2, 3])?;
    exact(&b, &[2, 3], &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    exact(
        &Tensor::scalar(5.0).broadcast_to(&[2, 2])?,
        &[2, 2],
        &[5.0; 4],
    );
    // an expanded tensor computes like its materialized values
    exact(&e.sum_dims(&[0, 2], false)?, &[3], &[8.0, 16.0, 24.0]);
    Ok(())
}

#[test]
fn slice_narrow_select_get() -> R {
    let x = seq(&[10]);
    exact(&x.slice(0, 1, 8, 3)?, &[3], &[1.0, 4.0, 7.0]);
    exact(&x.slice(0, -3, i64::MAX, 1)?, &[3], &[7.0, 8.0, 9.0]);
    exact(&x.slice(0, -100, 100, 4)?, &[3], &[0.0, 4.0, 8.0]);
    exact(&x.slice(0, 2, -2, 2)?, &[3], &[2.0, 4.0, 6.0]);
    exact(&x.slice(0, 5, 2, 1)?, &[0], &[]);
    exact(&x.slice(0, 12, 20, 1)?, &[0], &[]);
    exact(&x.slice(-1, 0, 10, 1)?, &[10], &vals(&x));
    // a slice of a slice
    exact(&x.slice(0, 1, 10, 2)?.slice(0, 1, 4, 2)?, &[2], &[3.0, 7.0]);
    let m = seq(&[3, 4]);
    exact(
        &m.slice(1, 1, 3, 1)?,
        &[3, 2],
        &[1.0, 2.0, 5.0, 6.0, 9.0, 10.0],
    );
    exact(
        &m.slice(0, 0, 3, 2)?,
        &[2, 4],
        &[0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0],
    );
    exact(&m.slice(-1, -1, i64::MAX, 1)?, &[3, 1], &[3.0, 7.0, 11.0]);
    exact(&x.narrow(0, 2, 3)?, &[3], &[2.0, 3.0, 4.0]);
    exact(
        &m.narrow(1, 1, 2)?,
        &[3, 2],
        &[1.0, 2.0, 5.0, 6.0, 9.0, 10.0],
    );
    exact(&m.narrow(-2, 2, 1)?, &[1, 4], &[8.0, 9.0, 10.0, 11.0]);
    exact(&m.narrow(0, 3, 0)?, &[0, 4], &[]);
    exact(&m.select(1, -1)?, &[3], &[3.0, 7.0, 11.0]);
    exact(&m.select(0, 1)?, &[4], &[4.0, 5.0, 6.0, 7.0]);
    exact(&m.select(-1, 0)?, &[3], &[0.0, 4.0, 8.0]);
    exact(&m.get(-1)?, &[4], &[8.0, 9.0, 10.0, 11.0]);
    exact(&m.get(0)?.get(2)?, &[], &[2.0]);
    Ok(())
}

#[test]
fn cat_stack_split_chunk() -> R {
    let a = m64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let b = m64(&[5.0, 6.0], &[1, 2]);
    exact(
        &Tensor::cat(&[a.clone(), b.clone()], 0)?,
        &[3, 2],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    );
    let c = m64(&[7.0, 8.0], &[2, 1]);
    exact(
        &Tensor::cat(&[a.clone(), c.clone(), a.clone()], -1)?,
        &[2, 5],
        &[1.0, 2.0, 7.0, 1.0, 2.0, 3.0, 4.0, 8.0, 3.0, 4.0],
    );
    exact(
        &Tensor::cat(std::slice::from_ref(&a), 0)?,
        &[2, 2],
        &[1.0, 2.0, 3.0, 4.0],
    );
    // cat of a transposed view
    exact(
        &Tensor::cat(&[a.t()?, b.clone()], 0)?,
        &[3, 2],
        &[1.0, 3.0, 2.0, 4.0, 5.0, 6.0],
    );
    let d = m64(&[5.0, 6.0, 7.0, 8.0], &[2, 2]);
    exact(
        &Tensor::stack(&[a.clone(), d.clone()], 0)?,
        &[2, 2, 2],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    );
    exact(
        &Tensor::stack(&[a.clone(), d.clone()], 1)?,
        &[2, 2, 2],
        &[1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0],
    );
    exact(
        &Tensor::stack(&[a.clone(), d.clone()], -1)?,
        &[2, 2, 2],
        &[1.0, 5.0, 2.0, 6.0, 3.0, 7.0, 4.0, 8.0],
    );
    exact(
        &Tensor::stack(&[Tensor::scalar(1.0), Tensor::scalar(2.0)], 0)?,
        &[2],
        &[1.0, 2.0],
    );
    let x = seq(&[5]);
    let parts = x.split(2, 0)?;
    assert_eq!(parts.len(), 3);
    exact(&parts[0], &[2], &[0.0, 1.0]);
    exact(&parts[1], &[2], &[2.0, 3.0]);
    exact(&parts[2], &[1], &[4.0]);
    let parts = x.chunk(3, 0)?;
    assert_eq!(
        parts.iter().map(|p| p.shape()[0]).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let parts = seq(&[6]).chunk(4, 0)?; // as torch.chunk: 3 chunks of 2
    assert_eq!(
        parts.iter().map(|p| p.shape()[0]).collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
    exact(&parts[2], &[2], &[4.0, 5.0]);
    let parts = seq(&[2, 3]).split(2, -1)?;
    exact(&parts[0], &[2, 2], &[0.0, 1.0, 3.0, 4.0]);
    exact(&parts[1], &[2, 1], &[2.0, 5.0]);
    // splitting and concatenating again is the identity
    let y = seq(&[4, 3]);
    assert_eq!(vals(&Tensor::cat(&y.chunk(3, 0)?, 0)?), vals(&y));
    Ok(())
}

#[test]
fn flip_diagonal_diag_trace() -> R {
    let a = m64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    exact(&a.flip(&[0])?, &[2, 2], &[3.0, 4.0, 1.0, 2.0]);
    exact(&a.flip(&[-1])?, &[2, 2], &[2.0, 1.0, 4.0, 3.0]);
    exact(&a.flip(&[0, 1])?, &[2, 2], &[4.0, 3.0, 2.0, 1.0]);
    exact(&a.flip(&[0])?.flip(&[0])?, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);

    let m = seq(&[3, 3]);
    exact(&m.diagonal(0, 0, 1)?, &[3], &[0.0, 4.0, 8.0]);
    exact(&m.diagonal(1, 0, 1)?, &[2], &[1.0, 5.0]);
    exact(&m.diagonal(2, 0, 1)?, &[1], &[2.0]);
    exact(&m.diagonal(3, 0, 1)?, &[0], &[]);
    exact(&m.diagonal(-1, 0, 1)?, &[2], &[3.0, 7.0]);
    exact(&m.diagonal(-2, 0, 1)?, &[1], &[6.0]);
    exact(&m.diagonal(-5, 0, 1)?, &[0], &[]);
    // dims swapped: the diagonal of the transpose
    exact(&m.diagonal(1, 1, 0)?, &[2], &[3.0, 7.0]);
    let r = seq(&[2, 3]);
    exact(&r.diagonal(0, 0, 1)?, &[2], &[0.0, 4.0]);
    exact(&r.diagonal(1, 0, 1)?, &[2], &[1.0, 5.0]);
    exact(&r.diagonal(2, 0, 1)?, &[1], &[2.0]);
    exact(&r.diagonal(-1, 0, 1)?, &[1], &[3.0]);
    // batched: diagonal over dims 1, 2, and over dims 0, 2 (out[j, i] = x[i, j, i])
    let b = seq(&[2, 2, 2]);
    exact(&b.diagonal(0, 1, 2)?, &[2, 2], &[0.0, 3.0, 4.0, 7.0]);
    exact(&b.diagonal(0, -1, -2)?, &[2, 2], &[0.0, 3.0, 4.0, 7.0]);
    exact(&b.diagonal(0, 0, 2)?, &[2, 2], &[0.0, 5.0, 2.0, 7.0]);

    for dt in FLOATS {
        let v = mk(&[1.0, 2.0, 3.0], &[3], dt);
        check(
            &v.diag()?,
            dt,
            &[3, 3],
            &[1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0],
        );
        check(&v.diag()?.diag()?, dt, &[3], &[1.0, 2.0, 3.0]);
        check(
            &mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt).trace()?,
            dt,
            &[],
            &[5.0],
        );
        check(
            &mk(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3], dt).trace()?,
            dt,
            &[],
            &[4.0],
        );
    }
    exact(&seq(&[2, 3]).diag()?, &[2], &[0.0, 4.0]);
    Ok(())
}

#[test]
fn tril_and_triu() -> R {
    let m = m64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[3, 3]);
    exact(
        &m.tril(0)?,
        &[3, 3],
        &[1.0, 0.0, 0.0, 4.0, 5.0, 0.0, 7.0, 8.0, 9.0],
    );
    exact(
        &m.tril(-1)?,
        &[3, 3],
        &[0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 7.0, 8.0, 0.0],
    );
    exact(
        &m.tril(1)?,
        &[3, 3],
        &[1.0, 2.0, 0.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    );
    exact(
        &m.triu(0)?,
        &[3, 3],
        &[1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 0.0, 9.0],
    );
    exact(
        &m.triu(1)?,
        &[3, 3],
        &[0.0, 2.0, 3.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0],
    );
    exact(
        &m.triu(-1)?,
        &[3, 3],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 8.0, 9.0],
    );
    exact(&m.triu(5)?, &[3, 3], &[0.0; 9]);
    exact(&m.tril(-5)?, &[3, 3], &[0.0; 9]);
    // non-square and batched
    let r = m64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    exact(&r.triu(1)?, &[2, 3], &[0.0, 2.0, 3.0, 0.0, 0.0, 6.0]);
    exact(&r.tril(0)?, &[2, 3], &[1.0, 0.0, 0.0, 4.0, 5.0, 0.0]);
    let b = Tensor::stack(&[r.clone(), r.mul_scalar(10.0)?], 0)?;
    exact(
        &b.tril(0)?,
        &[2, 2, 3],
        &[
            1.0, 0.0, 0.0, 4.0, 5.0, 0.0, 10.0, 0.0, 0.0, 40.0, 50.0, 0.0,
        ],
    );
    // a triangle and its complement add up to the matrix
    exact(&m.tril(0)?.add(&m.triu(1)?)?, &[3, 3], &vals(&m));
    // f32 and i64 keep their dtype
    assert_eq!(
        Tensor::from_vec(vec![1.0f32; 4], &[2, 2])?
            .triu(0)?
            .to_vec::<f32>()?,
        vec![1.0, 1.0, 0.0, 1.0]
    );
    assert_eq!(
        Tensor::from_vec(vec![1i64; 4], &[2, 2])?
            .tril(0)?
            .to_vec::<i64>()?,
        vec![1, 0, 1, 1]
    );
    Ok(())
}
