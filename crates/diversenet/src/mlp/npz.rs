//! NumPy `.npz` archives (`numpy.savez`, `numpy.savez_compressed`): a zip file of `.npy`
//! entries, stored or deflated (flate2), found through the zip's central directory
//! (ZIP64 included, which numpy always asks for). Sizes are checked against the file and
//! the memory budget before anything is inflated, and every entry against its CRC-32; and
//! the writer of such archives.

use std::io::Read;
use std::path::Path;

use crate::data::npy::{parse_npy, NpyArray};
use crate::error::{Error, Result};

const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const DIRECTORY_ENTRY: u32 = 0x0201_4b50;
const LOCAL_HEADER: u32 = 0x0403_4b50;

/// Whether `bytes` start like a zip archive (an `.npz`).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The arrays of an `.npz` archive in the order stored, each under its entry name without
/// the `.npy` suffix.
pub fn read_npz(bytes: &[u8], path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let err = |m: String| Error::format(path, m);
    let u16_at = |at: usize| -> Result<u64> {
        bytes
            .get(at..at + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| err("the zip directory runs past the end of the file".into()))
    };
    let u32_at = |at: usize| -> Result<u64> {
        bytes
            .get(at..at + 4)
            .map(|b| u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes"))))
            .ok_or_else(|| err("the zip directory runs past the end of the file".into()))
    };
    let u64_at = |at: usize| -> Result<u64> {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| err("the zip directory runs past the end of the file".into()))
    };
    // The end-of-directory record: 22 bytes plus a comment of up to 65535.
    let search_from = bytes.len().saturating_sub(22 + 65_535);
    let end = (search_from..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&at| u32_at(at).ok() == Some(u64::from(END_OF_DIRECTORY)))
        .ok_or_else(|| {
            err("not a zip archive (.npz): no end-of-directory record was found".into())
        })?;
    let (mut entries, mut directory) = (u16_at(end + 10)?, u32_at(end + 16)?);
    if entries == 0xFFFF || directory == 0xFFFF_FFFF {
        let locator = end
            .checked_sub(20)
            .filter(|&at| u32_at(at).ok() == Some(u64::from(ZIP64_LOCATOR)))
            .ok_or_else(|| err("a ZIP64 archive without its locator record".into()))?;
        let record = to_index(u64_at(locator + 8)?, bytes.len(), &err)?;
        if u32_at(record)? != u64::from(ZIP64_END) {
            return Err(err("the ZIP64 end-of-directory record is missing".into()));
        }
        entries = u64_at(record + 32)?;
        directory = u64_at(record + 48)?;
    }
    let mut at = to_index(directory, bytes.len(), &err)?;
    let mut out = Vec::new();
    for _ in 0..entries {
        if u32_at(at)? != u64::from(DIRECTORY_ENTRY) {
            return Err(err(format!(
                "zip directory entry {} is damaged (bad signature)",
                out.len()
            )));
        }
        let flags = u16_at(at + 8)?;
        let method = u16_at(at + 10)?;
        let crc = u32_at(at + 16)?;
        let (mut packed, mut size) = (u32_at(at + 20)?, u32_at(at + 24)?);
        let (name_len, extra_len, comment_len) = (
            u16_at(at + 28)? as usize,
            u16_at(at + 30)? as usize,
            u16_at(at + 32)? as usize,
        );
        let mut offset = u32_at(at + 42)?;
        let name_bytes = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| err("a zip entry's name runs past the end of the file".into()))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        // ZIP64 sizes and offset, in this order, for the fields saturated at 0xFFFFFFFF.
        let mut extra = at + 46 + name_len;
        let extra_end = extra + extra_len;
        while extra + 4 <= extra_end {
            let (id, len) = (u16_at(extra)?, u16_at(extra + 2)? as usize);
            if id == 1 {
                let mut field = extra + 4;
                for value in [&mut size, &mut packed, &mut offset] {
                    if *value == 0xFFFF_FFFF {
                        *value = u64_at(field)?;
                        field += 8;
                    }
                }
            }
            extra += 4 + len;
        }
        at = extra_end + comment_len;
        if flags & 1 == 1 {
            return Err(err(format!("entry `{name}` is encrypted")));
        }
        let local = to_index(offset, bytes.len(), &err)?;
        if u32_at(local)? != u64::from(LOCAL_HEADER) {
            return Err(err(format!("entry `{name}`: its local header is damaged")));
        }
        let start = local + 30 + u16_at(local + 26)? as usize + u16_at(local + 28)? as usize;
        let data = to_index(packed, bytes.len(), &err)
            .ok()
            .and_then(|len| bytes.get(start..start.checked_add(len)?))
            .ok_or_else(|| err(format!("entry `{name}` runs past the end of the file")))?;
        let mut estimate = crate::limits::Estimate::default();
        estimate.add("entry inflated", size as f64, 1).add(
            "its values in f64 (twice f32's bytes)",
            size as f64,
            2,
        );
        crate::limits::check(
            &format!("reading {} entry `{name}`", path.display()),
            &estimate,
            |_| None,
        )?;
        let inflated = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(size as usize);
                flate2::read::DeflateDecoder::new(data)
                    .take(size + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| err(format!("entry `{name}` could not be inflated: {e}")))?;
                out
            }
            other => {
                return Err(err(format!(
                    "entry `{name}` uses zip compression method {other}; stored (0) and \
                     deflated (8), which numpy writes, are supported"
                )))
            }
        };
        let mut check = flate2::Crc::new();
        check.update(&inflated);
        if inflated.len() as u64 != size || u64::from(check.sum()) != crc {
            return Err(err(format!(
                "entry `{name}` is corrupted (its size or CRC-32 does not match the directory)"
            )));
        }
        let entry_path = format!("{}[{name}]", path.display());
        let array = parse_npy(&inflated, Path::new(&entry_path))?;
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        out.push((key, array));
    }
    Ok(out)
}

/// A position or length from the archive as an index into its `len` bytes.
fn to_index(value: u64, len: usize, err: &impl Fn(String) -> Error) -> Result<usize> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v <= len)
        .ok_or_else(|| {
            err(format!(
                "a zip offset ({value}) points past the end of the file"
            ))
        })
}

/// A zip archive of `entries` (name, bytes), each stored or deflated (as `numpy.savez` and
/// `numpy.savez_compressed` write them; no ZIP64, so entries and the archive stay below
/// 4 GiB).
pub(crate) fn zip_archive(entries: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let packed = if deflate {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            data.clone()
        };
        let header = |sig: u32, out: &mut Vec<u8>, central: bool, offset: u32| {
            out.extend(sig.to_le_bytes());
            if central {
                out.extend(20u16.to_le_bytes());
            }
            out.extend(20u16.to_le_bytes());
            out.extend(0u16.to_le_bytes());
            out.extend((if deflate { 8u16 } else { 0 }).to_le_bytes());
            out.extend([0u8; 4]);
            out.extend(crc.sum().to_le_bytes());
            out.extend((packed.len() as u32).to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
            if central {
                out.extend([0u8; 10]);
                out.extend(offset.to_le_bytes());
            }
            out.extend(name.as_bytes());
        };
        let offset = out.len() as u32;
        header(LOCAL_HEADER, &mut out, false, 0);
        out.extend(&packed);
        header(DIRECTORY_ENTRY, &mut directory, true, offset);
    }
    let start = out.len() as u32;
    out.extend(&directory);
    out.extend(END_OF_DIRECTORY.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((directory.len() as u32).to_le_bytes());
    out.extend(start.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::npy::encode_npy_f64;

    #[test]
    fn stored_and_deflated_entries_are_read_and_damage_is_refused() {
        let a = encode_npy_f64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = encode_npy_f64(&[2], &[-1.0, 0.5]);
        for deflate in [false, true] {
            let entries = [
                ("W1.npy".to_string(), a.clone()),
                ("b1.npy".to_string(), b.clone()),
            ];
            let zip = zip_archive(&entries, deflate);
            assert!(is_zip(&zip));
            let arrays = read_npz(&zip, Path::new("m.npz")).unwrap();
            assert_eq!(arrays[0].0, "W1");
            assert_eq!(arrays[0].1.shape, vec![2, 3]);
            assert_eq!(arrays[1].1.data, vec![-1.0, 0.5]);
            // A flipped byte in the first entry's data fails its CRC (or its inflation).
            let mut damaged = zip.clone();
            damaged[30 + 6 + 10] ^= 0x55;
            let e = read_npz(&damaged, Path::new("m.npz"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("m.npz: entry `W1.npy`"), "{e}");
            // Cut short: the directory is gone.
            let e = read_npz(&zip[..zip.len() - 30], Path::new("m.npz"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("no end-of-directory record"), "{e}");
        }
    }
}
