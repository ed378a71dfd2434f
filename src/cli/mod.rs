//! The command line's pieces, one module per group of commands: each parses its flags
//! and calls the library; nothing here computes.

pub mod bench;
pub mod data_args;
pub mod fetch;
pub mod reproduce;
pub mod theory;
pub mod train;

use std::path::Path;

use anyhow::Result;
use diversenet::files::write_atomic;

pub fn write_json(path: Option<&Path>, value: &impl serde::Serialize) -> Result<()> {
    if let Some(p) = path {
        write_atomic(p, serde_json::to_string_pretty(value)?.as_bytes())?;
    }
    Ok(())
}
