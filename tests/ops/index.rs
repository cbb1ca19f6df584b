//! Ops that read or write through an index tensor: index_select, gather, scatter_add,
//! index_add, one_hot.

use super::*;

#[test]
fn index_select_gather_scatter_add_index_add() -> R {
    for dt in FLOATS {
        let m = mk(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[3, 3], dt);
        let r = m.index_select(0, &i64s(&[2, 0, 2]))?;
        check(
            &r,
            dt,
            &[3, 3],
            &[6.0, 7.0, 8.0, 0.0, 1.0, 2.0, 6.0, 7.0, 8.0],
        );
        let r = m.index_select(-1, &i64s(&[1, 1]))?;
        check(&r, dt, &[3, 2], &[1.0, 1.0, 4.0, 4.0, 7.0, 7.0]);
        check(&m.index_select(0, &i64s(&[]))?, dt, &[0, 3], &[]);
        // the torch.gather example
        let g = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        let idx = Tensor::from_vec(vec![0i64, 0, 1, 0], &[2, 2])?;
        check(&g.gather(1, &idx)?, dt, &[2, 2], &[1.0, 1.0, 4.0, 3.0]);
        check(&g.gather(0, &idx)?, dt, &[2, 2], &[1.0, 2.0, 3.0, 2.0]);
        // an index smaller than the input along the other dim
        let idx = Tensor::from_vec(vec![1i64, 0, 1], &[1, 3])?;
        check(&m.gather(0, &idx)?, dt, &[1, 3], &[3.0, 1.0, 5.0]);
        // scatter_add (torch's example with a full-size source), onto zeros and onto values
        let idx = Tensor::from_vec(vec![0i64, 1, 2, 0, 0, 0, 1, 2, 2, 2], &[2, 5])?;
        let src = mk(&[1.0; 10], &[2, 5], dt);
        let z = mk(&[0.0; 15], &[3, 5], dt);
        let want = [
            2.0, 0.0, 0.0, 1.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 1.0, 1.0,
        ];
        check(&z.scatter_add(0, &idx, &src)?, dt, &[3, 5], &want);
        let base = mk(&[10.0; 15], &[3, 5], dt);
        let want10: Vec<f64> = want.iter().map(|v| v + 10.0).collect();
        check(&base.scatter_add(0, &idx, &src)?, dt, &[3, 5], &want10);
        // along dim 1
        let idx = Tensor::from_vec(vec![0i64, 0, 1, 2, 2, 2], &[2, 3])?;
        let src = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], dt);
        check(
            &mk(&[0.0; 6], &[2, 3], dt).scatter_add(1, &idx, &src)?,
            dt,
            &[2, 3],
            &[3.0, 3.0, 0.0, 0.0, 0.0, 15.0],
        );
        // the torch.index_add example, and repeated indices accumulating
        let x = mk(&[1.0; 15], &[5, 3], dt);
        let t = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[3, 3], dt);
        let r = x.index_add(0, &i64s(&[0, 4, 2]), &t)?;
        let want = [
            2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 8.0, 9.0, 10.0, 1.0, 1.0, 1.0, 5.0, 6.0, 7.0,
        ];
        check(&r, dt, &[5, 3], &want);
        let r = mk(&[0.0; 6], &[2, 3], dt).index_add(
            1,
            &i64s(&[2, 2]),
            &mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt),
        )?;
        check(&r, dt, &[2, 3], &[0.0, 0.0, 3.0, 0.0, 0.0, 7.0]);
    }
    Ok(())
}

#[test]
fn one_hot() -> R {
    let h = i64s(&[0, 2, 1]).one_hot(3)?;
    assert_eq!(h.dtype(), DType::I64);
    assert_eq!(h.shape(), &[3, 3]);
    assert_eq!(h.to_vec::<i64>()?, vec![1, 0, 0, 0, 0, 1, 0, 1, 0]);
    let h = Tensor::from_vec(vec![3i64, 0], &[2, 1])?.one_hot(4)?;
    assert_eq!(h.shape(), &[2, 1, 4]);
    assert_eq!(h.to_vec::<i64>()?, vec![0, 0, 0, 1, 1, 0, 0, 0]);
    let h = Tensor::scalar(1i64).one_hot(2)?;
    assert_eq!(h.shape(), &[2]);
    assert_eq!(h.to_vec::<i64>()?, vec![0, 1]);
    Ok(())
}
