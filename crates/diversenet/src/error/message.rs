//! Messages that name settings. A message keeps the settings it names apart from its words
//! ([`Piece::Setting`]), so that each front end writes them its own way through a
//! [`Spelling`]: `--batch-size` on the command line, `batch_size=` in Python, and
//! `` `batch_size` `` in the library's own rendering ([`Neutral`], its `Display`). A
//! setting is named by its neutral spelling, the snake_case option name.

use std::fmt;

/// How a front end writes the settings that messages name.
pub trait Spelling {
    /// The setting `name` (snake_case), as this front end's user writes it: `--lr`, `lr=`.
    fn setting(&self, name: &str) -> String;
    /// The setting `name` given `value`: `--threads 4`, `threads=4`.
    fn setting_value(&self, name: &str, value: &str) -> String;
    /// Whether this front end's user can change the setting at all (the Python package
    /// has no memory budget or thread count of its own); advice to change a setting that is
    /// not offered is left out or replaced.
    fn offers(&self, _name: &str) -> bool {
        true
    }
    /// This front end in words, for a setting it does not offer: "the Python package".
    fn front_end(&self) -> &str {
        "this program"
    }
    /// The `diversenet` program's command `words` (`fetch mnist`) with settings `args`.
    fn command(&self, words: &str, args: &[(&str, &str)]) -> String {
        let args: Vec<String> = args
            .iter()
            .map(|(name, value)| self.setting_value(name, value))
            .collect();
        if args.is_empty() {
            format!("the command `diversenet {words}`")
        } else {
            format!("the command `diversenet {words}` with {}", args.join(", "))
        }
    }
}

/// The library's own spelling: a setting is its snake_case name in backticks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neutral;

impl Spelling for Neutral {
    fn setting(&self, name: &str) -> String {
        format!("`{name}`")
    }
    fn setting_value(&self, name: &str, value: &str) -> String {
        format!("`{name}` = {value}")
    }
}

/// One part of a [`Message`].
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    /// Words, the same for every front end.
    Text(String),
    /// A setting, by its snake_case name.
    Setting(&'static str),
    /// A setting with a value (`threads` = 4).
    SettingValue(&'static str, String),
    /// A command of the `diversenet` program (`fetch mnist`) with settings and values.
    Command(&'static str, Vec<(&'static str, String)>),
}

/// Words and the settings they name; built with [`Message::from`] and the chained
/// [`Message::setting`], [`Message::text`], ...
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message(Vec<Piece>);

impl Message {
    /// Appends words.
    pub fn text(mut self, words: impl Into<String>) -> Self {
        self.0.push(Piece::Text(words.into()));
        self
    }
    /// Appends the setting `name` (snake_case).
    pub fn setting(mut self, name: &'static str) -> Self {
        self.0.push(Piece::Setting(name));
        self
    }
    /// Appends the setting `name` with `value`.
    pub fn setting_value(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.0.push(Piece::SettingValue(name, value.to_string()));
        self
    }
    /// Appends a command of the `diversenet` program with its settings.
    pub fn command(mut self, words: &'static str, args: &[(&'static str, &str)]) -> Self {
        let args = args.iter().map(|(n, v)| (*n, v.to_string())).collect();
        self.0.push(Piece::Command(words, args));
        self
    }
    /// Appends another message.
    pub fn then(mut self, other: Message) -> Self {
        self.0.extend(other.0);
        self
    }
    /// The parts, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.0
    }
    /// The settings named, in order.
    pub fn settings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for piece in &self.0 {
            match piece {
                Piece::Setting(name) | Piece::SettingValue(name, _) => out.push(*name),
                Piece::Command(_, args) => out.extend(args.iter().map(|(n, _)| *n)),
                Piece::Text(_) => {}
            }
        }
        out
    }
    /// The message in `spelling`.
    pub fn render(&self, spelling: &dyn Spelling) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(words) => out.push_str(words),
                Piece::Setting(name) => out.push_str(&spelling.setting(name)),
                Piece::SettingValue(name, value) => {
                    out.push_str(&spelling.setting_value(name, value))
                }
                Piece::Command(words, args) => {
                    let args: Vec<(&str, &str)> =
                        args.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    out.push_str(&spelling.command(words, &args))
                }
            }
        }
        out
    }
}

impl From<String> for Message {
    fn from(words: String) -> Self {
        Message(vec![Piece::Text(words)])
    }
}

impl From<&str> for Message {
    fn from(words: &str) -> Self {
        Message::from(words.to_string())
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Neutral))
    }
}

/// Stored (a run's `summary.json`) in the library's own spelling; read back as words.
impl serde::Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Message::from)
    }
}
