//! The block Krylov engine behind the extremal eigensolvers: block Lanczos with full
//! reorthogonalisation, Rayleigh-Ritz and thick restarts, on any symmetric operator given as
//! a product with a block of vectors.

use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Accum, Mat, MatRef, Side};

use super::parallelism_for;

/// Relative accuracy asked of an extremal eigenvalue: the iteration stops when the
/// estimated distance from its Ritz value to the eigenvalue is below this fraction of it
/// (the estimate ran about 40 times above the true error on the m = 2000 Gram of
/// `bench theory`, with blocks of 16).
pub(super) const EIGENVALUE_TOLERANCE: f64 = 1e-9;

/// Vectors per block of the product-only iterations (the survey, the spectral norm): a
/// product with 16 vectors costs little more memory traffic than with one, and blocks
/// converge in far fewer steps when the wanted eigenvalue sits in a cluster (as the bottom
/// of a wide network's feature Gram does). The shift-and-invert pass, whose solves cost
/// about the same for 1 to 8 vectors, uses a smaller block (see `extremal`).
pub(super) const BLOCK: usize = 16;

/// `a * x` on the crate's threads (single-threaded when small).
pub(super) fn product(a: MatRef<'_, f64>, x: MatRef<'_, f64>) -> Mat<f64> {
    let mut y = Mat::zeros(a.nrows(), x.ncols());
    let par = parallelism_for(a.nrows() * a.ncols() * x.ncols());
    faer::linalg::matmul::matmul(y.as_mut(), Accum::Replace, a, x, 1.0, par);
    y
}

/// Which Ritz value a Krylov iteration follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    Smallest,
    Largest,
    LargestMagnitude,
}

/// The followed Ritz value after a block step, its distance to the next Ritz value in the
/// same direction, and the residual norm ||A y - theta y|| of its unit Ritz vector y.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ritz {
    pub(super) value: f64,
    pub(super) gap: Option<f64>,
    pub(super) residual: f64,
}

impl Ritz {
    /// Estimated distance from the Ritz value to the eigenvalue it approximates: at most
    /// the residual r (Bauer-Fike), and about r^2 / gap once the Ritz value stands apart
    /// from the next by more than r (Kato-Temple, with the Ritz gap in place of the
    /// spectral gap, which it approaches as the iteration converges).
    pub(super) fn error_estimate(&self) -> f64 {
        let r = self.residual;
        match self.gap {
            Some(g) if g > r => r * r / g,
            _ => r,
        }
    }
}

/// Block Lanczos with full reorthogonalisation and Rayleigh-Ritz, from fixed start vectors
/// so that results repeat; restarts from its best Ritz vectors when its basis is full.
pub(super) struct BlockKrylov {
    /// Orthonormal basis V (the first `dim` columns are in use).
    basis: Mat<f64>,
    /// A V, column by column.
    products: Mat<f64>,
    /// The projection H = V^T A V.
    projection: Mat<f64>,
    dim: usize,
    /// Orthonormal block, orthogonal to V, that A is applied to next; empty once the
    /// Krylov space is invariant.
    pending: Mat<f64>,
    wanted: Wanted,
    /// The projection's eigen-decomposition after the last step (`None` before the first
    /// step, after a restart, or when it failed).
    eigen: Option<ProjectedEigen>,
    /// Vectors A has been applied to.
    pub(super) applied: usize,
}

/// Eigenvalues and eigenvectors of the projection H, with their indices ordered best first.
struct ProjectedEigen {
    values: faer::Col<f64>,
    vectors: Mat<f64>,
    order: Vec<usize>,
}

impl BlockKrylov {
    /// From `block` fixed start vectors.
    pub(super) fn new(n: usize, block: usize, max_dim: usize, wanted: Wanted) -> Self {
        let start = Mat::<f64>::from_fn(n, block.min(n), |i, j| {
            ((i as f64 + 1.0) * (0.618_033_988_749_895 + j as f64 * 0.414_213_562_373_095)).fract()
                - 0.5
        });
        Self::with_start(start, max_dim, wanted)
    }

    /// Starts from the columns of `start` (at most a block of them is used).
    pub(super) fn with_start(start: Mat<f64>, max_dim: usize, wanted: Wanted) -> Self {
        let n = start.nrows();
        let b = start.ncols().min(n);
        let capacity = max_dim.max(2 * b).min(n);
        let start = start.get(.., ..b.min(start.ncols())).to_owned();
        let pending = orthonormalise(Mat::<f64>::zeros(n, 0).as_ref(), start);
        Self {
            basis: Mat::zeros(n, capacity),
            products: Mat::zeros(n, capacity),
            projection: Mat::zeros(capacity, capacity),
            dim: 0,
            pending,
            wanted,
            eigen: None,
            applied: 0,
        }
    }

    pub(super) fn dim(&self) -> usize {
        self.dim
    }

    /// Applies A to the pending block, extends the basis and returns the new Ritz
    /// estimate; `None` once the Krylov space is invariant (the last estimate is then
    /// exact) or if the projected eigenproblem fails (non-finite input).
    pub(super) fn step(
        &mut self,
        apply: &mut impl FnMut(MatRef<'_, f64>) -> Mat<f64>,
    ) -> Option<Ritz> {
        if self.pending.ncols() == 0 {
            return None;
        }
        if self.dim + self.pending.ncols() > self.basis.ncols() {
            self.restart()?;
        }
        let block = std::mem::replace(&mut self.pending, Mat::zeros(0, 0));
        let w = block.ncols();
        let image = apply(block.as_ref());
        self.applied += w;
        let (k0, k) = (self.dim, self.dim + w);
        self.basis.get_mut(.., k0..k).copy_from(&block);
        self.products.get_mut(.., k0..k).copy_from(&image);
        let column = product(self.basis.get(.., ..k).transpose(), image.as_ref());
        for j in 0..w {
            for i in 0..k0 {
                self.projection[(i, k0 + j)] = column[(i, j)];
                self.projection[(k0 + j, i)] = column[(i, j)];
            }
            for i in 0..w {
                self.projection[(k0 + i, k0 + j)] =
                    0.5 * (column[(k0 + i, j)] + column[(k0 + j, i)]);
            }
        }
        self.dim = k;
        self.eigen = self.projected_eigen();
        let ritz = self.rayleigh_ritz();
        // `column` = V^T (A V_new) is the first Gram-Schmidt pass's coefficients.
        self.pending = orthonormalise_from(self.basis.get(.., ..k), image, Some(column));
        ritz
    }

    /// The `count` best Ritz vectors (n x count), best first; `None` before the first step.
    pub(super) fn ritz_vectors(&self, count: usize) -> Option<Mat<f64>> {
        self.best_combinations(self.basis.as_ref(), count)
    }

    /// The combinations `columns[.., ..dim] U` with the eigenvectors U of the `count` best
    /// Ritz values (of the basis: the Ritz vectors; of the products: their images).
    fn best_combinations(&self, columns: MatRef<'_, f64>, count: usize) -> Option<Mat<f64>> {
        let eigen = self.eigen.as_ref()?;
        let (k, count) = (self.dim, count.min(self.dim));
        let u = Mat::<f64>::from_fn(k, count, |i, j| eigen.vectors[(i, eigen.order[j])]);
        Some(product(columns.get(.., ..k), u.as_ref()))
    }

    /// Eigen-decomposition of the projection, with indices ordered best first; `None` if it
    /// fails or has non-finite eigenvalues.
    fn projected_eigen(&self) -> Option<ProjectedEigen> {
        let k = self.dim;
        let (values, vectors) = small_symmetric_eigen(self.projection.get(..k, ..k))?;
        if values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let key = |v: f64| match self.wanted {
            Wanted::Smallest => v,
            Wanted::Largest => -v,
            Wanted::LargestMagnitude => -v.abs(),
        };
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&i, &j| key(values[i]).total_cmp(&key(values[j])));
        Some(ProjectedEigen {
            values,
            vectors,
            order,
        })
    }

    /// The best Ritz value of the last step, its gap to the next and its residual.
    fn rayleigh_ritz(&self) -> Option<Ritz> {
        let k = self.dim;
        let ProjectedEigen {
            values,
            vectors,
            order,
        } = self.eigen.as_ref()?;
        let best = order[0];
        let theta = values[best];
        let gap = order.get(1).map(|&i| {
            let next = values[i];
            match self.wanted {
                Wanted::Smallest => next - theta,
                Wanted::Largest => theta - next,
                Wanted::LargestMagnitude => theta.abs() - next.abs(),
            }
        });
        let y = vectors.col(best);
        let residual =
            (self.products.get(.., ..k) * y - (self.basis.get(.., ..k) * y) * theta).norm_l2();
        Some(Ritz {
            value: theta,
            gap,
            residual,
        })
    }

    /// Thick restart: keeps the best half of the Ritz vectors as the new basis (their
    /// products follow from the stored ones, and the projection becomes diagonal). The
    /// pending block is orthogonal to the old basis, hence to the new one.
    fn restart(&mut self) -> Option<()> {
        let keep = (self.basis.ncols() / 2).min(self.dim);
        let basis = self.best_combinations(self.basis.as_ref(), keep)?;
        let products = self.best_combinations(self.products.as_ref(), keep)?;
        let eigen = self.eigen.take()?;
        self.basis.get_mut(.., ..keep).copy_from(&basis);
        self.products.get_mut(.., ..keep).copy_from(&products);
        for i in 0..keep {
            for j in 0..keep {
                self.projection[(i, j)] = if i == j {
                    eigen.values[eigen.order[i]]
                } else {
                    0.0
                };
            }
        }
        self.dim = keep;
        Some(())
    }
}

/// Eigenvalues and eigenvectors of a small symmetric matrix (lower triangle read), on the
/// calling thread: for the projection (at most a few hundred rows), faer's threads cost
/// more than they gain (`diversenet bench theory --points 2000` times the pass it serves).
fn small_symmetric_eigen(h: MatRef<'_, f64>) -> Option<(faer::Col<f64>, Mat<f64>)> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
    let k = h.nrows();
    let mut vectors = Mat::<f64>::zeros(k, k);
    let mut values = faer::diag::Diag::<f64>::zeros(k);
    let par = faer::Par::Seq;
    let mut scratch = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        k,
        ComputeEigenvectors::Yes,
        par,
        Default::default(),
    ));
    self_adjoint_evd(
        h,
        values.as_mut(),
        Some(vectors.as_mut()),
        par,
        MemStack::new(&mut scratch),
        Default::default(),
    )
    .ok()?;
    Some((values.column_vector().to_owned(), vectors))
}

/// Orthonormalises the columns of `w` against `basis` and each other: two passes of block
/// Gram-Schmidt against the basis (by products), each followed by a Cholesky QR of the
/// block, or modified Gram-Schmidt where the block is nearly rank-deficient; columns that
/// lose all but 1e-10 of their norm are dropped.
fn orthonormalise(basis: MatRef<'_, f64>, w: Mat<f64>) -> Mat<f64> {
    orthonormalise_from(basis, w, None)
}

/// [`orthonormalise`] with the first pass's coefficients `basis^T w` already computed
/// (`first`), as a Krylov step has them from its projection.
fn orthonormalise_from(
    basis: MatRef<'_, f64>,
    mut w: Mat<f64>,
    mut first: Option<Mat<f64>>,
) -> Mat<f64> {
    let mut scale: Vec<f64> = (0..w.ncols()).map(|j| w.col(j).norm_l2()).collect();
    for _ in 0..2 {
        if w.ncols() == 0 {
            break;
        }
        if basis.ncols() > 0 {
            let coefficients = first
                .take()
                .unwrap_or_else(|| product(basis.transpose(), w.as_ref()));
            w -= product(basis, coefficients.as_ref());
        }
        w = cholesky_qr(&w, &scale).unwrap_or_else(|| gram_schmidt(&w, &scale));
        scale = vec![1.0; w.ncols()];
    }
    w
}

/// Q = W R^-1 with R^T R = W^T W, when every column keeps more than 1e-4 of its norm `scale`
/// against the others (R's diagonal), so that squaring the condition number costs no
/// accuracy that the second pass does not restore; `None` otherwise.
fn cholesky_qr(w: &Mat<f64>, scale: &[f64]) -> Option<Mat<f64>> {
    let gram = product(w.transpose(), w.as_ref());
    let r = gram.llt(Side::Lower).ok()?.L().transpose().to_owned();
    if scale
        .iter()
        .enumerate()
        .any(|(j, &s)| r[(j, j)].is_nan() || r[(j, j)] <= 1e-4 * s)
    {
        return None;
    }
    let mut q = w.transpose().to_owned();
    // Q^T = R^-T W^T.
    solve_lower_triangular_in_place(r.transpose(), q.as_mut(), faer::Par::Seq);
    Some(q.transpose().to_owned())
}

/// Modified Gram-Schmidt within the block, twice per column, dropping columns that lose
/// all but 1e-10 of their norm `scale`.
fn gram_schmidt(w: &Mat<f64>, scale: &[f64]) -> Mat<f64> {
    let mut kept: Vec<faer::Col<f64>> = Vec::with_capacity(w.ncols());
    for (j, &s) in scale.iter().enumerate() {
        let mut c = w.col(j).to_owned();
        for _ in 0..2 {
            for q in &kept {
                let dot = q.transpose() * &c;
                c -= q * dot;
            }
        }
        let norm = c.norm_l2();
        if norm.is_finite() && norm > 1e-10 * s && norm > 0.0 {
            kept.push(c / norm);
        }
    }
    Mat::from_fn(w.nrows(), kept.len(), |i, j| kept[j][i])
}
