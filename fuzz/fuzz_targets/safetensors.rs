//! Model and checkpoint files (safetensors with a checksum) on arbitrary bytes: decoding,
//! the tensors, and the model a decoded file holds.
#![no_main]
use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.safetensors");
    if let Ok(f) = diversenet::model::file::TensorFile::decode(data, p) {
        let _ = f.matrix::<f64>("W", p);
        let _ = f.matrix::<f32>("V", p);
        let _ = diversenet::model::file::model_from_file(&f, p);
    }
});
