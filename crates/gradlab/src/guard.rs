//! Stopping a training run whose loss diverged, instead of letting it end "successfully" with
//! a useless model.
//!
//! A loss is compared with the *chance-level loss*: what a model that learned nothing scores by
//! predicting the uniform distribution (ln K for K classes, ln 2 for a binary classifier, ln V
//! per character for a language model over V characters). A freshly initialised model sits at
//! about that level and training only lowers it; a training loss that is not a number, is
//! infinite, or exceeds [`EXPLODE_FACTOR`] × chance has diverged.

use anyhow::{Result, bail};

/// How many times the chance-level loss a training loss may reach before the run counts as
/// diverged. A model that predicts the uniform distribution scores 1×; a model whose loss is
/// three times that assigns the right answer, on average, a probability below 1/K³.
pub const EXPLODE_FACTOR: f64 = 3.0;

/// `Ok` while `loss` (the mean training loss of an epoch, a step, …, named by `when`) is
/// finite and at most [`EXPLODE_FACTOR`] × `chance`; otherwise an error that says the run
/// diverged and what to change.
pub fn check_loss(when: &str, loss: f64, chance: f64, learning_rate: f64) -> Result<()> {
    if !loss.is_finite() {
        bail!(
            "training diverged at {when}: the training loss is {loss}; the run is stopped and no final \
             model is saved — lower `learning_rate` (now {learning_rate})"
        );
    }
    if loss > EXPLODE_FACTOR * chance {
        bail!(
            "training diverged at {when}: the training loss {loss:.4} is over {EXPLODE_FACTOR}× the loss \
             of a model that learned nothing ({chance:.4}); the run is stopped and no final model is saved \
             — lower `learning_rate` (now {learning_rate})"
        );
    }
    Ok(())
}

/// A warning when a finished run's `loss` is no better than chance (within 2 % of `chance`):
/// not a divergence — nothing blew up — but a model that learned nothing, most often from a
/// learning rate high enough to kill every ReLU.
pub fn chance_warning(loss: f64, chance: f64, learning_rate: f64) -> Option<String> {
    (loss >= 0.98 * chance).then(|| {
        format!(
            "the model is no better than chance (loss {loss:.4}, chance level {chance:.4}); it learned nothing — \
             a lower `learning_rate` (now {learning_rate}) or more data or epochs may help"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_at_chance_level_is_flagged() {
        let chance = 10f64.ln();
        assert!(
            chance_warning(2.3062, chance, 0.03)
                .unwrap()
                .contains("no better than chance")
        );
        assert!(chance_warning(0.15, chance, 1e-3).is_none());
    }

    #[test]
    fn non_finite_or_exploding_losses_are_divergence() {
        let chance = 10f64.ln();
        assert!(check_loss("epoch 1", 0.3, chance, 1e-3).is_ok());
        assert!(check_loss("epoch 1", 2.9 * chance, chance, 1e-3).is_ok());
        for bad in [f64::NAN, f64::INFINITY, 3.1 * chance, 1e9] {
            let e = check_loss("epoch 2", bad, chance, 10.0).unwrap_err().to_string();
            assert!(
                e.contains("training diverged at epoch 2") && e.contains("`learning_rate` (now 10)"),
                "{e}"
            );
        }
    }
}
