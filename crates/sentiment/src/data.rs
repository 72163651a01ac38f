//! The movie-review sentences (`datasets/movie-reviews/`), read and split.
//!
//! File format: UTF-8, one sentence per line, tab-separated `id`, `mean rating` (−4 … +4, the
//! mean of 20 human raters) and `text`. A rating above 0 is positive (label 1), below 0 negative
//! (label 0); sentences rated exactly 0 are left out. The split is stratified and seeded:
//! 80 % training, 10 % validation, 10 % test.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use gradlab::data::source::{Bundled, DataFile};
use gradlab::data::split::stratified_split;

/// One labelled sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// 1-based line in the file.
    pub line: usize,
    /// Mean human rating.
    pub rating: f64,
    /// The sentence.
    pub text: String,
    /// 1 positive, 0 negative.
    pub label: u8,
}

/// The file's sentences, plus how many neutral (rating 0) lines were left out.
#[derive(Debug, Clone)]
pub struct ReviewFile {
    /// Rated sentences in file order.
    pub reviews: Vec<Review>,
    /// Lines rated exactly 0.
    pub neutral: usize,
}

/// The movie-review file, built into the binary (1.4 MB), so an installed `sentiment` works
/// from any folder.
pub static MOVIE_REVIEWS: Bundled = Bundled {
    path: "datasets/movie-reviews/movie-reviews.tsv",
    bytes: include_bytes!("../../../datasets/movie-reviews/movie-reviews.tsv"),
};

/// Read and check the movie-review file at `path`; errors name the file and the line.
pub fn read_reviews(path: &Path) -> Result<ReviewFile> {
    read_reviews_from(&DataFile::Path(path.to_path_buf()))
}

/// Read and check a found movie-review file (on disk or bundled).
pub fn read_reviews_from(file: &DataFile) -> Result<ReviewFile> {
    let path = file.describe();
    let bytes = file.read()?.into_owned();
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{path}: not UTF-8 (byte {})", e.utf8_error().valid_up_to()))?;
    let mut reviews = Vec::new();
    let mut neutral = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() {
            continue;
        }
        let mut parts = raw.splitn(3, '\t');
        let (Some(_id), Some(rating), Some(sentence)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("{}:{line}: expected `id<TAB>rating<TAB>text`", path);
        };
        let rating: f64 = rating
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite())
            .with_context(|| format!("{}:{line}: rating {rating:?} is not a number", path))?;
        if rating == 0.0 {
            neutral += 1;
            continue;
        }
        reviews.push(Review {
            line,
            rating,
            text: sentence.trim().to_owned(),
            label: (rating > 0.0) as u8,
        });
    }
    ensure!(
        reviews.len() >= 10,
        "{}: only {} rated sentences; need at least 10",
        path,
        reviews.len()
    );
    Ok(ReviewFile { reviews, neutral })
}

/// Training, validation and test sentences.
#[derive(Debug, Clone)]
pub struct Splits {
    /// 80 %.
    pub train: Vec<Review>,
    /// 10 %: picks the epoch to keep, never the test figure.
    pub valid: Vec<Review>,
    /// 10 %: reported once, at the end.
    pub test: Vec<Review>,
    /// One line for logs and reports.
    pub description: String,
}

/// Seeded stratified 80/10/10 split; `limit > 0` keeps only that many sentences first (a
/// stratified sample, for quick runs and tests).
pub fn split(file: &ReviewFile, seed: u64, limit: usize) -> Result<Splits> {
    let mut all = file.reviews.clone();
    if limit > 0 && limit < all.len() {
        let labels: Vec<u8> = all.iter().map(|r| r.label).collect();
        let s = stratified_split(&labels, limit, seed ^ 0x5eed)?;
        let mut keep = s.test;
        keep.sort_unstable();
        all = keep.into_iter().map(|i| all[i].clone()).collect();
    }
    let n = all.len();
    let tenth = (n / 10).max(1);
    let labels: Vec<u8> = all.iter().map(|r| r.label).collect();
    let outer = stratified_split(&labels, tenth, seed)?;
    let rest_labels: Vec<u8> = outer.train.iter().map(|&i| labels[i]).collect();
    let inner = stratified_split(&rest_labels, tenth, seed.wrapping_add(1))?;
    let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
    let test = pick(&outer.test);
    let rest = pick(&outer.train);
    let valid = inner.test.iter().map(|&i| rest[i].clone()).collect::<Vec<_>>();
    let train = inner.train.iter().map(|&i| rest[i].clone()).collect::<Vec<_>>();
    let pos = |v: &[Review]| v.iter().filter(|r| r.label == 1).count();
    let description = format!(
        "movie reviews: {} train ({} positive), {} validation, {} test ({} positive); {} neutral left out; seed {seed}",
        train.len(),
        pos(&train),
        valid.len(),
        test.len(),
        pos(&test),
        file.neutral
    );
    Ok(Splits {
        train,
        valid,
        test,
        description,
    })
}

/// Load the configured file and split it.
pub fn load(cfg: &crate::config::SentimentConfig) -> Result<Splits> {
    let found = gradlab::data::source::find(&cfg.data_file, Some(&MOVIE_REVIEWS));
    let file = read_reviews_from(&found)?;
    split(&file, cfg.seed, cfg.limit)
}

/// The seed's five training sentences and labels (1 positive), exactly as the seed example
/// has them.
pub const SEED_SENTENCES: [(&str, u8); 5] = [
    ("I love this movie!", 1),
    ("This film is terrible.", 0),
    ("The acting was superb.", 1),
    ("I wouldn't recommend it.", 0),
    ("A must-watch for everyone!", 1),
];

/// The sentence the seed asks the trained model about.
pub const SEED_QUERY: &str = "This movie is amazing!";
