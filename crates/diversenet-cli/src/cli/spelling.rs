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
