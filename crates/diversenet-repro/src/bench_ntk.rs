//! The empirical NTK's lambda_min of a ReLU MLP with biases (by default PyTorch's
//! 784-100-100-10 nn.Sequential at its default initialisation) on m points, trace and full
//! forms, one run each: the Grams without Jacobians (`theory::ntk`) and the Cholesky
//! shift-and-invert solver. The network and the points are written beside the figures so
//! that `bench/torch_ntk.py` times torch.func on the same ones.

use std::path::Path;
use std::time::Instant;

use diversenet::data::npy::encode_npy_f64;
use diversenet::data::Points;
use diversenet::error::{Error, Result};
use diversenet::files::write_atomic;
use diversenet::limits::{check_points, format_bytes, ntk_estimate};
use diversenet::linalg::{smallest_eigenvalue_psd_with_stats, Cancel, Matrix, SolverStats};
use diversenet::mlp::load::save_sequential;
use diversenet::mlp::{Dense, Mlp};
use diversenet::rng::{SeededRng, Stream};
use diversenet::theory::ntk::{ntk_sizes, NtkFactors, NtkForm};

/// One timed eNTK lambda_min.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NtkBenchResult {
    pub points: usize,
    pub form: NtkForm,
    /// Rows of the eNTK (m c or m).
    pub size: usize,
    pub widths: Vec<usize>,
    pub parameters: usize,
    pub threads: usize,
    /// The forward pass and every block's Gram, summed into Theta.
    pub build_seconds: f64,
    /// lambda_min of Theta.
    pub eigenvalue_seconds: f64,
    pub total_seconds: f64,
    pub lambda_min: f64,
    /// `cholesky-shift-invert`, `dense` (the fallback) or `singular`.
    pub method: &'static str,
    pub solver: SolverStats,
    /// The memory estimate checked before the run, in bytes.
    pub estimated_bytes: f64,
    /// The process's peak resident memory after the run (VmHWM, Linux), in bytes.
    pub peak_resident_bytes: Option<f64>,
}

/// PyTorch's default initialisation of `nn.Linear(d, n)`: weight and bias uniform on
/// [-1/sqrt(d), 1/sqrt(d)], seeded; every layer with a bias.
pub fn torch_like_mlp(widths: &[usize], seed: u64) -> Result<Mlp> {
    if widths.len() < 2 || widths.contains(&0) {
        return Err(Error::config(
            "widths",
            format!("{widths:?}: at least an input and an output width, none 0"),
        ));
    }
    let mut rng = SeededRng::new(seed, Stream::Init);
    let layers = widths
        .windows(2)
        .enumerate()
        .map(|(l, w)| {
            let bound = 1.0 / (w[0] as f64).sqrt();
            let mut uniform = |count: usize| -> Vec<f64> {
                (0..count)
                    .map(|_| bound * (2.0 * rng.uniform() - 1.0))
                    .collect()
            };
            let weight = Matrix::from_vec(w[1], w[0], uniform(w[0] * w[1]));
            let bias = Some(uniform(w[1]));
            Dense::new(
                weight,
                bias,
                format!("{}.weight", 2 * l),
                format!("{}.bias", 2 * l),
            )
        })
        .collect();
    Mlp::new(layers, "the benchmark's MLP")
}

/// `points` seeded points uniform on the unit sphere of R^d.
pub fn sphere_points(points: usize, dim: usize, seed: u64) -> Matrix<f64> {
    let mut rng = SeededRng::new(seed, Stream::Data);
    Matrix::from_vec(
        points,
        dim,
        (0..points).flat_map(|_| rng.unit_vector(dim)).collect(),
    )
}

/// Writes the network (`mlp.safetensors`, nn.Sequential names) and the points
/// (`points.npy`, m x d, float64) into `dir` for `bench/torch_ntk.py`.
pub fn save_inputs(dir: &Path, mlp: &Mlp, x: &Matrix<f64>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    save_sequential(&dir.join("mlp.safetensors"), mlp)?;
    let npy = encode_npy_f64(&[x.rows(), x.cols()], x.as_slice());
    write_atomic(&dir.join("points.npy"), &npy)
}

/// Refuses, before anything is timed, the runs that would not fit in memory.
pub fn check_ntk_runs(mlp: &Mlp, points: &[usize], forms: &[NtkForm]) -> Result<()> {
    for &m in points {
        for &form in forms {
            let sizes = ntk_sizes(mlp, form, 1, true);
            check_points(&format!("bench ntk ({form})"), m, |k| {
                ntk_estimate(k, &sizes)
            })?;
        }
    }
    Ok(())
}

/// Times lambda_min of the eNTK of `mlp` on the first `points` rows of `x`, once.
pub fn bench_ntk(
    mlp: &Mlp,
    x: &Matrix<f64>,
    points: usize,
    form: NtkForm,
) -> Result<NtkBenchResult> {
    let estimated_bytes = ntk_estimate(points, &ntk_sizes(mlp, form, 1, true)).total();
    let x = x.row_range(0, points.min(x.rows()));
    let x = Points::new(
        Matrix::from_vec(x.rows(), x.cols(), x.as_slice().to_vec()),
        "the benchmark's points",
    )?;
    let all: Vec<usize> = (0..mlp.layers().len()).collect();
    let started = Instant::now();
    let factors = NtkFactors::new(mlp, &x, form)?;
    let theta = factors.sum(&all, Cancel::NEVER)?;
    let build_seconds = started.elapsed().as_secs_f64();
    let size = theta.rows();
    let solve = Instant::now();
    let (eigenvalue, solver) = smallest_eigenvalue_psd_with_stats(theta, Cancel::NEVER)?;
    let eigenvalue_seconds = solve.elapsed().as_secs_f64();
    Ok(NtkBenchResult {
        points: x.rows(),
        form,
        size,
        widths: mlp.widths(),
        parameters: mlp.parameters(),
        threads: diversenet::linalg::threads(),
        build_seconds,
        eigenvalue_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        lambda_min: eigenvalue.value().unwrap_or(0.0),
        method: eigenvalue.method(),
        solver,
        estimated_bytes,
        peak_resident_bytes: peak_resident_bytes(),
    })
}

/// VmHWM of this process (Linux), in bytes.
pub fn peak_resident_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

/// One line of figures for people.
pub fn describe(r: &NtkBenchResult) -> String {
    let widths: Vec<String> = r.widths.iter().map(usize::to_string).collect();
    format!(
        "eNTK lambda_min, {} MLP with biases ({} parameters), m = {}, {} ({} x {}), {} threads: \
         {:.3} s (Grams {:.3} s, lambda_min {:.3} s, {}), lambda_min = {:.6e}; memory estimated \
         {}, peak resident {}",
        widths.join("-"),
        r.parameters,
        r.points,
        r.form,
        r.size,
        r.size,
        r.threads,
        r.total_seconds,
        r.build_seconds,
        r.eigenvalue_seconds,
        r.method,
        r.lambda_min,
        format_bytes(r.estimated_bytes),
        r.peak_resident_bytes.map_or("n/a".into(), format_bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The benchmark's network is PyTorch's initialisation (every entry within
    /// 1/sqrt(fan_in)), and a small run gives the eigenvalue of its own eNTK.
    #[test]
    fn a_small_run_measures_the_entk_of_the_torch_like_network() {
        let mlp = torch_like_mlp(&[20, 10, 8, 3], 0).unwrap();
        for (l, layer) in mlp.layers().iter().enumerate() {
            let bound = 1.0 / (layer.inputs() as f64).sqrt();
            let values = layer
                .weight
                .as_slice()
                .iter()
                .chain(layer.bias.as_ref().unwrap());
            assert!(values.clone().all(|v| v.abs() <= bound), "layer {l}");
            assert!(
                values.fold(0.0f64, |a, v| a.max(v.abs())) > 0.5 * bound,
                "layer {l}"
            );
        }
        let x = sphere_points(12, 20, 1);
        for form in [NtkForm::Full, NtkForm::Trace] {
            let r = bench_ntk(&mlp, &x, 10, form).unwrap();
            let x10 =
                Points::new(Matrix::from_vec(10, 20, x.as_slice()[..200].to_vec()), "x").unwrap();
            let theta = NtkFactors::new(&mlp, &x10, form)
                .unwrap()
                .sum(&[0, 1, 2], Cancel::NEVER)
                .unwrap();
            let dense = diversenet::linalg::symmetric_eigenvalues(&theta).unwrap();
            assert_eq!((r.points, r.size), (10, form.size(10, 3)));
            assert!((r.lambda_min - dense[0]).abs() <= 1e-8 * dense[dense.len() - 1]);
        }
        assert!(torch_like_mlp(&[5], 0).is_err());
    }
}
