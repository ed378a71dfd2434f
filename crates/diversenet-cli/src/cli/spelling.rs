//! How the command line writes the settings that library errors name: `--batch-size`,
//! `--threads 4`, and the program's commands as typed.

use diversenet::error::Spelling;

/// The command line's spelling of settings: the flag of each (`batch_size` is
/// `--batch-size`).
pub struct Flags;

/// The flag of setting `name` (snake_case): `--batch-size`.
pub fn flag(name: &str) -> String {
    format!("--{}", name.replace('_', "-"))
}

impl Spelling for Flags {
    fn setting(&self, name: &str) -> String {
        flag(name)
    }
    fn setting_value(&self, name: &str, value: &str) -> String {
        format!("{} {value}", flag(name))
    }
    fn front_end(&self) -> &str {
        "the command line"
    }
    fn command(&self, words: &str, args: &[(&str, &str)]) -> String {
        let args: String = args
            .iter()
            .map(|(name, value)| format!(" {}", self.setting_value(name, value)))
            .collect();
        format!("`diversenet {words}{args}`")
    }
}

/// An error and its causes for the terminal, each printed once (a cause whose text the
/// message already holds, such as an OS error quoted by the library's message, is not
/// repeated); the library's errors name settings by their flags.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = match cause.downcast_ref::<diversenet::Error>() {
            Some(library) => library.render(&Flags),
            None => cause.to_string(),
        };
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

/// The refusal of a negative number given to a flag that takes a count or a seed (`--width
/// -3`, `--seed=-1`), which clap reports as an unknown argument `-3` or as a value it
/// cannot read; `None` for any other parse error. `args` are the program's arguments.
pub fn negative_count(
    error: &clap::Error,
    args: impl IntoIterator<Item = String>,
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let negative = |v: &str| {
        v.strip_prefix('-')
            .is_some_and(|n| n.parse::<f64>().is_ok())
    };
    let (flag, value) = match error.kind() {
        // `--width -3`: clap took -3 for a flag; the flag before it wanted the value.
        ErrorKind::UnknownArgument => {
            let value = context(ContextKind::InvalidArg).filter(|v| negative(v))?;
            let args: Vec<String> = args.into_iter().collect();
            let at = args.iter().position(|a| *a == value)?;
            let flag = args[..at].last().filter(|f| f.starts_with("--"))?.clone();
            (flag, value)
        }
        // `--width=-3`: the value reached the flag's parser, which takes no sign.
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            let value = context(ContextKind::InvalidValue).filter(|v| negative(v))?;
            let flag = context(ContextKind::InvalidArg)?;
            let flag = flag.split_whitespace().next()?.to_string();
            (flag, value)
        }
        _ => return None,
    };
    Some(format!(
        "invalid value '{value}' for {flag}: it must be a whole number, 0 or more (a count or \
         a seed; see the flag's minimum in --help), not a negative number"
    ))
}
