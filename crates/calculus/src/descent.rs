//! Gradient descent on f(x) = x² + 5x + 6, with the gradient from burn's autodiff at every
//! step: x ← x − lr · f′(x). The minimum is x* = −2.5, f(x*) = −0.25.

use anyhow::{Result, bail};
use burn::tensor::Device;
use gradlab::report::{Line, plot_lines};

use crate::common::{linspace, tensor, values};
use crate::derivative::{f, f_tensor};
use crate::report::Context;

/// Every iterate (x, f(x)), the start included.
pub type Trajectory = Vec<(f64, f64)>;

// ANCHOR: run
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
// ANCHOR_END: run

/// Print the first iterates and every 20th, and where the descent ended; draw
/// `gradient-descent.svg` (f and the iterates).
pub fn report(ctx: &Context, start: f64, lr: f64, steps: usize) -> Result<()> {
    let path = run(ctx.device, start, lr, steps)?;
    for (k, (x, fx)) in path.iter().enumerate() {
        if k < 5 || k % 20 == 0 || k == steps {
            println!("  step {k:>4}: x = {x:>9.5}  f(x) = {fx:>9.5}");
        }
    }
    let (x, fx) = path[path.len() - 1];
    println!("after {steps} steps: x ≈ {x:.2}, f(x) ≈ {fx:.2} (minimum: x = −2.5, f = −0.25)");
    ctx.plot("gradient-descent.svg", |p| {
        let curve = linspace(-6.0, 1.0, 141).into_iter().map(|x| (x, f(x))).collect();
        plot_lines(
            p,
            &format!("gradient descent, lr {lr}"),
            "x",
            "f(x)",
            &[Line::new("f(x) = x² + 5x + 6", curve), Line::markers("iterates", path)],
            false,
        )
    })
}
