//! `gradlab-web`: a web page and a JSON API over gradlab's trained models — draw a digit and see
//! the CNN's input, probabilities and first-layer feature maps; type a review and see what the
//! sentiment model kept of it; browse every crate's runs and their curves.
//!
//! - [`models`]: what the server serves — the backend, the two models (or why one is missing),
//!   the runs folder — loaded once at start ([`models::AppState`]).
//! - [`api`]: the routes, the JSON they answer, and every refusal's status code.
//! - [`runs`]: the runs of each crate, and which files of them may be served.
//! - [`server`]: binding, the access token, graceful shutdown; a server on its own thread for
//!   tests and the load generator.
//! - [`load`]: a bounded load generator (`gradlab-web load`): latency percentiles and requests/s.
//! - [`assets`]: the page (plain HTML, CSS and JavaScript, no build step), embedded in the binary.
//!
//! `main.rs` is a thin CLI over these.

pub mod api;
pub mod assets;
pub mod load;
pub mod models;
pub mod runs;
pub mod server;

/// The largest request body accepted, in bytes (4 MiB): a drawn digit's PNG is a few KiB, a
/// photo of a digit a few MiB at most, and the longest text the sentiment model accepts is
/// 1 MiB ([`sentiment::query::MAX_TEXT_BYTES`]). Larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// At most this many texts in one sentiment request (400 beyond).
pub const MAX_TEXTS: usize = 256;
