//! Reader (and writer, for tests and tools) of the IDX format used by MNIST and Fashion-MNIST.
//!
//! Layout: two zero bytes, a type byte (`0x08` = unsigned byte, the only type these data sets
//! use), the number of dimensions, each dimension as a big-endian `u32`, then the values in
//! row-major order. Files may be gzip-compressed (detected by the `1f 8b` magic).
//!
//! Every check names the file and what is wrong with it: a bad magic number, an unexpected
//! number of dimensions, a truncated body or trailing bytes, a corrupt gzip stream.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Read an IDX file (raw or gzipped).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{}: corrupt or truncated gzip stream", path.display()))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).with_context(|| format!("{}: not a valid IDX file", path.display()))
}

/// Parse IDX bytes (already decompressed).
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray> {
    ensure!(
        bytes.len() >= 4,
        "file is {} bytes long, shorter than the 4-byte magic number",
        bytes.len()
    );
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    ensure!(
        bytes[0] == 0 && bytes[1] == 0,
        "bad magic number 0x{magic:08x}: the first two bytes must be zero"
    );
    ensure!(
        bytes[2] == 0x08,
        "bad magic number 0x{magic:08x}: element type 0x{:02x} is not unsigned byte (0x08)",
        bytes[2]
    );
    let ndims = bytes[3] as usize;
    ensure!(ndims >= 1, "bad magic number 0x{magic:08x}: zero dimensions");
    let header = 4 + 4 * ndims;
    ensure!(
        bytes.len() >= header,
        "truncated header: {ndims} dimensions need {header} bytes, file has {}",
        bytes.len()
    );
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .context("dimensions overflow")?;
    let body = bytes.len() - header;
    if body < expected {
        bail!("truncated: dimensions {dims:?} need {expected} bytes of data, found {body}");
    }
    if body > expected {
        bail!(
            "{} unexpected trailing bytes after the {expected} bytes of data for dimensions {dims:?}",
            body - expected
        );
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Encode an IDX array of unsigned bytes (raw, uncompressed).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Images and labels read from a matching pair of IDX files.
#[derive(Debug, Clone)]
pub struct LabelledImages {
    /// Number of images.
    pub len: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `len * rows * cols` pixels, row-major.
    pub pixels: Vec<u8>,
    /// `len` labels.
    pub labels: Vec<u8>,
}

/// [`read_idx`], and an error naming the file unless it has `rank` dimensions (`expected`
/// says which).
fn read_idx_of_rank(path: &Path, expected: &str, rank: usize) -> Result<IdxArray> {
    let idx = read_idx(path)?;
    ensure!(
        idx.dims.len() == rank,
        "{}: expected {expected}, found {:?}",
        path.display(),
        idx.dims
    );
    Ok(idx)
}

/// Read an image file (`[n, rows, cols]`) and its label file (`[n]`), checking that the shapes
/// and counts agree and that every label is below `num_classes`.
pub fn read_labelled_images(images: &Path, labels: &Path, num_classes: u8) -> Result<LabelledImages> {
    let img = read_idx_of_rank(images, "3 dimensions [images, rows, cols] (magic 0x00000803)", 3)?;
    let lab = read_idx_of_rank(labels, "1 dimension [labels] (magic 0x00000801)", 1)?;
    ensure!(
        img.dims[0] == lab.dims[0],
        "count mismatch: {} holds {} images but {} holds {} labels",
        images.display(),
        img.dims[0],
        labels.display(),
        lab.dims[0]
    );
    if let Some((i, l)) = lab.data.iter().enumerate().find(|(_, l)| **l >= num_classes) {
        bail!(
            "{}: label {l} at index {i} is not below {num_classes}",
            labels.display()
        );
    }
    Ok(LabelledImages {
        len: img.dims[0],
        rows: img.dims[1],
        cols: img.dims[2],
        pixels: img.data,
        labels: lab.data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn round_trips_raw_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let enc = encode_idx(&[2, 3, 4], &data);
        std::fs::write(dir.path().join("a.idx"), &enc).unwrap();
        std::fs::write(dir.path().join("a.idx.gz"), gz(&enc)).unwrap();
        for name in ["a.idx", "a.idx.gz"] {
            let a = read_idx(&dir.path().join(name)).unwrap();
            assert_eq!(a.dims, vec![2, 3, 4]);
            assert_eq!(a.data, data);
        }
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let good = encode_idx(&[2, 2, 2], &[1; 8]);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("short.idx", good[..good.len() - 3].to_vec(), "truncated"),
            ("trailing.idx", [good.clone(), vec![0]].concat(), "trailing"),
            (
                "magic.idx",
                [vec![1, 2, 8, 3], good[4..].to_vec()].concat(),
                "bad magic",
            ),
            (
                "type.idx",
                [vec![0, 0, 0x0d, 3], good[4..].to_vec()].concat(),
                "not unsigned byte",
            ),
            ("tiny.idx", vec![0, 0], "shorter than"),
            ("header.idx", vec![0, 0, 8, 3, 0, 0, 0, 2], "truncated header"),
            ("broken.gz", gz(&good)[..20].to_vec(), "gzip"),
        ];
        for (name, bytes, needle) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let err = format!("{:#}", read_idx(&p).unwrap_err());
            assert!(err.contains(name), "{name}: {err}");
            assert!(err.contains(needle), "{name}: expected `{needle}` in: {err}");
        }
    }

    #[test]
    fn pair_checks_counts_shapes_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("img"), encode_idx(&[3, 2, 2], &[0; 12])).unwrap();
        std::fs::write(p("lab"), encode_idx(&[3], &[0, 1, 2])).unwrap();
        std::fs::write(p("lab2"), encode_idx(&[2], &[0, 1])).unwrap();
        std::fs::write(p("lab_bad"), encode_idx(&[3], &[0, 1, 12])).unwrap();
        let ok = read_labelled_images(&p("img"), &p("lab"), 10).unwrap();
        assert_eq!((ok.len, ok.rows, ok.cols), (3, 2, 2));
        let err = format!("{:#}", read_labelled_images(&p("img"), &p("lab2"), 10).unwrap_err());
        assert!(err.contains("count mismatch"), "{err}");
        let err = format!("{:#}", read_labelled_images(&p("img"), &p("lab_bad"), 10).unwrap_err());
        assert!(err.contains("label 12 at index 2"), "{err}");
        let err = format!("{:#}", read_labelled_images(&p("lab"), &p("lab"), 10).unwrap_err());
        assert!(err.contains("expected 3 dimensions"), "{err}");
    }
}
