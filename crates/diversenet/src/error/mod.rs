//! The crate's one error type: every failure a user can cause names the file, the setting
//! or the data, and what was expected, as fields. Settings are named in one neutral
//! spelling (the snake_case option name) and rendered by each front end: [`Error::render`]
//! with the front end's [`Spelling`] (`--lr` on the command line, `lr=` in Python); the
//! `Display` of an error is its rendering in the library's own spelling, [`Neutral`].

mod memory;
mod message;

use std::fmt;
use std::path::{Path, PathBuf};

pub use memory::{Advice, Budget, BudgetSource, MemoryRefusal};
pub use message::{Message, Neutral, Piece, Spelling};

/// Everything that can go wrong in the library.
#[derive(Debug)]
pub enum Error {
    /// An operating-system error while reading or writing `path`.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file whose bytes do not have the expected format.
    Format { path: PathBuf, message: Message },
    /// A setting's value outside what it allows, refused before any work starts.
    Config {
        /// The setting, by its snake_case option name (`batch_size`).
        setting: &'static str,
        /// The value given, as text, where the refusal is about one value.
        value: Option<String>,
        /// What the setting allows.
        expected: Expected,
    },
    /// Data that is well-formed but unusable (NaN, wrong shapes, labels out of range...).
    Data {
        source_name: String,
        message: Message,
    },
    /// Training produced a non-finite loss.
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    /// The caller stopped a long computation (Python's Ctrl-C during `train`, a Monte Carlo
    /// estimate or an eigenvalue): `steps` are training steps or samples done (0 for an
    /// eigenvalue, from [`crate::linalg::Interrupted`]).
    Interrupted { steps: u64 },
    /// Data that had to be found or downloaded (MNIST) is not available.
    Fetch(Message),
    /// Work whose estimated memory exceeds the budget (see `limits`), refused before it
    /// starts.
    Memory(Box<MemoryRefusal>),
}

/// What a setting allows (the range or the spellings), as [`Error::Config`] states it.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// A finite number > 0.
    Positive,
    /// A finite number >= 0.
    NonNegative,
    /// A number in [0, 1).
    UnitInterval,
    /// A whole number of at least `min` `unit`s (`1` `hidden unit`).
    AtLeast { min: u64, unit: &'static str },
    /// One of these spellings, in words (`f32 or f64`).
    OneOf(&'static str),
    /// The setting has no effect beside the others given (why, in words): refused, since a
    /// silent no-op hides a mistake.
    NoEffect(Message),
    /// Anything else, in words.
    Described(Message),
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
    pub fn format(path: impl AsRef<Path>, message: impl Into<Message>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
    /// A setting refused with a message in words ([`Expected::Described`]).
    pub fn config(setting: &'static str, message: impl Into<Message>) -> Self {
        Error::Config {
            setting,
            value: None,
            expected: Expected::Described(message.into()),
        }
    }
    /// A setting whose `value` is not what it allows.
    pub fn setting(setting: &'static str, value: impl fmt::Display, expected: Expected) -> Self {
        Error::Config {
            setting,
            value: Some(value.to_string()),
            expected,
        }
    }
    /// A setting that would have no effect beside the others given, and why.
    pub fn no_effect(setting: &'static str, why: impl Into<Message>) -> Self {
        Error::Config {
            setting,
            value: None,
            expected: Expected::NoEffect(why.into()),
        }
    }
    pub fn data(source_name: impl Into<String>, message: impl Into<Message>) -> Self {
        Error::Data {
            source_name: source_name.into(),
            message: message.into(),
        }
    }

    /// The settings this error names (the refused one first), in their neutral spelling.
    pub fn settings(&self) -> Vec<&'static str> {
        match self {
            Error::Config {
                setting, expected, ..
            } => {
                let mut out = vec![*setting];
                if let Expected::NoEffect(m) | Expected::Described(m) = expected {
                    out.extend(m.settings());
                }
                out
            }
            Error::Format { message, .. } | Error::Data { message, .. } | Error::Fetch(message) => {
                message.settings()
            }
            Error::Diverged { .. } => vec!["lr"],
            Error::Memory(refusal) => {
                let mut out = vec!["max_memory"];
                match &refusal.advice {
                    Some(Advice::Largest { setting, .. }) => out.push(setting),
                    Some(Advice::NothingFits { what, remedy }) => {
                        out.extend(what.settings());
                        out.extend(remedy.iter().flat_map(|r| r.settings()));
                    }
                    _ => {}
                }
                out
            }
            Error::Io { .. } | Error::Interrupted { .. } => Vec::new(),
        }
    }

    /// The error in a front end's `spelling` of the settings it names.
    pub fn render(&self, s: &dyn Spelling) -> String {
        match self {
            Error::Io { path, source } => format!("{}: {source}", path.display()),
            Error::Format { path, message } => format!("{}: {}", path.display(), message.render(s)),
            Error::Config {
                setting,
                value,
                expected,
            } => format!(
                "invalid setting {}: {}",
                s.setting(setting),
                expected_in_words(value.as_deref(), expected, s)
            ),
            Error::Data {
                source_name,
                message,
            } => format!("{source_name}: {}", message.render(s)),
            Error::Diverged { epoch, step, loss } => format!(
                "training diverged at epoch {epoch}, step {step}: the loss became {loss}; lower \
                 the learning rate ({}) or use a different optimiser",
                s.setting("lr")
            ),
            Error::Interrupted { steps } => format!("interrupted after {steps} steps"),
            Error::Fetch(message) => message.render(s),
            Error::Memory(refusal) => refusal.render(s),
        }
    }
}

/// What a setting allows, in words, after the value given (where there is one).
fn expected_in_words(value: Option<&str>, expected: &Expected, s: &dyn Spelling) -> String {
    let value = value.unwrap_or("the value");
    match expected {
        Expected::Positive => format!("{value} is not a finite value > 0"),
        Expected::NonNegative => format!("{value} is not a finite value >= 0"),
        Expected::UnitInterval => format!("{value} is not in [0, 1)"),
        Expected::AtLeast { min, unit: "" } => format!("must be at least {min}"),
        Expected::AtLeast { min, unit } => format!("must be at least {min} {unit}"),
        Expected::OneOf(spellings) => format!("`{value}`: expected {spellings}"),
        Expected::NoEffect(why) => {
            format!("it does not apply here: {}; leave it out", why.render(s))
        }
        Expected::Described(message) => message.render(s),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Neutral))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<crate::linalg::Interrupted> for Error {
    fn from(_: crate::linalg::Interrupted) -> Self {
        Error::Interrupted { steps: 0 }
    }
}

impl From<MemoryRefusal> for Error {
    fn from(refusal: MemoryRefusal) -> Self {
        Error::Memory(Box::new(refusal))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
