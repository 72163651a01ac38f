//! The routes. Every answer under `/api/` is JSON; every refusal is JSON too,
//! `{"error": "…", "status": N}`, with the status code that names the fault:
//!
//! | fault                                                         | status |
//! |---------------------------------------------------------------|--------|
//! | a `Content-Type` the route does not take (or none)            | 415    |
//! | a body over [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES)         | 413    |
//! | malformed JSON, wrong field, wrong number of pixels, a pixel outside 0..1, an undecodable image, an empty text, too many texts | 400 |
//! | no `Authorization: Bearer <token>` when the server has a token | 401   |
//! | the model is not loaded (the answer says how to train it)    | 503    |
//! | an unknown path, or a `/runs/` path that is not a plot of a run | 404  |
//! | a known path with the wrong method                            | 405    |
//!
//! Decoding, text checks and inference run on the blocking pool, at most
//! [`AppState::inference_slots`] at once (the slot is held until the work ends, even when the
//! client has gone); the models are shared read-only (`Arc`), so no lock is held across a
//! request. Images over [`MAX_IMAGE_PIXELS`] are refused from their header, before decoding.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::models::AppState;

/// A refusal: its status code and what was wrong, sent as `{"error", "status"}`.
#[derive(Debug)]
pub struct ApiError {
    /// The status code.
    pub status: StatusCode,
    /// What was wrong, for the user.
    pub message: String,
}

impl ApiError {
    /// A refusal with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "status": self.status.as_u16() });
        (self.status, Json(body)).into_response()
    }
}

type Answer = Result<Json<Value>, ApiError>;

/// `GET /api/status`: the version, the backend and adapter, each model or why it is missing.
pub async fn status(State(s): State<Arc<AppState>>) -> Json<Value> {
    let slot = |describe: Result<&str, &str>| match describe {
        Ok(d) => json!({ "ready": true, "model": d }),
        Err(why) => json!({ "ready": false, "problem": why }),
    };
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "backend": s.backend.describe(),
        "adapter": s.backend.adapter,
        "software": s.backend.adapter.is_software(),
        "mnist": slot(s.mnist.as_ref().map(|m| m.describe.as_str()).map_err(String::as_str)),
        "sentiment": slot(s.sentiment.as_ref().map(|m| m.describe.as_str()).map_err(String::as_str)),
        // Requests being answered besides this one.
        "requests_in_flight": s.in_flight.load(std::sync::atomic::Ordering::SeqCst).saturating_sub(1),
        "max_body_bytes": crate::MAX_BODY_BYTES,
        "max_texts": crate::MAX_TEXTS,
    }))
}

/// The media type of a request, lower case, without parameters (`application/json`).
fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// The body, or 413 (too large) / 400 (unreadable).
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over the limit of {} bytes", crate::MAX_BODY_BYTES),
            )
        } else {
            ApiError::new(r.status(), format!("cannot read the request body: {}", r.body_text()))
        }
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad(format!("malformed JSON ({e}); expected {shape}")))
}

/// Run `f` — decoding, checks and inference, everything that costs CPU or memory in proportion
/// to the request — on the blocking pool once an inference slot is free. The slot goes into the
/// task, so a client that disconnects does not free it before the work is done.
async fn infer<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = s
        .inference_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    });
    match task.await {
        Ok(r) => r,
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("inference failed: {e}"),
        )),
    }
}

/// An internal failure (the model, not the request): 500.
fn internal(e: anyhow::Error) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
}

/// The most pixels an image sent to the server may have (2,000 × 2,000): a digit ends up
/// 20 pixels tall, and decoding costs ~20 bytes per pixel. Checked from the image's header,
/// before decoding.
pub const MAX_IMAGE_PIXELS: u64 = 4_000_000;

/// Refuse an image whose header says it is over [`MAX_IMAGE_PIXELS`]; an unreadable header is
/// left to the decoder, which says what is wrong.
fn check_image_size(bytes: &[u8]) -> Result<(), ApiError> {
    let dims = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok());
    match dims {
        Some((w, h)) if w as u64 * h as u64 > MAX_IMAGE_PIXELS => Err(ApiError::bad(format!(
            "the image is {w}×{h} = {} pixels; this server takes at most {MAX_IMAGE_PIXELS} (scale it down: the digit ends up 20 pixels tall)",
            w as u64 * h as u64
        ))),
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PixelsBody {
    pixels: Vec<f64>,
}

/// `POST /api/digit`: a digit as an image (`image/png`, `image/jpeg`, `image/bmp`, PNM; any
/// size: brought to MNIST's form exactly as `mnist-cnn predict --image` does) or as
/// `application/json` `{"pixels": [784 numbers in 0..1]}` (the model's input itself, row by row,
/// light digit on black). Answers the digit, the ten probabilities, the 784 input pixels the
/// model saw (0–255), what preprocessing did, its warnings, and the 32 first-layer feature maps.
pub async fn digit(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Answer {
    let kind = media_type(&headers);
    let is_image = kind.as_deref().is_some_and(|k| {
        matches!(
            k,
            "image/png" | "image/jpeg" | "image/bmp" | "image/x-portable-anymap" | "image/x-portable-graymap"
        )
    });
    if !is_image && kind.as_deref() != Some("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {} not accepted: send image/png, image/jpeg, image/bmp or a PNM image, \
                 or application/json {{\"pixels\": [784 numbers in 0..1]}}",
                kind.as_deref().map_or("(none)".to_string(), |k| format!("`{k}`"))
            ),
        ));
    }
    let bytes = body_of(body)?;
    // JSON: the model input itself, checked here; an image is decoded in the bounded slot below.
    let given = if is_image {
        None
    } else {
        let p: PixelsBody = parse_json(&bytes, r#"{"pixels": [784 numbers in 0..1]}"#)?;
        if p.pixels.len() != mnist_cnn::data::PIXELS {
            return Err(ApiError::bad(format!(
                "`pixels` has {} values; expected {} (28×28, row by row)",
                p.pixels.len(),
                mnist_cnn::data::PIXELS
            )));
        }
        if let Some((i, v)) = p.pixels.iter().enumerate().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
            return Err(ApiError::bad(format!("pixels[{i}] = {v}: every value must be in 0..1")));
        }
        Some(p.pixels.iter().map(|&v| (v * 255.0).round() as u8).collect())
    };
    let served = s
        .mnist
        .clone()
        .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("no digit model: {why}")))?;
    let (insight, pixels, notes, warnings) = infer(&s, move || {
        let (pixels, notes, warnings) = match given {
            Some(pixels) => (pixels, Vec::new(), Vec::new()),
            None => {
                check_image_size(&bytes)?;
                let img = mnist_cnn::preprocess::decode_digit(&bytes, mnist_cnn::preprocess::Fit::Auto)
                    .map_err(|e| ApiError::bad(format!("cannot use the image: {e:#}")))?;
                (img.pixels, img.notes, img.warnings)
            }
        };
        let insight = served.model.predict_with_maps(&pixels).map_err(internal)?;
        Ok((insight, pixels, notes, warnings))
    })
    .await?;
    let probs = insight.probabilities;
    let best = (0..probs.len())
        .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
        .unwrap_or(0);
    Ok(Json(json!({
        "digit": best,
        "probabilities": probs,
        "input": pixels,
        "notes": notes,
        "warnings": warnings,
        "feature_maps": feature_maps(&insight.feature_maps),
    })))
}

/// The 32 feature maps for the page: each scaled to 0–255 by its own largest value, as one
/// base64 string of `count × side × side` bytes, with each map's largest value.
fn feature_maps(maps: &[f32]) -> Value {
    use mnist_cnn::inference::{FEATURE_MAPS, FEATURE_SIDE};
    let per = FEATURE_SIDE * FEATURE_SIDE;
    let mut bytes = Vec::with_capacity(maps.len());
    let mut max = Vec::with_capacity(FEATURE_MAPS);
    for m in maps.chunks(per) {
        let top = m.iter().copied().fold(0f32, f32::max);
        max.push(top);
        bytes.extend(
            m.iter()
                .map(|&v| if top > 0.0 { (v / top * 255.0).round() as u8 } else { 0 }),
        );
    }
    json!({ "count": FEATURE_MAPS, "side": FEATURE_SIDE, "max": max, "data": base64(&bytes) })
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextsBody {
    #[serde(default)]
    texts: Option<Vec<String>>,
    #[serde(default)]
    text: Option<String>,
}

/// `POST /api/sentiment`, `application/json` `{"texts": ["…", …]}` (or `{"text": "…"}`): for each
/// text the probability it is positive, its label, its words or n-grams with what the model did
/// with each (and, for the NB model, each one's contribution to the logit), and the warnings
/// `sentiment predict` prints. A text the CLI refuses (empty, no words, too long) is 400 naming it.
pub async fn sentiment(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    if media_type(&headers).as_deref() != Some("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            r#"send application/json: {"texts": ["…"]} or {"text": "…"}"#,
        ));
    }
    let bytes = body_of(body)?;
    let shape = r#"{"texts": ["…"]} or {"text": "…"}"#;
    let b: TextsBody = parse_json(&bytes, shape)?;
    let texts = match (b.texts, b.text) {
        (Some(t), None) => t,
        (None, Some(t)) => vec![t],
        _ => return Err(ApiError::bad(format!("give either `texts` or `text`: {shape}"))),
    };
    if texts.is_empty() {
        return Err(ApiError::bad("`texts` is empty: give at least one text"));
    }
    if texts.len() > crate::MAX_TEXTS {
        return Err(ApiError::bad(format!(
            "{} texts; at most {} per request",
            texts.len(),
            crate::MAX_TEXTS
        )));
    }
    let served = s
        .sentiment
        .clone()
        .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("no sentiment model: {why}")))?;
    let device = s.backend.device.clone();
    let model = served.clone();
    let results = infer(&s, move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let checked = sentiment::explain::check_all(&model.model, &refs).map_err(|(i, why)| {
            let name = if texts.len() == 1 {
                "the text".to_string()
            } else {
                format!("texts[{i}]")
            };
            ApiError::bad(format!("{name}: {why}"))
        })?;
        sentiment::explain::explain(&model.model, &refs, &checked, &device).map_err(internal)
    })
    .await?;
    Ok(Json(json!({ "model": served.model.spec.kind, "results": results })))
}

/// `GET /api/runs`: every crate's runs, newest first, with headline figures and plot URLs.
pub async fn runs(State(s): State<Arc<AppState>>) -> Json<Value> {
    let dir = s.runs_dir.clone();
    let listed = tokio::task::spawn_blocking(move || crate::runs::list(&dir))
        .await
        .unwrap_or_default();
    Json(json!({ "runs_dir": s.runs_dir.display().to_string(), "crates": listed }))
}

/// `GET /runs/{crate}/{run}/{file}`: a run's SVG plot ([`crate::runs::plot_file`]), else 404.
pub async fn plot(
    State(s): State<Arc<AppState>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no such plot");
    // A path that does not even decode (invalid UTF-8, …) names no plot either.
    let Path((krate, run, file)) = path.map_err(|_| not_found())?;
    let path = crate::runs::plot_file(&s.runs_dir, &krate, &run, &file).ok_or_else(not_found)?;
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|_| not_found())?
        .map_err(|_| not_found())?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    // A plot is a picture: no scripts, nothing fetched.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(r)
}

/// Any unknown path: 404.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such path (the API is under /api/: see /api/status)",
    )
}

/// A known path with another method: 405.
pub async fn wrong_method() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this path")
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648_examples() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(raw.as_bytes()), enc);
        }
        assert_eq!(super::base64(&[255, 254, 253]), "//79");
    }
}
