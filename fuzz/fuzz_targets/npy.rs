//! The NumPy .npy loader on arbitrary bytes.
#![no_main]
use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = diversenet::data::npy::parse_npy(data, Path::new("fuzz.npy"));
});
