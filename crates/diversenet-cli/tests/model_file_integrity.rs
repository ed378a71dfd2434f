//! A model file's entries are used only when its checksum vouches for them: a file with
//! diversenet's metadata but without its checksum entry is refused (its scaling, loss,
//! precision or seed could have been edited), and so is one whose input scaling
//! contradicts its configuration.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, ok, small_train_args};
use diversenet::model::file::{TensorFile, CHECKSUM_KEY};

fn trained_model(dir: &Path) -> PathBuf {
    let out = dir.join("run");
    let args = small_train_args(&out, &[]);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    out.join("model.safetensors")
}

/// The safetensors file at `path` rewritten with its header's metadata changed by `edit`
/// (the checksum entry is not recomputed).
fn edit_header(path: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(header["__metadata__"].as_object_mut().unwrap());
    let mut text = serde_json::to_string(&header).unwrap().into_bytes();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_model_file_without_its_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model(dir.path());
    let name = model.to_str().unwrap();
    ok(&["eval", "--model", name]);
    // The checksum removed, and an entry it vouched for edited: neither is used.
    edit_header(&model, |meta| {
        meta.remove(CHECKSUM_KEY);
        meta.insert("input_scaling".into(), "raw".into());
    });
    for command in ["eval", "analyze"] {
        fails(
            &[command, "--model", name],
            &["no checksum entry `diversenet.sha256`", "it was not used"],
        );
    }
}

#[test]
fn an_input_scaling_that_contradicts_the_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model(dir.path());
    // Edited with the checksum recomputed (as a program rewriting the file would).
    let mut file = TensorFile::read(&model).unwrap();
    assert_eq!(file.metadata["input_scaling"], "sphere");
    file.metadata.insert("input_scaling".into(), "raw".into());
    file.write(&model).unwrap();
    fails(
        &["eval", "--model", model.to_str().unwrap()],
        &["`input_scaling` = raw contradicts the configuration's scaling (sphere)"],
    );
}
