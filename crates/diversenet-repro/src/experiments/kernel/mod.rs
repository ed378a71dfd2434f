//! RQ3: the kernel spectrum and the decomposition (1/n) DᵀD = K + (X Xᵀ) ∘ E_W: λ_min(K)
//! on random points of the sphere, ‖E_W‖₂ and ‖(X Xᵀ) ∘ E_W‖₂ for random units and for
//! diverse units (random rows moved down the discrepancy regulariser's gradient), over a
//! sweep of the number of units n.

pub mod report;
mod spectrum_figure;
mod sweep_report;
#[cfg(test)]
mod tests;

use diversenet::error::Result;
use diversenet::linalg::{smallest_eigenvalue_psd, symmetric_spectral_norm, Cancel, Matrix};
use diversenet::model::{Network, OutputLayer};
use diversenet::regularizer::{value_and_gradient, RegularizerKind};
use diversenet::rng::{SeededRng, Stream};
use diversenet::theory::feature_matrix::{activation_pattern, smallest_singular_value};
use diversenet::theory::kernel::{discrepancy_matrix, kernel_gram, PairGeometry};

use super::common::{sphere_points, spread};
use super::registry::{Known, ReportContext, Runs, Shared, Study, StudyPlan};
use crate::report::section::Section;

/// RQ3.
pub struct Kernel;

impl Study for Kernel {
    const ID: &'static str = "rq3-kernel";
    const TITLE: &'static str = "RQ3: the kernel spectrum and the decomposition of s_m(D)";
    type Plan = Plan;
    type Spec = Spec;
    type Outcome = Outcome;

    fn sizes(p: &Plan) -> serde_json::Value {
        serde_json::json!({"seeds": p.seeds, "dims": p.dims, "points": p.points, "width": p.width, "sweep_points": p.sweep_points, "sweep_widths": p.sweep_widths, "sweep_seeds": p.sweep_seeds, "spectrum_dims": p.spectrum_dims, "m_gamma_dims": p.m_gamma_dims})
    }
    /// Measured: the Gram products and the activation counts, O(m^2 n), dominate (m = 800,
    /// n = 10,000: 3 s; m = 400, n = 3000: 0.24 s); diverse units add 20 O(n^2 d) steps.
    fn seconds(s: &Spec) -> f64 {
        let diverse = if s.units == Units::Diverse {
            2e-9 * (DIVERSE_STEPS * s.width * s.width * s.dim) as f64
        } else {
            0.0
        };
        4.6e-10 * (s.points * s.points * s.width) as f64 + diverse + 0.01
    }
    fn execute(spec: &Spec, _: &Shared<'_>) -> Result<Outcome> {
        execute(spec)
    }
    fn section(plan: &Plan, runs: &Runs<Self>, _: &ReportContext) -> Section {
        report::section(plan, runs)
    }
}

/// Which units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Units {
    /// Gaussian rows.
    Random,
    /// Gaussian rows after `DIVERSE_STEPS` normalised gradient steps on the discrepancy R(W).
    Diverse,
}

/// Gradient steps that make the diverse units.
pub const DIVERSE_STEPS: usize = 20;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub seeds: u64,
    /// (d, m) pairs with `width` units of both kinds.
    pub dims: Vec<usize>,
    pub points: Vec<usize>,
    pub width: usize,
    /// The sweeps of n at d = `sweep_dim`, one per m in `sweep_points`, with `sweep_seeds`
    /// seeds (`seeds` at `diverse_points`, where diverse units are swept as well, up to
    /// `diverse_max_width`).
    pub sweep_dim: usize,
    pub sweep_points: Vec<usize>,
    pub sweep_widths: Vec<usize>,
    pub sweep_seeds: u64,
    pub diverse_points: usize,
    pub diverse_max_width: usize,
    /// Dimensions of the spectrum figure (γ_u against u) and its highest degree.
    pub spectrum_dims: Vec<usize>,
    pub spectrum_degree: usize,
    /// Dimensions and largest m of the curve m γ_(m) against m (and the degree computed
    /// for it).
    pub m_gamma_dims: Vec<usize>,
    pub m_gamma_max: usize,
    pub m_gamma_degree: usize,
}

impl StudyPlan<Kernel> for Plan {
    fn full() -> Self {
        Self {
            seeds: 10,
            dims: vec![5, 10],
            points: vec![100, 200, 300],
            width: 1000,
            sweep_dim: 10,
            sweep_points: vec![100, 200, 400, 800],
            sweep_widths: vec![10, 30, 100, 300, 1000, 3000, 10000],
            sweep_seeds: 5,
            diverse_points: 200,
            diverse_max_width: 3000,
            spectrum_dims: vec![3, 5, 10, 784],
            spectrum_degree: 40,
            m_gamma_dims: vec![3, 5, 10, 784],
            m_gamma_max: 10_000,
            m_gamma_degree: 200,
        }
    }
    fn quick(&self) -> Self {
        Self {
            seeds: 3,
            points: spread(&self.points, 2),
            width: self.width / 3,
            sweep_points: spread(&self.sweep_points[..self.sweep_points.len() - 1], 2),
            sweep_widths: spread(&self.sweep_widths[..self.sweep_widths.len() - 1], 4),
            sweep_seeds: 2,
            diverse_max_width: 1000,
            m_gamma_max: 1000,
            ..self.clone()
        }
    }
    fn runs(&self, _: &Known<'_, Kernel>) -> Vec<Spec> {
        let mut out = Vec::new();
        for seed in 0..self.seeds {
            let mut push = |dim, points, width, units| {
                let spec = Spec {
                    seed,
                    dim,
                    points,
                    width,
                    units,
                };
                if !out.contains(&spec) {
                    out.push(spec);
                }
            };
            for &dim in &self.dims {
                for &points in &self.points {
                    push(dim, points, self.width, Units::Random);
                    push(dim, points, self.width, Units::Diverse);
                }
            }
            for &points in &self.sweep_points {
                if seed >= self.sweep_seeds && points != self.diverse_points {
                    continue;
                }
                for &width in &self.sweep_widths {
                    push(self.sweep_dim, points, width, Units::Random);
                    if width <= self.diverse_max_width && points == self.diverse_points {
                        push(self.sweep_dim, points, width, Units::Diverse);
                    }
                }
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub seed: u64,
    pub dim: usize,
    pub points: usize,
    pub width: usize,
    pub units: Units,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub lambda_min_k: f64,
    /// ‖E_W‖₂.
    pub e_w_norm: f64,
    /// ‖(X Xᵀ) ∘ E_W‖₂ (≤ ‖E_W‖₂: X Xᵀ is PSD with unit diagonal).
    pub hadamard_norm: f64,
    /// L2 slice discrepancy of the units.
    pub l2_discrepancy_sq: f64,
    /// s_m(D)² / n.
    pub s_min_sq_over_n: f64,
}

/// Moves the rows down R(W)'s gradient, each step scaled so that the largest row moves by
/// 0.1 of its norm, then restores the row norms.
fn diversify(w: &mut Matrix<f64>) {
    let n = w.rows();
    let norms: Vec<f64> = (0..n).map(|k| diversenet::linalg::norm(w.row(k))).collect();
    for _ in 0..DIVERSE_STEPS {
        let mut g = Matrix::zeros(n, w.cols());
        value_and_gradient(RegularizerKind::Discrepancy, w, Some((&mut g, 1.0)));
        let ratio = (0..n)
            .map(|k| diversenet::linalg::norm(g.row(k)) / norms[k].max(1e-300))
            .fold(0.0, f64::max);
        if ratio == 0.0 {
            break;
        }
        let step = 0.1 / ratio;
        for (k, &norm) in norms.iter().enumerate() {
            let gk = g.row(k).to_vec();
            let row = w.row_mut(k);
            row.iter_mut().zip(&gk).for_each(|(a, b)| *a -= step * b);
            let rn = diversenet::linalg::norm(row);
            row.iter_mut().for_each(|a| *a *= norm / rn);
        }
    }
}

pub fn execute(spec: &Spec) -> Result<Outcome> {
    let x = sphere_points(
        &mut SeededRng::new(spec.seed, Stream::Data),
        spec.points,
        spec.dim,
    );
    let geometry = PairGeometry::of(&x, Cancel::NEVER)?;
    let k = kernel_gram(&geometry);
    let lambda_min_k = smallest_eigenvalue_psd(k).value().unwrap_or(0.0).max(0.0);
    let mut net: Network<f64> = Network::init(
        spec.dim,
        spec.width,
        1,
        OutputLayer::Fixed,
        1.0,
        &mut SeededRng::new(spec.seed, Stream::Init),
    );
    if spec.units == Units::Diverse {
        diversify(&mut net.w);
    }
    let e = discrepancy_matrix(
        &geometry,
        &activation_pattern(&net, &x),
        &vec![1.0 / spec.width as f64; spec.width],
    );
    let e_w_norm = symmetric_spectral_norm(&e);
    let mut hadamard = e;
    for (h, g) in hadamard
        .as_mut_slice()
        .iter_mut()
        .zip(geometry.inner.as_slice())
    {
        *h *= g;
    }
    let s = smallest_singular_value(&net, &x, Cancel::NEVER)?;
    Ok(Outcome {
        lambda_min_k,
        e_w_norm,
        hadamard_norm: symmetric_spectral_norm(&hadamard),
        l2_discrepancy_sq: diversenet::theory::discrepancy::discrepancies(&net.w)
            .map(|d| d.l2_slice_sq)
            .unwrap_or(f64::NAN),
        s_min_sq_over_n: s.value * s.value / spec.width as f64,
    })
}
