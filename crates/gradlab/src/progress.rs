//! Progress display: a live bar with running figures on a terminal, nothing when output is
//! not a terminal (CI logs get the per-epoch summary lines instead).

use indicatif::ProgressStyle;

pub use indicatif::ProgressBar;

/// A progress bar over `len` steps with a prefix such as `epoch 1/5`; `visible = false` gives
/// a bar that draws nothing (library use, tests).
pub fn bar(len: u64, prefix: String, visible: bool) -> ProgressBar {
    let pb = if visible {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30.cyan/blue}] {pos}/{len} {elapsed_precise} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix);
    pb
}
