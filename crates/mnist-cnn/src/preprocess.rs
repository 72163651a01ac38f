//! A digit image from disk brought to MNIST's form: 28×28 8-bit grey, a light digit on black,
//! size-normalised and centred the way MNIST itself was made.
//!
//! Decoding is the `image` crate's (PNG, JPEG, BMP, PNM — PGM/PPM/PBM/PAM — at 8 or 16 bits,
//! with or without alpha). Then:
//!
//! 1. **Grey, alpha composited.** A transparent background is composited onto the shade that
//!    contrasts with the opaque pixels (a black digit on a transparent page becomes black on
//!    white), never onto nothing.
//! 2. **Polarity.** MNIST digits are light on dark; when the image's border is light it is
//!    inverted.
//! 3. **Fit** ([`Fit`]): `mnist` (the default for any image that is not already 28×28) follows
//!    MNIST's recipe — the background is thresholded (Otsu's threshold), the digit cropped to
//!    its bounding box, scaled to fit 20×20 keeping its aspect ratio, and placed in 28×28 so
//!    that its centre of mass is the centre; `resize` squeezes the whole image to 28×28
//!    (what gradlab did before, kept for comparison); a 28×28 image is used as it is.
//!
//! Every step that changed the image is stated in [`DigitImage::notes`]; an image without a
//! clear light/dark separation gets a warning. Images over [`MAX_PIXELS`] are refused before
//! they are decoded.

use std::path::Path;

use anyhow::{Context, Result, bail};
use image::imageops::FilterType;
use image::{DynamicImage, ImageBuffer, ImageReader, Luma};

use crate::data::PIXELS;
use crate::model::IMAGE_SIDE;

/// The largest image accepted: 40 megapixels (a 12-bit-per-side photo is under 25; decoding
/// more would only cost memory: the digit ends up 20 pixels tall).
pub const MAX_PIXELS: u64 = 40_000_000;

/// Side of the box MNIST scales a digit into.
const BOX: usize = 20;

/// How an image reaches 28×28.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Fit {
    /// 28×28 images as they are; any other size as `mnist`.
    #[default]
    Auto,
    /// Threshold, crop to the digit, scale into 20×20, centre by mass in 28×28 (MNIST's recipe).
    Mnist,
    /// Resize the whole image to 28×28 (bilinear), whatever it holds.
    Resize,
}

/// A digit image read from disk and brought to MNIST's form.
#[derive(Debug, Clone)]
pub struct DigitImage {
    /// 784 pixels, light digit on black.
    pub pixels: Vec<u8>,
    /// What was done to the image on the way (composited, inverted, cropped, scaled, …).
    pub notes: Vec<String>,
    /// Why the result may not be a digit (no light/dark separation, …).
    pub warnings: Vec<String>,
}

/// Read `path` (PNG, JPEG, BMP or PNM) and bring it to MNIST's form with `fit`. Errors name the
/// file and say what is wrong with it.
pub fn read_digit_image(path: &Path, fit: Fit) -> Result<DigitImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read image {}", path.display()))?;
    decode_digit(&bytes, fit).with_context(|| format!("image {}", path.display()))
}

/// [`read_digit_image`] on the file's bytes.
pub fn decode_digit(bytes: &[u8], fit: Fit) -> Result<DigitImage> {
    let (grey, w, h, mut notes) = decode_grey(bytes)?;
    let mut g = Grey { w, h, px: grey };
    if g.border_mean() > 0.5 {
        notes.push("inverted (dark digit on a light background)".into());
        for p in &mut g.px {
            *p = 1.0 - *p;
        }
    }
    let mut warnings = Vec::new();
    let t = otsu(&g.px);
    let (lo, hi) = levels(&g.px, t);
    if hi - lo < 0.25 {
        warnings.push(format!(
            "the image has no clear light/dark separation (background {:.0} %, strokes {:.0} % grey): it may not be a digit",
            100.0 * lo,
            100.0 * hi
        ));
    }
    let ink = g.px.iter().filter(|&&p| p >= t).count() as f64 / g.px.len() as f64;
    if hi - lo >= 0.25 && ink > 0.5 {
        warnings.push(format!(
            "{:.0} % of the image is foreground: a digit covers far less; it may not be a digit",
            100.0 * ink
        ));
    }
    let fit = match fit {
        Fit::Auto if (w, h) == (IMAGE_SIDE, IMAGE_SIDE) => None,
        Fit::Auto | Fit::Mnist => Some(Fit::Mnist),
        Fit::Resize => Some(Fit::Resize),
    };
    let out = match fit {
        None => g.px,
        Some(Fit::Resize) => {
            if (w, h) != (IMAGE_SIDE, IMAGE_SIDE) {
                notes.push(format!("resized from {w}×{h} to 28×28 (the whole image, bilinear)"));
            }
            resize(&g, IMAGE_SIDE, IMAGE_SIDE, FilterType::Triangle)
        }
        Some(_) => normalise_like_mnist(&g, t, lo, hi, &mut notes),
    };
    let pixels = out.iter().map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    Ok(DigitImage {
        pixels,
        notes,
        warnings,
    })
}

/// Decode to grey values in 0..=1 (alpha composited), refusing unknown formats, empty files and
/// images over [`MAX_PIXELS`] before decoding their pixels.
fn decode_grey(bytes: &[u8]) -> Result<(Vec<f32>, usize, usize, Vec<String>)> {
    if bytes.is_empty() {
        bail!("the file is empty");
    }
    let reader = || {
        ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .context("reading the header")
    };
    let Some(format) = reader()?.format() else {
        bail!("not an image gradlab can read (PNG, JPEG, BMP, PGM/PPM/PBM/PAM): unrecognised header");
    };
    let name = format!("{format:?}").to_uppercase();
    let (w, h) = reader()?
        .into_dimensions()
        .with_context(|| format!("not a readable {name} image"))?;
    let n = u64::from(w) * u64::from(h);
    if n > MAX_PIXELS {
        bail!("{w}×{h} = {n} pixels is over the limit of {MAX_PIXELS} pixels");
    }
    if n == 0 {
        bail!("the image is {w}×{h}: it has no pixels");
    }
    let mut r = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_PIXELS * 16);
    r.limits(limits);
    let img = r.decode().with_context(|| format!("not a readable {name} image"))?;
    let mut notes = Vec::new();
    let grey = if img.color().has_alpha() {
        composite(&img, &mut notes)
    } else {
        img.to_luma32f().into_raw()
    };
    Ok((grey, w as usize, h as usize, notes))
}

/// Grey values of an image with alpha, composited onto the shade that contrasts with its
/// opaque pixels.
fn composite(img: &DynamicImage, notes: &mut Vec<String>) -> Vec<f32> {
    let la = img.to_luma_alpha32f().into_raw();
    let (mut ink, mut weight) = (0.0f64, 0.0f64);
    let mut transparent = false;
    for px in la.chunks_exact(2) {
        ink += f64::from(px[0] * px[1]);
        weight += f64::from(px[1]);
        transparent |= px[1] < 1.0;
    }
    let opaque_mean = if weight > 0.0 { ink / weight } else { 0.0 };
    let background = if opaque_mean < 0.5 { 1.0f32 } else { 0.0 };
    if transparent {
        notes.push(format!(
            "transparent pixels composited onto {} (the opaque pixels are {})",
            if background > 0.5 { "white" } else { "black" },
            if background > 0.5 { "dark" } else { "light" }
        ));
    }
    la.chunks_exact(2)
        .map(|px| px[0] * px[1] + background * (1.0 - px[1]))
        .collect()
}

/// A grey image, values 0..=1, row-major.
struct Grey {
    w: usize,
    h: usize,
    px: Vec<f32>,
}

impl Grey {
    fn at(&self, x: usize, y: usize) -> f32 {
        self.px[y * self.w + x]
    }

    /// Mean of the outermost rows and columns: the background's shade.
    fn border_mean(&self) -> f32 {
        let (w, h) = (self.w, self.h);
        let mut sum = 0.0f64;
        let mut n = 0usize;
        for y in 0..h {
            for x in 0..w {
                if y == 0 || x == 0 || y + 1 == h || x + 1 == w {
                    sum += f64::from(self.at(x, y));
                    n += 1;
                }
            }
        }
        (sum / n.max(1) as f64) as f32
    }
}

/// Otsu's threshold (the split of a 256-bin histogram that maximises the between-class
/// variance); 0.5 when every pixel has one value.
fn otsu(px: &[f32]) -> f32 {
    let mut hist = [0u64; 256];
    for &p in px {
        hist[(p.clamp(0.0, 1.0) * 255.0).round() as usize] += 1;
    }
    let total = px.len() as f64;
    let sum_all: f64 = hist.iter().enumerate().map(|(i, &c)| i as f64 * c as f64).sum();
    let (mut w0, mut sum0) = (0.0f64, 0.0f64);
    let (mut best, mut best_var) = (None, 0.0f64);
    for (i, &c) in hist.iter().enumerate().take(255) {
        w0 += c as f64;
        sum0 += i as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let var = w0 * w1 * (m0 - m1) * (m0 - m1);
        if var > best_var {
            best_var = var;
            best = Some(i);
        }
    }
    best.map_or(0.5, |i| (i as f32 + 0.5) / 255.0)
}

/// Background level (mean below `t`) and stroke level (the brightest pixel).
fn levels(px: &[f32], t: f32) -> (f32, f32) {
    let (mut sum, mut n) = (0.0f64, 0usize);
    let mut hi = 0.0f32;
    for &p in px {
        if p < t {
            sum += f64::from(p);
            n += 1;
        }
        hi = hi.max(p);
    }
    let lo = if n > 0 { (sum / n as f64) as f32 } else { 0.0 };
    (lo, hi)
}

/// `g` resized to `nw × nh` with `filter` (the filter's support widens when shrinking, so a
/// large image is averaged, not sampled).
fn resize(g: &Grey, nw: usize, nh: usize, filter: FilterType) -> Vec<f32> {
    let buf: ImageBuffer<Luma<f32>, Vec<f32>> =
        ImageBuffer::from_raw(g.w as u32, g.h as u32, g.px.clone()).expect("buffer sized from the image");
    image::imageops::resize(&buf, nw as u32, nh as u32, filter).into_raw()
}

/// MNIST's recipe: background out, crop to the digit, fit 20×20 keeping the aspect ratio,
/// centre of mass at the centre of 28×28.
fn normalise_like_mnist(g: &Grey, t: f32, lo: f32, hi: f32, notes: &mut Vec<String>) -> Vec<f32> {
    // Stretch background → 0, brightest → 1; below the threshold is background.
    let span = (hi - lo).max(1e-6);
    let clean: Vec<f32> =
        g.px.iter()
            .map(|&p| if p < t { 0.0 } else { ((p - lo) / span).clamp(0.0, 1.0) })
            .collect();
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..g.h {
        for x in 0..g.w {
            if clean[y * g.w + x] > 0.0 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    if x0 == usize::MAX {
        notes.push("nothing above the background: a blank 28×28 image".into());
        return vec![0.0; PIXELS];
    }
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    let crop = Grey {
        w: cw,
        h: ch,
        px: (y0..=y1)
            .flat_map(|y| clean[y * g.w + x0..=y * g.w + x1].iter().copied())
            .collect(),
    };
    let scale = BOX as f64 / cw.max(ch) as f64;
    let sw = ((cw as f64 * scale).round() as usize).clamp(1, BOX);
    let sh = ((ch as f64 * scale).round() as usize).clamp(1, BOX);
    let small = resize(&crop, sw, sh, FilterType::Triangle);
    // Centre of mass of the scaled digit, then an integer shift that puts it at 13.5, 13.5
    // (the centre of 28 pixels), as MNIST did.
    let (mut mx, mut my, mut m) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..sh {
        for x in 0..sw {
            let v = f64::from(small[y * sw + x]);
            mx += v * x as f64;
            my += v * y as f64;
            m += v;
        }
    }
    let (cx, cy) = if m > 0.0 {
        (mx / m, my / m)
    } else {
        ((sw - 1) as f64 / 2.0, (sh - 1) as f64 / 2.0)
    };
    let centre = (IMAGE_SIDE - 1) as f64 / 2.0;
    let (ox, oy) = ((centre - cx).round() as i64, (centre - cy).round() as i64);
    let mut out = vec![0.0f32; PIXELS];
    let mut clipped = false;
    for y in 0..sh {
        for x in 0..sw {
            let (tx, ty) = (x as i64 + ox, y as i64 + oy);
            let v = small[y * sw + x];
            if (0..IMAGE_SIDE as i64).contains(&tx) && (0..IMAGE_SIDE as i64).contains(&ty) {
                out[ty as usize * IMAGE_SIDE + tx as usize] = v;
            } else if v > 0.0 {
                clipped = true;
            }
        }
    }
    notes.push(format!(
        "normalised like MNIST: background below {:.0} % grey removed, cropped to the digit's {cw}×{ch} box at ({x0}, {y0}) of {}×{}, scaled to {sw}×{sh} (fits 20×20), centred by its centre of mass in 28×28{}",
        100.0 * t,
        g.w,
        g.h,
        if clipped { " (its far edge clipped)" } else { "" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A white 6×10 bar on black at (x, y) in a `w × h` canvas.
    fn bar(w: u32, h: u32, x: u32, y: u32) -> DynamicImage {
        DynamicImage::ImageLuma8(ImageBuffer::from_fn(w, h, |px, py| {
            Luma([if (x..x + 6).contains(&px) && (y..y + 10).contains(&py) {
                255
            } else {
                0
            }])
        }))
    }

    #[test]
    fn a_digit_anywhere_is_cropped_scaled_and_centred() {
        for (x, y) in [(2, 3), (80, 70), (40, 40)] {
            let png = encode(bar(100, 90, x, y), image::ImageFormat::Png);
            let d = decode_digit(&png, Fit::Auto).unwrap();
            // 6×10 → 12×20, centred: columns 8..20, rows 4..24 (centre of mass 13.5, 13.5).
            let on: Vec<(usize, usize)> = (0..PIXELS)
                .filter(|&i| d.pixels[i] > 128)
                .map(|i| (i % 28, i / 28))
                .collect();
            let xs = on.iter().map(|p| p.0);
            let ys = on.iter().map(|p| p.1);
            assert_eq!(
                (xs.clone().min(), xs.max(), ys.clone().min(), ys.max()),
                (Some(8), Some(19), Some(4), Some(23)),
                "{:?}",
                d.notes
            );
            assert!(
                d.notes.iter().any(|n| n.contains("normalised like MNIST")),
                "{:?}",
                d.notes
            );
            assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        }
    }

    #[test]
    fn a_28_by_28_image_is_kept_and_resize_squeezes_the_whole_image() {
        let png = encode(bar(28, 28, 1, 1), image::ImageFormat::Png);
        let d = decode_digit(&png, Fit::Auto).unwrap();
        assert_eq!(d.pixels[28 + 1], 255);
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        let big = encode(bar(56, 56, 0, 0), image::ImageFormat::Png);
        let d = decode_digit(&big, Fit::Resize).unwrap();
        assert!(d.pixels[0] > 200 && d.pixels[27 * 28 + 27] == 0, "stays in the corner");
        assert!(d.notes[0].contains("resized from 56×56"), "{:?}", d.notes);
    }

    #[test]
    fn flat_or_full_images_get_a_warning() {
        let flat = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(40, 40, Luma([90u8])));
        let d = decode_digit(&encode(flat, image::ImageFormat::Png), Fit::Auto).unwrap();
        assert!(
            d.warnings[0].contains("no clear light/dark separation"),
            "{:?}",
            d.warnings
        );
        assert!(d.pixels.iter().all(|&p| p == 0), "blank, not noise");
    }

    #[test]
    fn sixteen_bit_and_dark_on_light_images() {
        let img = DynamicImage::ImageLuma16(ImageBuffer::from_fn(30, 30, |x, y| {
            Luma([if (10..16).contains(&x) && (5..25).contains(&y) {
                0
            } else {
                65535
            }])
        }));
        let d = decode_digit(&encode(img, image::ImageFormat::Png), Fit::Auto).unwrap();
        assert!(d.notes.iter().any(|n| n.starts_with("inverted")), "{:?}", d.notes);
        assert!(d.pixels.contains(&255) && d.pixels[0] == 0);
    }
}
