//! Looking under tracers: what a tracer of a finished transform stands for (`NOTE: [escaped]`),
//! and [`Tensor::debug_unwrap`], the value under every tracer for printing.

use super::{Tensor, Tracer, TracerKind};
use crate::error::{Error, Result};

// NOTE: [escaped]
// A tracer can outlive its transform: saved to a captured variable, returned from a nested
// function, kept in a struct. As in torch.func, a tracer of a finished grad/vjp or jvp level is
// its value: the tracer is a wrapper whose level is dead, and the wrapper is simply dropped. The
// value may itself be a tracer of an outer level that is still running (an inner grad's input
// saved inside an outer grad), so the outer derivatives are kept. A tracer of a finished vmap
// level is an error: its value carries the whole batch, and no single tensor stands for it. So
// is a tracer of a finished `jit` trace: its value is the one the tracing call computed, not
// the one a later call of the compiled function would, so using it would silently freeze it.
// Every place that looks at a tensor applies this rule: `bind` (every op), the no-op shortcuts
// of the ops (`Tensor::passthrough`), the accessors of concrete values, and the inputs and
// outputs of every transform.

impl Tracer {
    /// The value this tracer stands for once its level is dead (`None` while the level runs,
    /// and for a dead vmap or jit tracer, which stand for no single value).
    #[inline]
    pub(crate) fn dead_value(&self) -> Option<&Tensor> {
        if self.level.is_alive() {
            return None;
        }
        match &self.kind {
            TracerKind::Dual { primal, .. } => Some(primal),
            TracerKind::Grad { value, .. } => Some(value),
            TracerKind::Batch { .. } | TracerKind::Staged { .. } => None,
        }
    }
}

impl Tensor {
    /// This tensor with the wrappers of finished grad/jvp levels removed (see
    /// `NOTE: [escaped]`); a tracer of a finished vmap or jit is an error naming `op`.
    pub(crate) fn live(&self, op: &'static str) -> Result<&Tensor> {
        let mut t = self;
        while let Some(tr) = t.tracer() {
            if tr.level.is_alive() {
                break;
            }
            t = tr.dead_value().ok_or(Error::EscapedTracer {
                op,
                kind: tr.kind_name(),
            })?;
        }
        Ok(t)
    }
    /// Whether this is a tracer of a finished transform (at its outermost wrapper).
    #[inline]
    pub(crate) fn is_dead(&self) -> bool {
        self.tracer().is_some_and(|t| !t.level.is_alive())
    }
    /// This tensor as the result of an op that leaves it unchanged (`reshape` to its own shape,
    /// `sum` over no dims, ...): the tensor itself, with the wrappers of finished transforms
    /// removed as `bind` would (`NOTE: [escaped]`), so no-op shortcuts behave as the op would.
    #[inline]
    pub(crate) fn passthrough(&self, op: &'static str) -> Result<Tensor> {
        if self.is_dead() {
            return self.live(op).cloned();
        }
        Ok(self.clone())
    }

    /// The value under every tracer: inside a transformed function, the plain tensor the
    /// transforms are tracing, for printing and logging (as `torch.func.debug_unwrap`).
    ///
    /// Under `vmap` it holds the whole batch, at dim 0 (one more dim than the tensor shows
    /// inside the function); under `grad`, `vjp` and `jvp` it is the primal value, under `jit`
    /// the value of the tracing call. The result
    /// is a constant to every transform: computing with it gives no derivatives and no batching,
    /// so use it to look at values, not to compute the function's result. Outside transforms it
    /// is the tensor itself.
    ///
    /// ```
    /// use functorch::{Tensor, grad, vmap};
    /// use std::cell::RefCell;
    /// let seen = RefCell::new(Vec::new());
    /// let f = |x: &Tensor| {
    ///     // x is a tracer here; debug_unwrap shows the numbers without changing the gradient
    ///     seen.borrow_mut().push(x.debug_unwrap().to_vec::<f64>()?);
    ///     x.square()?.sum()
    /// };
    /// let g: Tensor = grad(f).call(&Tensor::from_slice(&[1.0, 2.0]))?;
    /// assert_eq!(g.to_vec::<f64>()?, vec![2.0, 4.0]);
    /// assert_eq!(seen.borrow()[0], vec![1.0, 2.0]);
    ///
    /// // under vmap: the whole batch, each row an example
    /// let rows = RefCell::new(Vec::new());
    /// let h = |x: &Tensor| {
    ///     rows.borrow_mut().push(x.debug_unwrap().shape().to_vec());
    ///     x.sum()
    /// };
    /// let _: Tensor = vmap(h).call(&Tensor::zeros(&[3, 2], functorch::DType::F64)?)?;
    /// assert_eq!(rows.borrow()[0], vec![3, 2]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn debug_unwrap(&self) -> Tensor {
        let mut t = self;
        while let Some(tr) = t.tracer() {
            t = match &tr.kind {
                TracerKind::Batch { value } => value,
                TracerKind::Dual { primal, .. } => primal,
                TracerKind::Grad { value, .. } => value,
                TracerKind::Staged { value, .. } => value,
            };
        }
        t.clone()
    }
}
