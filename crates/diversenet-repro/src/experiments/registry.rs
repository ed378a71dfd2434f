//! What an experiment is to the reproduction. Each experiment is one module implementing
//! [`Study`] (its plan, its typed run specification and result, how a run executes, its
//! cost model and its report section, verdicts included) and one line of
//! [`super::REGISTRY`]; the driver, the store, `--plan` and the report see it only through
//! the type-erased [`Experiment`], with specifications and results as JSON.

use std::collections::HashMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use diversenet::error::{Error, Result};

use super::common::MnistSplit;
use super::store::StoredRun;
use crate::report::section::Section;

/// One run of the reproduction: its experiment's id and its typed specification as JSON.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    pub experiment: String,
    pub spec: Value,
}

/// Data a run needs prepared once and shared with the runs that need the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataNeed {
    None,
    /// MNIST split into `train` training and `validation` validation images, and the
    /// first `test` test images.
    Mnist {
        train: usize,
        validation: usize,
        test: usize,
    },
}

/// The shared data a run executes on.
#[derive(Clone, Copy, Default)]
pub struct Shared<'a> {
    pub mnist: Option<&'a MnistSplit>,
}

impl Shared<'_> {
    /// The MNIST split (the driver prepares it for every run whose [`Study::data`] asks).
    pub fn mnist(&self) -> Result<&MnistSplit> {
        self.mnist
            .ok_or_else(|| Error::config("data", "an MNIST run without MNIST prepared"))
    }
}

/// What a report section knows besides its runs.
#[derive(Clone, Debug, Default)]
pub struct ReportContext {
    pub quick: bool,
    /// Why MNIST is unavailable (its experiments report "not run").
    pub mnist_missing: Option<String>,
    /// MNIST's directory where the command named one (the regenerate command keeps it).
    pub data_dir: Option<std::path::PathBuf>,
}

/// An experiment's typed stored results, looked up by specification.
pub struct Runs<S: Study> {
    pub pairs: Vec<(S::Spec, S::Outcome)>,
    index: HashMap<String, usize>,
}

impl<S: Study> Runs<S> {
    pub fn new(pairs: Vec<(S::Spec, S::Outcome)>) -> Self {
        let index = pairs
            .iter()
            .enumerate()
            .map(|(i, (s, _))| (spec_text(s), i))
            .collect();
        Self { pairs, index }
    }
    pub fn get(&self, spec: &S::Spec) -> Option<&S::Outcome> {
        self.index.get(&spec_text(spec)).map(|&i| &self.pairs[i].1)
    }
    pub fn iter(&self) -> impl Iterator<Item = &(S::Spec, S::Outcome)> {
        self.pairs.iter()
    }
    pub fn len(&self) -> usize {
        self.pairs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

fn spec_text(s: &impl Serialize) -> String {
    serde_json::to_string(s).expect("specifications serialise")
}

/// The results stored so far, as an experiment's plan asks for them.
pub type Known<'a, S> = dyn Fn(&<S as Study>::Spec) -> Option<<S as Study>::Outcome> + 'a;

/// An experiment's plan: the full one, its quick version, and the runs it needs.
pub trait StudyPlan<S: Study>: Sized {
    /// The full plan.
    fn full() -> Self;
    /// The quick plan, derived from the full one (fewer seeds, points and epochs).
    fn quick(&self) -> Self;
    /// Every run needed given the results stored so far (an adaptive plan grows as they
    /// arrive).
    fn runs(&self, known: &Known<'_, S>) -> Vec<S::Spec>;
}

/// One experiment, typed.
pub trait Study: 'static + Sized {
    /// Stable identifier (part of every run's key).
    const ID: &'static str;
    /// The report section's heading.
    const TITLE: &'static str;
    /// Whether its runs need MNIST (without it, the experiment is skipped and says why).
    const USES_MNIST: bool = false;
    type Plan: StudyPlan<Self> + Clone + Serialize + Send + Sync;
    type Spec: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    type Outcome: Clone + Serialize + DeserializeOwned + Send + Sync;

    /// The full plan, or the quick one.
    fn plan(quick: bool) -> Self::Plan {
        let full = Self::Plan::full();
        if quick {
            full.quick()
        } else {
            full
        }
    }
    /// For `--plan`: the runs expected before any result (adaptive plans: as if every
    /// choice were made without widening a grid), and the most it may need.
    fn expected(plan: &Self::Plan) -> (Vec<Self::Spec>, usize) {
        let runs = plan.runs(&|_| None);
        let n = runs.len();
        (runs, n)
    }
    /// Seeds, sizes and grids, for `--plan`.
    fn sizes(plan: &Self::Plan) -> Value;
    /// Estimated seconds of one run on one core of the 2-core development machine.
    fn seconds(spec: &Self::Spec) -> f64;
    fn data(_spec: &Self::Spec) -> DataNeed {
        DataNeed::None
    }
    fn execute(spec: &Self::Spec, shared: &Shared<'_>) -> Result<Self::Outcome>;
    /// The report section, claims and verdicts included.
    fn section(plan: &Self::Plan, runs: &Runs<Self>, ctx: &ReportContext) -> Section;
}

/// `--plan`'s entry of one experiment.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExperimentPlan {
    pub id: &'static str,
    pub title: &'static str,
    pub runs: usize,
    /// Adaptive plans: the most runs they may need.
    pub runs_at_most: usize,
    pub estimated_seconds: f64,
    pub sizes: Value,
}

/// An experiment as the driver, the store and the report see it.
pub trait Experiment: Sync {
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    fn uses_mnist(&self) -> bool;
    fn runs(&self, quick: bool, known: &dyn Fn(&RunSpec) -> Option<Value>) -> Vec<RunSpec>;
    fn summary(&self, quick: bool) -> ExperimentPlan;
    fn data(&self, spec: &RunSpec) -> Result<DataNeed>;
    fn seconds(&self, spec: &RunSpec) -> f64;
    fn execute(&self, spec: &RunSpec, shared: &Shared<'_>) -> Result<Value>;
    fn section(&self, quick: bool, runs: &[&StoredRun], ctx: &ReportContext) -> Section;
    /// The plan, as the report's configuration block shows it.
    fn plan_json(&self, quick: bool) -> Value;
}

/// A [`Study`] behind [`Experiment`].
pub struct Registered<S>(PhantomData<fn() -> S>);

impl<S> Registered<S> {
    pub const NEW: Self = Self(PhantomData);
}

impl<S: Study> Registered<S> {
    fn wrap(spec: &S::Spec) -> RunSpec {
        RunSpec {
            experiment: S::ID.into(),
            spec: serde_json::to_value(spec).expect("specifications serialise"),
        }
    }
    fn typed(spec: &RunSpec) -> Result<S::Spec> {
        serde_json::from_value(spec.spec.clone())
            .map_err(|e| Error::config("run", format!("not a run of experiment {}: {e}", S::ID)))
    }
}

impl<S: Study> Experiment for Registered<S> {
    fn id(&self) -> &'static str {
        S::ID
    }
    fn title(&self) -> &'static str {
        S::TITLE
    }
    fn uses_mnist(&self) -> bool {
        S::USES_MNIST
    }
    fn runs(&self, quick: bool, known: &dyn Fn(&RunSpec) -> Option<Value>) -> Vec<RunSpec> {
        let typed_known =
            |spec: &S::Spec| known(&Self::wrap(spec)).and_then(|v| serde_json::from_value(v).ok());
        S::plan(quick)
            .runs(&typed_known)
            .iter()
            .map(Self::wrap)
            .collect()
    }
    fn summary(&self, quick: bool) -> ExperimentPlan {
        let plan = S::plan(quick);
        let (runs, at_most) = S::expected(&plan);
        let seconds: f64 = runs.iter().map(S::seconds).sum();
        ExperimentPlan {
            id: S::ID,
            title: S::TITLE,
            runs: runs.len(),
            runs_at_most: at_most.max(runs.len()),
            estimated_seconds: seconds,
            sizes: S::sizes(&plan),
        }
    }
    fn data(&self, spec: &RunSpec) -> Result<DataNeed> {
        Ok(S::data(&Self::typed(spec)?))
    }
    fn seconds(&self, spec: &RunSpec) -> f64 {
        Self::typed(spec).map_or(0.0, |s| S::seconds(&s))
    }
    fn execute(&self, spec: &RunSpec, shared: &Shared<'_>) -> Result<Value> {
        let outcome = S::execute(&Self::typed(spec)?, shared)?;
        Ok(serde_json::to_value(outcome).expect("results serialise"))
    }
    fn section(&self, quick: bool, runs: &[&StoredRun], ctx: &ReportContext) -> Section {
        let pairs = runs
            .iter()
            .filter(|r| r.spec.experiment == S::ID)
            .filter_map(|r| {
                let spec = serde_json::from_value(r.spec.spec.clone()).ok()?;
                let outcome = serde_json::from_value(r.outcome.clone()).ok()?;
                Some((spec, outcome))
            })
            .collect();
        S::section(&S::plan(quick), &Runs::new(pairs), ctx)
    }
    fn plan_json(&self, quick: bool) -> Value {
        serde_json::to_value(S::plan(quick)).expect("plans serialise")
    }
}

/// Runs an adaptive plan to completion on outcomes made up by `outcome` (tests, and the
/// planted results of the verdict tests): asks for runs, "executes" the new ones, and
/// repeats until nothing new is needed.
pub fn simulate<S: Study>(
    plan: &S::Plan,
    mut outcome: impl FnMut(&S::Spec) -> S::Outcome,
) -> Runs<S> {
    let mut done = Runs::<S>::new(Vec::new());
    loop {
        let new: Vec<S::Spec> = plan
            .runs(&|s| done.get(s).cloned())
            .into_iter()
            .filter(|s| done.get(s).is_none())
            .collect();
        if new.is_empty() {
            return done;
        }
        let mut pairs = std::mem::take(&mut done.pairs);
        for s in new {
            let o = outcome(&s);
            if !pairs.iter().any(|(d, _)| *d == s) {
                pairs.push((s, o));
            }
        }
        done = Runs::new(pairs);
    }
}
