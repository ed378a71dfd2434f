//! NumPy `.npy` files (format versions 1-3): numeric arrays of any byte order, C or
//! Fortran order. Sizes in the header are checked against the file before allocating.

use std::path::Path;

use crate::error::{Error, Result};
use crate::linalg::Matrix;

use super::{Dataset, Task};

/// A decoded array, values widened to f64, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    /// Whether the stored dtype was an integer or boolean type.
    pub integer: bool,
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = crate::files::read(path)?;
    parse_npy(&bytes, path)
}

/// Decodes `.npy` bytes; `path` only names the source in errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    let err = |m: String| Error::format(path, m);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(err(
            "not a .npy file: it does not start with \\x93NUMPY".into()
        ));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(err("file ends inside the .npy preamble".into()));
            }
            (
                u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
                12,
            )
        }
        v => {
            return Err(err(format!(
                ".npy format version {v} is not supported (1, 2 or 3 are)"
            )))
        }
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            err(format!(
                "header length {header_len} runs past the end of the file"
            ))
        })?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| err("the header is not text".into()))?;
    let descr = dict_value(header, "descr")
        .and_then(|v| v.strip_prefix('\'').and_then(|v| v.split('\'').next()))
        .ok_or_else(|| err(format!("header has no 'descr' string: {header}")))?;
    let fortran = match dict_value(header, "fortran_order") {
        Some(v) if v.starts_with("True") => true,
        Some(v) if v.starts_with("False") => false,
        _ => return Err(err(format!("header has no 'fortran_order' flag: {header}"))),
    };
    let shape = dict_value(header, "shape")
        .and_then(parse_shape)
        .ok_or_else(|| err(format!("header has no valid 'shape' tuple: {header}")))?;
    let dtype = Dtype::parse(descr).ok_or_else(|| {
        err(format!(
            "dtype `{descr}` is not supported: expected a numeric type such as <f4, <f8, <i8, |u1 or |b1"
        ))
    })?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(format!("shape {shape:?} overflows")))?;
    let payload = &bytes[end..];
    let needed = count.checked_mul(dtype.size);
    if needed != Some(payload.len()) {
        return Err(err(format!(
            "shape {shape:?} of {descr} needs {} bytes of data but the file holds {}",
            needed.map_or("more than 2^64".to_string(), |n| n.to_string()),
            payload.len()
        )));
    }
    crate::limits::check_loading(&path.display().to_string(), count, 1, dtype.size)?;
    let mut data: Vec<f64> = payload
        .chunks_exact(dtype.size)
        .map(|c| dtype.decode(c))
        .collect();
    if fortran && shape.len() >= 2 {
        data = fortran_to_c(&data, &shape);
    }
    Ok(NpyArray {
        shape,
        data,
        integer: dtype.kind != b'f',
    })
}

/// The text after `'key':` in a Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}'");
    let at = header.find(&pat)? + pat.len();
    Some(header[at..].trim_start().strip_prefix(':')?.trim_start())
}

fn parse_shape(v: &str) -> Option<Vec<usize>> {
    let inner = v.strip_prefix('(')?.split(')').next()?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    // Fortran index: i0 + s0*(i1 + s1*(i2 ...)); C index: ((i0*s1 + i1)*s2 + i2)...
    let n = data.len();
    let mut out = vec![0.0; n];
    let mut idx = vec![0usize; shape.len()];
    for value in data.iter() {
        let c = idx.iter().zip(shape).fold(0, |acc, (&i, &s)| acc * s + i);
        out[c] = *value;
        for (k, i) in idx.iter_mut().enumerate() {
            *i += 1;
            if *i < shape[k] {
                break;
            }
            *i = 0;
        }
    }
    out
}

struct Dtype {
    kind: u8,
    size: usize,
    big_endian: bool,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Self> {
        let b = descr.as_bytes();
        if b.len() < 3 {
            return None;
        }
        let big_endian = match b[0] {
            b'<' | b'|' | b'=' => false,
            b'>' => true,
            _ => return None,
        };
        let kind = b[1];
        // Bytes, not a str slice: the descriptor may hold any UTF-8 (found by fuzzing).
        let size: usize = std::str::from_utf8(&b[2..]).ok()?.parse().ok()?;
        let ok = match kind {
            b'f' => size == 4 || size == 8,
            b'i' | b'u' => matches!(size, 1 | 2 | 4 | 8),
            b'b' => size == 1,
            _ => false,
        };
        ok.then_some(Self {
            kind,
            size,
            big_endian,
        })
    }

    fn decode(&self, c: &[u8]) -> f64 {
        let mut buf = [0u8; 8];
        buf[..self.size].copy_from_slice(c);
        if self.big_endian {
            buf[..self.size].reverse();
        }
        match (self.kind, self.size) {
            (b'f', 4) => f32::from_le_bytes(buf[..4].try_into().expect("4")) as f64,
            (b'f', _) => f64::from_le_bytes(buf),
            (b'i', 1) => buf[0] as i8 as f64,
            (b'i', 2) => i16::from_le_bytes([buf[0], buf[1]]) as f64,
            (b'i', 4) => i32::from_le_bytes(buf[..4].try_into().expect("4")) as f64,
            (b'i', _) => i64::from_le_bytes(buf) as f64,
            _ => u64::from_le_bytes(buf) as f64, // u1..u8 and b1, zero-extended
        }
    }
}

/// Encodes a little-endian float64 C-order array (for tests and for users' scripts).
pub fn encode_npy_f64(shape: &[usize], data: &[f64]) -> Vec<u8> {
    let mut out = npy_header(shape, "<f8");
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Encodes a little-endian int64 C-order array (predicted class labels).
pub fn encode_npy_i64(shape: &[usize], data: &[i64]) -> Vec<u8> {
    let mut out = npy_header(shape, "<i8");
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The magic, version 1.0 and header of an array of `shape` and dtype `descr`, padded to
/// 64 bytes.
fn npy_header(shape: &[usize], descr: &str) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Loads inputs (m x d, or m values for d = 1) and targets (m, or m x 1). With
/// `Task::Auto`, integer-typed targets are classes and float-typed ones real values.
pub fn load_pair(x_path: &Path, y_path: &Path, task: Task) -> Result<Dataset> {
    let x = read_npy(x_path)?;
    let y = read_npy(y_path)?;
    let (m, d) = match x.shape[..] {
        [m, d] => (m, d),
        [m] => (m, 1),
        _ => {
            return Err(Error::format(
                x_path,
                format!(
                    "inputs must have shape (samples, features); found {:?}",
                    x.shape
                ),
            ))
        }
    };
    match y.shape[..] {
        [n] | [n, 1] if n == m => {}
        _ => {
            return Err(Error::format(
                y_path,
                format!(
                    "targets must have shape ({m},) to match {} (shape {:?}); found {:?}",
                    x_path.display(),
                    x.shape,
                    y.shape
                ),
            ))
        }
    }
    super::check_finite_targets(&y.data, 1, &y_path.display().to_string())?;
    let targets = super::csv::targets_from_values(&y.data, task, y.integer, y_path)?;
    Dataset::new(
        x_path.display().to_string(),
        Matrix::from_vec(m, d, x.data),
        targets,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("a.npy")
    }

    #[test]
    fn round_trip_and_fortran_order() {
        let bytes = encode_npy_f64(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let a = parse_npy(&bytes, p()).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1., 2., 3., 4., 5., 6.]);
        // The same matrix stored column-major, as big-endian int16.
        let mut header = "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }".to_string();
        header.push('\n');
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&[1, 0]);
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        for v in [1i16, 4, 2, 5, 3, 6] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        let b = parse_npy(&f, p()).unwrap();
        assert_eq!(b.data, a.data);
        assert!(b.integer);
    }

    #[test]
    fn refuses_bad_headers_and_sizes() {
        let e = |b: &[u8]| parse_npy(b, p()).unwrap_err().to_string();
        assert!(e(b"PK\x03\x04zipfile").contains("not a .npy"));
        let mut short = encode_npy_f64(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        short.truncate(short.len() - 8);
        assert!(e(&short).contains("needs 48 bytes of data but the file holds 40"));
        let huge = encode_npy_f64(&[usize::MAX / 2, 4], &[]);
        assert!(e(&huge).contains("overflows") || e(&huge).contains("needs"));
        let mut obj = encode_npy_f64(&[1], &[1.0]);
        let at = obj.windows(3).position(|w| w == b"<f8").unwrap();
        obj[at..at + 3].copy_from_slice(b"|O8");
        assert!(e(&obj).contains("not supported"));
        // A descriptor whose third byte is inside a multi-byte character (a fuzzing find).
        let wide = "{'descr': '<\u{9e}8', 'fortran_order': False, 'shape': (1,), }\n";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(wide.len() as u16).to_le_bytes());
        bytes.extend_from_slice(wide.as_bytes());
        assert!(e(&bytes).contains("not supported"));
    }
}
