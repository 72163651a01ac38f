//! Reader of the `datasets/mnist-5k` CSV: gzipped, one image a line, 784 pixel values (0–255,
//! row-major 28×28) then the label (0–9). Every line is checked; errors name the line.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, ensure};

use super::source::{Bundled, DataFile};

/// Pixels per image.
pub const PIXELS: usize = 28 * 28;

/// The mnist-5k file, built into every binary that reads it (1.1 MB), so an installed binary
/// works from any folder.
pub static MNIST_5K: Bundled = Bundled {
    path: "datasets/mnist-5k/mnist_5k.csv.gz",
    bytes: include_bytes!("../../../../datasets/mnist-5k/mnist_5k.csv.gz"),
};

/// The mnist-5k file named `path` in a config (`<data_dir>/mnist-5k/mnist_5k.csv.gz`), found as
/// [`super::source::find`] says, the bundled copy last.
pub fn find(path: &Path) -> DataFile {
    super::source::find(path, Some(&MNIST_5K))
}

/// Read the file at `path`: `(pixels, labels)` with `pixels.len() == labels.len() * 784`.
pub fn read(path: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    read_file(&DataFile::Path(path.to_path_buf()))
}

/// Read a found file (on disk or bundled); errors name it.
pub fn read_file(file: &DataFile) -> Result<(Vec<u8>, Vec<u8>)> {
    let name = file.describe();
    let bytes = file.read()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&*bytes)
        .read_to_string(&mut text)
        .with_context(|| format!("{name}: corrupt gzip stream"))?;
    let mut pixels = Vec::with_capacity(5000 * PIXELS);
    let mut labels = Vec::with_capacity(5000);
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{name} line {}", n + 1);
        let fields: Vec<&str> = line.split(',').collect();
        ensure!(
            fields.len() == PIXELS + 1,
            "{}: {} fields, expected 785",
            at(),
            fields.len()
        );
        for (i, f) in fields.iter().enumerate() {
            let v: u16 = f
                .trim()
                .parse()
                .with_context(|| format!("{}: field {} `{f}` is not an integer", at(), i + 1))?;
            if i < PIXELS {
                ensure!(v <= 255, "{}: pixel {} = {v} is above 255", at(), i + 1);
                pixels.push(v as u8);
            } else {
                ensure!(v < 10, "{}: label {v} is not a digit 0–9", at());
                labels.push(v as u8);
            }
        }
    }
    ensure!(!labels.is_empty(), "{name}: no images");
    Ok((pixels, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_gz(path: &Path, text: &str) {
        let mut e = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap();
    }

    #[test]
    fn bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = format!("{},3\n", vec!["0"; PIXELS].join(","));
        let cases = [
            (format!("{good}1,2,3\n"), "line 2: 3 fields"),
            (format!("{},11\n", vec!["0"; PIXELS].join(",")), "label 11"),
            (
                format!("{},300,1\n", vec!["0"; PIXELS - 1].join(",")),
                "pixel 784 = 300",
            ),
            (
                format!("{},x,1\n", vec!["0"; PIXELS - 1].join(",")),
                "`x` is not an integer",
            ),
        ];
        for (i, (text, needle)) in cases.iter().enumerate() {
            let p = dir.path().join(format!("{i}.csv.gz"));
            write_gz(&p, text);
            let err = format!("{:#}", read(&p).unwrap_err());
            assert!(err.contains(needle), "{err}");
        }
        let p = dir.path().join("ok.csv.gz");
        write_gz(&p, &good);
        let (px, lab) = read(&p).unwrap();
        assert_eq!((px.len(), lab), (PIXELS, vec![3]));
    }
}
