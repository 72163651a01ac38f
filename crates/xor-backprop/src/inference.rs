//! What a trained network answers on the four XOR inputs — its outputs, how many are on the
//! right side of 0.5, whether it solves XOR — and the tables `seed` and `train` print.

use crate::config::XorConfig;
use crate::data::{X, Y};
use crate::model::manual::{Mlp, single_layer_outputs};
use crate::training::{SeedRun, TrainRun};

/// XOR counts as solved when every output is below 0.1 where y = 0 and above 0.9 where y = 1.
pub fn solves_xor(out: &[f64; 4]) -> bool {
    out.iter()
        .zip(Y)
        .all(|(o, y)| if y == 0.0 { *o < 0.1 } else { *o > 0.9 })
}

/// A network's answers on the four inputs of [`X`].
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// ŷ for each row of [`X`].
    pub outputs: [f64; 4],
    /// Fraction of the four inputs on the right side of 0.5 (ŷ > 0.5 where y = 1, ŷ < 0.5
    /// where y = 0).
    pub accuracy: f64,
    /// [`solves_xor`].
    pub solved: bool,
}

impl Prediction {
    /// Score `outputs` against [`Y`].
    pub fn new(outputs: [f64; 4]) -> Self {
        let right = outputs
            .iter()
            .zip(Y)
            .filter(|&(o, y)| (*o > 0.5) == (y == 1.0) && *o != 0.5)
            .count();
        Prediction {
            outputs,
            accuracy: right as f64 / 4.0,
            solved: solves_xor(&outputs),
        }
    }

    /// The 3→4→1 network's answers, computed in `f64`.
    pub fn of_mlp(m: &Mlp) -> Self {
        Prediction::new(m.forward().out)
    }

    /// The seed's single layer's answers.
    pub fn of_single_layer(w: &[f64; 3]) -> Self {
        Prediction::new(single_layer_outputs(w))
    }

    /// `label`, then one line per input: `  x = (0, 1)  target 1  output 0.9859`.
    pub fn table(&self, label: &str) -> String {
        let mut s = format!("{label}\n");
        for (x, (o, y)) in X.iter().zip(self.outputs.iter().zip(Y)) {
            s.push_str(&format!("  x = ({}, {})  target {}  output {:.4}\n", x[0], x[1], y, o));
        }
        s
    }

    /// Whether XOR is solved, in words.
    pub fn verdict(&self) -> &'static str {
        if self.solved {
            "solved (< 0.1 where y = 0, > 0.9 where y = 1)"
        } else {
            "NOT solved yet: try more --iterations or another --seed"
        }
    }
}

/// What `seed` prints after training: the outputs, the weights and why they are what they are.
pub fn print_seed(cfg: &XorConfig, run: &SeedRun) {
    print!(
        "{}",
        run.prediction.table(&format!(
            "single layer ŷ = σ(X·w), the seed's update rule, {} iterations:",
            cfg.iterations
        ))
    );
    let w = run.weights;
    println!("weights: w1 = {:.4}, w2 = {:.4}, bias w3 = {:.4}", w[0], w[1], w[2]);
    println!(
        "\nAll four outputs go to 0.5: a single layer draws one straight line (w·x = 0) through the\n\
         input square, and no line puts (0,1) and (1,0) on one side and (0,0) and (1,1) on the other.\n\
         The best it can do for squared error is to ignore the inputs (w1, w2 → 0) and answer the\n\
         mean target, σ(w3) = 0.5. A hidden layer (`xor-backprop train`) bends the boundary."
    );
}

/// What `train` prints after training: both loss curves side by side (about ten rows), both
/// networks' outputs, how far their weights ended apart and whether each solves XOR.
pub fn print_train(cfg: &XorConfig, backend_name: &str, run: &TrainRun) {
    println!(
        "3→4→1 sigmoid network, loss ½Σ(ŷ−y)², gradient descent lr {}, seed {}",
        cfg.learning_rate, cfg.seed
    );
    println!("{:>10} {:>14} {:>14}", "iteration", "hand (f64)", "autodiff (f32)");
    let step = (cfg.iterations / 10).max(cfg.log_every);
    for ((it, h), (_, a)) in run.hand.curve.iter().zip(&run.autodiff.curve) {
        if it % step == 0 || *it == cfg.iterations {
            println!("{it:>10} {h:>14.6} {a:>14.6}");
        }
    }
    let (hand, auto) = (&run.hand, &run.autodiff);
    print!(
        "{}",
        hand.prediction
            .table(&format!("\nhand-derived backprop ({:.2} s):", hand.seconds))
    );
    print!(
        "{}",
        auto.prediction
            .table(&format!("autodiff on {backend_name} ({:.2} s):", auto.seconds))
    );
    println!(
        "largest weight difference after training, hand (f64) vs autodiff (f32): {:.2e}",
        run.weights_max_abs_difference()
    );
    for (name, p) in [("hand-derived", &hand.prediction), ("autodiff", &auto.prediction)] {
        println!("{name}: {}", p.verdict());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_counts_the_side_of_one_half() {
        assert_eq!(Prediction::new([0.1, 0.9, 0.6, 0.4]).accuracy, 1.0);
        assert_eq!(Prediction::new([0.6, 0.9, 0.4, 0.4]).accuracy, 0.5);
        // Exactly 0.5 is on neither side.
        assert_eq!(Prediction::new([0.5; 4]).accuracy, 0.0);
        let p = Prediction::new([0.05, 0.95, 0.95, 0.05]);
        assert!(p.solved && p.verdict().starts_with("solved"));
        assert!(!Prediction::new([0.1, 0.9, 0.6, 0.4]).solved);
    }

    #[test]
    fn the_table_has_one_line_per_input() {
        let t = Prediction::new([0.0055, 0.9859, 0.9897, 0.0147]).table("head");
        assert_eq!(
            t,
            "head\n  x = (0, 0)  target 0  output 0.0055\n  x = (0, 1)  target 1  output 0.9859\n  \
             x = (1, 0)  target 1  output 0.9897\n  x = (1, 1)  target 0  output 0.0147\n"
        );
    }
}
