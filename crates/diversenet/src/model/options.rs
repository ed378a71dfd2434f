//! The training options, declared once: each option's name, the value it takes, its default
//! and its help. [`TrainSettings::default`](super::TrainSettings) takes its defaults from
//! here; the command line's flags and help, the Python package's keywords, its `train`
//! signature and docstring, its type stub and `docs/training-options.md` derive from this
//! table or are checked against it by tests.

use std::str::FromStr;

use crate::error::{Message, Spelling};
use crate::regularizer::registry;

/// What an option is when it is not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionDefault {
    /// This number.
    Number(&'static str),
    /// This name (quoted in Python).
    Name(&'static str),
    /// This number where the option applies; giving it where it would have no effect is
    /// refused, so a front end tells "given" from "not given" (Python: None).
    WhereApplicable(&'static str),
    /// Chosen from the data, or nothing, as the help says (Python: None).
    Unset,
}

impl OptionDefault {
    /// The value as a user writes it, if the option has one when not given.
    pub fn value(self) -> Option<&'static str> {
        match self {
            Self::Number(v) | Self::Name(v) | Self::WhereApplicable(v) => Some(v),
            Self::Unset => None,
        }
    }
}

/// Which front ends offer an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontEnds {
    /// The command line and Python.
    Both,
    /// The command line only (its runs on disk).
    CommandLine,
}

/// One training option.
pub struct TrainOption {
    /// The neutral name (snake_case): Python's keyword (`lambda_` for `lambda`, a Python
    /// keyword), the command line's flag in kebab-case (`--batch-size`).
    pub name: &'static str,
    /// What the value is, for help (`N`, `LR`, `NAME`).
    pub value: &'static str,
    pub default: OptionDefault,
    /// The command line's own default and why it differs, where it does.
    pub command_line_default: Option<(&'static str, &'static str)>,
    /// What it does (settings named in it are spelled by each front end).
    pub help: fn() -> Message,
    pub front_ends: FrontEnds,
}

impl TrainOption {
    /// The default parsed as `T` (the option must have one).
    pub fn default_as<T: FromStr>(&self) -> T {
        self.default
            .value()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("option {} has no default of this type", self.name))
    }
    /// The help in `spelling`, with what the option is when it is not given (where the
    /// value is not shown beside it, as the command line shows a [`OptionDefault::Number`]
    /// or [`OptionDefault::Name`]).
    pub fn help_in(&self, spelling: &dyn Spelling) -> String {
        let help = (self.help)().render(spelling);
        match self.default {
            OptionDefault::WhereApplicable(v) => format!("{help} Default {v} where it applies."),
            _ => help,
        }
    }
}

const fn option(
    name: &'static str,
    value: &'static str,
    default: OptionDefault,
    help: fn() -> Message,
) -> TrainOption {
    TrainOption {
        name,
        value,
        default,
        command_line_default: None,
        help,
        front_ends: FrontEnds::Both,
    }
}

use OptionDefault::{Name, Number, Unset, WhereApplicable};

/// Every training option, in the order front ends list them.
pub const TRAIN_OPTIONS: &[TrainOption] = &[
    option("width", "N", Number("100"), || "Hidden units n.".into()),
    option("epochs", "N", Number("20"), || {
        "Passes over the training set.".into()
    }),
    option("seed", "N", Number("0"), || {
        "Seed of the initial weights, the minibatches and the sampled regularisers (and of \
         the held-out split)."
            .into()
    }),
    option("optimizer", "NAME", Name("adam"), || {
        "gd (full batch) | sgd (minibatches, with momentum) | adam.".into()
    }),
    option("lr", "LR", Number("0.01"), || "Learning rate.".into()),
    option("momentum", "M", WhereApplicable("0.9"), || {
        "Momentum of sgd (sgd only).".into()
    }),
    option("lr_schedule", "SCHEDULE", Name("constant"), || {
        "constant | cosine | step:EVERY_EPOCHS:FACTOR (e.g. step:10:0.5).".into()
    }),
    option("batch_size", "N", WhereApplicable("128"), || {
        "Samples per step of sgd and adam (gd steps on the whole training set).".into()
    }),
    option("loss", "NAME", Unset, || {
        "squared | cross-entropy. Default: squared for real targets, cross-entropy for \
         classes."
            .into()
    }),
    option("output_layer", "NAME", Unset, || {
        "fixed (+/-1, the theory's setting) | trained. Default: fixed for real targets, \
         trained for classes."
            .into()
    }),
    option("input_scaling", "NAME", Name("sphere"), || {
        "sphere | standardise | raw, fitted on the training set.".into()
    }),
    option("precision", "NAME", Name("f32"), || "f32 | f64.".into()),
    option("init_scale", "S", Unset, || {
        "Standard deviation of W's initial entries. Default: 1/sqrt(mean ||x||^2), divided \
         by sqrt(n) when V is fixed."
            .into()
    }),
    option("reg", "NAME", Unset, || {
        Message::from("Regularisers of W (several: repeat the flag, or a list), each with the ")
            .setting("lambda")
            .text(" at the same position:")
            .then(registry::help())
    }),
    option("lambda", "LAMBDA", Unset, || {
        Message::from("Strength of each of ")
            .setting("reg")
            .text(" (one value applies to all).")
    }),
    option("weight_decay", "WD", Number("0.0"), || {
        "Decoupled weight decay of W, as in AdamW: each step shrinks W by the factor \
         1 - lr_t * WD, apart from the gradient (with every optimizer); 0: none."
            .into()
    }),
    option("reg_every", "K", WhereApplicable("1"), || {
        "Apply the regularisers every K steps, scaled to keep their average: cheaper for \
         large widths."
            .into()
    }),
    option("reg_sample", "K", Unset, || {
        format!(
            "Estimate the pairwise regularisers ({}) from K random partner units per step: \
             unbiased, O(n K d) instead of O(n^2 d). Default: exact.",
            registry::names_where(true)
        )
        .into()
    }),
    TrainOption {
        command_line_default: Some((
            "0",
            "an exact pass over the training set costs about as much as an epoch, so the \
             command line logs each epoch's running averages unless asked",
        )),
        ..option("exact_metrics", "K", Number("1"), || {
            "Exact training metrics (loss, error and the full gradient's norm over the whole \
             training set, one extra pass) at epoch 0, every K epochs and after the last; 0: \
             never, the epoch's running averages instead (`train_loss_kind` in the metrics)."
                .into()
        })
    },
    option("test_fraction", "F", WhereApplicable("0.2"), || {
        "Share of the samples held out as the test set (a seeded split) when no separate \
         test set is given, in [0, 1); 0: no split, both sets are every sample."
            .into()
    }),
    TrainOption {
        front_ends: FrontEnds::CommandLine,
        ..option("checkpoint_every", "N", Number("1"), || {
            "Write a resumable checkpoint every N epochs (and after the last).".into()
        })
    },
];

/// The option `name` (panics for a name that is none: a programming error).
pub fn train_option(name: &str) -> &'static TrainOption {
    TRAIN_OPTIONS
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no training option `{name}`"))
}

/// The default of option `name`, parsed.
pub fn default_of<T: FromStr>(name: &str) -> T {
    train_option(name).default_as()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OptimizerKind, TrainSettings};

    /// Every name once; every default parses as the option's type, and
    /// `TrainSettings::default()` holds them.
    #[test]
    fn the_table_names_each_option_once_with_defaults_the_settings_hold() {
        for (i, o) in TRAIN_OPTIONS.iter().enumerate() {
            assert!(
                TRAIN_OPTIONS[..i].iter().all(|p| p.name != o.name),
                "{} twice",
                o.name
            );
        }
        let d = TrainSettings::default();
        assert_eq!(d.width, default_of::<usize>("width"));
        assert_eq!(d.epochs, default_of::<usize>("epochs"));
        assert_eq!(d.seed, default_of::<u64>("seed"));
        assert_eq!(d.optimizer.name(), default_of::<String>("optimizer"));
        assert_eq!(d.lr, default_of::<f64>("lr"));
        assert_eq!(
            crate::model::optim::DEFAULT_MOMENTUM,
            default_of::<f64>("momentum")
        );
        assert_eq!(
            OptimizerKind::parse("sgd", default_of("momentum")).unwrap(),
            OptimizerKind::Sgd { momentum: 0.9 }
        );
        assert_eq!(
            d.schedule,
            default_of::<String>("lr_schedule").parse().unwrap()
        );
        assert_eq!(d.batch_size, default_of::<usize>("batch_size"));
        assert_eq!((d.loss, d.output_layer, d.init_scale), (None, None, None));
        assert_eq!(
            d.scaling,
            default_of::<String>("input_scaling").parse().unwrap()
        );
        assert_eq!(
            d.precision,
            default_of::<String>("precision").parse().unwrap()
        );
        assert!(d.regularizers.is_empty() && d.reg_sampling.is_none());
        assert_eq!(d.weight_decay, default_of::<f64>("weight_decay"));
        assert_eq!(d.reg_every, default_of::<usize>("reg_every"));
        assert_eq!(d.exact_metrics_every, default_of::<usize>("exact_metrics"));
        assert_eq!(d.checkpoint_every, default_of::<usize>("checkpoint_every"));
        assert_eq!(default_of::<f64>("test_fraction"), 0.2);
        // The regularisers' help comes from their registry.
        let reg = train_option("reg").help_in(&crate::error::Neutral);
        for family in registry::FAMILIES {
            assert!(reg.contains(family.name), "{reg}");
        }
    }
}
