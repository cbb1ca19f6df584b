//! Views share storage without copying, and every op reads any layout (transposed, flipped,
//! stepped, broadcast operands).

use super::*;

// ----------------------------------------------------------------------------- views

#[test]
fn views_share_storage_without_copying() -> R {
    let x = seq(&[2, 3]);
    let base = x.array().unwrap();
    assert_eq!(base.strides(), &[3, 1]);
    assert!(base.is_contiguous());

    let t = x.transpose(0, 1)?;
    let ta = t.array().unwrap();
    assert_eq!(ta.shape(), &[3, 2]);
    assert_eq!(ta.strides(), &[1, 3]);
    assert!(!ta.is_contiguous());
    assert_eq!(x.t()?.array().unwrap().strides(), &[1, 3]);

    let y = seq(&[2, 3, 4]);
    let p = y.permute(&[2, 0, 1])?;
    assert_eq!(p.array().unwrap().strides(), &[1, 12, 4]);
    assert_eq!(y.mt()?.array().unwrap().strides(), &[12, 1, 4]);
    assert_eq!(y.movedim(0, -1)?.array().unwrap().strides(), &[4, 1, 12]);

    let e = m64(&[1.0, 2.0, 3.0], &[3, 1]).expand(&[2, 3, 4])?;
    assert_eq!(e.array().unwrap().strides(), &[0, 1, 0]);
    let bt = t64(&[1.0, 2.0, 3.0]).broadcast_to(&[5, 3])?;
    assert_eq!(bt.array().unwrap().strides(), &[0, 1]);

    let s = seq(&[10]).slice(0, 1, 9, 3)?;
    assert_eq!(s.array().unwrap().strides(), &[3]);
    let s2 = y.slice(1, 1, 3, 1)?;
    assert_eq!(s2.array().unwrap().strides(), &[12, 4, 1]);
    let n = x.narrow(1, 1, 2)?;
    assert_eq!(n.array().unwrap().strides(), &[3, 1]);
    let sel = x.select(1, 2)?;
    assert_eq!(sel.array().unwrap().strides(), &[3]);
    let f = x.flip(&[1])?;
    assert_eq!(f.array().unwrap().strides(), &[3, -1]);

    // a view holds one shared buffer, so its data equals the base's buffer: viewing it
    // through the base layout again recovers the base
    let base_view = base.view::<f64>().unwrap();
    let t_view = ta.view::<f64>().unwrap();
    assert!(std::ptr::eq(base_view.data, t_view.data));
    let e_view = e.array().unwrap().view::<f64>().unwrap();
    assert_eq!(e_view.data.len(), 3);
    let s_view = s.array().unwrap().view::<f64>().unwrap();
    assert_eq!((s_view.data.len(), s_view.offset), (10, 1));
    // reshape of a contiguous tensor is a view too
    let r = x.reshape(&[3, 2])?;
    assert!(std::ptr::eq(
        r.array().unwrap().view::<f64>().unwrap().data,
        base_view.data
    ));
    Ok(())
}

#[test]
fn ops_read_any_layout() -> R {
    for dt in FLOATS {
        // [[0, 1, 2], [3, 4, 5]]
        let x = mk(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3], dt);
        // xᵀ (strides [1, 3]) + flipped rows of a [3, 2] (negative stride)
        let y = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2], dt).flip(&[0])?;
        check(
            &x.t()?.add(&y)?,
            dt,
            &[3, 2],
            &[5.0, 9.0, 4.0, 8.0, 3.0, 7.0],
        );
        check(
            &x.t()?.mul(&y)?,
            dt,
            &[3, 2],
            &[0.0, 18.0, 3.0, 16.0, 2.0, 10.0],
        );
        mask(
            &x.t()?.gt(&y)?,
            &[3, 2],
            &[false, false, false, false, true, true],
        );
        // a stepped slice against a broadcast (zero-stride) operand
        let s = mk(&(0..10).map(f64::from).collect::<Vec<_>>(), &[10], dt).slice(0, 1, 10, 4)?;
        let b = mk(&[10.0], &[1], dt).expand(&[3])?;
        check(&s.sub(&b)?, dt, &[3], &[-9.0, -5.0, -1.0]);
        check(
            &Tensor::where_(&s.gt_scalar(4.0)?, &s, &b)?,
            dt,
            &[3],
            &[10.0, 5.0, 9.0],
        );
        // indexing of views
        check(
            &x.t()?.index_select(0, &i64s(&[2, 0]))?,
            dt,
            &[2, 2],
            &[2.0, 5.0, 0.0, 3.0],
        );
        let idx = Tensor::from_vec(vec![1i64, 0, 0], &[1, 3])?;
        check(
            &x.flip(&[1])?.gather(0, &idx)?,
            dt,
            &[1, 3],
            &[5.0, 1.0, 0.0],
        );
        // matmul of transposed, flipped and expanded operands
        let a = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        check(&a.t()?.matmul(&a)?, dt, &[2, 2], &[10.0, 14.0, 14.0, 20.0]);
        // flip(a) = [[3, 4], [1, 2]]
        check(
            &a.flip(&[0])?.matmul(&a)?,
            dt,
            &[2, 2],
            &[15.0, 22.0, 7.0, 10.0],
        );
        check(
            &a.matmul(&a.flip(&[1])?)?,
            dt,
            &[2, 2],
            &[10.0, 7.0, 22.0, 15.0],
        );
        let ones = mk(&[1.0], &[1, 1], dt).expand(&[2, 2])?;
        check(&a.matmul(&ones)?, dt, &[2, 2], &[3.0, 3.0, 7.0, 7.0]);
        let batch = a.unsqueeze(0)?.expand(&[3, -1, -1])?;
        check(
            &batch.matmul(&a)?,
            dt,
            &[3, 2, 2],
            &[
                7.0, 10.0, 15.0, 22.0, 7.0, 10.0, 15.0, 22.0, 7.0, 10.0, 15.0, 22.0,
            ],
        );
        // a strided column vector
        let v = mk(&[1.0, 9.0, 1.0, 9.0], &[4], dt).slice(0, 0, 4, 2)?;
        check(&a.matmul(&v)?, dt, &[2], &[3.0, 7.0]);
        // reductions of views
        check(&x.t()?.sum_dims(&[1], false)?, dt, &[3], &[3.0, 5.0, 7.0]);
        check(&x.flip(&[0, 1])?.amax(&[1], false)?, dt, &[2], &[5.0, 2.0]);
        assert_eq!(
            x.flip(&[1])?.argmax(Some(1), false)?.to_vec::<i64>()?,
            vec![0, 0]
        );
        check(&batch.det()?, dt, &[3], &[-2.0, -2.0, -2.0]);
        check(&a.t()?.inv()?, dt, &[2, 2], &[-2.0, 1.5, 1.0, -0.5]);
    }
    Ok(())
}
