//! The gzipped IDX path with declared sizes: the dimensions read from the header alone
//! (what MNIST loading checks against the memory budget before reading) must be those of
//! the full decode whenever it succeeds, on arbitrary content gzipped and on arbitrary
//! bytes taken as a gzip stream.
#![no_main]
use std::io::Write;
use std::path::Path;

use diversenet::data::idx::{parse_dims, parse_idx};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.idx.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    let gz = e.finish().unwrap();
    for bytes in [&gz[..], data] {
        let dims = parse_dims(bytes, p);
        if let Ok(full) = parse_idx(bytes, p) {
            assert_eq!(dims.expect("header read alone"), full.dims);
            assert_eq!(full.data.len(), full.dims.iter().product::<usize>());
        }
    }
});
