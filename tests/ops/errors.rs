//! The error policy: bad input is a clear `Err` naming the op and the offending shapes or
//! values (never a panic), and edge cases give values or errors.

use super::*;

// ----------------------------------------------------------------------------- errors

/// The error's message, after checking it names `op`.
#[track_caller]
fn msg_names(e: &Error, op: &str) -> String {
    let s = e.to_string();
    assert!(s.contains(op), "message {s:?} does not name {op:?}");
    s
}

#[test]
fn errors_mismatched_shapes() {
    let a = m64(&[1.0; 6], &[2, 3]);
    let b = m64(&[1.0; 6], &[3, 2]);
    match a.add(&b) {
        Err(e @ Error::Shape { op: "add", .. }) => {
            let s = msg_names(&e, "add");
            assert!(s.contains("[2, 3]") && s.contains("[3, 2]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    match a.matmul(&a) {
        Err(e @ Error::Shape { op: "matmul", .. }) => {
            let s = msg_names(&e, "matmul");
            assert!(s.contains("[2, 3]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    // batch dims that do not broadcast
    let p = m64(&[1.0; 8], &[2, 2, 2]);
    let q = m64(&[1.0; 12], &[3, 2, 2]);
    assert!(matches!(
        p.matmul(&q),
        Err(Error::Shape { op: "matmul", .. })
    ));
    assert!(matches!(
        Tensor::scalar(1.0).matmul(&t64(&[1.0])),
        Err(Error::Shape { op: "matmul", .. })
    ));
    match Tensor::cat(&[a.clone(), b.clone()], 0) {
        Err(e @ Error::Shape { op: "cat", .. }) => {
            let s = msg_names(&e, "cat");
            assert!(s.contains("[2, 3]") && s.contains("[3, 2]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Tensor::cat(&[a.clone(), t64(&[1.0])], 0),
        Err(Error::Shape { op: "cat", .. })
    ));
    assert!(matches!(
        Tensor::cat(&[], 0),
        Err(Error::Invalid { op: "cat", .. })
    ));
    match Tensor::stack(&[a.clone(), b.clone()], 0) {
        Err(e @ Error::Shape { op: "stack", .. }) => {
            let s = msg_names(&e, "stack");
            assert!(s.contains("[2, 3]") && s.contains("[3, 2]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    match a.reshape(&[4, -1]) {
        Err(e @ Error::Shape { op: "reshape", .. }) => {
            let s = msg_names(&e, "reshape");
            assert!(s.contains("[2, 3]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.reshape(&[5]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(
        a.reshape(&[-1, -1]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(
        a.reshape(&[-2, -3]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(
        a.expand(&[4, 3]),
        Err(Error::Shape { op: "expand", .. })
    ));
    assert!(matches!(
        a.expand(&[3]),
        Err(Error::Shape { op: "expand", .. })
    ));
    assert!(matches!(
        a.broadcast_to(&[3, 3]),
        Err(Error::Shape {
            op: "broadcast_to",
            ..
        })
    ));
    assert!(matches!(a.sub(&b), Err(Error::Shape { op: "sub", .. })));
    assert!(matches!(a.gt(&b), Err(Error::Shape { op: "gt", .. })));
    assert!(matches!(
        Tensor::where_(&bools(&[true, false]), &a, &a),
        Err(Error::Shape { op: "where", .. })
    ));
    assert!(matches!(a.dot(&a), Err(Error::Shape { op: "dot", .. })));
    assert!(matches!(
        a.mv(&t64(&[1.0, 2.0])),
        Err(Error::Shape { op: "mv", .. })
    ));
    assert!(matches!(a.outer(&a), Err(Error::Shape { op: "outer", .. })));
    assert!(matches!(a.det(), Err(Error::Shape { op: "det", .. })));
    assert!(matches!(a.inv(), Err(Error::Shape { op: "inv", .. })));
    assert!(matches!(
        t64(&[1.0]).cholesky(),
        Err(Error::Shape { op: "cholesky", .. })
    ));
    let sq = m64(&[1.0, 0.0, 0.0, 1.0], &[2, 2]);
    assert!(matches!(
        sq.solve(&t64(&[1.0, 2.0, 3.0])),
        Err(Error::Shape { op: "solve", .. })
    ));
    assert!(matches!(
        seq(&[2, 2, 2]).t(),
        Err(Error::Shape { op: "t", .. })
    ));
    assert!(matches!(t64(&[1.0]).mt(), Err(Error::Shape { .. })));
    assert!(matches!(
        t64(&[1.0]).tril(0),
        Err(Error::Shape { op: "tril", .. })
    ));
    assert!(matches!(
        seq(&[2, 2, 2]).diag(),
        Err(Error::Shape { op: "diag", .. })
    ));
    assert!(matches!(
        t64(&[1.0]).trace(),
        Err(Error::Shape { op: "trace", .. })
    ));
    assert!(matches!(
        a.permute(&[0]),
        Err(Error::Shape { op: "permute", .. })
    ));
    let idx = Tensor::from_vec(vec![0i64; 4], &[2, 2]);
    assert!(matches!(
        a.index_select(0, &idx.unwrap()),
        Err(Error::Shape {
            op: "index_select",
            ..
        })
    ));
    assert!(matches!(
        a.gather(0, &i64s(&[0, 1])),
        Err(Error::Shape { op: "gather", .. })
    ));
    assert!(matches!(
        a.scatter_add(0, &Tensor::from_vec(vec![0i64; 3], &[1, 3]).unwrap(), &a),
        Err(Error::Shape {
            op: "scatter_add",
            ..
        })
    ));
    assert!(matches!(
        a.index_add(0, &i64s(&[0]), &a),
        Err(Error::Shape {
            op: "index_add",
            ..
        })
    ));
    match Tensor::einsum("ij,jk->ik", &[&a, &a]) {
        Err(e @ Error::Invalid { op: "einsum", .. }) => {
            msg_names(&e, "einsum");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Tensor::einsum("ij->ik", &[&a]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    assert!(matches!(
        Tensor::einsum("ijk", &[&a]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    assert!(matches!(
        Tensor::einsum("ij,jk", &[&a]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
}

#[test]
fn errors_bad_dims() {
    let a = seq(&[2, 3]);
    match a.sum_dims(&[2], false) {
        Err(
            e @ Error::Dim {
                op: "sum",
                dim: 2,
                ndim: 2,
            },
        ) => {
            let s = msg_names(&e, "sum");
            assert_eq!(
                s,
                "sum: dimension 2 is out of range for a tensor of rank 2 (valid: -2..=1)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.sum_dims(&[-3], false),
        Err(Error::Dim {
            op: "sum",
            dim: -3,
            ..
        })
    ));
    assert!(matches!(
        a.mean_dims(&[5], false),
        Err(Error::Dim { op: "mean", .. })
    ));
    assert!(matches!(
        a.amax(&[2], false),
        Err(Error::Dim { op: "amax", .. })
    ));
    assert!(matches!(
        a.argmax(Some(2), false),
        Err(Error::Dim { op: "argmax", .. })
    ));
    assert!(matches!(
        a.prod_dim(3, false),
        Err(Error::Dim { op: "prod", .. })
    ));
    assert!(matches!(a.softmax(2), Err(Error::Dim { .. })));
    assert!(matches!(
        a.logsumexp(&[2], false),
        Err(Error::Dim {
            op: "logsumexp",
            ..
        })
    ));
    assert!(matches!(
        a.transpose(0, 2),
        Err(Error::Dim {
            op: "transpose",
            ..
        })
    ));
    assert!(matches!(
        a.permute(&[0, 2]),
        Err(Error::Dim { op: "permute", .. })
    ));
    match a.permute(&[0, 0]) {
        Err(e @ Error::Invalid { op: "permute", .. }) => {
            msg_names(&e, "permute");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.permute(&[1, -1]),
        Err(Error::Invalid { op: "permute", .. })
    ));
    assert!(matches!(
        a.sum_dims(&[0, -2], false),
        Err(Error::Invalid { op: "sum", .. })
    ));
    // a new dim may go at 0..=rank: the error states the tensor's own rank
    match a.unsqueeze(3) {
        Err(
            e @ Error::Invalid {
                op: "unsqueeze", ..
            },
        ) => {
            assert!(e.to_string().contains("rank 2"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.unsqueeze(-4),
        Err(Error::Invalid {
            op: "unsqueeze",
            ..
        })
    ));
    assert!(matches!(
        a.squeeze(2),
        Err(Error::Dim { op: "squeeze", .. })
    ));
    assert!(matches!(a.flip(&[2]), Err(Error::Dim { op: "flip", .. })));
    assert!(matches!(
        a.slice(2, 0, 1, 1),
        Err(Error::Dim { op: "slice", .. })
    ));
    assert!(matches!(
        a.slice(0, 0, 1, 0),
        Err(Error::Invalid { op: "slice", .. })
    ));
    assert!(matches!(
        a.select(-3, 0),
        Err(Error::Dim { op: "select", .. })
    ));
    assert!(matches!(
        Tensor::cat(&[a.clone(), a.clone()], 2),
        Err(Error::Dim { op: "cat", .. })
    ));
    assert!(matches!(
        Tensor::stack(&[a.clone(), a.clone()], 3),
        Err(Error::Invalid { op: "stack", .. })
    ));
    assert!(matches!(
        a.diagonal(0, 0, 0),
        Err(Error::Invalid { op: "diagonal", .. })
    ));
    assert!(matches!(
        a.diagonal(0, 0, 2),
        Err(Error::Dim { op: "diagonal", .. })
    ));
    assert!(matches!(
        a.flatten_dims(1, 0),
        Err(Error::Invalid { op: "flatten", .. })
    ));
    assert!(matches!(
        a.split(0, 0),
        Err(Error::Invalid { op: "split", .. })
    ));
    assert!(matches!(
        a.chunk(0, 0),
        Err(Error::Invalid { op: "chunk", .. })
    ));
    assert!(matches!(
        a.movedim(0, 5),
        Err(Error::Dim { op: "movedim", .. })
    ));
    assert!(matches!(a.dim(2), Err(Error::Dim { .. })));
    assert!(matches!(
        a.index_select(2, &i64s(&[0])),
        Err(Error::Dim {
            op: "index_select",
            ..
        })
    ));
    assert!(matches!(
        a.gather(-3, &a.to_dtype(DType::I64).unwrap()),
        Err(Error::Dim { op: "gather", .. })
    ));
    assert!(matches!(
        a.norm_dims(-1.0, &[], false),
        Err(Error::Invalid { op: "norm", .. })
    ));
}

#[test]
fn errors_out_of_range_indices() {
    let a = seq(&[2, 3]);
    match a.index_select(1, &i64s(&[0, 3])) {
        Err(
            e @ Error::Index {
                op: "index_select",
                index: 3,
                dim: 1,
                size: 3,
            },
        ) => {
            let s = msg_names(&e, "index_select");
            assert!(s.contains("index 3") && s.contains("size 3"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.index_select(0, &i64s(&[-1])),
        Err(Error::Index {
            op: "index_select",
            index: -1,
            ..
        })
    ));
    let idx = Tensor::from_vec(vec![0i64, 5, 1, 0], &[2, 2]).unwrap();
    match a.gather(1, &idx) {
        Err(
            e @ Error::Index {
                op: "gather",
                index: 5,
                dim: 1,
                size: 3,
            },
        ) => {
            msg_names(&e, "gather");
        }
        other => panic!("{other:?}"),
    }
    let idx = Tensor::from_vec(vec![0i64, 2, 1], &[1, 3]).unwrap();
    assert!(matches!(
        a.scatter_add(0, &idx, &seq(&[1, 3])),
        Err(Error::Index {
            op: "scatter_add",
            index: 2,
            ..
        })
    ));
    assert!(matches!(
        a.index_add(0, &i64s(&[0, 2]), &seq(&[2, 3])),
        Err(Error::Index {
            op: "index_add",
            index: 2,
            ..
        })
    ));
    match a.select(0, 2) {
        Err(
            e @ Error::Index {
                op: "select",
                index: 2,
                dim: 0,
                size: 2,
            },
        ) => {
            msg_names(&e, "select");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.select(1, -4),
        Err(Error::Index {
            op: "select",
            index: -4,
            ..
        })
    ));
    assert!(matches!(a.get(5), Err(Error::Index { op: "select", .. })));
    match a.narrow(1, 2, 2) {
        Err(e @ Error::Index { op: "narrow", .. }) => {
            msg_names(&e, "narrow");
        }
        other => panic!("{other:?}"),
    }
    match i64s(&[0, 3]).one_hot(3) {
        Err(
            e @ Error::Index {
                op: "one_hot",
                index: 3,
                size: 3,
                ..
            },
        ) => {
            msg_names(&e, "one_hot");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        i64s(&[-1]).one_hot(3),
        Err(Error::Index {
            op: "one_hot",
            index: -1,
            ..
        })
    ));
}

#[test]
fn errors_dtype_mismatches() {
    let f64t = t64(&[1.0, 2.0]);
    let f32t = Tensor::from_slice(&[1.0f32, 2.0]);
    let i = i64s(&[1, 2]);
    // elementwise ops promote mixed operands as torch does (float32 with float64 is float64,
    // an integer with a float is the float); tests/safety.rs checks the values
    assert_eq!(f32t.add(&f64t).unwrap().dtype(), DType::F64);
    assert_eq!(f64t.mul(&f32t).unwrap().dtype(), DType::F64);
    assert_eq!(f32t.add(&i).unwrap().dtype(), DType::F32);
    assert_eq!(f64t.lt(&f32t).unwrap().dtype(), DType::Bool);
    // but not where an op's kernels take no such dtype
    match bools(&[true, false]).add(&bools(&[true, true])) {
        Err(
            e @ Error::DType {
                op: "add",
                got: DType::Bool,
                ..
            },
        ) => {
            msg_names(&e, "add");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f64t.matmul(&f32t),
        Err(Error::DType { op: "matmul", .. })
    ));
    assert!(matches!(
        i.matmul(&i),
        Err(Error::DType { op: "matmul", .. })
    ));
    assert!(matches!(
        Tensor::cat(&[f64t.clone(), f32t.clone()], 0),
        Err(Error::DType { op: "cat", .. })
    ));
    assert!(matches!(
        Tensor::stack(&[f64t.clone(), f32t.clone()], 0),
        Err(Error::DType { op: "stack", .. })
    ));
    // where's two value operands promote as a binary op's do
    assert_eq!(
        Tensor::where_(&bools(&[true, false]), &f64t, &f32t)
            .unwrap()
            .dtype(),
        DType::F64
    );
    assert!(matches!(
        Tensor::where_(&f64t, &f64t, &f64t),
        Err(Error::DType { op: "where", .. })
    ));
    // float ops on integer tensors
    match i.sin() {
        Err(
            e @ Error::DType {
                op: "sin",
                got: DType::I64,
                ..
            },
        ) => {
            msg_names(&e, "sin");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(i.div(&i), Err(Error::DType { op: "div", .. })));
    assert!(matches!(i.pow(&i), Err(Error::DType { op: "pow", .. })));
    assert!(matches!(i.mean(), Err(Error::DType { op: "mean", .. })));
    assert!(matches!(
        i.softmax(0),
        Err(Error::DType { op: "softmax", .. })
    ));
    assert!(matches!(i.var(), Err(Error::DType { op: "var", .. })));
    assert!(matches!(i.norm(), Err(Error::DType { op: "norm", .. })));
    assert!(matches!(i.prod(), Err(Error::DType { op: "prod", .. })));
    assert!(matches!(
        i.logsumexp(&[], false),
        Err(Error::DType {
            op: "logsumexp",
            ..
        })
    ));
    assert!(matches!(i.mul_scalar(2.0), Err(Error::DType { .. })));
    assert!(matches!(
        i.clamp(0.0, 1.0),
        Err(Error::DType { op: "clamp", .. })
    ));
    let im = Tensor::from_vec(vec![1i64, 0, 0, 1], &[2, 2]).unwrap();
    assert!(matches!(im.det(), Err(Error::DType { op: "det", .. })));
    assert!(matches!(im.inv(), Err(Error::DType { op: "inv", .. })));
    assert!(matches!(
        im.cholesky(),
        Err(Error::DType { op: "cholesky", .. })
    ));
    let fm = m64(&[1.0, 0.0, 0.0, 1.0], &[2, 2]);
    assert!(matches!(
        fm.solve(&f32t),
        Err(Error::DType { op: "solve", .. })
    ));
    assert!(matches!(
        bools(&[true]).add(&bools(&[true])),
        Err(Error::DType { op: "add", .. })
    ));
    // logic on non-masks
    assert!(matches!(
        f64t.logical_and(&f64t),
        Err(Error::DType {
            op: "logical_and",
            ..
        })
    ));
    assert!(matches!(
        f64t.logical_not(),
        Err(Error::DType {
            op: "logical_not",
            ..
        })
    ));
    // float (or bool) tensors as indices
    match f64t.index_select(0, &t64(&[0.0])) {
        Err(
            e @ Error::DType {
                op: "index_select",
                got: DType::F64,
                ..
            },
        ) => {
            msg_names(&e, "index_select");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f64t.gather(0, &t64(&[0.0])),
        Err(Error::DType { op: "gather", .. })
    ));
    assert!(matches!(
        f64t.scatter_add(0, &f64t, &f64t),
        Err(Error::DType {
            op: "scatter_add",
            ..
        })
    ));
    assert!(matches!(
        f64t.index_add(0, &bools(&[true, false]), &f64t),
        Err(Error::DType {
            op: "index_add",
            ..
        })
    ));
    assert!(matches!(
        f64t.one_hot(3),
        Err(Error::DType { op: "one_hot", .. })
    ));
    // reading with the wrong element type
    assert!(matches!(
        f64t.to_vec::<f32>(),
        Err(Error::DType { op: "to_vec", .. })
    ));
    assert!(matches!(
        Tensor::scalar(1.0).to_scalar::<i64>(),
        Err(Error::DType { .. })
    ));
    assert!(matches!(f64t.to_ndarray::<i64>(), Err(Error::DType { .. })));
    assert!(matches!(
        Tensor::randn(&[2], DType::I64),
        Err(Error::DType { op: "randn", .. })
    ));
}

#[test]
fn errors_singular_and_not_positive_definite() {
    for dt in FLOATS {
        let z = mk(&[1.0, 2.0, 2.0, 4.0], &[2, 2], dt);
        match z.inv() {
            Err(
                e @ Error::Singular {
                    op: "inv",
                    what: "singular",
                    ..
                },
            ) => {
                let s = msg_names(&e, "inv");
                assert!(s.contains("singular") && s.contains("[2, 2]"), "{s}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            z.solve(&mk(&[1.0, 1.0], &[2], dt)),
            Err(Error::Singular { op: "solve", .. })
        ));
        // one singular matrix in a batch is enough
        let batch = Tensor::stack(&[mk(&[1.0, 0.0, 0.0, 1.0], &[2, 2], dt), z.clone()], 0).unwrap();
        match batch.inv() {
            Err(Error::Singular {
                op: "inv", shape, ..
            }) => assert_eq!(shape, vec![2, 2, 2]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            mk(&[0.0; 9], &[3, 3], dt).solve(&mk(&[1.0; 3], &[3, 1], dt)),
            Err(Error::Singular { op: "solve", .. })
        ));
        // indefinite and negative definite
        for m in [[1.0, 2.0, 2.0, 1.0], [-1.0, 0.0, 0.0, -1.0]] {
            match mk(&m, &[2, 2], dt).cholesky() {
                Err(
                    e @ Error::Singular {
                        op: "cholesky",
                        what: "not positive definite",
                        ..
                    },
                ) => {
                    let s = msg_names(&e, "cholesky");
                    assert!(s.contains("not positive definite"), "{s}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn errors_creation_and_conversion() {
    match Tensor::from_vec(vec![1.0, 2.0, 3.0], &[2, 2]) {
        Err(e @ Error::Shape { op: "from_vec", .. }) => {
            let s = msg_names(&e, "from_vec");
            assert!(s.contains("[2, 2]") && s.contains('3'), "{s}");
        }
        other => panic!("{:?}", other.map(|t| t.shape().to_vec())),
    }
    assert!(matches!(
        Tensor::from_vec(Vec::<f32>::new(), &[1]),
        Err(Error::Shape { op: "from_vec", .. })
    ));
    match t64(&[1.0, 2.0]).to_scalar::<f64>() {
        Err(
            e @ Error::Shape {
                op: "to_scalar", ..
            },
        ) => {
            let s = msg_names(&e, "to_scalar");
            assert!(s.contains("[2]"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        t64(&[]).to_scalar::<f64>(),
        Err(Error::Shape {
            op: "to_scalar",
            ..
        })
    ));
    assert!(matches!(
        seq(&[2, 2]).item(),
        Err(Error::Shape { op: "item", .. })
    ));
    assert!(matches!(
        Tensor::arange(0.0, 1.0, 0.0, DType::F64),
        Err(Error::Invalid { op: "arange", .. })
    ));
    assert!(matches!(
        Tensor::arange(0.0, f64::INFINITY, 1.0, DType::F64),
        Err(Error::Invalid { op: "arange", .. })
    ));
    assert!(matches!(
        t64(&[]).max(),
        Err(Error::Shape { op: "amax", .. })
    ));
    assert!(matches!(
        t64(&[]).argmin(None, false),
        Err(Error::Shape { op: "argmin", .. })
    ));
    assert!(matches!(
        t64(&[1.0]).dropout(1.0),
        Err(Error::Invalid { op: "dropout", .. })
    ));
}

#[test]
fn edge_cases_give_values_or_errors_never_panics() -> R {
    // overflowing sizes, steps and offsets
    assert!(matches!(
        seq(&[3]).narrow(0, usize::MAX, 2),
        Err(Error::Index { op: "narrow", .. })
    ));
    exact(&seq(&[3]).slice(0, 0, 3, i64::MAX)?, &[1], &[0.0]);
    exact(&seq(&[3, 3]).diagonal(i64::MIN, 0, 1)?, &[0], &[]);
    exact(&seq(&[3, 3]).diagonal(i64::MAX, 0, 1)?, &[0], &[]);
    assert!(matches!(
        seq(&[3]).reshape(&[i64::MAX, 4]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(
        Tensor::einsum("i->ii", &[&seq(&[3])]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    assert!(matches!(
        Tensor::einsum("i,i,i->", &[&seq(&[2]), &seq(&[2]), &seq(&[2])]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    assert!(matches!(
        Tensor::einsum("i.->i", &[&seq(&[2, 2])]),
        Err(Error::Invalid { op: "einsum", .. })
    ));
    // i64 sums wrap, as the i64 add does
    assert_eq!(i64s(&[i64::MAX, 1]).sum()?.to_scalar::<i64>()?, i64::MIN);
    // empty operands
    exact(&seq(&[2, 0]).matmul(&seq(&[0, 3]))?, &[2, 3], &[0.0; 6]);
    assert_eq!(seq(&[0, 2]).matmul(&seq(&[2, 3]))?.shape(), &[0, 3]);
    exact(&seq(&[0, 0]).det()?, &[], &[1.0]);
    assert_eq!(seq(&[0, 0]).inv()?.shape(), &[0, 0]);
    assert_eq!(seq(&[0, 2, 2]).det()?.shape(), &[0]);
    exact(&seq(&[0, 0]).trace()?, &[], &[0.0]);
    exact(
        &Tensor::cat(&[seq(&[0, 2]), seq(&[1, 2])], 0)?,
        &[1, 2],
        &[0.0, 1.0],
    );
    // reductions over a non-empty dim of an empty tensor are empty, as in PyTorch
    assert_eq!(seq(&[0, 3]).softmax(1)?.shape(), &[0, 3]);
    assert_eq!(seq(&[0, 3]).log_softmax(-1)?.shape(), &[0, 3]);
    // and over an empty dim, too: nothing to normalize
    assert_eq!(seq(&[2, 0]).softmax(1)?.shape(), &[2, 0]);
    assert_eq!(seq(&[2, 0]).log_softmax(1)?.shape(), &[2, 0]);
    assert_eq!(seq(&[2, 0]).amax(&[0], false)?.shape(), &[0]);
    assert_eq!(seq(&[0, 2]).argmax(Some(1), false)?.shape(), &[0]);
    // over an empty dim: no extreme, but logsumexp is log 0
    assert!(matches!(
        seq(&[2, 0]).amax(&[1], false),
        Err(Error::Shape { op: "amax", .. })
    ));
    assert!(matches!(
        seq(&[2, 0]).argmax(Some(1), false),
        Err(Error::Shape { op: "argmax", .. })
    ));
    exact(
        &seq(&[0]).logsumexp(&[0], false)?,
        &[],
        &[f64::NEG_INFINITY],
    );
    exact(
        &seq(&[2, 0]).logsumexp(&[1], true)?,
        &[2, 1],
        &[f64::NEG_INFINITY; 2],
    );
    // 0-d operands
    exact(&Tensor::scalar(1.0).log_softmax(0)?, &[], &[0.0]);
    exact(&Tensor::scalar(1.0).softmax(-1)?, &[], &[1.0]);
    assert!(matches!(
        Tensor::scalar(1.0).sum_dims(&[1], false),
        Err(Error::Dim { op: "sum", .. })
    ));
    assert!(matches!(
        Tensor::scalar(1.0).chunk(2, 0),
        Err(Error::Dim { op: "chunk", .. })
    ));
    assert_eq!(Tensor::stack(&[Tensor::scalar(1.0)], -1)?.shape(), &[1]);
    Ok(())
}
