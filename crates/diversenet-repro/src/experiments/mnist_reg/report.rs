//! RQ5 MNIST's report section: the baselines, every arm's paired change per (optimiser,
//! initial scale) with TOST and Holm, lambda raw and scale-free, the diagnostics of W, and
//! the claims: the paper's gain per scope (and over all of them), and the comparisons
//! beyond the paper (the null control, coupled L2 and decoupled weight decay).

use std::fmt::Write as _;

use diversenet::regularizer::Coupling;

use crate::experiments::registry::{ReportContext, Runs, Study};
use crate::experiments::rules::{effect_verdict, Edge, Judgement};
use crate::experiments::stats::{mean_interval, mean_sd, MeanInterval};
use crate::report::plot::{PlotSpec, Series};
use crate::report::section::{fmt_p, fmt_value, ClaimText, Section, Verdict};

use super::analysis::{Baseline, Cell, Setting};
use super::{analyse, Arm, MnistReg, Plan};

fn fmt_ci(m: &MeanInterval) -> String {
    format!("{:+.2} [{:+.2}, {:+.2}]", m.mean, m.low, m.high)
}

fn edge(e: Edge) -> &'static str {
    match e {
        Edge::Inside => "",
        Edge::Lowest => " (edge: lowest)",
        Edge::Highest => " (edge: highest)",
    }
}

/// The edge note of a lambda selection, saying when the curve is flat there.
fn edge_note(s: &crate::experiments::rules::Selection) -> String {
    match (s.edge, s.edge_within_noise) {
        (Edge::Inside, _) => String::new(),
        (e, false) => edge(e).into(),
        (e, true) => format!("{}, flat within noise)", edge(e).trim_end_matches(')')),
    }
}

fn label(j: &Judgement) -> &'static str {
    match (j.gain, j.harm, j.equivalent, j.paper_effect_excluded) {
        (true, _, _, _) => "gain",
        (_, true, _, _) => "harm",
        (_, _, true, _) => "equivalent",
        (_, _, _, true) => "paper's gain excluded",
        _ => "open",
    }
}

/// The scopes (optimiser, initial scale) in plan order.
fn scopes(plan: &Plan) -> Vec<Setting> {
    let mut out: Vec<Setting> = Vec::new();
    for s in plan.settings() {
        if !out.iter().any(|o| o.same_scope(&s)) {
            out.push(s);
        }
    }
    out
}

fn not_run(s: &mut Section, why: &str) {
    s.paragraph(format!("Not run: {why}."));
    for (id, claim) in [
        (
            "rq5-mnist-gain",
            "The regulariser lowers MNIST test error at every width, by 0.2 to 0.7 points",
        ),
        (
            "rq5-mnist-null-control",
            "The regulariser's effect exceeds a random perturbation of the same size",
        ),
        (
            "rq5-mnist-vs-weight-decay",
            "The regulariser's effect against L2 and decoupled weight decay",
        ),
    ] {
        s.claim(
            ClaimText {
                id,
                claim,
                scope: "MNIST",
                rule: "needs MNIST",
            },
            Verdict::NotRun,
            "MNIST unavailable",
        );
    }
}

pub fn section(plan: &Plan, runs: &Runs<MnistReg>, ctx: &ReportContext) -> Section {
    let mut s = Section::new(MnistReg::TITLE);
    if let Some(why) = &ctx.mnist_missing {
        not_run(&mut s, why);
        return s;
    }
    s.paragraph(format!(
        "A factorial: optimiser (Adam lr 0.01; SGD with momentum 0.9, its learning rate chosen from {:?} by the \
         unregularised runs' validation error) × initial scale of W (entries with std {:?}; std 1 gives ‖w_k‖ ≈ 28, and \
         since ∇R scales as 1/‖w‖ the same λ is 10× weaker than at std 0.1) × width ({}) × arm. The arms: the \
         discrepancy regulariser coupled (its gradient added before the optimiser, which rescales it), decoupled (W ← W \
         − lr_t λ ∇R after the optimiser's step, like AdamW; Adam only: under SGD it is the coupled arm without \
         momentum's 1/(1 − 0.9) amplification, one decade of λ), the null control (each unit's λ ∂R/∂w_k replaced by a \
         random direction orthogonal to w_k of the same norm, coupled), coupled L2 (λ‖W‖² in the loss) and AdamW's \
         decoupled weight decay (Adam only, for the same reason). Cross-entropy, {} epochs, {:?} schedule, batch 128, \
         inputs on the unit sphere, trained output layer; {} training and {} validation images from the 60,000, the \
         first {} of the 10,000 test images for testing. λ is chosen per cell and arm on a decade grid by the mean validation error of \
         seeds 0–{} (widened by up to {} decades while the choice sits at its edge), then run on the evaluation seeds \
         {}–{} and compared with the unregularised run of the same seed. Changes are in percentage points of test \
         error; p is a paired t-test, Holm-corrected over the widths × arms of each optimiser and initial scale; a null \
         is stated only as equivalence within the pre-registered ±{} points (TOST: the 90% interval inside the \
         margin). λ is also given in a scale-free unit: λ‖∇R‖/‖∇L‖ at initialisation.",
        plan.optimizer(super::Optimizer::Sgd).lrs,
        plan.init_scales,
        super::report_claims::widths_text(plan),
        plan.epochs,
        plan.schedule,
        plan.train_samples,
        plan.validation,
        plan.test_samples,
        plan.selection_seeds - 1,
        plan.max_widening,
        plan.selection_seeds,
        plan.selection_seeds + plan.eval_seeds - 1,
        plan.margin_points
    ));
    s.config(plan);
    let mut csv = String::from("seed,optimizer,lr,init_scale,width,arm,lambda,diverged,validation_error,test_error,train_loss,r_initial,r_final,mean_row_norm_initial,mean_row_norm_final,grad_loss_initial,grad_loss_final,term_ratio_initial,term_ratio_final\n");
    for (spec, o) in runs.iter() {
        let snap = |x: &Option<super::Snapshot>, f: fn(&super::Snapshot) -> f64| {
            x.as_ref().map_or(String::new(), |v| f(v).to_string())
        };
        let ratio = |x: &Option<super::Snapshot>| {
            x.as_ref()
                .map_or(String::new(), |v| v.ratio(spec.lambda).to_string())
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            spec.seed,
            spec.optimizer.name(),
            spec.lr,
            spec.init_scale,
            spec.width,
            spec.arm.map_or("none", Arm::name),
            spec.lambda,
            o.diverged,
            o.validation_error,
            o.test_error,
            o.train_loss.map_or(String::new(), |v| v.to_string()),
            snap(&o.initial, |v| v.r),
            snap(&o.last, |v| v.r),
            snap(&o.initial, |v| v.mean_row_norm),
            snap(&o.last, |v| v.mean_row_norm),
            snap(&o.initial, |v| v.grad_loss),
            snap(&o.last, |v| v.grad_loss),
            ratio(&o.initial),
            ratio(&o.last),
        );
    }
    s.csv("rq5_mnist.csv", csv);
    let (baselines, cells) = analyse(plan, runs);
    baseline_table(&mut s, &baselines);
    for scope in scopes(plan) {
        scope_tables(&mut s, plan, &scope, &cells, &baselines);
    }
    super::report_claims::claims(&mut s, plan, &cells);
    s
}

fn baseline_table(s: &mut Section, baselines: &[Baseline]) {
    let rows = baselines
        .iter()
        .map(|b| {
            let m = mean_interval(&b.test.values().copied().collect::<Vec<_>>());
            vec![
                b.setting.scope(),
                b.setting.width.to_string(),
                format!("{}{}", fmt_value(b.lr), edge(b.lr_edge)),
                format!("{:.2} [{:.2}, {:.2}]", m.mean, m.low, m.high),
                format!(
                    "{:.1}",
                    mean_sd(&b.last.iter().map(|x| x.mean_row_norm).collect::<Vec<_>>()).0
                ),
                format!(
                    "{:.4}",
                    mean_sd(&b.last.iter().map(|x| x.r).collect::<Vec<_>>()).0
                ),
                b.diverged.to_string(),
            ]
        })
        .collect();
    s.table(
        &[
            "optimiser, initial scale",
            "width",
            "lr",
            "test error (%) [95% CI]",
            "final mean ‖w_k‖",
            "final R(W)",
            "diverged",
        ],
        rows,
    );
    let mut scopes: Vec<Setting> = Vec::new();
    for b in baselines {
        if !scopes.iter().any(|x| x.same_scope(&b.setting)) {
            scopes.push(b.setting);
        }
    }
    let series: Vec<Series> = scopes
        .iter()
        .map(|scope| {
            let pts: Vec<(f64, MeanInterval)> = baselines
                .iter()
                .filter(|b| b.setting.same_scope(scope))
                .map(|b| {
                    (
                        b.setting.width as f64,
                        mean_interval(&b.test.values().copied().collect::<Vec<_>>()),
                    )
                })
                .collect();
            Series::line(
                scope.scope(),
                pts.iter().map(|(w, m)| (*w, m.mean)).collect(),
            )
            .with_markers()
            .with_intervals(pts.iter().map(|(w, m)| (*w, m.low, m.high)).collect())
        })
        .collect();
    s.plot(
        "rq5_mnist_baseline.svg",
        "RQ5 MNIST: the unregularised networks' test error (%) against width per optimiser and initial scale, mean \
         and 95% interval over the evaluation seeds (dodged)",
        PlotSpec::new("baseline test error (%)", "width n", "test error (%)", true, false)
            .with_x_ticks({
                let mut w: Vec<f64> = baselines.iter().map(|b| b.setting.width as f64).collect();
                w.sort_by(f64::total_cmp);
                w.dedup();
                w
            })
            .with_dodge(0.04),
        &series,
    );
}

fn scope_tables(
    s: &mut Section,
    plan: &Plan,
    scope: &Setting,
    cells: &[Cell],
    baselines: &[Baseline],
) {
    let mine: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.setting.same_scope(scope))
        .collect();
    s.heading(scope.scope());
    let rows = mine
        .iter()
        .map(|c| {
            vec![
                c.setting.width.to_string(),
                c.arm.name().into(),
                format!(
                    "{}{}",
                    fmt_value(c.selection.chosen),
                    edge_note(&c.selection)
                ),
                format!("{:.2e}", c.scale_free),
                format!("{} pts", fmt_ci(&c.change.interval)),
                format!("[{:+.2}, {:+.2}]", c.tost.ci90_low, c.tost.ci90_high),
                format!("{}/{}", c.change.improved(), c.change.changes.len()),
                format!("{} / {}", fmt_p(c.change.p), fmt_p(c.change.p_holm)),
                label(&c.judgement()).into(),
            ]
        })
        .collect();
    s.table(
        &[
            "width",
            "arm",
            "λ (by validation)",
            "λ‖∇R‖/‖∇L‖ at init",
            "test error change [95% CI]",
            "90% CI (TOST)",
            "seeds improved",
            "p / Holm",
            "reading",
        ],
        rows,
    );
    let diag = mine
        .iter()
        .map(|c| {
            let base = baselines
                .iter()
                .find(|b| b.setting == c.setting)
                .map(|b| &b.last[..])
                .unwrap_or(&[]);
            let m = |v: &[super::Snapshot], f: fn(&super::Snapshot) -> f64| {
                mean_sd(&v.iter().map(f).collect::<Vec<_>>()).0
            };
            vec![
                c.setting.width.to_string(),
                c.arm.name().into(),
                format!("{:.4} → {:.4}", m(base, |x| x.r), m(&c.last, |x| x.r)),
                format!(
                    "{:.2} → {:.2}",
                    m(base, |x| x.mean_row_norm),
                    m(&c.last, |x| x.mean_row_norm)
                ),
                format!("{:.2e}", c.final_ratio),
                c.diverged.to_string(),
            ]
        })
        .collect();
    s.table(
        &[
            "width",
            "arm",
            "final R(W): none → arm",
            "final mean ‖w_k‖: none → arm",
            "final λ‖∇R‖/‖∇L‖",
            "diverged",
        ],
        diag,
    );
    let mut arms: Vec<Arm> = Vec::new();
    for c in &mine {
        if !arms.contains(&c.arm) {
            arms.push(c.arm);
        }
    }
    let series: Vec<Series> = arms
        .iter()
        .map(|a| {
            let cs: Vec<&&Cell> = mine.iter().filter(|c| c.arm == *a).collect();
            Series::line(
                a.name(),
                cs.iter()
                    .map(|c| (c.setting.width as f64, c.change.interval.mean))
                    .collect(),
            )
            .with_markers()
            .with_intervals(
                cs.iter()
                    .map(|c| {
                        (
                            c.setting.width as f64,
                            c.change.interval.low,
                            c.change.interval.high,
                        )
                    })
                    .collect(),
            )
        })
        .chain([Series::line(
            "−0.2 (the paper's smallest gain)",
            plan.widths_of(scope.optimizer)
                .iter()
                .map(|&w| (w as f64, -plan.paper_gain_points))
                .collect(),
        )
        .dotted()])
        .collect();
    let slug = format!(
        "{}_std{}",
        scope.optimizer.name().to_lowercase(),
        scope.init_scale.to_string().replace('.', "")
    );
    s.plot(
        &format!("rq5_mnist_change_{slug}.svg"),
        &format!(
            "RQ5 MNIST, {}: test error change (points) at the chosen λ per arm, mean and 95% interval over the \
             evaluation seeds (dodged)",
            scope.scope()
        ),
        PlotSpec::new("test error change (points)", "width n", "change (points)", true, false)
            .with_x_ticks(
                plan.widths_of(scope.optimizer)
                    .iter()
                    .map(|&w| w as f64)
                    .collect(),
            )
            .with_dodge(0.05),
        &series,
    );
}

/// The diversity arms of a scope (coupled, and decoupled where run).
pub fn diversity_arms(cells: &[Cell], scope: &Setting) -> Vec<Arm> {
    let mut out = Vec::new();
    for c in cells
        .iter()
        .filter(|c| c.setting.same_scope(scope) && c.arm.is_diversity())
    {
        if !out.contains(&c.arm) {
            out.push(c.arm);
        }
    }
    out
}

/// The judgements of one arm over the widths of a scope, with "big enough" per width.
pub fn judged(
    plan: &Plan,
    cells: &[Cell],
    scope: &Setting,
    arm: Arm,
) -> (Vec<Judgement>, Vec<bool>) {
    let mine: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.setting.same_scope(scope) && c.arm == arm)
        .collect();
    (
        mine.iter().map(|c| c.judgement()).collect(),
        mine.iter().map(|c| c.big_enough(plan)).collect(),
    )
}

/// The verdict of one diversity arm in one scope.
pub fn arm_verdict(plan: &Plan, cells: &[Cell], scope: &Setting, arm: Arm) -> Verdict {
    let (j, big) = judged(plan, cells, scope, arm);
    effect_verdict(&j, &big)
}

/// Whether an arm is the null control.
pub fn is_null(a: Arm) -> bool {
    a == Arm::Diversity(Coupling::NullControl)
}
