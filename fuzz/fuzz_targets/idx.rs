//! The IDX loader on arbitrary bytes, raw and as the content of a gzip stream.
#![no_main]
use std::io::Write;
use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.idx");
    let _ = diversenet::data::idx::parse_idx(data, p);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    let _ = diversenet::data::idx::parse_idx(&e.finish().unwrap(), p);
});
