//! A refusal of work that would not fit the memory budget ([`crate::limits`]), with the
//! estimate, the budget and where it comes from, and advice, as fields.

use super::message::{Message, Spelling};
use crate::limits::{format_bytes, DEFAULT_SHARE};

/// Where the memory budget comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum BudgetSource {
    /// Set by the caller ([`crate::limits::set_memory_budget`], the CLI's `max_memory`).
    Set,
    /// [`DEFAULT_SHARE`] of the memory the operating system reports as available.
    Available { bytes: u64 },
    /// [`DEFAULT_SHARE`] of the memory installed (where the available memory is not reported).
    Installed { bytes: u64 },
    /// The machine's memory could not be read: [`crate::limits::FALLBACK_BYTES`].
    Unreadable,
}

/// The memory budget in bytes and where it comes from (named in refusals).
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub bytes: u64,
    pub source: BudgetSource,
}

/// What would fit instead, as a refusal's advice.
#[derive(Clone, Debug, PartialEq)]
pub enum Advice {
    /// The largest value of a setting that fits (`the largest width that fits is 1200`).
    Largest { setting: &'static str, value: usize },
    /// At most `count` of `what` fit (`at most 5000 epochs fit`).
    AtMost { count: usize, what: String },
    /// Not even the smallest setting fits (`even width 1 does not fit`), with what to do
    /// instead besides raising the budget (`use less data`), if anything.
    NothingFits {
        what: Message,
        remedy: Option<Message>,
    },
}

impl Advice {
    /// The largest value of `setting` that fits (`fits`), or, where none does (`None`),
    /// that `nothing` fits, with `remedy` if any.
    pub fn largest(
        setting: &'static str,
        fits: Option<usize>,
        nothing: &str,
        remedy: Option<Message>,
    ) -> Option<Self> {
        Some(match fits {
            Some(value) => Advice::Largest { setting, value },
            None => Advice::NothingFits {
                what: nothing.into(),
                remedy,
            },
        })
    }
}

/// Work refused before it starts because its estimated memory exceeds the budget.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryRefusal {
    /// The work: `training a width-100 network on 60000 x 784 inputs`.
    pub task: String,
    /// Estimated bytes.
    pub needed: f64,
    /// The largest parts of the estimate, largest first (at most three), in bytes.
    pub largest_parts: Vec<(String, f64)>,
    pub budget: Budget,
    pub advice: Option<Advice>,
}

impl MemoryRefusal {
    /// The refusal in `spelling`.
    pub fn render(&self, s: &dyn Spelling) -> String {
        let parts = self
            .largest_parts
            .iter()
            .map(|(w, b)| format!("{w} {}", format_bytes(*b)))
            .collect::<Vec<_>>()
            .join(", ");
        let advice = match &self.advice {
            None => String::new(),
            Some(a) => format!("; {}", render_advice(a, s)),
        };
        format!(
            "{} would need about {} of memory ({parts}), more than the budget of {} ({}){advice}",
            self.task,
            format_bytes(self.needed),
            format_bytes(self.budget.bytes as f64),
            render_source(&self.budget.source, s),
        )
    }
}

/// `change it with --max-memory`, or what the front end does instead.
fn how_to_change(s: &dyn Spelling) -> String {
    if s.offers("max_memory") {
        format!("change it with {}", s.setting("max_memory"))
    } else {
        format!("{} always uses this budget", s.front_end())
    }
}

fn render_source(source: &BudgetSource, s: &dyn Spelling) -> String {
    let share = |bytes: u64, what: &str| {
        format!(
            "{:.0}% of the {} {what}; {}",
            DEFAULT_SHARE * 100.0,
            format_bytes(bytes as f64),
            how_to_change(s)
        )
    };
    match source {
        BudgetSource::Set => format!("set by {}", s.setting("max_memory")),
        BudgetSource::Available { bytes } => share(*bytes, "available"),
        BudgetSource::Installed { bytes } => share(*bytes, "installed"),
        BudgetSource::Unreadable => {
            format!(
                "the machine's memory could not be read; {}",
                how_to_change(s)
            )
        }
    }
}

fn render_advice(advice: &Advice, s: &dyn Spelling) -> String {
    match advice {
        Advice::Largest { setting, value } => {
            format!("the largest {} that fits is {value}", s.setting(setting))
        }
        Advice::AtMost { count, what } => format!("at most {count} {what} fit"),
        Advice::NothingFits { what, remedy } => {
            let raise = s
                .offers("max_memory")
                .then(|| format!("raise {}", s.setting("max_memory")));
            let options: Vec<String> = remedy.iter().map(|r| r.render(s)).chain(raise).collect();
            if options.is_empty() {
                what.render(s)
            } else {
                format!("{}: {}", what.render(s), options.join(" or "))
            }
        }
    }
}
