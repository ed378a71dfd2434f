//! MNIST: the four standard IDX files (raw or `.gz`) in one directory, decoded into
//! pixel values in [0, 1] and labels 0..9, with the official 60,000/10,000 split.

use std::path::{Path, PathBuf};

use crate::error::{Error, Message, Result};
use crate::linalg::Matrix;

use super::idx::{read_dims, read_idx};
use super::{Dataset, Targets};

/// The four files, without `.gz`, with the SHA-256 of their decompressed bytes.
pub const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// The cache directory used when no `--data-dir` is given:
/// `$DIVERSENET_CACHE/mnist`, else `$XDG_CACHE_HOME/diversenet/mnist`, else
/// `~/.cache/diversenet/mnist`.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DIVERSENET_CACHE") {
        return PathBuf::from(d).join("mnist");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("diversenet").join("mnist")
}

/// The path of `name` in `dir`, raw or gzipped, if either exists.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// Whether all four files are present in `dir`.
pub fn is_present(dir: &Path) -> bool {
    FILES.iter().all(|(name, _)| find_file(dir, name).is_some())
}

/// Finds MNIST: the first of `candidates` that holds the four files, then (when
/// `use_cache`) the cache directory [`default_dir`], then (when `fetch`) a download into
/// the cache directory. `note` is told about a download before it starts. The error says
/// where it looked and how to provide the data.
pub fn locate_or_fetch(
    candidates: &[PathBuf],
    use_cache: bool,
    fetch: bool,
    note: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    let cache = default_dir();
    let mut looked: Vec<PathBuf> = candidates.to_vec();
    if use_cache {
        looked.push(cache.clone());
    }
    if let Some(dir) = looked.iter().find(|d| is_present(d)) {
        return Ok(dir.clone());
    }
    let places = looked
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let how = Message::from("get it with ")
        .command("fetch mnist", &[("dir", "DIR")])
        .text(" on a machine with network access, then pass that directory (")
        .setting_value("data_dir", "DIR")
        .text(format!(
            "; for the tests, DIVERSENET_MNIST_DIR=DIR or ../shared/data/mnist beside the \
             repository; or copy it to {})",
            cache.display()
        ));
    if !(use_cache && fetch) {
        return Err(Error::Fetch(
            Message::from(format!("MNIST is not in {places}; ")).then(how),
        ));
    }
    note(&format!(
        "MNIST not found; fetching it into {}",
        cache.display()
    ));
    match download_into(&cache) {
        Ok(()) => Ok(cache),
        Err(e) => Err(Error::Fetch(
            Message::from(format!(
                "MNIST is not in {places}, and fetching it failed ({e}); "
            ))
            .then(how),
        )),
    }
}

/// Downloads the four files into `dir` from the public mirrors.
#[cfg(feature = "fetch")]
fn download_into(dir: &Path) -> Result<()> {
    let mirrors: Vec<String> = super::fetch::MIRRORS
        .iter()
        .map(|s| s.to_string())
        .collect();
    super::fetch::fetch_mnist(dir, &mirrors, |_| {}).map(|_| ())
}

/// This build has no network client (the crate's `fetch` feature is off).
#[cfg(not(feature = "fetch"))]
fn download_into(_dir: &Path) -> Result<()> {
    Err(Error::Fetch(Message::from(
        "this build of the diversenet library cannot download (its `fetch` feature is off)",
    )))
}

fn locate(dir: &Path, name: &str) -> Result<PathBuf> {
    find_file(dir, name).ok_or_else(|| {
        Error::data(
            dir.display().to_string(),
            Message::from(format!(
                "MNIST file {name} (or {name}.gz) not found; download the data with "
            ))
            .command("fetch mnist", &[("dir", &dir.display().to_string())])
            .text(" or point ")
            .setting("data_dir")
            .text(" at a directory that holds the four IDX files"),
        )
    })
}

/// Loads one images/labels pair.
pub fn load_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    let img = read_idx(images)?;
    let lab = read_idx(labels)?;
    if img.dims.len() != 3 {
        return Err(Error::format(
            images,
            format!(
                "expected 3 dimensions (count, rows, cols) for images, found {:?}",
                img.dims
            ),
        ));
    }
    if lab.dims.len() != 1 {
        return Err(Error::format(
            labels,
            format!(
                "expected 1 dimension (count) for labels, found {:?}",
                lab.dims
            ),
        ));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(Error::format(
            labels,
            format!(
                "{} labels but {} holds {} images",
                lab.dims[0],
                images.display(),
                img.dims[0]
            ),
        ));
    }
    if let Some(i) = lab.data.iter().position(|&l| l > 9) {
        return Err(Error::format(
            labels,
            format!(
                "label {} at index {i} is out of range: expected 0..9",
                lab.data[i]
            ),
        ));
    }
    let d = img.dims[1] * img.dims[2];
    let x = Matrix::from_vec(img.dims[0], d, {
        use rayon::prelude::*;
        img.data
            .par_iter()
            .with_min_len(1 << 14)
            .map(|&p| p as f64 / 255.0)
            .collect()
    });
    Dataset::new(
        images.display().to_string(),
        x,
        Targets::Classes {
            labels: lab.data.iter().map(|&l| l as u32).collect(),
            num_classes: 10,
        },
    )
}

/// Loads (train, test) from `dir`: all four files are located, and the sizes their headers
/// declare checked against the memory budget, before any is read.
pub fn load(dir: &Path) -> Result<(Dataset, Dataset)> {
    let paths = FILES
        .iter()
        .map(|(name, _)| locate(dir, name))
        .collect::<Result<Vec<_>>>()?;
    for pair in [(&paths[0], &paths[1]), (&paths[2], &paths[3])] {
        let dims = read_dims(pair.0)?;
        let (count, pixels) = match dims[..] {
            [count, rows, cols] => (count, rows.saturating_mul(cols)),
            _ => (dims[0], dims.iter().skip(1).product()),
        };
        crate::limits::check_loading(&pair.0.display().to_string(), count, pixels, 1)?;
    }
    // The two decompressions (the costly part) side by side.
    let (train, test) = rayon::join(
        || load_pair(&paths[0], &paths[1]),
        || load_pair(&paths[2], &paths[3]),
    );
    let (train, test) = (train?, test?);
    if train.dim() != test.dim() {
        return Err(Error::data(
            dir.display().to_string(),
            format!(
                "train images have {} pixels, test images {}",
                train.dim(),
                test.dim()
            ),
        ));
    }
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locating_takes_the_first_complete_directory_or_says_how_to_provide_it() {
        let root = tempfile::tempdir().unwrap();
        let (empty, full) = (root.path().join("empty"), root.path().join("full"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&full).unwrap();
        for (name, _) in FILES {
            std::fs::write(full.join(format!("{name}.gz")), b"").unwrap();
        }
        let mut notes = Vec::new();
        let found = locate_or_fetch(&[empty.clone(), full.clone()], false, false, &mut |n| {
            notes.push(n.to_string())
        })
        .unwrap();
        assert_eq!(found, full);
        let e = locate_or_fetch(std::slice::from_ref(&empty), false, false, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("MNIST is not in {}", empty.display())),
            "{e}"
        );
        assert!(
            e.contains("diversenet fetch mnist") && e.contains("DIVERSENET_MNIST_DIR"),
            "{e}"
        );
        assert!(notes.is_empty());
    }
}
