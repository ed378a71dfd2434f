//! RQ5 MNIST's claims: the paper's gain per scope (optimiser, initial scale, coupling) and
//! over all of them, and the comparisons beyond the paper (the null control, coupled L2,
//! decoupled weight decay).

use diversenet::regularizer::Coupling;

use crate::experiments::rules::effect_verdict;
use crate::experiments::stats::{mean_interval, MeanInterval};
use crate::report::section::{p_eq, ClaimText, Section, Verdict};

use super::analysis::{Cell, Setting};
use super::report::{arm_verdict, diversity_arms, judged};
use super::{Arm, Plan};

fn fmt_ci(m: &MeanInterval) -> String {
    format!("{:+.2} [{:+.2}, {:+.2}]", m.mean, m.low, m.high)
}

/// "n ∈ [50, 100, 200]", with the widths an optimiser was not run at.
pub fn widths_text(plan: &Plan) -> String {
    let mut out = format!("n ∈ {:?}", plan.widths);
    for o in &plan.optimizers {
        let run_at = plan.widths_of(o.optimizer);
        if run_at != plan.widths {
            out += &format!(" ({} at {run_at:?} only)", o.optimizer.name());
        }
    }
    out
}

/// `a` minus `b` in test error points, paired by width and seed, within a scope.
fn arm_difference(cells: &[Cell], scope: &Setting, a: Arm, b: Arm) -> Option<MeanInterval> {
    let diff: Vec<f64> = cells
        .iter()
        .filter(|c| c.setting.same_scope(scope) && c.arm == a)
        .flat_map(|c| {
            let other = cells.iter().find(|x| x.setting == c.setting && x.arm == b);
            c.by_seed
                .iter()
                .filter_map(move |(seed, v)| other.and_then(|o| o.by_seed.get(seed)).map(|w| v - w))
        })
        .collect();
    (!diff.is_empty()).then(|| mean_interval(&diff))
}

fn scopes_of(cells: &[Cell]) -> Vec<Setting> {
    let mut out: Vec<Setting> = Vec::new();
    for c in cells {
        if !out.iter().any(|o| o.same_scope(&c.setting)) {
            out.push(c.setting);
        }
    }
    out
}

const GAIN_RULE: &str = "per width, the paired test error change (points) at the chosen λ: a gain or harm is a \
    Holm-corrected paired t p < 0.05 (over the widths × arms of the optimiser and initial scale); equivalence: TOST \
    within the pre-registered ±0.2 points (the 90% interval inside); the paper's gain is excluded where a one-sided t \
    rejects a gain of 0.2 points. Reproduced if every width gains by at least 0.2 points, partly if some width gains, \
    mixed if another is harmed, not reproduced if some width is harmed or every width excludes the paper's gain, \
    equivalent-null if every width is equivalent, undecided otherwise";

pub fn claims(s: &mut Section, plan: &Plan, cells: &[Cell]) {
    let widths = widths_text(plan);
    let seeds = format!(
        "λ by validation on {} seeds, {} evaluation seeds",
        plan.selection_seeds, plan.eval_seeds
    );
    let mut all_j = Vec::new();
    let mut all_big = Vec::new();
    let mut per_scope = Vec::new();
    let mut rows = Vec::new();
    for scope in scopes_of(cells) {
        for arm in diversity_arms(cells, &scope) {
            let (j, big) = judged(plan, cells, &scope, arm);
            all_j.extend(j.iter().copied());
            all_big.extend(big.iter().copied());
            let verdict = arm_verdict(plan, cells, &scope, arm);
            let coupling = match arm {
                Arm::Diversity(Coupling::Decoupled) => "decoupled",
                _ => "coupled",
            };
            let mine: Vec<&Cell> = cells
                .iter()
                .filter(|c| c.setting.same_scope(&scope) && c.arm == arm)
                .collect();
            let scope_text = format!("{}, {coupling}", scope.scope());
            per_scope.push(format!("{scope_text}: {}", verdict.label()));
            rows.push((
                format!(
                    "rq5-mnist-gain-{}-std{}-{coupling}",
                    scope.optimizer.name().to_lowercase(),
                    scope.init_scale.to_string().replace('.', "")
                ),
                format!(
                    "{scope_text}, cross-entropy, n ∈ {:?}, {seeds}",
                    plan.widths_of(scope.optimizer)
                ),
                verdict,
                mine.iter()
                    .map(|c| {
                        format!(
                            "n={}: {:+.2} (90% [{:+.2}, {:+.2}], Holm {})",
                            c.setting.width,
                            c.change.interval.mean,
                            c.tost.ci90_low,
                            c.tost.ci90_high,
                            p_eq(c.change.p_holm)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
    }
    let best = cells
        .iter()
        .filter(|c| c.arm.is_diversity())
        .min_by(|a, b| a.change.interval.mean.total_cmp(&b.change.interval.mean));
    s.claim(
        ClaimText {
            id: "rq5-mnist-gain",
            claim: "The regulariser lowers MNIST test error at every width, by 0.2 to 0.7 points (over every scope \
                    tested)",
            scope: &format!(
                "optimisers Adam and SGD with momentum, initial std {:?}, the regulariser coupled and (Adam) decoupled, \
                 cross-entropy, {widths}, {seeds}",
                plan.init_scales
            ),
            rule: &format!("the rule of the per-scope rows below, over all their widths together. {GAIN_RULE}"),
        },
        effect_verdict(&all_j, &all_big),
        format!(
            "best {} pts ({}, n = {}); equivalent within ±0.2 in {} of {} cells; {}",
            best.map_or("—".into(), |c| format!("{:+.2}", c.change.interval.mean)),
            best.map_or("—".into(), |c| format!("{}, {}", c.setting.scope(), c.arm.name())),
            best.map_or(0, |c| c.setting.width),
            all_j.iter().filter(|j| j.equivalent).count(),
            all_j.len(),
            per_scope.join("; ")
        ),
    );
    for (id, scope, verdict, stat) in rows {
        s.claim(
            ClaimText {
                id: &id,
                claim:
                    "The regulariser lowers MNIST test error at every width, by 0.2 to 0.7 points",
                scope: &scope,
                rule: GAIN_RULE,
            },
            verdict,
            stat,
        );
    }
    let coupled = Arm::Diversity(Coupling::Coupled);
    let mut null_parts = Vec::new();
    let mut peer_parts = Vec::new();
    for scope in scopes_of(cells) {
        if let Some(d) = arm_difference(
            cells,
            &scope,
            coupled,
            Arm::Diversity(Coupling::NullControl),
        ) {
            null_parts.push(format!(
                "{}: {} pts (n = {})",
                scope.scope(),
                fmt_ci(&d),
                d.n
            ));
        }
        for peer in [Arm::CoupledL2, Arm::DecoupledWeightDecay] {
            if let Some(d) = arm_difference(cells, &scope, coupled, peer) {
                peer_parts.push(format!(
                    "{} vs {}: {} pts",
                    scope.scope(),
                    peer.name(),
                    fmt_ci(&d)
                ));
            }
        }
    }
    let scope_all = format!("every optimiser and initial scale, {widths}, {seeds}");
    s.claim(
        ClaimText {
            id: "rq5-mnist-null-control",
            claim: "The coupled regulariser's effect differs from a random tangential perturbation of the same size \
                    (a control the paper did not run)",
            scope: &scope_all,
            rule: "coupled diversity minus the null control, test error points paired by width and seed, mean and 95% \
                   interval per optimiser and initial scale; reported without a reproduction verdict",
        },
        if null_parts.is_empty() { Verdict::NotRun } else { Verdict::BeyondPaper },
        null_parts.join("; "),
    );
    s.claim(
        ClaimText {
            id: "rq5-mnist-vs-weight-decay",
            claim: "The coupled regulariser against coupled L2 and AdamW's decoupled weight decay (comparisons the \
                    paper did not make)",
            scope: &scope_all,
            rule: "coupled diversity minus the peer, test error points paired by width and seed, mean and 95% interval; \
                   negative favours the regulariser; reported without a reproduction verdict",
        },
        if peer_parts.is_empty() { Verdict::NotRun } else { Verdict::BeyondPaper },
        peer_parts.join("; "),
    );
}
