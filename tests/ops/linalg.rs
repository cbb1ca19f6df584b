//! Matrix products, einsum, and linear algebra (det, inv, solve, cholesky).

use super::*;

// ----------------------------------------------------------------------------- products

/// A plain triple loop: `[n, k] x [k, m]`, for checking batched products.
fn naive_mm(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            for l in 0..k {
                out[i * m + j] += a[i * k + l] * b[l * m + j];
            }
        }
    }
    out
}

#[test]
fn matmul_cases() -> R {
    for dt in FLOATS {
        let v = mk(&[1.0, 2.0, 3.0], &[3], dt);
        let w = mk(&[4.0, 5.0, 6.0], &[3], dt);
        check(&v.matmul(&w)?, dt, &[], &[32.0]);
        let a = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        let u = mk(&[1.0, 1.0], &[2], dt);
        check(&a.matmul(&u)?, dt, &[2], &[3.0, 7.0]);
        check(&u.matmul(&a)?, dt, &[2], &[4.0, 6.0]);
        let b = mk(&[5.0, 6.0, 7.0, 8.0], &[2, 2], dt);
        check(&a.matmul(&b)?, dt, &[2, 2], &[19.0, 22.0, 43.0, 50.0]);
        check(&b.matmul(&a)?, dt, &[2, 2], &[23.0, 34.0, 31.0, 46.0]);
        // [2, 3] x [3, 2]
        let c = mk(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], dt);
        let d = mk(&[7.0, 8.0, 9.0, 10.0, 11.0, 12.0], &[3, 2], dt);
        check(&c.matmul(&d)?, dt, &[2, 2], &[58.0, 64.0, 139.0, 154.0]);
        // transposed operands (non-contiguous): cᵀ cᵀᵀ = cᵀ c
        check(
            &c.t()?.matmul(&c)?,
            dt,
            &[3, 3],
            &[17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0],
        );
        // batched with broadcasting: [2, 1, 2, 3] x [3, 3, 2] -> [2, 3, 2, 2]
        let av: Vec<f64> = (0..12).map(|i| i as f64 - 5.0).collect();
        let bv: Vec<f64> = (0..18).map(|i| (i % 7) as f64 * 0.5).collect();
        let p = mk(&av, &[2, 1, 2, 3], dt);
        let q = mk(&bv, &[3, 3, 2], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            for j in 0..3 {
                want.extend(naive_mm(
                    &av[i * 6..i * 6 + 6],
                    &bv[j * 6..j * 6 + 6],
                    2,
                    3,
                    2,
                ));
            }
        }
        check(&p.matmul(&q)?, dt, &[2, 3, 2, 2], &want);
        // a batch times one matrix
        let bs = mk(&av, &[2, 2, 3], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            want.extend(naive_mm(&av[i * 6..i * 6 + 6], &vals(&d), 2, 3, 2));
        }
        check(&bs.matmul(&d)?, dt, &[2, 2, 2], &want);
        // a batch times a vector, a vector times a batch
        check(
            &bs.matmul(&v)?,
            dt,
            &[2, 2],
            &naive_mm(&av, &[1.0, 2.0, 3.0], 4, 3, 1),
        );
        let e = mk(&bv, &[3, 2, 3], dt);
        let mut want = Vec::new();
        for j in 0..3 {
            want.extend(naive_mm(&[1.0, 1.0], &bv[j * 6..j * 6 + 6], 1, 2, 3));
        }
        check(&u.matmul(&e)?, dt, &[3, 3], &want);
    }
    Ok(())
}

#[test]
fn dot_mv_outer() -> R {
    for dt in FLOATS {
        let v = mk(&[1.0, 2.0, 3.0], &[3], dt);
        let w = mk(&[4.0, -5.0, 6.0], &[3], dt);
        check(&v.dot(&w)?, dt, &[], &[12.0]);
        let a = mk(&[1.0, 0.0, 2.0, 0.0, 1.0, 0.0], &[2, 3], dt);
        check(&a.mv(&v)?, dt, &[2], &[7.0, 2.0]);
        check(
            &v.outer(&mk(&[1.0, 10.0], &[2], dt))?,
            dt,
            &[3, 2],
            &[1.0, 10.0, 2.0, 20.0, 3.0, 30.0],
        );
    }
    Ok(())
}

#[test]
fn einsum_cases() -> R {
    for dt in FLOATS {
        let a = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        let b = mk(&[5.0, 6.0, 7.0, 8.0], &[2, 2], dt);
        let ab = [19.0, 22.0, 43.0, 50.0];
        check(&Tensor::einsum("ij,jk->ik", &[&a, &b])?, dt, &[2, 2], &ab);
        check(&Tensor::einsum("ij,jk", &[&a, &b])?, dt, &[2, 2], &ab);
        check(
            &Tensor::einsum(" ij , jk -> ik ", &[&a, &b])?,
            dt,
            &[2, 2],
            &ab,
        );
        // (AB)ᵀ
        check(
            &Tensor::einsum("ij,jk->ki", &[&a, &b])?,
            dt,
            &[2, 2],
            &[19.0, 43.0, 22.0, 50.0],
        );
        check(&Tensor::einsum("ii->", &[&a])?, dt, &[], &[5.0]);
        check(&Tensor::einsum("ii->i", &[&a])?, dt, &[2], &[1.0, 4.0]);
        check(
            &Tensor::einsum("ij->ji", &[&a])?,
            dt,
            &[2, 2],
            &[1.0, 3.0, 2.0, 4.0],
        );
        // implicit output of one operand: letters in order, so "ji" transposes
        check(
            &Tensor::einsum("ji", &[&a])?,
            dt,
            &[2, 2],
            &[1.0, 3.0, 2.0, 4.0],
        );
        check(&Tensor::einsum("ij->", &[&a])?, dt, &[], &[10.0]);
        check(&Tensor::einsum("ij->j", &[&a])?, dt, &[2], &[4.0, 6.0]);
        // elementwise product summed (Frobenius inner product), dot, outer
        check(&Tensor::einsum("ij,ij->", &[&a, &b])?, dt, &[], &[70.0]);
        check(
            &Tensor::einsum("ij,ij->ij", &[&a, &b])?,
            dt,
            &[2, 2],
            &[5.0, 12.0, 21.0, 32.0],
        );
        let v = mk(&[1.0, 2.0], &[2], dt);
        let w = mk(&[3.0, 4.0, 5.0], &[3], dt);
        check(&Tensor::einsum("i,i->", &[&v, &v])?, dt, &[], &[5.0]);
        check(&Tensor::einsum("i,i", &[&v, &v])?, dt, &[], &[5.0]);
        check(
            &Tensor::einsum("i,j->ij", &[&v, &w])?,
            dt,
            &[2, 3],
            &[3.0, 4.0, 5.0, 6.0, 8.0, 10.0],
        );
        check(
            &Tensor::einsum("ij,j->i", &[&a, &v])?,
            dt,
            &[2],
            &[5.0, 11.0],
        );
        // batched
        let xv: Vec<f64> = (0..12).map(|i| i as f64).collect();
        let yv: Vec<f64> = (0..12).map(|i| (i as f64) * 0.5 - 2.0).collect();
        let x = mk(&xv, &[2, 2, 3], dt);
        let y = mk(&yv, &[2, 3, 2], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            want.extend(naive_mm(
                &xv[i * 6..i * 6 + 6],
                &yv[i * 6..i * 6 + 6],
                2,
                3,
                2,
            ));
        }
        check(
            &Tensor::einsum("bij,bjk->bik", &[&x, &y])?,
            dt,
            &[2, 2, 2],
            &want,
        );
        // bij,bkj->bik contracts with the transpose of y's matrices
        let yt = mk(&yv, &[2, 2, 3], dt);
        let mut want = Vec::new();
        for i in 0..2 {
            let m = &yv[i * 6..i * 6 + 6];
            let mt: Vec<f64> = (0..6).map(|p| m[(p % 2) * 3 + p / 2]).collect();
            want.extend(naive_mm(&xv[i * 6..i * 6 + 6], &mt, 2, 3, 2));
        }
        check(
            &Tensor::einsum("bij,bkj->bik", &[&x, &yt])?,
            dt,
            &[2, 2, 2],
            &want,
        );
    }
    Ok(())
}

// ----------------------------------------------------------------------------- linear algebra

#[test]
fn det_slogdet_logdet() -> R {
    for dt in FLOATS {
        let t = tol(dt) * 4.0;
        let a = mk(&[4.0, 7.0, 2.0, 6.0], &[2, 2], dt);
        assert_close(&vals(&a.det()?), &[10.0], t);
        assert_eq!(a.det()?.shape(), &[] as &[usize]);
        let b = mk(&[1.0, 2.0, 3.0, 4.0], &[2, 2], dt);
        assert_close(&vals(&b.det()?), &[-2.0], t);
        let (s, l) = b.slogdet()?;
        assert_close(&vals(&s), &[-1.0], 0.0);
        assert_close(&vals(&l), &[LN_2], t);
        assert!(vals(&b.logdet()?)[0].is_nan());
        assert_close(&vals(&a.logdet()?), &[10f64.ln()], t);
        // a permutation matrix, a diagonal 3x3, a 3x3 needing pivoting
        let p = mk(&[0.0, 1.0, 1.0, 0.0], &[2, 2], dt);
        assert_close(&vals(&p.det()?), &[-1.0], t);
        let d = mk(&[2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 4.0], &[3, 3], dt);
        assert_close(&vals(&d.det()?), &[24.0], t);
        // det [[0,2,1],[1,1,1],[2,1,3]] = 0(3-1) - 2(3-2) + 1(1-2) = -3
        let c = mk(&[0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0], &[3, 3], dt);
        assert_close(&vals(&c.det()?), &[-3.0], t);
        // batched: [3, 2, 2]
        let batch = Tensor::stack(
            &[a.clone(), b.clone(), mk(&[2.0, 0.0, 0.0, 0.5], &[2, 2], dt)],
            0,
        )?;
        let det = batch.det()?;
        assert_eq!(det.shape(), &[3]);
        assert_close(&vals(&det), &[10.0, -2.0, 1.0], t);
        let (s, l) = batch.slogdet()?;
        assert_eq!(vals(&s), vec![1.0, -1.0, 1.0]);
        assert_close(&vals(&l), &[10f64.ln(), LN_2, 0.0], t);
        let ld = vals(&batch.logdet()?);
        assert!(ld[1].is_nan());
        assert_close(&[ld[0], ld[2]], &[10f64.ln(), 0.0], t);
        // a singular matrix: det 0, slogdet (0, -inf), no error
        let z = mk(&[1.0, 2.0, 2.0, 4.0], &[2, 2], dt);
        assert_eq!(vals(&z.det()?), vec![0.0]);
        let (s, l) = z.slogdet()?;
        assert_eq!(vals(&s), vec![0.0]);
        assert_eq!(vals(&l), vec![f64::NEG_INFINITY]);
        // det of a 1x1
        assert_close(&vals(&mk(&[-3.5], &[1, 1], dt).det()?), &[-3.5], t);
    }
    Ok(())
}

#[test]
fn inv_and_solve() -> R {
    for dt in FLOATS {
        let t = tol(dt) * 8.0;
        let a = mk(&[4.0, 7.0, 2.0, 6.0], &[2, 2], dt);
        let ai = a.inv()?;
        assert_eq!(ai.shape(), &[2, 2]);
        assert_close(&vals(&ai), &[0.6, -0.7, -0.2, 0.4], t);
        assert_close(&vals(&ai.matmul(&a)?), &[1.0, 0.0, 0.0, 1.0], t);
        // batched inverse; each times its matrix is the identity
        let b = mk(&[2.0, 1.0, 1.0, 3.0], &[2, 2], dt);
        let batch = Tensor::stack(&[a.clone(), b.clone()], 0)?;
        let bi = batch.inv()?;
        assert_eq!(bi.shape(), &[2, 2, 2]);
        assert_close(&vals(&bi), &[0.6, -0.7, -0.2, 0.4, 0.6, -0.2, -0.2, 0.4], t);
        assert_close(
            &vals(&batch.matmul(&bi)?),
            &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
            t,
        );
        // 2x + y = 3, x + 3y = 5  =>  x = 0.8, y = 1.4
        let rhs = mk(&[3.0, 5.0], &[2], dt);
        let x = b.solve(&rhs)?;
        assert_eq!(x.shape(), &[2]);
        assert_close(&vals(&x), &[0.8, 1.4], t);
        // matrix right-hand side: columns (3, 5) and (1, 2)
        let rhs_m = mk(&[3.0, 1.0, 5.0, 2.0], &[2, 2], dt);
        let x = b.solve(&rhs_m)?;
        assert_eq!(x.shape(), &[2, 2]);
        assert_close(&vals(&x), &[0.8, 0.2, 1.4, 0.6], t);
        // a batch of matrices with one vector (broadcast over the batch)
        let x = batch.solve(&rhs)?;
        assert_eq!(x.shape(), &[2, 2]);
        // a x = (3, 5): x = a⁻¹ (3, 5) = (0.6*3 - 0.7*5, -0.2*3 + 0.4*5) = (-1.7, 1.4)
        assert_close(&vals(&x), &[-1.7, 1.4, 0.8, 1.4], t);
        // a batch of vectors [2, 2] for a batch [2, 2, 2] (B has one dim fewer than A)
        let rhs_b = mk(&[3.0, 5.0, 1.0, 2.0], &[2, 2], dt);
        let x = batch.solve(&rhs_b)?;
        assert_eq!(x.shape(), &[2, 2]);
        assert_close(&vals(&x), &[-1.7, 1.4, 0.2, 0.6], t);
        // one matrix against a batch of matrix right-hand sides [3, 2, 1]
        let rhs3 = mk(&[3.0, 5.0, 1.0, 2.0, 0.0, 5.0], &[3, 2, 1], dt);
        let x = b.solve(&rhs3)?;
        assert_eq!(x.shape(), &[3, 2, 1]);
        assert_close(&vals(&x), &[0.8, 1.4, 0.2, 0.6, -1.0, 2.0], t);
        // 3x3 diagonal
        let d = mk(&[2.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.5], &[3, 3], dt);
        assert_close(
            &vals(&d.solve(&mk(&[1.0, 1.0, 1.0], &[3], dt))?),
            &[0.5, 0.25, 2.0],
            t,
        );
        assert_close(
            &vals(&d.inv()?),
            &[0.5, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 2.0],
            t,
        );
    }
    Ok(())
}

#[test]
fn cholesky_known_factors() -> R {
    for dt in FLOATS {
        let t = tol(dt) * 8.0;
        let a = mk(&[4.0, 2.0, 2.0, 3.0], &[2, 2], dt);
        let l = a.cholesky()?;
        assert_eq!(l.dtype(), dt);
        assert_close(&vals(&l), &[2.0, 0.0, 1.0, SQRT_2], t);
        // the classic 3x3 example with an integer factor
        let b = mk(
            &[4.0, 12.0, -16.0, 12.0, 37.0, -43.0, -16.0, -43.0, 98.0],
            &[3, 3],
            dt,
        );
        let l = b.cholesky()?;
        assert_close(
            &vals(&l),
            &[2.0, 0.0, 0.0, 6.0, 1.0, 0.0, -8.0, 5.0, 3.0],
            t,
        );
        // L Lᵀ gives back the matrix
        assert_close(&vals(&l.matmul(&l.t()?)?), &vals(&b), t);
        // batched
        let i2 = mk(&[9.0, 0.0, 0.0, 16.0], &[2, 2], dt);
        let l = Tensor::stack(&[a.clone(), i2], 0)?.cholesky()?;
        assert_eq!(l.shape(), &[2, 2, 2]);
        assert_close(&vals(&l), &[2.0, 0.0, 1.0, SQRT_2, 3.0, 0.0, 0.0, 4.0], t);
    }
    Ok(())
}
