//! Seeded, stratified train/test splits.
//!
//! Every class keeps its share in both parts (largest-remainder rounding, so the test part has
//! exactly the requested size), and the same seed always gives the same split.

use anyhow::{Result, ensure};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Indices of the two parts of a split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training indices (shuffled).
    pub train: Vec<usize>,
    /// Test indices (shuffled).
    pub test: Vec<usize>,
}

/// Split `labels` into `len - test_size` training and `test_size` test indices, stratified by
/// label and shuffled with `seed`.
pub fn stratified_split(labels: &[u8], test_size: usize, seed: u64) -> Result<Split> {
    let n = labels.len();
    ensure!(
        test_size > 0 && test_size < n,
        "test size {test_size} must be between 1 and {} for {n} items",
        n.saturating_sub(1)
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    // Quota per class: floor of the exact share, then the largest remainders get one more.
    let mut quotas: Vec<(usize, usize, usize)> = by_class
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(|(c, v)| {
            let exact = v.len() * test_size;
            (c, exact / n, exact % n)
        })
        .collect();
    let assigned: usize = quotas.iter().map(|q| q.1).sum();
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|&a, &b| quotas[b].2.cmp(&quotas[a].2).then(a.cmp(&b)));
    for &k in order.iter().take(test_size - assigned) {
        quotas[k].1 += 1;
    }
    let mut split = Split {
        train: Vec::with_capacity(n - test_size),
        test: Vec::with_capacity(test_size),
    };
    for (class, quota, _) in quotas {
        let members = &mut by_class[class];
        members.shuffle(&mut rng);
        split.test.extend_from_slice(&members[..quota]);
        split.train.extend_from_slice(&members[quota..]);
    }
    split.train.shuffle(&mut rng);
    split.test.shuffle(&mut rng);
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sizes_balanced_classes_and_reproducible() {
        let labels: Vec<u8> = (0..5000).map(|i| (i % 10) as u8).collect();
        let s = stratified_split(&labels, 1000, 7).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (4000, 1000));
        for c in 0..10u8 {
            assert_eq!(s.test.iter().filter(|&&i| labels[i] == c).count(), 100);
        }
        let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..5000).collect::<Vec<_>>());
        assert_eq!(s, stratified_split(&labels, 1000, 7).unwrap());
        assert_ne!(s, stratified_split(&labels, 1000, 8).unwrap());
    }

    #[test]
    fn uneven_classes_still_hit_the_exact_size() {
        let labels: Vec<u8> = (0..103)
            .map(|i| {
                if i < 70 {
                    0
                } else if i < 100 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let s = stratified_split(&labels, 10, 1).unwrap();
        assert_eq!(s.test.len(), 10);
        assert_eq!(s.test.iter().filter(|&&i| labels[i] == 0).count(), 7);
        assert!(stratified_split(&labels, 0, 1).is_err());
        assert!(stratified_split(&labels, 103, 1).is_err());
    }
}
