//! The regularisers, listed once: each family's name as users write it, its help, whether
//! it is a sum over pairs of units (what sampling estimates), and the members the
//! benchmarks time. Parsing, the front ends' help and the benchmarks derive from it; adding
//! a regulariser is its value and gradient in this module and an entry here.

use std::sync::LazyLock;

use crate::error::Message;

use super::RegularizerKind;

/// A family of regularisers.
pub struct Family {
    /// How users name it (a pattern for families with variants: `mhe[0|1|2][-angular]`).
    pub name: &'static str,
    /// What it is, for help texts (settings named in it are spelled by each front end).
    pub help: fn() -> Message,
    /// Whether its value is a sum over pairs of units, which sampling estimates from K
    /// partner units per step (the others are always computed exactly).
    pub pair_sum: bool,
    /// Every member.
    pub kinds: &'static [RegularizerKind],
    /// The members `bench reg` times.
    pub benched: &'static [RegularizerKind],
}

const fn mhe(power: u32, angular: bool) -> RegularizerKind {
    RegularizerKind::Mhe { power, angular }
}

/// Every regulariser, family by family.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "discrepancy",
        help: || {
            "the paper's diversity regulariser, (1/n^2) sum_{k,l} ((pi - theta_kl)/(2 pi))^2".into()
        },
        pair_sum: true,
        kinds: &[RegularizerKind::Discrepancy],
        benched: &[RegularizerKind::Discrepancy],
    },
    Family {
        name: "mhe[0|1|2][-angular]",
        help: || {
            "minimum hyperspherical energy of power s (mhe: s = 2), over the distances of the \
             units' directions or their angles (-angular)"
                .into()
        },
        pair_sum: true,
        kinds: &[
            mhe(0, false),
            mhe(0, true),
            mhe(1, false),
            mhe(1, true),
            mhe(2, false),
            mhe(2, true),
        ],
        benched: &[mhe(2, false), mhe(0, true)],
    },
    Family {
        name: "mma",
        help: || "maximal minimal angle, -(1/n) sum_k min_{l != k} theta_kl".into(),
        pair_sum: false,
        kinds: &[RegularizerKind::Mma],
        benched: &[RegularizerKind::Mma],
    },
    Family {
        name: "orthogonal",
        help: || "soft orthogonality ||U U^T - I||_F^2 of the unit rows U".into(),
        pair_sum: true,
        kinds: &[RegularizerKind::Orthogonal],
        benched: &[RegularizerKind::Orthogonal],
    },
    Family {
        name: "weight-decay",
        help: || {
            Message::from(
                "lambda ||W||^2 added to the loss, which Adam rescales (AdamW's \
                           decoupled decay is ",
            )
            .setting("weight_decay")
            .text(")")
        },
        pair_sum: false,
        kinds: &[RegularizerKind::WeightDecay],
        benched: &[RegularizerKind::WeightDecay],
    },
];

/// Every regulariser.
pub fn all_kinds() -> impl Iterator<Item = RegularizerKind> {
    FAMILIES.iter().flat_map(|f| f.kinds.iter().copied())
}

/// The regularisers `bench reg` times.
pub fn benched_kinds() -> impl Iterator<Item = RegularizerKind> {
    FAMILIES.iter().flat_map(|f| f.benched.iter().copied())
}

/// The family of `kind`.
pub fn family(kind: RegularizerKind) -> &'static Family {
    FAMILIES
        .iter()
        .find(|f| f.kinds.contains(&kind))
        .expect("every kind is listed in FAMILIES")
}

/// Names in words: `a, b or c` (`and` with `conjunction`).
fn in_words<'a>(names: impl Iterator<Item = &'a str>, conjunction: &str) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} {conjunction} {last}", rest.join(", "))
        }
        _ => names.concat(),
    }
}

/// Every family's name: `discrepancy, mhe[0|1|2][-angular], mma, orthogonal or weight-decay`.
pub fn names() -> &'static str {
    static NAMES: LazyLock<String> =
        LazyLock::new(|| in_words(FAMILIES.iter().map(|f| f.name), "or"));
    &NAMES
}

/// The names of the families that are (`pair_sum`) or are not pair sums: `a, b and c`.
pub fn names_where(pair_sum: bool) -> String {
    let names = FAMILIES.iter().filter(|f| f.pair_sum == pair_sum);
    in_words(names.map(|f| f.name), "and")
}

/// One line per family, `name: help`, for help texts.
pub fn help() -> Message {
    FAMILIES.iter().fold(Message::default(), |m, f| {
        m.text(format!("\n  {}: ", f.name)).then((f.help)())
    })
}
