//! Data plumbing shared by the model crates: IDX files, seeded stratified splits and checked
//! downloads. Model-specific datasets (MNIST items, batchers) live in their own crates and
//! implement burn's `Dataset` trait on top of these.

pub mod digits_csv;
pub mod download;
pub mod idx;
pub mod source;
pub mod split;
