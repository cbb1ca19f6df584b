//! The op database: every public op once, as PyTorch's OpInfo.
//!
//! Each entry ([`OpInfo`]) names a public method or constructor of `Tensor` and holds
//!
//! - its **samples**: the calls the suites make, each with its inputs described ([`Arg`]: shape
//!   and input domain, index and mask tensors, well-conditioned or SPD matrices), 0-d and
//!   broadcasting cases included;
//! - its **flags**: whether it is differentiable and where that is checked ([`Grad`]), whether
//!   vmap has a rule for it and where that is checked ([`Batch`]), whether it refuses integer and
//!   bool tensors, the dtype of its output, whether it draws random numbers, and for elementwise
//!   ops a scalar reference function.
//!
//! Three suites read it: the value suite (`tests/ops/opinfo.rs`: every sample runs, f32 agrees
//! with f64, non-contiguous inputs give the same values, elementwise ops match their scalar
//! reference, float-only ops refuse integers), the gradient checker (`tests/gradcheck.rs`: every
//! differentiable sample at orders 1 and 2 and under vmap) and the batching suite
//! (`tests/batching.rs`: every sample at every batch-dim position). `tests/ops/opinfo.rs` also
//! fails when a public method of `Tensor` has no entry here.
//!
//! To add an op: add an entry to [`ops`] under its family, with samples that cover its shapes
//! (0-d, broadcasting, keepdim, negative dims) inside its domain, and the flags that hold.

use std::rc::Rc;

use functorch::{DType, Result, Tensor};

use super::{ANY, AWAY, Dom, POS, Rng, UNIT, spd, t, well_conditioned};

/// A sample's call: the op applied to the drawn inputs, its outputs as a list.
pub type OpFn = Rc<dyn Fn(&[Tensor]) -> Result<Vec<Tensor>>>;

/// How one input of a sample is drawn.
#[derive(Clone, Debug)]
pub enum Arg {
    /// An f64 tensor of this shape with entries from the domain.
    F(Vec<usize>, Dom),
    /// An f32 tensor of this shape with entries from the domain.
    F32(Vec<usize>, Dom),
    /// An i64 tensor of indices uniform in `0..n`.
    Index(Vec<usize>, usize),
    /// An i64 tensor of small integers (-1, 0, 1).
    I64(Vec<usize>),
    /// A bool mask, each entry true with probability 1/2.
    Mask(Vec<usize>),
    /// A batch (the shape) of diagonally dominant n×n f64 matrices.
    WellConditioned(Vec<usize>, usize),
    /// A batch (the shape) of symmetric positive definite n×n f64 matrices.
    Spd(Vec<usize>, usize),
    /// Anything else, drawn by a function (described by the name).
    Custom(&'static str, fn(&mut Rng) -> Tensor),
    /// Another input, converted to f32 where it is f64.
    InF32(Box<Arg>),
}

impl Arg {
    /// A tensor drawn as described.
    pub fn draw(&self, r: &mut Rng) -> Tensor {
        match self {
            Arg::F(s, d) => t(r, s, *d),
            Arg::F32(s, d) => t(r, s, *d).to_dtype(DType::F32).unwrap(),
            Arg::Index(s, n) => {
                let k = s.iter().product();
                let v: Vec<i64> = (0..k).map(|_| r.below(*n) as i64).collect();
                Tensor::from_vec(v, s).unwrap()
            }
            Arg::I64(s) => t(r, s, Dom::Ints).to_dtype(DType::I64).unwrap(),
            Arg::Mask(s) => {
                let k = s.iter().product();
                let v: Vec<bool> = (0..k).map(|_| r.unif() < 0.5).collect();
                Tensor::from_vec(v, s).unwrap()
            }
            Arg::WellConditioned(b, n) => well_conditioned(r, b, *n),
            Arg::Spd(b, n) => spd(r, b, *n),
            Arg::Custom(_, f) => f(r),
            Arg::InF32(a) => match a.draw(r) {
                x if x.dtype() == DType::F64 => x.to_dtype(DType::F32).unwrap(),
                x => x,
            },
        }
    }
    /// The same input in f32, where it is an f64 one.
    pub fn to_f32(&self) -> Arg {
        match self {
            Arg::F(s, d) => Arg::F32(s.clone(), *d),
            Arg::WellConditioned(..) | Arg::Spd(..) | Arg::Custom(..) => {
                Arg::InF32(Box::new(self.clone()))
            }
            other => other.clone(),
        }
    }
}

/// One call of an op.
#[derive(Clone)]
pub struct Sample {
    /// Tells the op's samples apart: shapes and parameters, e.g. `[2, 3][3]` or `dims[0]keep`.
    pub name: String,
    /// The inputs, in the order `f` reads them.
    pub args: Vec<Arg>,
    /// The call.
    pub f: OpFn,
    /// Whether the call is differentiable at every point the args can draw. False at ties
    /// (maximum with equal operands), at jumps (casts to integers and back), and for the f32
    /// variants (the gradient checker works in f64).
    pub grad: bool,
    /// Whether the call rounds to f32 on the way (the gradient checker's f32 tolerances).
    pub through_f32: bool,
    /// Whether the call is the op itself on the args (no other op around it, and the
    /// parameters the op's scalar [`Reference`] uses), so that the reference applies.
    pub plain: bool,
}

impl Sample {
    /// Draw the inputs.
    pub fn draw(&self, r: &mut Rng) -> Vec<Tensor> {
        self.args.iter().map(|a| a.draw(r)).collect()
    }
    /// Whether any input is f32.
    pub fn has_f32_input(&self) -> bool {
        self.args
            .iter()
            .any(|a| matches!(a, Arg::F32(..) | Arg::InF32(..)))
    }
}

/// Families of ops (the sections of the suites).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Elementwise functions of one tensor, with or without a scalar parameter.
    Unary,
    /// Elementwise functions of two or three tensors, broadcasting: arithmetic, comparisons,
    /// logic, `where`.
    Binary,
    /// Reductions and normalizations over dims.
    Reduction,
    /// Views and copies that only move elements.
    Shape,
    /// Ops that read or write through an index tensor.
    Index,
    /// Matrix products and `einsum`.
    Product,
    /// Determinants, inverses, solves, factorizations.
    Linalg,
    /// Dtype casts and `detach`.
    Cast,
    /// Constructors and `*_like`.
    Creation,
    /// Random draws.
    Random,
}

/// Derivatives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grad {
    /// The gradient checker checks every sample with a float input and a float output (and
    /// `grad` set) at orders 1 and 2 and under vmap.
    Checked,
    /// Checked by the named test of `tests/gradcheck.rs` instead (finite differences do not apply).
    Elsewhere(&'static str),
    /// No derivative: the reason.
    None(&'static str),
}

/// Batching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// The batching suite checks every sample at every batch-dim position, nested and chunked.
    Checked,
    /// Checked by the named test of `tests/batching.rs` instead.
    Elsewhere(&'static str),
    /// Takes no tensor, so there is nothing to batch.
    NoTensorInput,
}

/// The dtype of the outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    /// The dtype of the first input that is not a mask or an index (f32 in, f32 out).
    Like,
    /// Always i64.
    I64,
    /// Always bool.
    Bool,
    /// Set by a parameter of the call (constructors).
    Given,
}

/// An independent scalar definition of an elementwise op.
#[derive(Clone, Copy)]
pub enum Reference {
    None,
    Unary(fn(f64) -> f64),
    Binary(fn(f64, f64) -> f64),
}

/// One public op.
#[derive(Clone)]
pub struct OpInfo {
    /// The method or constructor, exactly as `Tensor` spells it.
    pub name: &'static str,
    pub family: Family,
    pub samples: Vec<Sample>,
    pub grad: Grad,
    pub batch: Batch,
    /// Refuses i64 and bool tensors with `Error::DType`.
    pub float_only: bool,
    pub output: Out,
    /// Draws from the global generator (reproducible after `manual_seed`).
    pub random: bool,
    pub reference: Reference,
}

fn op(name: &'static str, family: Family) -> OpInfo {
    OpInfo {
        name,
        family,
        samples: Vec::new(),
        grad: Grad::Checked,
        batch: Batch::Checked,
        float_only: false,
        output: Out::Like,
        random: false,
        reference: Reference::None,
    }
}

impl OpInfo {
    /// A sample with one output.
    fn s(
        self,
        name: &str,
        args: Vec<Arg>,
        f: impl Fn(&[Tensor]) -> Result<Tensor> + 'static,
    ) -> OpInfo {
        self.push(name, args, one_output(Rc::new(f)))
    }
    /// A sample with several outputs.
    fn sn(
        self,
        name: &str,
        args: Vec<Arg>,
        f: impl Fn(&[Tensor]) -> Result<Vec<Tensor>> + 'static,
    ) -> OpInfo {
        self.push(name, args, Rc::new(f))
    }
    // (not generic, like `one_output`: the database has hundreds of closures, and each
    // instance of a generic helper is compiled into three test binaries)
    fn push(mut self, name: &str, args: Vec<Arg>, f: OpFn) -> OpInfo {
        self.samples.push(Sample {
            name: name.to_string(),
            args,
            f,
            grad: true,
            through_f32: false,
            plain: false,
        });
        self
    }
    /// The last sample is the op itself on its args.
    fn plain(mut self) -> OpInfo {
        self.samples.last_mut().unwrap().plain = true;
        self
    }
    /// The last sample is not differentiable at the points its args draw.
    fn nondiff(mut self) -> OpInfo {
        self.samples.last_mut().unwrap().grad = false;
        self
    }
    /// The last sample rounds to f32 on the way.
    fn via_f32(mut self) -> OpInfo {
        self.samples.last_mut().unwrap().through_f32 = true;
        self
    }
    /// The last sample again with its f64 inputs in f32, for the value and batching suites.
    fn and_f32(mut self) -> OpInfo {
        let mut s = self.samples.last().unwrap().clone();
        s.name = format!("{}_f32", s.name);
        s.args = s.args.iter().map(Arg::to_f32).collect();
        s.grad = false;
        s.plain = false;
        self.samples.push(s);
        self
    }
    fn float_only(mut self) -> OpInfo {
        self.float_only = true;
        self
    }
    fn grad(mut self, g: Grad) -> OpInfo {
        self.grad = g;
        self
    }
    fn batch(mut self, b: Batch) -> OpInfo {
        self.batch = b;
        self
    }
    fn out(mut self, o: Out) -> OpInfo {
        self.output = o;
        self
    }
    fn random(mut self) -> OpInfo {
        self.random = true;
        self
    }
    fn reference(mut self, r: Reference) -> OpInfo {
        self.reference = r;
        self
    }
}

/// A call with one output.
type OneFn = Rc<dyn Fn(&[Tensor]) -> Result<Tensor>>;

/// A call with one output as a call with a list of outputs.
fn one_output(f: OneFn) -> OpFn {
    Rc::new(move |x| Ok(vec![f(x)?]))
}

/// An f64 input.
fn f(shape: &[usize], dom: Dom) -> Arg {
    Arg::F(shape.to_vec(), dom)
}

fn index(shape: &[usize], below: usize) -> Arg {
    Arg::Index(shape.to_vec(), below)
}

fn mask(shape: &[usize]) -> Arg {
    Arg::Mask(shape.to_vec())
}

fn wc(batch: &[usize], n: usize) -> Arg {
    Arg::WellConditioned(batch.to_vec(), n)
}

fn spd_arg(batch: &[usize], n: usize) -> Arg {
    Arg::Spd(batch.to_vec(), n)
}

type UnaryFn = fn(&Tensor) -> Result<Tensor>;
type BinaryFn = fn(&Tensor, &Tensor) -> Result<Tensor>;

/// The shapes every elementwise op of one tensor is called on: a matrix and a 0-d tensor.
pub const UNARY_SHAPES: [&[usize]; 2] = [&[2, 3], &[]];

/// The operand shapes every broadcasting op of two tensors is called on: equal, a suffix on
/// either side, both sides expanded, a 0-d operand, and a rank-3 against a rank-2.
pub const BINARY_SHAPES: [(&[usize], &[usize]); 7] = [
    (&[2, 3], &[2, 3]),
    (&[2, 3], &[3]),
    (&[3], &[2, 3]),
    (&[2, 1], &[1, 3]),
    (&[], &[2, 3]),
    (&[2, 1, 3], &[4, 1]),
    (&[2, 1, 3], &[2, 1]),
];

/// An elementwise op of one tensor, with a domain and samples at [`UNARY_SHAPES`].
fn unary(name: &'static str, dom: Dom, op: UnaryFn) -> OpInfo {
    let mut o = self::op(name, Family::Unary);
    for s in UNARY_SHAPES {
        o = o
            .s(&format!("{s:?}"), vec![f(s, dom)], move |x| op(&x[0]))
            .plain();
    }
    o
}

/// A broadcasting op of two tensors, with samples at [`BINARY_SHAPES`].
fn binary(name: &'static str, family: Family, da: Dom, db: Dom, op: BinaryFn) -> OpInfo {
    let mut o = self::op(name, family);
    for (sa, sb) in BINARY_SHAPES {
        o = o
            .s(
                &format!("{sa:?}{sb:?}"),
                vec![f(sa, da), f(sb, db)],
                move |x| op(&x[0], &x[1]),
            )
            .plain();
    }
    o
}

fn sign_ref(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The ops, family by family.
pub fn ops() -> Vec<OpInfo> {
    let mut v = Vec::new();
    v.extend(unary_ops());
    v.extend(binary_ops());
    v.extend(reduction_ops());
    v.extend(shape_ops());
    v.extend(index_ops());
    v.extend(update_ops());
    v.extend(product_ops());
    v.extend(linalg_ops());
    v.extend(cast_ops());
    v.extend(creation_ops());
    v.extend(random_ops());
    v
}

/// The entry named `name`.
pub fn find(name: &str) -> OpInfo {
    ops()
        .into_iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no op {name} in the database"))
}

fn unary_ops() -> Vec<OpInfo> {
    use Reference::Unary as R;
    let math: Vec<(&'static str, Dom, UnaryFn, Reference)> = vec![
        ("neg", ANY, Tensor::neg, R(|x| -x)),
        ("abs", AWAY, Tensor::abs, R(f64::abs)),
        ("sign", AWAY, Tensor::sign, R(sign_ref)),
        ("exp", ANY, Tensor::exp, R(f64::exp)),
        ("expm1", ANY, Tensor::expm1, R(f64::exp_m1)),
        ("log", POS, Tensor::log, R(f64::ln)),
        ("log1p", Dom::U(-0.5, 2.0), Tensor::log1p, R(f64::ln_1p)),
        ("sqrt", POS, Tensor::sqrt, R(f64::sqrt)),
        ("rsqrt", POS, Tensor::rsqrt, R(|x| 1.0 / x.sqrt())),
        ("square", ANY, Tensor::square, R(|x| x * x)),
        ("reciprocal", AWAY, Tensor::reciprocal, R(|x| 1.0 / x)),
        ("sin", ANY, Tensor::sin, R(f64::sin)),
        ("cos", ANY, Tensor::cos, R(f64::cos)),
        ("tan", Dom::U(-1.0, 1.0), Tensor::tan, R(f64::tan)),
        ("asin", UNIT, Tensor::asin, R(f64::asin)),
        ("acos", UNIT, Tensor::acos, R(f64::acos)),
        ("atan", ANY, Tensor::atan, R(f64::atan)),
        ("sinh", ANY, Tensor::sinh, R(f64::sinh)),
        ("cosh", ANY, Tensor::cosh, R(f64::cosh)),
        ("tanh", ANY, Tensor::tanh, R(f64::tanh)),
        (
            "sigmoid",
            Dom::U(-4.0, 4.0),
            Tensor::sigmoid,
            R(|x| 1.0 / (1.0 + (-x).exp())),
        ),
        ("relu", AWAY, Tensor::relu, R(|x| x.max(0.0))),
        // PyTorch's softplus is the identity above 20; a second sample lies there
        (
            "softplus",
            Dom::U(-4.0, 4.0),
            Tensor::softplus,
            R(|x| if x > 20.0 { x } else { x.exp().ln_1p() }),
        ),
        // std has no erf to compare with: tests/ops checks its hand values
        ("erf", ANY, Tensor::erf, Reference::None),
    ];
    let mut v: Vec<OpInfo> = math
        .into_iter()
        .map(|(name, dom, op, r)| unary(name, dom, op).float_only().reference(r))
        .collect();
    for o in &mut v {
        match o.name {
            "exp" => {
                *o = o
                    .clone()
                    .s("[2, 3]_f32", vec![Arg::F32(vec![2, 3], ANY)], |x| {
                        x[0].exp()
                    })
                    .nondiff();
            }
            "neg" => {
                for s in UNARY_SHAPES {
                    *o = o
                        .clone()
                        .s(&format!("operator{s:?}"), vec![f(s, ANY)], |x| Ok(-&x[0]));
                }
            }
            "softplus" => {
                for s in UNARY_SHAPES {
                    *o = o.clone().s(
                        &format!("linear_region{s:?}"),
                        vec![f(s, Dom::U(21.0, 25.0))],
                        |x| x[0].softplus(),
                    );
                }
            }
            _ => {}
        }
    }
    // with a scalar parameter
    let c = Dom::Avoid(-1.5, 1.5, -0.5, 0.5);
    let m = Dom::Avoid(-1.5, 1.5, 0.3, 0.3);
    let mut pow = op("pow_scalar", Family::Unary)
        .float_only()
        .reference(R(|x| x.powf(2.5)));
    // the reference is for the exponent 2.5 only: the other samples are not `plain`
    for (p, dom) in [
        (2.5, POS),
        (2.0, ANY),
        (3.0, ANY),
        (1.0, ANY),
        (0.0, ANY),
        (0.5, POS),
        (-1.5, POS),
        (-1.0, AWAY),
    ] {
        for s in UNARY_SHAPES {
            pow = pow.s(&format!("{p}{s:?}"), vec![f(s, dom)], move |x| {
                x[0].pow_scalar(p)
            });
            if p == 2.5 {
                pow = pow.plain();
            }
        }
    }
    v.extend([
        unary("add_scalar", ANY, |x| x.add_scalar(0.7))
            .float_only()
            .reference(R(|x| x + 0.7)),
        unary("sub_scalar", ANY, |x| x.sub_scalar(0.7))
            .float_only()
            .reference(R(|x| x - 0.7)),
        unary("rsub_scalar", ANY, |x| x.rsub_scalar(0.7))
            .float_only()
            .reference(R(|x| 0.7 - x))
            .s("operators[2, 3]", vec![f(&[2, 3], AWAY)], |x| {
                Ok((2.0 - &x[0]) * 3.0 / &x[0] + 1.5)
            })
            .s("operators[]", vec![f(&[], AWAY)], |x| {
                Ok((2.0 - &x[0]) * 3.0 / &x[0] + 1.5)
            }),
        unary("mul_scalar", ANY, |x| x.mul_scalar(-1.3))
            .float_only()
            .reference(R(|x| x * -1.3)),
        unary("div_scalar", ANY, |x| x.div_scalar(-1.3))
            .float_only()
            .reference(R(|x| x / -1.3)),
        unary("rdiv_scalar", AWAY, |x| x.rdiv_scalar(1.7))
            .float_only()
            .reference(R(|x| 1.7 / x)),
        pow,
        unary("clamp", c, |x| x.clamp(-0.5, 0.5))
            .float_only()
            .reference(R(|x| x.clamp(-0.5, 0.5))),
        unary("clamp_min", c, |x| x.clamp_min(0.5))
            .float_only()
            .reference(R(|x| x.max(0.5))),
        unary("clamp_max", c, |x| x.clamp_max(-0.5))
            .float_only()
            .reference(R(|x| x.min(-0.5))),
        unary("maximum_scalar", m, |x| x.maximum_scalar(0.3)).reference(R(|x| x.max(0.3))),
        unary("minimum_scalar", m, |x| x.minimum_scalar(0.3)).reference(R(|x| x.min(0.3))),
    ]);
    v
}

fn binary_ops() -> Vec<OpInfo> {
    use Family::Binary as B;
    use Reference::Binary as R;
    let ints = Dom::Ints;
    let i64_pair = || vec![Arg::I64(vec![2, 3]), Arg::I64(vec![3])];
    let mut v = vec![
        binary("add", B, ANY, ANY, Tensor::add)
            .reference(R(|a, b| a + b))
            .and_f32()
            .s("i64", i64_pair(), |x| x[0].add(&x[1])),
        binary("sub", B, ANY, ANY, Tensor::sub).reference(R(|a, b| a - b)),
        binary("mul", B, ANY, ANY, Tensor::mul)
            .reference(R(|a, b| a * b))
            .and_f32(),
        binary("div", B, ANY, AWAY, Tensor::div)
            .float_only()
            .reference(R(|a, b| a / b)),
        binary("pow", B, POS, ANY, Tensor::pow)
            .float_only()
            .reference(R(f64::powf)),
        // no ties between the two grids; a sample of small integers has ties
        binary(
            "maximum",
            B,
            Dom::Grid(0.0),
            Dom::Grid(0.5),
            Tensor::maximum,
        )
        .reference(R(f64::max))
        .s("ties", vec![f(&[2, 3], ints), f(&[3], ints)], |x| {
            x[0].maximum(&x[1])
        })
        .nondiff()
        .s("i64", i64_pair(), |x| x[0].maximum(&x[1])),
        binary(
            "minimum",
            B,
            Dom::Grid(0.0),
            Dom::Grid(0.5),
            Tensor::minimum,
        )
        .reference(R(f64::min))
        .s("ties", vec![f(&[2, 3], ints), f(&[3], ints)], |x| {
            x[0].minimum(&x[1])
        })
        .nondiff(),
        binary("atan2", B, AWAY, ANY, Tensor::atan2)
            .float_only()
            .reference(R(f64::atan2))
            // away from the branch cut: a never crosses 0 when b < 0
            .s(
                "negative_x",
                vec![f(&[2, 3], ANY), f(&[2, 3], Dom::U(-2.0, -0.5))],
                |x| x[0].abs()?.add_scalar(0.3)?.atan2(&x[1]),
            ),
    ];
    // the + - * / operators on tensors
    let mut add = v.remove(0);
    for (sa, sb) in BINARY_SHAPES {
        add = add.s(
            &format!("operators{sa:?}{sb:?}"),
            vec![f(sa, ANY), f(sb, AWAY)],
            |x| Ok(&(&x[0] + &x[1]) * &(&x[0] - &x[1]) / &x[1]),
        );
    }
    v.insert(0, add);
    // comparisons: masks out, no derivative
    let cmp: [(&'static str, BinaryFn); 6] = [
        ("gt", Tensor::gt),
        ("ge", Tensor::ge),
        ("lt", Tensor::lt),
        ("le", Tensor::le),
        ("eq", Tensor::eq),
        ("ne", Tensor::ne),
    ];
    type ScalarCmp = fn(&Tensor, f64) -> Result<Tensor>;
    let scalar_cmp: [(&'static str, ScalarCmp); 6] = [
        ("gt_scalar", Tensor::gt_scalar),
        ("ge_scalar", Tensor::ge_scalar),
        ("lt_scalar", Tensor::lt_scalar),
        ("le_scalar", Tensor::le_scalar),
        ("eq_scalar", Tensor::eq_scalar),
        ("ne_scalar", Tensor::ne_scalar),
    ];
    for (name, cop) in cmp {
        let mut o = binary(name, B, ints, ints, cop)
            .out(Out::Bool)
            .grad(Grad::None("a mask output"));
        if name == "gt" {
            o = o.and_f32();
        }
        if name == "eq" {
            o = o.s("i64", i64_pair(), |x| x[0].eq(&x[1]));
        }
        v.push(o);
    }
    for (name, sop) in scalar_cmp {
        let mut o = op(name, Family::Unary)
            .out(Out::Bool)
            .grad(Grad::None("a mask output"));
        for s in UNARY_SHAPES {
            o = o.s(&format!("{s:?}"), vec![f(s, ints)], move |x| {
                sop(&x[0], 0.0)
            });
        }
        v.push(o);
    }
    // logic on masks
    type Logic = fn(&Tensor, &Tensor) -> Result<Tensor>;
    let logic: [(&'static str, Logic); 3] = [
        ("logical_and", Tensor::logical_and),
        ("logical_or", Tensor::logical_or),
        ("logical_xor", Tensor::logical_xor),
    ];
    for (name, lop) in logic {
        let mut o = op(name, B)
            .out(Out::Bool)
            .grad(Grad::None("masks in and out"));
        for (sa, sb) in BINARY_SHAPES {
            o = o.s(
                &format!("{sa:?}{sb:?}"),
                vec![mask(sa), mask(sb)],
                move |x| lop(&x[0], &x[1]),
            );
        }
        v.push(o);
    }
    let mut not = op("logical_not", Family::Unary)
        .out(Out::Bool)
        .grad(Grad::None("masks in and out"));
    for s in UNARY_SHAPES {
        not = not.s(&format!("{s:?}"), vec![mask(s)], |x| x[0].logical_not());
    }
    v.push(not);
    // where: the mask is a constant; both branches differentiable; all three broadcast
    v.push(
        op("where_", B)
            .s(
                "[2, 3][2, 3][3]",
                vec![mask(&[2, 3]), f(&[2, 3], ANY), f(&[3], ANY)],
                |x| Tensor::where_(&x[0], &x[1], &x[2]),
            )
            .s(
                "[3][2, 1][]",
                vec![mask(&[3]), f(&[2, 1], ANY), f(&[], ANY)],
                |x| Tensor::where_(&x[0], &x[1], &x[2]),
            )
            // a piecewise function, away from its switch
            .s("data_dependent", vec![f(&[2, 3], AWAY)], |x| {
                Tensor::where_(&x[0].gt_scalar(0.0)?, &x[0].sin()?, &x[0].square()?)
            })
            .s(
                "i64_branches",
                vec![mask(&[2, 3]), index(&[2, 3], 5), index(&[3], 5)],
                |x| Tensor::where_(&x[0], &x[1], &x[2]),
            ),
    );
    v
}

/// `x` with one element set to 0 (prod's derivative there).
fn with_a_zero(r: &mut Rng) -> Tensor {
    let mut v = t(r, &[2, 3], ANY).to_vec::<f64>().unwrap();
    v[1] = 0.0;
    Tensor::from_vec(v, &[2, 3]).unwrap()
}

fn reduction_ops() -> Vec<OpInfo> {
    use Family::Reduction as F;
    let (x23, x232) = (|d| f(&[2, 3], d), |d| f(&[2, 3, 2], d));
    let d = Dom::Distinct;
    let zero = Arg::Custom("[2, 3] with a zero", with_a_zero);
    let argmax_grad = Grad::None("an index output");
    vec![
        op("sum", F)
            .s("[2, 3]", vec![x23(ANY)], |x| x[0].sum())
            .s("[]", vec![f(&[], ANY)], |x| x[0].sum())
            .s("i64", vec![Arg::I64(vec![2, 3])], |x| x[0].sum()),
        op("sum_dims", F)
            .s("[0]", vec![x23(ANY)], |x| x[0].sum_dims(&[0], false))
            .s("[-1]keep", vec![x23(ANY)], |x| x[0].sum_dims(&[-1], true))
            .and_f32()
            .s("[0,2]", vec![x232(ANY)], |x| x[0].sum_dims(&[0, 2], false))
            .s("bool", vec![mask(&[2, 3])], |x| x[0].sum_dims(&[1], false)),
        op("mean", F)
            .float_only()
            .s("", vec![x23(ANY)], |x| x[0].mean()),
        op("mean_dims", F)
            .float_only()
            .s("[1]keep", vec![x232(ANY)], |x| x[0].mean_dims(&[1], true)),
        // float-only, unlike PyTorch's prod of integers
        op("prod", F)
            .float_only()
            .s("", vec![x23(ANY)], |x| x[0].prod())
            .s("with_a_zero", vec![zero.clone()], |x| x[0].prod()),
        op("prod_dim", F)
            .float_only()
            .s("[1]", vec![x232(ANY)], |x| x[0].prod_dim(1, false))
            .s("[0]keep", vec![x23(ANY)], |x| x[0].prod_dim(0, true))
            .s("with_a_zero", vec![zero], |x| x[0].prod_dim(1, false)),
        op("amax", F)
            .s("", vec![x23(d)], |x| x[0].amax(&[], false))
            .s("[1]", vec![x232(d)], |x| x[0].amax(&[1], false))
            .s("[0,2]keep", vec![x232(d)], |x| x[0].amax(&[0, 2], true))
            .s("[0]", vec![x23(ANY)], |x| x[0].amax(&[0], false))
            .and_f32()
            .s("i64", vec![Arg::I64(vec![2, 3])], |x| {
                x[0].amax(&[1], false)
            }),
        op("amin", F)
            .s("[0]keep", vec![x23(d)], |x| x[0].amin(&[0], true))
            .s("[-1]", vec![x232(d)], |x| x[0].amin(&[-1], false)),
        op("max", F).s("", vec![x23(d)], |x| x[0].max()),
        op("min", F).s("", vec![x23(d)], |x| x[0].min()),
        op("argmax", F)
            .out(Out::I64)
            .grad(argmax_grad)
            .s("", vec![x23(d)], |x| x[0].argmax(None, false))
            .s("keep", vec![x23(d)], |x| x[0].argmax(None, true))
            .s("[1]", vec![x232(d)], |x| x[0].argmax(Some(1), false))
            .and_f32()
            .s("[0]keep", vec![x23(d)], |x| x[0].argmax(Some(0), true)),
        op("argmin", F)
            .out(Out::I64)
            .grad(argmax_grad)
            .s("", vec![x232(d)], |x| x[0].argmin(None, false))
            .s("[-1]", vec![x23(d)], |x| x[0].argmin(Some(-1), false))
            .s("[1]keep", vec![x232(d)], |x| x[0].argmin(Some(1), true)),
        op("logsumexp", F)
            .float_only()
            .s("", vec![x23(ANY)], |x| x[0].logsumexp(&[], false))
            .s("[1]", vec![x232(ANY)], |x| x[0].logsumexp(&[1], false))
            .s("[0]keep", vec![x23(ANY)], |x| x[0].logsumexp(&[0], true)),
        op("var", F)
            .float_only()
            .s("", vec![x23(ANY)], |x| x[0].var()),
        op("var_dims", F)
            .float_only()
            .s("[1]c0keep", vec![x232(ANY)], |x| {
                x[0].var_dims(&[1], 0, true)
            })
            .s("[0,2]c1", vec![x232(ANY)], |x| {
                x[0].var_dims(&[0, 2], 1, false)
            }),
        op("std", F)
            .float_only()
            .s("", vec![x23(ANY)], |x| x[0].std()),
        op("std_dims", F)
            .float_only()
            .s("[-1]", vec![x232(ANY)], |x| x[0].std_dims(&[-1], 1, false))
            .s("[0,2]", vec![x232(ANY)], |x| {
                x[0].std_dims(&[0, 2], 1, false)
            }),
        op("norm", F)
            .float_only()
            .s("", vec![x23(ANY)], |x| x[0].norm()),
        op("norm_dims", F)
            .float_only()
            .s("p2[1]", vec![x232(ANY)], |x| {
                x[0].norm_dims(2.0, &[1], false)
            })
            .s("p1", vec![x23(AWAY)], |x| x[0].norm_dims(1.0, &[], false))
            .s("p3[0]keep", vec![x23(AWAY)], |x| {
                x[0].norm_dims(3.0, &[0], true)
            })
            .s("p3[1]", vec![x232(AWAY)], |x| {
                x[0].norm_dims(3.0, &[1], false)
            })
            // distinct |x|: the distinct values shifted to be positive
            .s("pinf[1]", vec![x23(d)], |x| {
                x[0].add_scalar(10.0)?.norm_dims(f64::INFINITY, &[1], false)
            })
            .s("pinf[0]keep", vec![x23(d)], |x| {
                x[0].add_scalar(10.0)?.norm_dims(f64::INFINITY, &[0], true)
            }),
        op("softmax", F)
            .float_only()
            .s("[1]", vec![x23(ANY)], |x| x[0].softmax(1))
            .s("[0]", vec![x232(ANY)], |x| x[0].softmax(0))
            .s("[-1]", vec![x23(ANY)], |x| x[0].softmax(-1))
            .and_f32(),
        op("log_softmax", F)
            .float_only()
            .s("[-1]", vec![x23(ANY)], |x| x[0].log_softmax(-1))
            .s("[1]", vec![x232(ANY)], |x| x[0].log_softmax(1)),
        op("sum_to_size", F)
            .s("[3, 1]", vec![x232(ANY)], |x| x[0].sum_to_size(&[3, 1]))
            .s("keep_lead", vec![x232(ANY)], |x| {
                x[0].sum_to_size(&[1, 3, 2])
            }),
    ]
}

fn shape_ops() -> Vec<OpInfo> {
    use Family::Shape as F;
    let g = |s: &[usize]| vec![f(s, ANY)];
    vec![
        op("reshape", F)
            .s("[3, 2]", g(&[2, 3]), |x| x[0].reshape(&[3, 2]))
            .s("infer", g(&[6]), |x| x[0].reshape(&[2, -1, 1]))
            .s("to_0d", g(&[1, 1]), |x| x[0].reshape(&[]))
            .s("of_transpose", g(&[2, 3]), |x| x[0].t()?.reshape(&[6])),
        op("flatten", F).s("", g(&[2, 3, 2]), |x| x[0].flatten()),
        op("flatten_dims", F)
            .s("1,2", g(&[2, 3, 2]), |x| x[0].flatten_dims(1, 2))
            .s("0,1", g(&[2, 3, 2]), |x| x[0].flatten_dims(0, 1)),
        op("permute", F).s("", g(&[2, 3, 4]), |x| x[0].permute(&[2, 0, 1])),
        op("transpose", F).s("", g(&[2, 3, 4]), |x| x[0].transpose(0, 2)),
        op("t", F).s("", g(&[2, 3]), |x| x[0].t()),
        op("mt", F).s("", g(&[2, 3, 4]), |x| x[0].mt()),
        op("movedim", F).s("", g(&[2, 3, 4]), |x| x[0].movedim(0, -1)),
        op("squeeze", F)
            .s("", g(&[2, 1, 3]), |x| x[0].squeeze(1))
            .s("noop", g(&[2, 3]), |x| x[0].squeeze(1)),
        op("squeeze_dims", F).s("", g(&[1, 2, 1]), |x| x[0].squeeze_dims(&[0, 2])),
        op("squeeze_all", F).s("", g(&[1, 2, 1, 3]), |x| x[0].squeeze_all()),
        op("unsqueeze", F)
            .s("[1]", g(&[2, 3]), |x| x[0].unsqueeze(1))
            .s("[0]", g(&[2, 3]), |x| x[0].unsqueeze(0))
            .s("last", g(&[2, 3]), |x| x[0].unsqueeze(-1)),
        op("expand", F).s("", g(&[3, 1]), |x| x[0].expand(&[2, -1, 4])),
        op("broadcast_to", F)
            .s("", g(&[3]), |x| x[0].broadcast_to(&[2, 3]))
            .s("inner", g(&[2, 1, 3]), |x| x[0].broadcast_to(&[2, 2, 4, 3]))
            .s("from_0d", g(&[]), |x| x[0].broadcast_to(&[2, 3])),
        op("slice", F)
            .s("", g(&[2, 6]), |x| x[0].slice(1, 1, 5, 1))
            .s("step", g(&[2, 7]), |x| x[0].slice(1, 1, 7, 2))
            .s("step3_neg_start", g(&[8, 2]), |x| {
                x[0].slice(0, -7, i64::MAX, 3)
            })
            .s("of_slice", g(&[9]), |x| {
                x[0].slice(0, 1, 9, 2)?.slice(0, 1, 4, 2)
            }),
        op("narrow", F).s("", g(&[2, 5]), |x| x[0].narrow(1, 2, 2)),
        op("select", F).s("", g(&[2, 3, 2]), |x| x[0].select(1, -1)),
        op("get", F).s("", g(&[3, 2]), |x| x[0].get(1)),
        op("flip", F)
            .s("", g(&[2, 3]), |x| x[0].flip(&[0, 1]))
            .s("last", g(&[2, 3, 2]), |x| x[0].flip(&[-1])),
        op("cat", F)
            .s(
                "[1]",
                vec![f(&[2, 1], ANY), f(&[2, 3], ANY), f(&[2, 2], ANY)],
                |x| Tensor::cat(x, 1),
            )
            .s("[0]", vec![f(&[1, 3], ANY), f(&[2, 3], ANY)], |x| {
                Tensor::cat(x, 0)
            }),
        op("stack", F)
            .s("[1]", vec![f(&[2, 3], ANY), f(&[2, 3], ANY)], |x| {
                Tensor::stack(x, 1)
            })
            .s(
                "last",
                vec![f(&[3], ANY), f(&[3], ANY), f(&[3], ANY)],
                |x| Tensor::stack(x, -1),
            ),
        op("split", F).sn("", g(&[2, 5]), |x| x[0].split(2, 1)),
        op("chunk", F).sn("", g(&[5, 2]), |x| x[0].chunk(2, 0)),
        op("diagonal", F)
            .s("", g(&[3, 3]), |x| x[0].diagonal(0, 0, 1))
            .s("offset", g(&[2, 3, 4]), |x| x[0].diagonal(1, 1, 2))
            .s("negative_offset", g(&[3, 4]), |x| x[0].diagonal(-1, 0, 1))
            .s("swapped_dims", g(&[3, 2, 3]), |x| x[0].diagonal(0, 2, 0)),
        op("diag", F)
            .s("1d", g(&[3]), |x| x[0].diag())
            .s("2d", g(&[3, 3]), |x| x[0].diag()),
        op("trace", F).s("", g(&[3, 3]), |x| x[0].trace()),
        op("tril", F)
            .s("0", g(&[3, 4]), |x| x[0].tril(0))
            .s("-1", g(&[2, 3, 3]), |x| x[0].tril(-1)),
        op("triu", F)
            .s("1", g(&[3, 4]), |x| x[0].triu(1))
            .s("0", g(&[4, 3]), |x| x[0].triu(0))
            .s("mask", vec![mask(&[3, 3])], |x| x[0].triu(0)),
    ]
}

fn fixed(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn index_ops() -> Vec<OpInfo> {
    use Family::Index as F;
    // fixed indices with repeats (the derivatives accumulate), as well as random ones
    let rep3 = Arg::Custom("[2, 0, 2]", |_| fixed(&[2, 0, 2], &[3]));
    let rep4 = Arg::Custom("[1, 1, 0, 2]", |_| fixed(&[1, 1, 0, 2], &[4]));
    let rep110 = Arg::Custom("[1, 1, 0]", |_| fixed(&[1, 1, 0], &[3]));
    let g24 = Arg::Custom("[2, 4] of 0..3", |_| {
        fixed(&[0, 2, 1, 1, 2, 2, 0, 1], &[2, 4])
    });
    let g23 = Arg::Custom("[2, 3] of 0..3", |_| fixed(&[1, 0, 0, 2, 1, 0], &[2, 3]));
    let s23 = Arg::Custom("[2, 3] of 0..4", |_| fixed(&[0, 2, 2, 1, 1, 1], &[2, 3]));
    let x = |s: &[usize]| f(s, ANY);
    vec![
        op("index_select", F)
            .s("[1]repeats", vec![x(&[2, 3]), rep3.clone()], |x| {
                x[0].index_select(1, &x[1])
            })
            .s("[0]repeats", vec![x(&[3, 2]), rep4], |x| {
                x[0].index_select(0, &x[1])
            })
            .s("[1]", vec![x(&[2, 3]), index(&[4], 3)], |x| {
                x[0].index_select(1, &x[1])
            })
            .and_f32()
            .s("[0]", vec![x(&[3, 2]), index(&[2], 3)], |x| {
                x[0].index_select(0, &x[1])
            })
            .s("1d", vec![x(&[4]), index(&[5], 4)], |x| {
                x[0].index_select(0, &x[1])
            })
            .s("i64_source", vec![index(&[2, 3], 9), index(&[2], 3)], |x| {
                x[0].index_select(1, &x[1])
            }),
        op("gather", F)
            .s("[1]fixed", vec![x(&[2, 3]), g24.clone()], |x| {
                x[0].gather(1, &x[1])
            })
            .s("[0]fixed", vec![x(&[3, 3]), g23], |x| x[0].gather(0, &x[1]))
            .s("[1]", vec![x(&[2, 3]), index(&[2, 4], 3)], |x| {
                x[0].gather(1, &x[1])
            })
            .s("[0]", vec![x(&[3, 3]), index(&[2, 3], 3)], |x| {
                x[0].gather(0, &x[1])
            })
            .s("smaller_index", vec![x(&[3, 4]), index(&[2, 2], 3)], |x| {
                x[0].gather(0, &x[1])
            })
            .s("of_square", vec![x(&[2, 3]), g24], |x| {
                x[0].square()?.gather(1, &x[1])?.sin()
            })
            .s("at_argmax", vec![f(&[2, 3], Dom::Distinct)], |x| {
                x[0].gather(1, &x[0].argmax(Some(1), true)?)
            }),
        op("scatter_add", F)
            .s("[1]fixed", vec![x(&[2, 4]), s23, x(&[2, 3])], |x| {
                x[0].scatter_add(1, &x[1], &x[2])
            })
            .s(
                "[1]",
                vec![x(&[2, 4]), index(&[2, 3], 4), x(&[2, 3])],
                |x| x[0].scatter_add(1, &x[1], &x[2]),
            )
            .s(
                "[0]",
                vec![x(&[3, 2]), index(&[4, 2], 3), x(&[4, 2])],
                |x| x[0].scatter_add(0, &x[1], &x[2]),
            )
            .s(
                "smaller_index",
                vec![x(&[3, 4]), index(&[2, 2], 4), x(&[2, 2])],
                |x| x[0].scatter_add(1, &x[1], &x[2]),
            ),
        op("index_add", F)
            .s("[0]fixed", vec![x(&[2, 2]), rep110, x(&[3, 2])], |x| {
                x[0].index_add(0, &x[1], &x[2])
            })
            .s("[1]fixed", vec![x(&[2, 3]), rep3, x(&[2, 3])], |x| {
                x[0].index_add(1, &x[1], &x[2])
            })
            .s("[0]", vec![x(&[3, 2]), index(&[4], 3), x(&[4, 2])], |x| {
                x[0].index_add(0, &x[1], &x[2])
            })
            .s("[1]", vec![x(&[2, 3]), index(&[2], 3), x(&[2, 2])], |x| {
                x[0].index_add(1, &x[1], &x[2])
            }),
        op("one_hot", F)
            .out(Out::I64)
            .grad(Grad::None("i64 in and out"))
            .s("[3]", vec![index(&[3], 4)], |x| x[0].one_hot(4))
            .s("2d", vec![index(&[2, 2], 3)], |x| x[0].one_hot(3))
            .s("0d", vec![index(&[], 3)], |x| x[0].one_hot(3)),
    ]
}

/// Functional updates (`src/ops/update.rs`): the tensor and the values are differentiable,
/// the indices and masks are drawn at random (repeats included) and batched like any input.
fn update_ops() -> Vec<OpInfo> {
    use Family::Index as F;
    let x = |s: &[usize]| f(s, ANY);
    let rep = Arg::Custom("[1, -2, 1]", |_| fixed(&[1, -2, 1], &[3]));
    vec![
        op("masked_fill", F)
            .s("[2, 3]", vec![x(&[2, 3]), mask(&[2, 3])], |x| {
                x[0].masked_fill(&x[1], 0.5)
            })
            .s("broadcast_mask", vec![x(&[2, 3]), mask(&[3])], |x| {
                x[0].masked_fill(&x[1], -1.0)
            })
            .s("0d", vec![x(&[]), mask(&[])], |x| {
                x[0].masked_fill(&x[1], 2.0)
            })
            .s("of_square", vec![x(&[2, 3]), mask(&[2, 1])], |x| {
                x[0].square()?.masked_fill(&x[1], 0.5)?.sin()
            }),
        op("masked_scatter", F)
            .s("[2, 3]", vec![x(&[2, 3]), mask(&[2, 3]), x(&[6])], |x| {
                x[0].masked_scatter(&x[1], &x[2])
            })
            .s(
                "broadcast_mask",
                vec![x(&[2, 3]), mask(&[3]), x(&[2, 4])],
                |x| x[0].masked_scatter(&x[1], &x[2]),
            )
            .s("of_square", vec![x(&[3, 2]), mask(&[3, 2]), x(&[7])], |x| {
                x[0].square()?.masked_scatter(&x[1], &x[2].sin()?)?.sin()
            }),
        op("slice_scatter", F)
            .s("[1]1:3", vec![x(&[2, 4]), x(&[2, 2])], |x| {
                x[0].slice_scatter(&x[1], 1, 1, 3, 1)
            })
            .s("[0]step2", vec![x(&[5, 2]), x(&[3, 2])], |x| {
                x[0].slice_scatter(&x[1], 0, 0, i64::MAX, 2)
            })
            .s("[-1]negative", vec![x(&[2, 4]), x(&[2, 1])], |x| {
                x[0].slice_scatter(&x[1], -1, -1, i64::MAX, 1)
            })
            .s("of_square", vec![x(&[3, 4]), x(&[3, 2])], |x| {
                x[0].square()?
                    .slice_scatter(&x[1].sin()?, 1, 0, 4, 2)?
                    .sin()
            }),
        op("select_scatter", F)
            .s("[0]", vec![x(&[3, 2]), x(&[2])], |x| {
                x[0].select_scatter(&x[1], 0, 1)
            })
            .s("[1]-1", vec![x(&[2, 3]), x(&[2])], |x| {
                x[0].select_scatter(&x[1], 1, -1)
            })
            .s("of_square", vec![x(&[2, 3]), x(&[3])], |x| {
                x[0].square()?.select_scatter(&x[1].sin()?, 0, 0)?.sin()
            }),
        op("index_put", F)
            .s("repeats", vec![x(&[3, 2]), rep.clone(), x(&[3, 2])], |x| {
                x[0].index_put(&[x[1].clone()], &x[2], false)
            })
            .s(
                "repeats_accumulate",
                vec![x(&[3, 2]), rep, x(&[3, 2])],
                |x| x[0].index_put(&[x[1].clone()], &x[2], true),
            )
            .s(
                "two_indices",
                vec![x(&[3, 2, 2]), index(&[4], 3), index(&[4], 2), x(&[4, 2])],
                |x| x[0].index_put(&[x[1].clone(), x[2].clone()], &x[3], false),
            )
            .s(
                "broadcast",
                vec![x(&[3, 2]), index(&[2, 1], 3), index(&[2], 2), x(&[])],
                |x| x[0].index_put(&[x[1].clone(), x[2].clone()], &x[3], true),
            )
            .s(
                "of_square",
                vec![x(&[3, 2]), index(&[4], 3), x(&[4, 2])],
                |x| {
                    x[0].square()?
                        .index_put(&[x[1].clone()], &x[2].sin()?, false)?
                        .sin()
                },
            ),
        op("index", F)
            .s("one", vec![x(&[3, 2]), index(&[4], 3)], |x| {
                x[0].index(&[x[1].clone()])
            })
            .s(
                "two",
                vec![x(&[3, 2, 2]), index(&[2, 2], 3), index(&[2], 2)],
                |x| x[0].index(&[x[1].clone(), x[2].clone()]),
            ),
        op("at_slice", F)
            .s("set", vec![x(&[2, 4]), x(&[2, 1])], |x| {
                x[0].at_slice(1, 1, 3, 1).set(&x[1])
            })
            .s("add_step2", vec![x(&[5, 2]), x(&[2])], |x| {
                x[0].at_slice(0, 1, 5, 2).add(&x[1])
            })
            .s("get", vec![x(&[5, 2])], |x| x[0].at_slice(0, 1, 5, 2).get()),
        op("at_select", F)
            .s("set", vec![x(&[2, 3]), x(&[])], |x| {
                x[0].at_select(1, 2).set(&x[1])
            })
            .s("add", vec![x(&[3, 2]), x(&[2])], |x| {
                x[0].at_select(0, -1).add(&x[1])
            })
            .s("get", vec![x(&[3, 2])], |x| x[0].at_select(0, 1).get()),
        op("at_index", F)
            .s("set", vec![x(&[3, 2]), index(&[4], 3), x(&[2])], |x| {
                x[0].at_index(&[x[1].clone()]).set(&x[2])
            })
            .s(
                "add",
                vec![x(&[3, 2]), index(&[4], 3), index(&[4], 2), x(&[4])],
                |x| x[0].at_index(&[x[1].clone(), x[2].clone()]).add(&x[3]),
            )
            .s("get", vec![x(&[3, 2]), index(&[4], 3)], |x| {
                x[0].at_index(&[x[1].clone()]).get()
            }),
        op("at_mask", F)
            .s("set", vec![x(&[2, 3]), mask(&[2, 3]), x(&[3])], |x| {
                x[0].at_mask(&x[1]).set(&x[2])
            })
            .s("add", vec![x(&[2, 3]), mask(&[3]), x(&[2, 1])], |x| {
                x[0].at_mask(&x[1]).add(&x[2])
            }),
    ]
}

fn product_ops() -> Vec<OpInfo> {
    use Family::Product as F;
    let x2 = |a: &[usize], b: &[usize]| vec![f(a, ANY), f(b, ANY)];
    let mm = |x: &[Tensor]| x[0].matmul(&x[1]);
    let mut einsum = op("einsum", F).float_only();
    let two: [(&'static str, &[usize], &[usize]); 7] = [
        ("ij,jk->ik", &[2, 3], &[3, 2]),
        ("bij,bjk->bik", &[2, 2, 3], &[2, 3, 2]),
        ("ij,ij->i", &[2, 3], &[2, 3]),
        ("i,j->ij", &[2], &[3]),
        ("ij,jk", &[2, 3], &[3, 2]),
        ("ijk,ikl->jl", &[2, 3, 2], &[2, 2, 3]),
        ("ij,kj->ik", &[2, 3], &[2, 3]),
    ];
    for (spec, a, b) in two {
        einsum = einsum.s(spec, x2(a, b), move |x| {
            Tensor::einsum(spec, &[&x[0], &x[1]])
        });
    }
    let one: [(&'static str, &[usize]); 4] = [
        ("ii->i", &[3, 3]),
        ("ii->", &[3, 3]),
        ("ij->", &[2, 3]),
        ("ijk->kji", &[2, 3, 2]),
    ];
    for (spec, a) in one {
        einsum = einsum.s(spec, vec![f(a, ANY)], move |x| {
            Tensor::einsum(spec, &[&x[0]])
        });
    }
    // float-only, unlike PyTorch's integer matmul
    vec![
        op("matmul", F)
            .float_only()
            .s("1d_1d", x2(&[3], &[3]), mm)
            .s("2d_1d", x2(&[2, 3], &[3]), mm)
            .s("1d_2d", x2(&[3], &[3, 2]), mm)
            .s("2d_2d", x2(&[2, 3], &[3, 4]), mm)
            .and_f32()
            .s("batched_broadcast", x2(&[2, 1, 2, 3], &[3, 3, 2]), mm)
            .s("batched_1d", x2(&[2, 2, 3], &[3]), mm)
            .s("1d_batched", x2(&[3], &[2, 3, 2]), mm)
            .s("self", vec![f(&[3, 3], ANY)], |x| x[0].matmul(&x[0])),
        op("dot", F)
            .float_only()
            .s("", x2(&[4], &[4]), |x| x[0].dot(&x[1])),
        op("mv", F)
            .float_only()
            .s("", x2(&[2, 3], &[3]), |x| x[0].mv(&x[1])),
        // takes i64, unlike matmul, dot and mv
        op("outer", F).s("", x2(&[3], &[2]), |x| x[0].outer(&x[1])),
        einsum,
    ]
}

/// A well-conditioned 3×3 matrix with its first row negated (det < 0).
fn negative_det(r: &mut Rng) -> Tensor {
    let mut v = well_conditioned(r, &[], 3).to_vec::<f64>().unwrap();
    for x in &mut v[..3] {
        *x = -*x;
    }
    Tensor::from_vec(v, &[3, 3]).unwrap()
}

fn linalg_ops() -> Vec<OpInfo> {
    use Family::Linalg as F;
    let neg = || Arg::Custom("det < 0", negative_det);
    let slogdet = |x: &[Tensor]| -> Result<Vec<Tensor>> {
        let (s, l) = x[0].slogdet()?;
        Ok(vec![s, l])
    };
    // cholesky reads one triangle of a symmetric matrix: symmetrize so that every direction
    // of the gradient checker is admissible
    let sym_chol = |x: &[Tensor]| x[0].add(&x[0].mt()?)?.mul_scalar(0.5)?.cholesky();
    vec![
        op("det", F)
            .float_only()
            .s("", vec![wc(&[], 3)], |x| x[0].det())
            .and_f32()
            .s("negative", vec![neg()], |x| x[0].det())
            .s("batched", vec![wc(&[2], 3)], |x| x[0].det())
            .s("batched_2x2", vec![wc(&[2], 2)], |x| x[0].det())
            .s("1x1", vec![wc(&[], 1)], |x| x[0].det()),
        op("slogdet", F)
            .float_only()
            .sn("", vec![wc(&[], 3)], slogdet)
            .sn("negative", vec![neg()], slogdet),
        op("logdet", F)
            .float_only()
            .s("", vec![wc(&[], 3)], |x| x[0].logdet())
            .s("batched", vec![wc(&[2], 3)], |x| x[0].logdet()),
        op("inv", F)
            .float_only()
            .s("", vec![wc(&[], 3)], |x| x[0].inv())
            .s("batched", vec![wc(&[2], 2)], |x| x[0].inv()),
        op("solve", F)
            .float_only()
            .s("vector", vec![wc(&[], 3), f(&[3], ANY)], |x| {
                x[0].solve(&x[1])
            })
            .and_f32()
            .s("matrix", vec![wc(&[], 3), f(&[3, 2], ANY)], |x| {
                x[0].solve(&x[1])
            })
            .s("batched_vector", vec![wc(&[2], 3), f(&[2, 3], ANY)], |x| {
                x[0].solve(&x[1])
            })
            .s(
                "broadcast_batch",
                vec![wc(&[], 3), f(&[2, 3, 2], ANY)],
                |x| x[0].solve(&x[1]),
            ),
        op("cholesky", F)
            .float_only()
            .s("", vec![spd_arg(&[], 3)], sym_chol)
            .s("batched", vec![spd_arg(&[2], 2)], sym_chol),
    ]
}

fn cast_ops() -> Vec<OpInfo> {
    use Family::Cast as F;
    let ints = Dom::Ints;
    vec![
        op("to_dtype", F)
            .out(Out::Given)
            .s("f64_noop", vec![f(&[2, 3], ANY)], |x| {
                x[0].to_dtype(DType::F64)?.sin()
            })
            .s("f64_f32_f64", vec![f(&[2, 3], ANY)], |x| {
                x[0].to_dtype(DType::F32)?.sin()?.to_dtype(DType::F64)
            })
            .via_f32()
            .s("f32", vec![f(&[2, 3], ANY)], |x| x[0].to_dtype(DType::F32))
            .via_f32()
            .s("from_f32", vec![Arg::F32(vec![2, 3], ANY)], |x| {
                x[0].to_dtype(DType::F64)?.exp()
            })
            .via_f32()
            .s("f32_0d", vec![f(&[], ANY)], |x| x[0].to_dtype(DType::F32))
            .via_f32()
            .s("i64", vec![f(&[2, 3], ints)], |x| x[0].to_dtype(DType::I64))
            // truncation: a jump at every integer, and ints sit on them
            .s("i64_roundtrip", vec![f(&[2, 3], ints)], |x| {
                x[0].to_dtype(DType::I64)?.to_dtype(DType::F64)
            })
            .nondiff()
            .s("from_mask", vec![f(&[2, 3], ints)], |x| {
                x[0].le_scalar(0.0)?.to_dtype(DType::F64)
            })
            .nondiff()
            .s("bool", vec![f(&[2, 3], ints)], |x| {
                x[0].to_dtype(DType::Bool)
            }),
        // finite differences see the identity, derivatives see 0, by design
        op("detach", F)
            .grad(Grad::Elsewhere("detach_stops_derivatives"))
            .s("[2, 3]", vec![f(&[2, 3], ANY)], |x| x[0].detach())
            .s("[]", vec![f(&[], ANY)], |x| x[0].detach()),
    ]
}

fn creation_ops() -> Vec<OpInfo> {
    use Family::Creation as F;
    let none = Grad::None("no tensor input");
    let c = |name| {
        op(name, F)
            .grad(none)
            .batch(Batch::NoTensorInput)
            .out(Out::Given)
    };
    let like = |name, fun: UnaryFn| {
        let mut o = op(name, F);
        for s in UNARY_SHAPES {
            o = o.s(&format!("{s:?}"), vec![f(s, ANY)], move |x| fun(&x[0]));
        }
        o
    };
    vec![
        c("from_vec")
            .s("[2, 3]", vec![], |_| {
                Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])
            })
            .s("i64", vec![], |_| Tensor::from_vec(vec![1i64, -2], &[2, 1])),
        c("from_aligned_vec")
            .s("[2, 3]", vec![], |_| {
                Tensor::from_aligned_vec((1..=6).map(f64::from).collect(), &[2, 3])
            })
            .s("i64", vec![], |_| {
                Tensor::from_aligned_vec(functorch::AlignedVec::from(vec![1i64, -2]), &[2, 1])
            }),
        c("from_slice")
            .s("f64", vec![], |_| Ok(Tensor::from_slice(&[1.5, -2.0])))
            .s("bool", vec![], |_| Ok(Tensor::from_slice(&[true, false]))),
        c("scalar").s("", vec![], |_| Ok(Tensor::scalar(2.5f32))),
        c("full").s("", vec![], |_| Tensor::full(&[2, 3], 1.5, DType::F64)),
        c("zeros").s("", vec![], |_| Tensor::zeros(&[2, 3], DType::F32)),
        c("ones").s("", vec![], |_| Tensor::ones(&[3], DType::I64)),
        c("eye").s("", vec![], |_| Tensor::eye(3, DType::F64)),
        c("arange").s("", vec![], |_| Tensor::arange(0.0, 2.0, 0.5, DType::F64)),
        c("linspace").s("", vec![], |_| Tensor::linspace(0.0, 1.0, 5, DType::F64)),
        // constant in the input: the gradient checker sees a zero derivative
        like("zeros_like", |x| x.zeros_like()),
        like("ones_like", |x| x.ones_like()),
        like("full_like", |x| x.full_like(-1.5)),
    ]
}

fn random_ops() -> Vec<OpInfo> {
    use Family::Random as F;
    let randomness = Batch::Elsewhere("randomness_different_same_and_error");
    let r = |name| {
        op(name, F)
            .random()
            .batch(randomness)
            .grad(Grad::None("a random draw"))
    };
    vec![
        r("randn")
            .out(Out::Given)
            .s("", vec![], |_| Tensor::randn(&[2, 3], DType::F64)),
        r("rand")
            .out(Out::Given)
            .s("", vec![], |_| Tensor::rand(&[4], DType::F32)),
        r("randn_like").s("", vec![f(&[2, 3], ANY)], |x| x[0].randn_like()),
        r("rand_like").s("", vec![f(&[2, 3], ANY)], |x| x[0].rand_like()),
        r("dropout")
            .float_only()
            .grad(Grad::Elsewhere("gradcheck_dropout"))
            .s("", vec![f(&[3, 4], ANY)], |x| x[0].dropout(0.4)),
        r("randint")
            .out(Out::I64)
            .s("", vec![], |_| Tensor::randint(-3, 5, &[2, 3])),
        r("randint_like").s("", vec![f(&[2, 3], ANY)], |x| x[0].randint_like(0, 10)),
        r("randperm")
            .out(Out::I64)
            .s("", vec![], |_| Tensor::randperm(6)),
        r("normal")
            .float_only()
            .s("", vec![f(&[2, 3], ANY), f(&[3], POS)], |x| {
                Tensor::normal(&x[0], &x[1])
            }),
        r("bernoulli")
            .float_only()
            .s("", vec![f(&[2, 3], Dom::U(0.0, 1.0))], |x| x[0].bernoulli()),
    ]
}
