//! Shared by the CPU profiling examples (`profile`, `infer_profile`).

use std::time::Instant;

/// The median of `reps` timed calls of `f` (after one untimed call), in ms.
pub fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}
