//! `bench`: throughput figures of training, the theory and the regularisers.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use diversenet::model::optim::DEFAULT_MOMENTUM;
use diversenet::model::OptimizerKind;
use diversenet_repro::bench::TrainBenchSpec;

use super::write_json;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Samples per second of MNIST-shaped training steps (784 -> n -> 10).
    Train {
        /// Hidden widths to measure.
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        widths: Vec<usize>,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Timed repeats (the median and the best are reported).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// sgd | adam
        #[arg(long, default_value = "adam")]
        optimizer: String,
        #[arg(long, default_value = "f32")]
        precision: String,
        /// Split the hidden units into this many blocks (one per thread); default: chosen
        /// from the step's size, as training does.
        #[arg(long)]
        blocks: Option<usize>,
        /// Also write the figures to this JSON file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Seconds for each regulariser's value + gradient, exact and sampled, beside one
    /// MNIST-shaped training epoch; then, on synthetic teacher-student data over several
    /// seeds, the final L2 discrepancy and test loss of the exact and the sampled
    /// discrepancy regulariser (and of none), with their spread.
    Reg {
        #[arg(long, default_value_t = 1000)]
        width: usize,
        #[arg(long, default_value_t = 784)]
        dim: usize,
        /// Timed repeats of each regulariser (the median is reported), and alternating
        /// pairs of 100 regularised and 100 unregularised training steps for each sampled one.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Partner units per step of the sampled regulariser (each is timed).
        #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
        sample: Vec<usize>,
        /// Seeds of the synthetic comparison (0..seeds); 0 skips it.
        #[arg(long, default_value_t = 5)]
        seeds: u64,
        /// Width of the synthetic comparison's network.
        #[arg(long, default_value_t = 200)]
        synthetic_width: usize,
        /// Partner units per step in the synthetic comparison.
        #[arg(long, default_value_t = 16)]
        synthetic_sample: usize,
        /// Also write the figures to this JSON file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Seconds for s_m(D) (Gram form; Cholesky shift-and-invert block Krylov, against the full
    /// eigensolver) and for the kernel spectrum.
    Theory {
        /// Point counts m (n = 1000 units, d = 784).
        #[arg(long, value_delimiter = ',', default_value = "2000,10000")]
        points: Vec<usize>,
        #[arg(long, default_value_t = 1000)]
        width: usize,
        #[arg(long, default_value_t = 784)]
        dim: usize,
        /// Also time the full eigendecomposition, and a trained network, for point counts up to this.
        #[arg(long, default_value_t = 2000)]
        full_up_to: usize,
        /// Degree of the spectrum benchmark.
        #[arg(long, default_value_t = 200)]
        max_degree: usize,
        /// Timed repeats per size (medians are reported).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Also write the figures to this JSON file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

pub fn bench(what: BenchCommand) -> Result<()> {
    match what {
        BenchCommand::Train {
            widths,
            batch_size,
            steps,
            repeats,
            optimizer,
            precision,
            blocks,
            json,
        } => {
            let optimizer = OptimizerKind::parse(&optimizer, DEFAULT_MOMENTUM)?;
            let precision: diversenet::model::Precision = precision.parse()?;
            let specs = widths
                .iter()
                .map(|&width| TrainBenchSpec {
                    width,
                    dim: 784,
                    classes: 10,
                    batch_size,
                    optimizer,
                    precision,
                    steps,
                    repeats,
                    blocks,
                    regularizer: None,
                })
                .collect::<Vec<_>>();
            // Every width is checked before the first is timed.
            for spec in &specs {
                diversenet_repro::bench::check_train_spec(spec)?;
            }
            let mut results = Vec::new();
            for spec in &specs {
                let (width, r) = (spec.width, diversenet_repro::bench::bench_train(spec)?);
                println!(
                    "train step 784 -> {width} -> 10, batch {batch_size}, {} {}, {} threads ({} unit blocks): median {:.0} samples/s ({:.3} ms/step), best {:.0} samples/s",
                    r.optimizer, r.precision, r.threads, r.unit_blocks, r.samples_per_second, r.ms_per_step, r.best_samples_per_second
                );
                results.push(r);
            }
            write_json(json.as_deref(), &results)
        }
        BenchCommand::Reg {
            width,
            dim,
            repeats,
            sample,
            seeds,
            synthetic_width,
            synthetic_sample,
            json,
        } => {
            let plain = TrainBenchSpec {
                width,
                dim,
                classes: 10,
                batch_size: 128,
                optimizer: OptimizerKind::parse("adam", DEFAULT_MOMENTUM)?,
                precision: "f32".parse()?,
                steps: 100,
                repeats: 3,
                blocks: None,
                regularizer: None,
            };
            // The regularisers' sizes before the step is timed (bench_train checks its own).
            diversenet_repro::bench::check_regularizer_sizes(width, dim)?;
            let step = diversenet_repro::bench::bench_train(&plain)?;
            let epoch_steps = 60_000usize.div_ceil(128);
            let epoch = step.ms_per_step * 1e-3 * epoch_steps as f64;
            println!("one training step {dim} -> {width} -> 10 (batch 128, adam, f32): {:.2} ms; one 60,000-sample epoch ({epoch_steps} steps): {epoch:.2} s", step.ms_per_step);
            let mut results = Vec::new();
            for (kind, k, secs) in
                diversenet_repro::bench::bench_regularizers(width, dim, repeats, &sample)?
            {
                let name = kind.to_string();
                let how = k.map_or("exact".to_string(), |k| format!("sampled K = {k}"));
                let added = secs * epoch_steps as f64;
                println!(
                    "  {name:<14} {how:<16} value + gradient, n = {width}, d = {dim}: {:7.2} ms = {:5.1}% of a step; every step: epoch {:.2} s = {:.2}x unregularised",
                    secs * 1e3, 100.0 * secs * 1e3 / step.ms_per_step, epoch + added, (epoch + added) / epoch
                );
                let mut row = serde_json::json!({"regularizer": name, "units_per_step": k, "seconds": secs, "width": width, "dim": dim, "step_seconds": step.ms_per_step * 1e-3, "epoch_seconds": epoch, "regularised_epoch_ratio": (epoch + added) / epoch});
                if let Some(k) = k {
                    // The regularised step as training takes it, beside an unregularised
                    // one in alternating pairs (the machine's speed drifts).
                    let sampling = diversenet::regularizer::RegSampling::new(k)?;
                    let timing = diversenet_repro::bench::bench_regularised_step(
                        &plain,
                        (kind, Some(sampling)),
                        repeats,
                    )?;
                    let ratios: Vec<String> =
                        timing.ratios.iter().map(|r| format!("{r:.2}")).collect();
                    println!(
                        "  {:<31} measured in training steps, {} alternating pairs: {:.2} ms against {:.2} ms unregularised (medians); ratio median {:.2}x [{}]",
                        "", timing.ratios.len(), timing.ms_per_step, timing.unregularised_ms_per_step, timing.ratio, ratios.join(", ")
                    );
                    row["measured_step_seconds"] = serde_json::json!(timing.ms_per_step * 1e-3);
                    row["measured_unregularised_step_seconds"] =
                        serde_json::json!(timing.unregularised_ms_per_step * 1e-3);
                    row["measured_ratio"] = serde_json::json!(timing.ratio);
                    row["measured_ratios"] = serde_json::json!(timing.ratios);
                }
                results.push(row);
            }
            if seeds > 0 {
                let seed_list: Vec<u64> = (0..seeds).collect();
                let runs = diversenet_repro::bench::sampled_vs_exact(
                    synthetic_width,
                    synthetic_sample,
                    &seed_list,
                )?;
                println!("discrepancy regulariser (lambda 1) on synthetic teacher-student data (d = 20, n = {synthetic_width}, 30 epochs), seeds 0..{seeds}, mean +/- standard deviation [min, max]:");
                let mut names: Vec<&str> = Vec::new();
                for r in &runs {
                    if !names.contains(&r.regularizer.as_str()) {
                        names.push(&r.regularizer);
                    }
                }
                for name in names {
                    let pick =
                        |f: &dyn Fn(&diversenet_repro::bench::RegRunResult) -> f64| -> Vec<f64> {
                            runs.iter()
                                .filter(|r| r.regularizer == name)
                                .map(f)
                                .collect()
                        };
                    let l2 = pick(&|r| r.l2_discrepancy_sq.unwrap_or(f64::NAN));
                    let loss = pick(&|r| r.test_loss);
                    let secs = pick(&|r| r.seconds);
                    println!(
                        "  {name:<12} L2 discrepancy^2 {}; test loss {}; {:.2} s per run",
                        spread(&l2),
                        spread(&loss),
                        secs.iter().sum::<f64>() / secs.len() as f64
                    );
                }
                results.push(serde_json::to_value(&runs)?);
            }
            write_json(json.as_deref(), &results)
        }
        BenchCommand::Theory {
            points,
            width,
            dim,
            full_up_to,
            max_degree,
            repeats,
            json,
        } => {
            for &m in &points {
                diversenet_repro::bench::check_gram_sizes(m, width, dim)?;
            }
            let mut results = Vec::new();
            // The trained-network variant (20 epochs of training first) only where the
            // full eigendecomposition is timed too.
            for (m, trained) in points
                .iter()
                .flat_map(|&m| [(m, false), (m, true)])
                .filter(|&(m, t)| !t || m <= full_up_to)
            {
                let r = diversenet_repro::bench::bench_gram(
                    m,
                    width,
                    dim,
                    m <= full_up_to,
                    trained,
                    repeats,
                )?;
                let full = r
                    .full_eigen_seconds
                    .map(|f| {
                        format!(
                            ", full eigendecomposition {f:.2} s ({:.1}x slower; s = {:.6e})",
                            f / r.smallest_eigenvalue_seconds,
                            r.s_min_full.unwrap_or(f64::NAN)
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "s_m(D), m = {m}, n = {width}, d = {dim}, {} network, {} threads, median of {}: build D^T D {:.3} s, smallest eigenvalue {:.3} s by {} (s = {:.6e}){full}",
                    if trained { "trained" } else { "random" }, r.threads, r.repeats, r.build_seconds, r.smallest_eigenvalue_seconds, r.method, r.s_min
                );
                let st = &r.solver;
                println!(
                    "  solver: survey {} vectors {:.3} s; {} factorisation(s) {:.3} s (shift {}); shift-and-invert {} vectors {:.3} s; dense {:.3} s",
                    st.survey_vectors, st.survey_seconds, st.factorisations, st.factorisation_seconds,
                    st.shift.map_or("none".into(), |s| format!("{s:.6e}")),
                    st.shift_invert_vectors, st.shift_invert_seconds, st.dense_seconds
                );
                results.push(serde_json::to_value(&r)?);
            }
            let (secs, trusted) = diversenet_repro::bench::bench_spectrum(dim, max_degree)?;
            println!("spectrum d = {dim}, degrees 0..={max_degree}: {secs:.3} s (trusted up to degree {trusted:?})");
            results.push(serde_json::json!({"spectrum_dim": dim, "max_degree": max_degree, "seconds": secs, "trusted_up_to": trusted}));
            write_json(json.as_deref(), &results)
        }
    }
}

/// `mean +/- sd [min, max]` of a list of values.
fn spread(values: &[f64]) -> String {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    format!("{mean:.4e} +/- {sd:.1e} [{lo:.4e}, {hi:.4e}]")
}

#[cfg(test)]
mod tests {
    use diversenet::Error;
    use diversenet_repro::bench::{check_gram_sizes, check_regularizer_sizes, check_train_spec};

    use super::*;

    fn field(r: diversenet::Result<()>) -> &'static str {
        match r {
            Err(Error::Config { setting, .. }) => setting,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    /// A memory refusal as the command line prints it.
    fn memory(r: diversenet::Result<()>) -> String {
        match r {
            Err(e @ Error::Memory(_)) => e.render(&super::super::spelling::Flags),
            other => panic!("expected a memory refusal, got {other:?}"),
        }
    }

    /// Zero sizes (which panicked, hung at dimension 0 or timed nothing) and sizes beyond
    /// any memory budget (which aborted) are refused before anything is built.
    #[test]
    fn bench_sizes_are_checked_before_anything_is_built() {
        assert_eq!(field(check_gram_sizes(0, 4, 5)), "points");
        assert_eq!(field(check_gram_sizes(10, 0, 5)), "width");
        assert_eq!(field(check_gram_sizes(10, 4, 0)), "dim");
        assert!(check_gram_sizes(10, 4, 5).is_ok());
        // 10^8 points: K alone is 8e16 bytes.
        assert!(memory(check_gram_sizes(100_000_000, 4, 5)).contains("--points"));
        assert_eq!(field(check_regularizer_sizes(4, 0)), "dim");
        assert!(memory(check_regularizer_sizes(1_000_000_000, 5)).contains("--width"));
        let spec = TrainBenchSpec {
            width: 4,
            dim: 784,
            classes: 10,
            batch_size: 128,
            optimizer: OptimizerKind::parse("adam", DEFAULT_MOMENTUM).unwrap(),
            precision: "f32".parse().unwrap(),
            steps: 1,
            repeats: 1,
            blocks: None,
            regularizer: None,
        };
        assert!(check_train_spec(&spec).is_ok());
        for (bad, name) in [
            (
                TrainBenchSpec {
                    width: 0,
                    ..spec.clone()
                },
                "width",
            ),
            (
                TrainBenchSpec {
                    batch_size: 0,
                    ..spec.clone()
                },
                "batch_size",
            ),
            (
                TrainBenchSpec {
                    steps: 0,
                    ..spec.clone()
                },
                "steps",
            ),
        ] {
            assert_eq!(field(check_train_spec(&bad)), name);
        }
        let huge_batch = TrainBenchSpec {
            batch_size: 100_000_000_000,
            ..spec.clone()
        };
        assert!(memory(check_train_spec(&huge_batch)).contains("would need"));
        let huge_width = TrainBenchSpec {
            width: 100_000_000_000,
            ..spec
        };
        assert!(memory(check_train_spec(&huge_width)).contains("--width"));
    }
}
