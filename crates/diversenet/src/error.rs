//! The crate's one error type: every failure a user can cause names the file, the field
//! and what was expected.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error while reading or writing `path`.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file whose bytes do not have the expected format.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// A configuration value outside its allowed range, refused before any work starts.
    #[error("invalid setting `{field}`: {message}")]
    Config { field: String, message: String },
    /// Data that is well-formed but unusable (NaN, wrong shapes, labels out of range...).
    #[error("{source_name}: {message}")]
    Data {
        source_name: String,
        message: String,
    },
    /// Training produced a non-finite loss.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the loss became {loss}; \
         lower the learning rate (--lr) or use a different optimiser"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    /// The caller stopped a long computation (Python's Ctrl-C during `train`, a Monte Carlo
    /// estimate or an eigenvalue): `steps` are training steps or samples done (0 for an
    /// eigenvalue, from [`crate::linalg::Interrupted`]).
    #[error("interrupted after {steps} steps")]
    Interrupted { steps: u64 },
    /// Data that had to be found or downloaded (MNIST) is not available.
    #[error("{0}")]
    Fetch(String),
    /// A command would allocate more memory than the budget (see `limits`), refused before
    /// any work starts; the message names the estimate and the largest setting that fits.
    #[error("{0}")]
    Memory(String),
}

/// Shorthand for `Result<T, Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
    pub fn format(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn data(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Data {
            source_name: source_name.into(),
            message: message.into(),
        }
    }
}

impl From<crate::linalg::Interrupted> for Error {
    fn from(_: crate::linalg::Interrupted) -> Self {
        Error::Interrupted { steps: 0 }
    }
}
