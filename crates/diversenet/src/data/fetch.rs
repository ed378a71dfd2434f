//! Downloading MNIST from a public mirror: each file's decompressed bytes are checked
//! against the known SHA-256 before the file is moved, atomically, under its final name.

use std::io::Read;
use std::path::PathBuf;

use crate::files::sha256_hex;
#[cfg(feature = "fetch")]
use {
    super::mnist::{find_file, FILES},
    crate::error::{Error, Message, Result},
    crate::files::write_atomic,
    std::path::Path,
    std::time::Duration,
};

/// Public mirrors serving the four `.gz` files (the ones torchvision and TensorFlow use).
pub const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// Largest download accepted per file (the training images are 9.9 MB gzipped).
#[cfg(feature = "fetch")]
const MAX_DOWNLOAD_BYTES: u64 = 64 << 20;
/// Largest decompressed size accepted per file (the training images are 47 MB).
const MAX_DECOMPRESSED_BYTES: u64 = 128 << 20;

/// What happened to one file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FetchedFile {
    pub name: String,
    pub path: PathBuf,
    /// `"present"` (already there and verified) or `"downloaded"`.
    pub action: String,
    pub source: Option<String>,
    pub sha256: String,
}

/// SHA-256 of the decompressed content of a `.gz` (or raw) file's bytes.
pub fn decompressed_sha256(bytes: &[u8]) -> std::io::Result<String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_DECOMPRESSED_BYTES + 1)
            .read_to_end(&mut out)?;
        if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
            return Err(std::io::Error::other("decompresses to more than 128 MiB"));
        }
        Ok(sha256_hex(&out))
    } else {
        Ok(sha256_hex(bytes))
    }
}

/// Makes sure `dir` holds the four MNIST files with the right checksums, downloading the
/// missing or corrupt ones from `mirrors` (base URLs ending in `/`). `progress` is told
/// each file name as its download starts. Needs the crate's `fetch` feature (the network
/// client); the checks of files already present do not.
#[cfg(feature = "fetch")]
pub fn fetch_mnist(
    dir: &Path,
    mirrors: &[String],
    mut progress: impl FnMut(&str),
) -> Result<Vec<FetchedFile>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let mut report = Vec::new();
    for (name, expected) in FILES {
        if let Some(existing) = find_file(dir, name) {
            let bytes = crate::files::read(&existing)?;
            if decompressed_sha256(&bytes).ok().as_deref() == Some(expected) {
                report.push(FetchedFile {
                    name: name.into(),
                    path: existing,
                    action: "present".into(),
                    source: None,
                    sha256: expected.into(),
                });
                continue;
            }
        }
        progress(name);
        let target = dir.join(format!("{name}.gz"));
        let mut failures = Vec::new();
        let mut done = None;
        for mirror in mirrors {
            let url = format!("{mirror}{name}.gz");
            match download(&agent, &url).and_then(|bytes| {
                let got = decompressed_sha256(&bytes).map_err(|e| format!("not a valid gzip file: {e}"))?;
                if got == expected {
                    Ok(bytes)
                } else {
                    Err(format!(
                        "checksum mismatch: the decompressed file has SHA-256 {got}, expected {expected}"
                    ))
                }
            }) {
                Ok(bytes) => {
                    write_atomic(&target, &bytes)?;
                    done = Some(url);
                    break;
                }
                Err(e) => failures.push(format!("  {url}: {e}")),
            }
        }
        let Some(url) = done else {
            return Err(Error::Fetch(
                Message::from(format!(
                    "could not get {name}.gz from any mirror:\n{}\nNothing was written under \
                     {}. If this machine is offline, copy the four MNIST files (raw or .gz) from \
                     another machine and pass their directory with ",
                    failures.join("\n"),
                    target.display()
                ))
                .setting_value("data_dir", "DIR")
                .text("."),
            ));
        };
        // A stale raw copy that failed the check would shadow the new .gz: remove it.
        let raw = dir.join(name);
        if raw.is_file() {
            std::fs::remove_file(&raw).map_err(|e| Error::io(&raw, e))?;
        }
        report.push(FetchedFile {
            name: name.into(),
            path: target,
            action: "downloaded".into(),
            source: Some(url),
            sha256: expected.into(),
        });
    }
    Ok(report)
}

#[cfg(feature = "fetch")]
fn download(agent: &ureq::Agent, url: &str) -> std::result::Result<Vec<u8>, String> {
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_DOWNLOAD_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())
}
