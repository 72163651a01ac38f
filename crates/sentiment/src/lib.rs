//! `sentiment`: the seed's embedding → average → dense classifier with a Keras-compatible
//! tokenizer, and a stronger NB-weighted n-gram model, on real movie-review sentences.
//!
//! - [`tokenizer`]: Keras `Tokenizer` + `pad_sequences` semantics.
//! - [`ngrams`]: NB log-count-ratio features (NBSVM).
//! - [`features`]: text → model input, saved with the model.
//! - [`data`]: the movie-review file and its 80/10/10 split; the seed's five sentences.
//! - [`model`]: the two classifiers.
//! - [`training`]: encoder fitting and the training loop; the seed's own run (`sentiment seed`).
//! - [`inference`]: saved models, metrics, prediction.
//! - [`explain`]: what a prediction rests on — each word's or n-gram's fate and contribution.
//! - [`query`]: the defined behaviour for awkward user text; `sentiment predict`'s two modes.
//! - [`config`]: the run configuration.

pub mod config;
pub mod data;
pub mod explain;
pub mod features;
pub mod inference;
pub mod model;
pub mod ngrams;
pub mod query;
pub mod tokenizer;
pub mod training;
