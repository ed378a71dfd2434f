//! The IDX format of MNIST (big-endian header, unsigned-byte payload), raw or gzipped.
//! Header sizes are checked against the file before anything is allocated.

use std::io::{BufRead, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Largest payload accepted (4 GiB): MNIST's training images are 47 MB.
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 32;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file, gzipped (detected by its magic bytes) or raw.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = crate::files::read(path)?;
    parse_idx(&bytes, path)
}

/// Decodes IDX bytes (gzipped or raw); `path` only names the source in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // Every member of a multi-member gzip file (what `cat a.gz b.gz` makes).
        let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
        decode(&mut decoder, None, path)
    } else {
        decode(&mut &bytes[..], Some(bytes.len() as u64), path)
    }
}

/// Reads the magic number and the dimensions; returns the dimensions and the payload size.
fn decode_header(reader: &mut dyn Read, path: &Path) -> Result<(Vec<usize>, u64)> {
    let gz_err = |e: std::io::Error| Error::format(path, format!("cannot decompress: {e}"));
    let mut magic = [0u8; 4];
    read_exact_or(reader, &mut magic, path, "the 4-byte magic number").map_err(|e| match e {
        Error::Io { source, .. } => gz_err(source),
        other => other,
    })?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(Error::format(
            path,
            format!(
                "not an IDX file: magic number {:02x}{:02x}{:02x}{:02x}, expected 0000TTNN \
                 (TT = 08 for unsigned bytes)",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    if magic[2] != 0x08 {
        return Err(Error::format(
            path,
            format!(
                "IDX element type 0x{:02x} is not supported; only 0x08 (unsigned byte) is",
                magic[2]
            ),
        ));
    }
    let ndims = magic[3] as usize;
    if ndims == 0 || ndims > 4 {
        return Err(Error::format(
            path,
            format!("IDX header declares {ndims} dimensions; expected 1 to 4"),
        ));
    }
    let mut dims = Vec::with_capacity(ndims);
    for k in 0..ndims {
        let mut b = [0u8; 4];
        read_exact_or(
            reader,
            &mut b,
            path,
            &format!("dimension {k} of the header"),
        )?;
        dims.push(u32::from_be_bytes(b) as usize);
    }
    let payload = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&p| p <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "IDX header dimensions {dims:?} would need more than {MAX_PAYLOAD_BYTES} bytes"
                ),
            )
        })?;
    Ok((dims, payload))
}

/// The dimensions an IDX file (raw or gzipped) declares, read from its header alone.
pub fn read_dims(path: &Path) -> Result<Vec<usize>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    dims_from(std::io::BufReader::new(file), path)
}

/// The dimensions IDX bytes (raw or gzipped) declare, from the header alone.
pub fn parse_dims(bytes: &[u8], path: &Path) -> Result<Vec<usize>> {
    dims_from(bytes, path)
}

fn dims_from(mut reader: impl BufRead, path: &Path) -> Result<Vec<usize>> {
    let gzipped = matches!(reader.fill_buf(), Ok(b) if b.starts_with(&[0x1f, 0x8b]));
    let (dims, _) = if gzipped {
        decode_header(&mut flate2::bufread::MultiGzDecoder::new(reader), path)?
    } else {
        decode_header(&mut reader, path)?
    };
    Ok(dims)
}

fn decode(reader: &mut dyn Read, total_len: Option<u64>, path: &Path) -> Result<IdxArray> {
    let gz_err = |e: std::io::Error| Error::format(path, format!("cannot decompress: {e}"));
    let (dims, payload) = decode_header(reader, path)?;
    let ndims = dims.len();
    let header_len = 4 + 4 * ndims as u64;
    if let Some(total) = total_len {
        if total != header_len + payload {
            return Err(Error::format(
                path,
                format!(
                    "IDX header dimensions {dims:?} need {} bytes of data but the file holds {}",
                    payload,
                    total.saturating_sub(header_len)
                ),
            ));
        }
    }
    // Grows with the bytes actually read, so a lying header cannot force a huge allocation.
    let mut data = Vec::new();
    Read::take(&mut *reader, payload + 1)
        .read_to_end(&mut data)
        .map_err(gz_err)?;
    if data.len() as u64 != payload && total_len.is_none() {
        // A corrupt stream can inflate to the wrong length before its CRC is reached: read
        // on (discarding, at most 128 MiB) so that a CRC error is reported as what it is.
        std::io::copy(&mut Read::take(&mut *reader, 1 << 27), &mut std::io::sink())
            .map_err(gz_err)?;
    }
    if data.len() as u64 != payload {
        return Err(Error::format(
            path,
            format!(
                "IDX header dimensions {dims:?} need {payload} bytes of data but the {}stream holds {}{}",
                if total_len.is_none() { "decompressed " } else { "" },
                if data.len() as u64 > payload { "more" } else { "only " },
                if data.len() as u64 > payload { String::new() } else { data.len().to_string() }
            ),
        ));
    }
    Ok(IdxArray { dims, data })
}

fn read_exact_or(reader: &mut dyn Read, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
    reader.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::format(path, format!("file ends before {what}"))
        } else {
            Error::io(path, e)
        }
    })
}

/// Encodes an unsigned-byte IDX array (used by tests and tools that write MNIST-like files).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
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
    fn round_trip_raw_and_gzipped() {
        let raw = encode_idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let p = Path::new("t.idx");
        let a = parse_idx(&raw, p).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(parse_idx(&gz(&raw), p).unwrap(), a);
    }

    #[test]
    fn refuses_bad_magic_sizes_and_absurd_headers() {
        let p = Path::new("bad.idx");
        let msg = |b: &[u8]| parse_idx(b, p).unwrap_err().to_string();
        assert!(msg(b"\x00\x01\x08\x01\0\0\0\x01a").contains("magic"));
        assert!(msg(b"\x00\x00\x0d\x01\0\0\0\x01a").contains("not supported"));
        let short = encode_idx(&[2, 3], &[1, 2, 3]);
        assert!(msg(&short).contains("need 6 bytes"));
        let huge = encode_idx(&[u32::MAX as usize, u32::MAX as usize], &[]);
        assert!(msg(&huge).contains("would need more than"));
        assert!(msg(&gz(&short)).contains("only 3"));
        let mut long = encode_idx(&[2], &[1, 2]);
        long.push(9);
        assert!(msg(&gz(&long)).contains("more"));
        assert!(msg(b"\x00\x00").contains("ends before"));
        let mut corrupt = gz(&encode_idx(&[4], &[1, 2, 3, 4]));
        let n = corrupt.len();
        corrupt[n - 6] ^= 0xff; // CRC
        assert!(msg(&corrupt).contains("decompress"));
        assert!(msg(&corrupt).starts_with("bad.idx"));
    }

    /// `cat a.gz b.gz` is a valid gzip file (gzip -d reads every member); only the first
    /// member was read before. A flipped byte inside the deflate data is a CRC error,
    /// reported as such, not as a stream holding "more" or "only" some bytes.
    #[test]
    fn reads_every_gzip_member_and_names_corruption() {
        let p = Path::new("m.idx.gz");
        let data: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 251) as u8).collect();
        let raw = encode_idx(&[4000], &data);
        let (head, tail) = raw.split_at(1234);
        let multi = [gz(head), gz(tail)].concat();
        assert_eq!(parse_idx(&multi, p).unwrap().data, data);
        assert_eq!(
            crate::data::fetch::decompressed_sha256(&multi).unwrap(),
            crate::data::fetch::decompressed_sha256(&gz(&raw)).unwrap()
        );
        let whole = gz(&raw);
        for at in [20, whole.len() / 2, whole.len() - 12] {
            let mut bad = whole.clone();
            bad[at] ^= 0x55;
            let e = parse_idx(&bad, p).unwrap_err().to_string();
            assert!(e.contains("cannot decompress"), "byte {at}: {e}");
        }
    }

    #[test]
    fn the_header_alone_gives_the_declared_dimensions() {
        let p = Path::new("h.idx");
        // 400000 x 28 x 28 declared, no data: the dimensions are read, the payload never.
        let header = encode_idx(&[400_000, 28, 28], &[]);
        assert_eq!(parse_dims(&gz(&header), p).unwrap(), vec![400_000, 28, 28]);
        assert_eq!(parse_dims(&header, p).unwrap(), vec![400_000, 28, 28]);
        assert!(parse_idx(&gz(&header), p).is_err());
        assert!(parse_dims(&gz(b"\x00\x00\x08"), p)
            .unwrap_err()
            .to_string()
            .contains("ends before"));
    }
}
