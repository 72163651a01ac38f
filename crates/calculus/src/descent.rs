//! Gradient descent on f(x) = x² + 5x + 6, with the gradient from burn's autodiff at every
//! step: x ← x − lr · f′(x). The minimum is x* = −2.5, f(x*) = −0.25.

use anyhow::{Result, bail};
use burn::tensor::Device;

use crate::common::{tensor, values};
use crate::derivative::f_tensor;

/// Every iterate (x, f(x)), the start included.
pub type Trajectory = Vec<(f64, f64)>;

/// Run `steps` steps from `x0`. A learning rate that makes the iterates blow up is reported as
/// an error naming the step, never as NaN: on this f the error is multiplied by |1 − 2·lr|
/// each step, so any lr > 1 diverges.
pub fn run(device: &Device, x0: f64, lr: f64, steps: usize) -> Result<Trajectory> {
    if !(lr.is_finite() && lr > 0.0) {
        bail!("learning rate {lr} must be a positive number");
    }
    let device = device.clone().autodiff();
    let mut x = x0;
    let mut path = Vec::with_capacity(steps + 1);
    for step in 0..=steps {
        let xt = tensor(&[x], &device).require_grad();
        let fx = f_tensor(xt.clone());
        let grads = fx.clone().sum().backward();
        let g = values(xt.grad(&grads).expect("x takes part in f"))[0];
        let fx = values(fx)[0];
        path.push((x, fx));
        if step == steps {
            break;
        }
        x -= lr * g;
        if !x.is_finite() || x.abs() > 1e6 {
            bail!(
                "gradient descent diverged: with learning rate {lr} |x| passed 1e6 at step {} \
                 (f″ = 2, so each step multiplies the distance to the minimum by |1 − 2·lr| = {}; \
                 use lr < 1)",
                step + 1,
                (1.0 - 2.0 * lr).abs()
            );
        }
    }
    Ok(path)
}
