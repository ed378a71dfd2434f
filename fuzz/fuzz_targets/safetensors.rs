//! Model and checkpoint files (safetensors with a checksum) on arbitrary bytes.
#![no_main]
use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.safetensors");
    if let Ok(f) = diversenet::model::file::TensorFile::decode(data, p) {
        let _ = f.matrix::<f64>("W", p);
        let _ = f.matrix::<f32>("V", p);
    }
});
