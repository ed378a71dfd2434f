//! `fetch`: downloading a data set into a directory, verified.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use diversenet::data;

use super::write_json;

#[derive(Args)]
pub struct FetchArgs {
    /// What to fetch: only `mnist`.
    dataset: String,
    /// Destination directory (default: the cache directory used when --data-dir is not given).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Base URL of a mirror (repeatable; replaces the built-in list).
    #[arg(long)]
    mirror: Vec<String>,
    /// Also write what was fetched (paths, checksums) to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn fetch(args: FetchArgs) -> Result<()> {
    if args.dataset != "mnist" {
        bail!(
            "unknown data set `{}`: only `mnist` can be fetched",
            args.dataset
        );
    }
    let dir = args.dir.unwrap_or_else(data::mnist::default_dir);
    super::check_output_dir(&dir, "--dir")?;
    let mirrors: Vec<String> = if args.mirror.is_empty() {
        data::fetch::MIRRORS.iter().map(|s| s.to_string()).collect()
    } else {
        args.mirror
            .iter()
            .map(|m| {
                if m.ends_with('/') {
                    m.clone()
                } else {
                    format!("{m}/")
                }
            })
            .collect()
    };
    let report = data::fetch::fetch_mnist(&dir, &mirrors, |name| {
        eprintln!("downloading {name}.gz ...")
    })
    .with_context(|| format!("fetching MNIST into {}", dir.display()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "MNIST is ready in {}; train with --data mnist --data-dir {}",
        dir.display(),
        dir.display()
    );
    write_json(args.json.as_deref(), &report)
}
