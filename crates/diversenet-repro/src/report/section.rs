//! One experiment's part of the report ([`Section`]: blocks, claims, CSV files, numbers for
//! `results.json`), the claims with their scope and verdict, the verdict vocabulary, and the
//! number formats every section shares.

use std::collections::BTreeMap;

use serde_json::Value;

use super::document::{slug, Block};
use super::plot::{svg, PlotSpec, Series};

/// A verdict computed from the numbers by a stated rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    /// The paper's finding holds in the scope tested.
    #[serde(rename = "reproduced")]
    Reproduced,
    /// It holds in part of the scope (some cells, some families).
    #[serde(rename = "partly")]
    Partly,
    /// The data exclude it (the paper's effect is ruled out, or the opposite shown).
    #[serde(rename = "not reproduced")]
    NotReproduced,
    /// No effect, shown as equivalence within a pre-registered margin (not from a large p).
    #[serde(rename = "equivalent-null")]
    EquivalentNull,
    /// Neither the effect nor its absence is shown: the data cannot decide.
    #[serde(rename = "undecided")]
    Undecided,
    /// The sign differs between families or cells (both numbers are given).
    #[serde(rename = "mixed")]
    Mixed,
    /// An identity or theorem that holds by construction: it checks the code.
    #[serde(rename = "consistency check")]
    ConsistencyCheck,
    /// A comparison the paper did not make: reported, without a reproduction verdict.
    #[serde(rename = "beyond the paper")]
    BeyondPaper,
    #[serde(rename = "not run")]
    NotRun,
}

impl Verdict {
    pub const ALL: [Verdict; 9] = [
        Self::Reproduced,
        Self::Partly,
        Self::NotReproduced,
        Self::EquivalentNull,
        Self::Undecided,
        Self::Mixed,
        Self::ConsistencyCheck,
        Self::BeyondPaper,
        Self::NotRun,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Self::Reproduced => "reproduced",
            Self::Partly => "partly",
            Self::NotReproduced => "not reproduced",
            Self::EquivalentNull => "equivalent-null",
            Self::Undecided => "undecided",
            Self::Mixed => "mixed",
            Self::ConsistencyCheck => "consistency check",
            Self::BeyondPaper => "beyond the paper",
            Self::NotRun => "not run",
        }
    }
    /// Which table of the report the claim goes to.
    pub fn table(self) -> ClaimTable {
        match self {
            Self::ConsistencyCheck => ClaimTable::Checks,
            Self::BeyondPaper => ClaimTable::Beyond,
            _ => ClaimTable::Findings,
        }
    }
}

/// The three claims tables of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimTable {
    Findings,
    Beyond,
    Checks,
}

/// One row of a claims table (and of `results.json`'s `"claims"`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Claim {
    /// Stable identifier, e.g. `rq5-synthetic-gain`.
    pub id: String,
    /// What is claimed (the paper's finding, another paper's, or the identity checked).
    pub claim: String,
    /// What was tested: optimiser, initial scale, widths, data.
    pub scope: String,
    pub verdict: Verdict,
    /// The headline number first, then the deciding statistic in words and numbers.
    pub statistic: String,
    /// The rule the verdict follows, and what it rests on.
    pub evidence: String,
    /// The report section (HTML anchor) with the tables and plots.
    pub section: String,
}

/// One experiment's part of the report.
#[derive(Default)]
pub struct Section {
    pub anchor: String,
    pub blocks: Vec<Block>,
    pub claims: Vec<Claim>,
    pub csv: Vec<(String, String)>,
    pub numbers: BTreeMap<String, Value>,
}

impl Section {
    /// A section under the heading `title`.
    pub fn new(title: &str) -> Self {
        Self {
            anchor: slug(title),
            blocks: vec![Block::Heading(2, title.into())],
            ..Self::default()
        }
    }
    pub fn heading(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Heading(3, text.into()));
    }
    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }
    pub fn plot(&mut self, file: &str, caption: &str, spec: PlotSpec<'_>, series: &[Series]) {
        self.blocks.push(Block::Plot {
            file: format!("plots/{file}"),
            caption: caption.to_string(),
            svg: svg(&spec, series),
        });
    }
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        });
    }
    /// The configuration, folded.
    pub fn config(&mut self, value: &impl serde::Serialize) {
        self.blocks.push(Block::Details {
            summary: "Configuration".into(),
            body: serde_json::to_string_pretty(value).expect("serialises"),
        });
    }
    /// A claim of this section.
    pub fn claim(&mut self, claim: ClaimText<'_>, verdict: Verdict, statistic: impl Into<String>) {
        self.claims.push(Claim {
            id: claim.id.into(),
            claim: claim.claim.into(),
            scope: claim.scope.into(),
            verdict,
            statistic: statistic.into(),
            evidence: claim.rule.into(),
            section: self.anchor.clone(),
        });
    }
    pub fn csv(&mut self, name: &str, text: String) {
        self.csv.push((name.into(), text));
    }
    pub fn number(&mut self, key: &str, value: Value) {
        self.numbers.insert(key.into(), value);
    }
}

/// The words of a claim: its id, what is claimed, its scope and the rule of its verdict.
#[derive(Clone, Copy, Debug)]
pub struct ClaimText<'a> {
    pub id: &'a str,
    pub claim: &'a str,
    pub scope: &'a str,
    pub rule: &'a str,
}

/// "1e-3", "3.2e-3", "0.3", "10": a lambda or a small value, compactly.
pub fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if !v.is_finite() {
        format!("{v}")
    } else if (0.01..1e4).contains(&v.abs()) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    }
}

/// A p-value: "0.012", "p < 0.001" style ("< 0.001" below 0.001).
pub fn fmt_p(p: f64) -> String {
    if p.is_nan() {
        "—".into()
    } else if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// "p = 0.012" or "p < 0.001".
pub fn p_eq(p: f64) -> String {
    let f = fmt_p(p);
    if f.starts_with('<') {
        format!("p {f}")
    } else {
        format!("p = {f}")
    }
}

/// A relative change from a log-ratio r: "-12.3%" (100 (e^r - 1)).
pub fn fmt_ratio_pct(log_ratio: f64) -> String {
    if !log_ratio.is_finite() {
        return format!("{log_ratio}");
    }
    format!("{:+.1}%", 100.0 * log_ratio.exp_m1())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_values_below_a_thousandth_are_bounded_not_rounded_to_zero() {
        assert_eq!(fmt_p(0.0004), "< 0.001");
        assert_eq!(p_eq(0.0), "p < 0.001");
        assert_eq!(p_eq(0.0123), "p = 0.012");
        assert_eq!(fmt_p(1.0), "1.000");
    }

    #[test]
    fn values_and_ratios_read_compactly() {
        assert_eq!(fmt_value(1e-3), "1e-3");
        assert_eq!(fmt_value(0.1), "0.1");
        assert_eq!(fmt_value(1000.0), "1000");
        assert_eq!(fmt_value(3.162e-3), "3.2e-3");
        assert_eq!(fmt_ratio_pct((0.75f64).ln()), "-25.0%");
        assert_eq!(fmt_ratio_pct(0.0), "+0.0%");
    }

    #[test]
    fn claims_serialise_in_the_documented_shape() {
        let mut s = Section::new("RQ9: a test");
        s.claim(
            ClaimText {
                id: "x",
                claim: "c",
                scope: "Adam, std 1, n = 50",
                rule: "r",
            },
            Verdict::EquivalentNull,
            "s",
        );
        let v = serde_json::to_value(&s.claims[0]).unwrap();
        for k in [
            "id",
            "claim",
            "scope",
            "verdict",
            "statistic",
            "evidence",
            "section",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["verdict"], "equivalent-null");
        assert_eq!(v["section"], "rq9-a-test");
        for verdict in Verdict::ALL {
            assert_eq!(serde_json::to_value(verdict).unwrap(), verdict.label());
        }
    }
}
