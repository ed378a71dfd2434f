//! The plan of the whole reproduction: each experiment's own plan (sizes, seeds, grids),
//! the quick plan derived from the full one (same structure, fewer seeds, points and
//! epochs), the runs it needs given the results so far, and a summary with the number of
//! runs and a compute estimate for `reproduce --plan`.

use super::{diversity, kernel, loss_bound, mnist_reg, synthetic_reg, Experiment, RunSpec};

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub quick: bool,
    pub loss_bound: loss_bound::Plan,
    pub diversity: diversity::Plan,
    pub kernel: kernel::Plan,
    pub synthetic: synthetic_reg::Plan,
    pub mnist: mnist_reg::Plan,
}

impl Plan {
    pub fn full() -> Self {
        Self {
            quick: false,
            loss_bound: loss_bound::Plan::full(),
            diversity: diversity::Plan::full(),
            kernel: kernel::Plan::full(),
            synthetic: synthetic_reg::Plan::full(),
            mnist: mnist_reg::Plan::full(),
        }
    }
    /// The full plan shrunk: fewer seeds, points, grid values and epochs.
    pub fn quick() -> Self {
        let full = Self::full();
        Self {
            quick: true,
            loss_bound: full.loss_bound.quick(),
            diversity: full.diversity.quick(),
            kernel: full.kernel.quick(),
            synthetic: full.synthetic.quick(),
            mnist: full.mnist.quick(),
        }
    }
    pub fn new(quick: bool) -> Self {
        if quick {
            Self::quick()
        } else {
            Self::full()
        }
    }

    /// Every run needed given what is known; MNIST's grows as its validation errors arrive
    /// (`mnist_validation` gives a stored run's validation error).
    pub fn runs(
        &self,
        with_mnist: bool,
        mnist_validation: &dyn Fn(&mnist_reg::Spec) -> Option<f64>,
    ) -> Vec<RunSpec> {
        let mut out: Vec<RunSpec> = Vec::new();
        out.extend(self.loss_bound.runs().into_iter().map(RunSpec::LossBound));
        out.extend(self.diversity.runs().into_iter().map(RunSpec::Diversity));
        out.extend(self.kernel.runs().into_iter().map(RunSpec::Kernel));
        out.extend(self.synthetic.runs().into_iter().map(RunSpec::SyntheticReg));
        if with_mnist {
            out.extend(
                self.mnist
                    .runs(mnist_validation)
                    .into_iter()
                    .map(RunSpec::MnistReg),
            );
        }
        out
    }

    /// Per experiment: its sizes, the number of runs, and a compute estimate.
    pub fn summary(&self) -> PlanSummary {
        // MNIST's evaluation runs wait for its selection: count them as if every grid's
        // choice were known (the middle value; the count does not depend on which).
        let mut runs = self.runs(false, &|_| None);
        let no_widening = mnist_reg::Plan {
            max_widening: 0,
            ..self.mnist.clone()
        };
        runs.extend(
            no_widening
                .runs(&|_| Some(0.0))
                .into_iter()
                .map(RunSpec::MnistReg),
        );
        let per = |e: Experiment| runs.iter().filter(move |r| r.experiment() == e);
        let entry = |e: Experiment, sizes: serde_json::Value, at_most: Option<usize>| {
            let count = per(e).count();
            ExperimentPlan {
                experiment: e,
                title: e.title().into(),
                runs: count,
                runs_at_most: at_most.unwrap_or(count),
                estimated_seconds: per(e).map(RunSpec::estimated_seconds).sum::<f64>()
                    * at_most.map_or(1.0, |m| m as f64 / count.max(1) as f64),
                sizes,
            }
        };
        let lb = &self.loss_bound;
        let dv = &self.diversity;
        let kn = &self.kernel;
        let sy = &self.synthetic;
        let mn = &self.mnist;
        let experiments = vec![
            entry(
                Experiment::LossBound,
                serde_json::json!({"seeds": lb.seeds, "widths": [lb.width, lb.narrow_width], "arms": lb.arms, "steps": lb.steps, "data": lb.data}),
                None,
            ),
            entry(
                Experiment::Diversity,
                serde_json::json!({"seeds": dv.seeds, "widths": dv.widths, "epochs": dv.epochs, "treatments": dv.treatments.iter().map(|t| t.label()).collect::<Vec<_>>(), "checkpoints": dv.checkpoints()}),
                None,
            ),
            entry(
                Experiment::Spectrum,
                serde_json::json!({"seeds": kn.seeds, "dims": kn.dims, "points": kn.points, "width": kn.width, "sweep_widths": kn.sweep_widths, "spectrum_dims": kn.spectrum_dims}),
                None,
            ),
            entry(
                Experiment::SyntheticRegularizer,
                serde_json::json!({"seeds": sy.seeds, "teachers_(d,width)": sy.teachers, "noises": sy.noises, "train_sizes": sy.train_sizes, "widths": sy.cells().iter().map(|c| c.1).collect::<std::collections::BTreeSet<_>>(), "lambdas": sy.lambdas(), "epochs": sy.epochs}),
                None,
            ),
            entry(
                Experiment::MnistRegularizer,
                serde_json::json!({"seeds": mn.seeds, "selection_seeds": mn.selection_seeds, "widths": mn.widths, "epochs": mn.epochs, "schedule": mn.schedule, "losses": mn.arms.iter().map(|a| a.loss.to_string()).collect::<Vec<_>>(), "lambda_grids": mn.arms[0].regs.iter().map(|(k, g)| (k.to_string(), g.iter().map(|&k| super::common::half_decade(k)).collect::<Vec<_>>())).collect::<Vec<_>>(), "grid_widening_steps": mn.max_widening}),
                Some(mn.most_runs()),
            ),
        ];
        PlanSummary {
            quick: self.quick,
            runs: experiments.iter().map(|e| e.runs).sum(),
            runs_at_most: experiments.iter().map(|e| e.runs_at_most).sum(),
            estimated_seconds: experiments.iter().map(|e| e.estimated_seconds).sum(),
            estimate_note: ESTIMATE_NOTE.into(),
            experiments,
        }
    }
}

/// How the compute estimate was made.
pub const ESTIMATE_NOTE: &str = "single-process compute on the 2-core development machine, from per-run costs \
    measured in the first edition's full run and scaled by each run's size; rough (within a factor of 2)";

/// `reproduce --plan`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlanSummary {
    pub quick: bool,
    /// Runs known before any result (MNIST's evaluation runs included; its grid widening not).
    pub runs: usize,
    /// Runs if every MNIST grid is widened fully.
    pub runs_at_most: usize,
    pub estimated_seconds: f64,
    pub estimate_note: String,
    pub experiments: Vec<ExperimentPlan>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ExperimentPlan {
    pub experiment: Experiment,
    pub title: String,
    pub runs: usize,
    pub runs_at_most: usize,
    pub estimated_seconds: f64,
    /// Seeds, widths, lambda grids, epochs.
    pub sizes: serde_json::Value,
}
