//! Per-sample gradients of a model saved elsewhere: an MLP's weights are read from a
//! safetensors file, in float32 and under PyTorch's `state_dict` names (`fc1.weight`,
//! `fc1.bias`, ...), into a `#[derive(Pytree)]` struct in float64, and
//! `vmap(grad(loss))` gives the gradient of the loss of every example separately, in one call.
//! The per-sample gradients are written back as safetensors, with a leading batch dim.
//!
//! The example writes its own input file first (standing in for
//! `safetensors.torch.save_file(model.state_dict(), "mlp.safetensors")` in Python), so it
//! runs anywhere:
//!
//! ```text
//! cargo run --release --example safetensors_mlp --features safetensors
//! ```

use functorch::interop::safetensors;
use functorch::{DType, Pytree, Result, Tensor, grad, manual_seed, vmap};

/// `torch.nn.Linear`: `y = x Wᵀ + b`, `W` of shape `[out, in]`.
#[derive(Clone, Pytree)]
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn zeros(inp: usize, out: usize, dtype: DType) -> Linear {
        Linear {
            weight: Tensor::zeros(&[out, inp], dtype).unwrap(),
            bias: Tensor::zeros(&[out], dtype).unwrap(),
        }
    }
    fn random(inp: usize, out: usize) -> Result<Linear> {
        let s = 1.0 / (inp as f64).sqrt();
        Ok(Linear {
            weight: Tensor::randn(&[out, inp], DType::F32)?.mul_scalar(s)?,
            bias: Tensor::randn(&[out], DType::F32)?.mul_scalar(0.1)?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.t()?)?.add(&self.bias)
    }
}

/// `fc2(tanh(fc1(x)))`, the field names being the `state_dict` prefixes.
#[derive(Clone, Pytree)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

const IN: usize = 6;
const HIDDEN: usize = 32;
const OUT: usize = 3;
const BATCH: usize = 16;

/// The cross-entropy of one example `x` (shape `[IN]`) with integer label `y` (0-d).
fn loss((m, x, y): &(Mlp, Tensor, Tensor)) -> Result<Tensor> {
    let logits = m.fc2.forward(&m.fc1.forward(x)?.tanh()?)?;
    let logp = logits.log_softmax(-1)?;
    logp.mul(&y.one_hot(OUT)?.to_dtype(DType::F64)?)?
        .sum()?
        .neg()
}

fn main() -> Result<()> {
    manual_seed(7);
    let path = std::env::temp_dir().join("functorch_example_mlp.safetensors");

    // 1. "Elsewhere": a float32 model saved under PyTorch's names.
    let trained = Mlp {
        fc1: Linear::random(IN, HIDDEN)?,
        fc2: Linear::random(HIDDEN, OUT)?,
    };
    safetensors::save(&trained, &path)?;
    let on_disk = safetensors::load_all(&path)?;
    println!(
        "wrote {} ({} bytes):",
        path.display(),
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
    );
    for (name, t) in &on_disk {
        println!("  {name:<12} {:?} {}", t.shape(), t.dtype());
    }

    // 2. Here: load into a float64 structure (the shapes and dtypes come from the template).
    let like = Mlp {
        fc1: Linear::zeros(IN, HIDDEN, DType::F64),
        fc2: Linear::zeros(HIDDEN, OUT, DType::F64),
    };
    let model: Mlp = safetensors::load(&path, &like)?;
    assert_eq!(model.fc1.weight.dtype(), DType::F64);

    // 3. Per-sample gradients: vmap over the examples, the parameters shared.
    let xs = Tensor::randn(&[BATCH, IN], DType::F64)?;
    let ys = Tensor::from_slice(
        &(0..BATCH as i64)
            .map(|k| k % OUT as i64)
            .collect::<Vec<_>>(),
    );
    let per_sample: Mlp = vmap(grad(loss)).in_dims([None, Some(0), Some(0)]).call(&(
        model.clone(),
        xs.clone(),
        ys.clone(),
    ))?;
    println!("\nper-sample gradients, one per example:");
    for (name, t) in safetensors::names(&per_sample)
        .iter()
        .zip(per_sample.to_tree().leaves())
    {
        println!("  {name:<12} {:?}", t.shape());
    }
    let norms = per_sample
        .to_tree()
        .leaves()
        .iter()
        .map(|g| {
            g.reshape(&[BATCH as i64, -1])?
                .square()?
                .sum_dims(&[1], false)
        })
        .collect::<Result<Vec<_>>>()?;
    let total = norms
        .iter()
        .skip(1)
        .try_fold(norms[0].clone(), |a, b| a.add(b))?
        .sqrt()?;
    println!("\n|grad| per example: {:.3?}", total.to_vec::<f64>()?);

    // Each one is the gradient of that example alone, and their mean is the batch gradient.
    for k in [0, BATCH - 1] {
        let one: Mlp = grad(loss).call(&(model.clone(), xs.get(k as i64)?, ys.get(k as i64)?))?;
        let d = one
            .fc1
            .weight
            .sub(&per_sample.fc1.weight.get(k as i64)?)?
            .abs()?
            .max()?
            .item()?;
        assert!(d < 1e-12, "example {k}: {d}");
    }
    let batch_loss = |m: &Mlp| -> Result<Tensor> {
        let l: Tensor = vmap(loss).in_dims([None, Some(0), Some(0)]).call(&(
            m.clone(),
            xs.clone(),
            ys.clone(),
        ))?;
        l.mean()
    };
    let g: Mlp = grad(batch_loss).call(&model)?;
    let d = g
        .fc2
        .weight
        .sub(&per_sample.fc2.weight.mean_dims(&[0], false)?)?
        .abs()?
        .max()?
        .item()?;
    println!("mean of the per-sample gradients vs the batch gradient: max difference {d:.1e}");
    assert!(d < 1e-12);

    // 4. Save the per-sample gradients, e.g. for an analysis in Python.
    let out = std::env::temp_dir().join("functorch_example_per_sample_grads.safetensors");
    safetensors::save(&per_sample, &out)?;
    println!("wrote {}", out.display());
    std::fs::remove_file(&path).ok();
    std::fs::remove_file(&out).ok();
    Ok(())
}
