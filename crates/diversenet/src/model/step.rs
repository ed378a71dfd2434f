//! One minibatch training step, fused and split by hidden units: the public step API that
//! the training loop and `diversenet bench train` both drive.
//!
//! The hidden units are cut into contiguous blocks, one per thread when the step is large
//! enough to gain from threads (one block otherwise). Each block owns its slice of W and of
//! the optimiser's buffers, and works in the unit-major layout H^T = relu(W_t X^T)
//! (n_t x b), so that every product reads and writes contiguous rows:
//!
//! 1. per block: H_t^T = relu(W_t X^T) and its share V_t H_t^T of the outputs F^T (c x b);
//! 2. the shares summed in block order, softmax cross-entropy (or squared loss) turning F
//!    into dF;
//! 3. per block: dV_t = dF^T H_t / b, dH_t^T = (V_t^T dF^T) o 1[H_t^T > 0], then chunk by
//!    chunk of rows dW = dH^T X / b (plus the regularisers' gradient) followed at once by the
//!    optimiser's update of those rows while they are in cache: no full-size gradient of W
//!    is ever written. A sampled regulariser (`--reg-sample`) adds its estimate for the
//!    chunk's rows right there too (its partners are drawn between the phases, from the
//!    row norms of W that phase 1 computes); an exact one is computed between the phases
//!    into an n x d buffer that the chunks then add.
//!
//! The blocks run on a team of threads (`linalg::team`) that spin between the phases
//! (rayon's workers would fall asleep between them and cost a wake-up each time), or as
//! rayon tasks inside a rayon worker; see `Workers`. Every buffer is allocated once.
//! The result depends on the thread count only through the block split, not on the kind of
//! workers, so it is bit-for-bit reproducible for a fixed count.

use std::ops::Range;

use rayon::prelude::*;

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::linalg::{as_one_part, gemm, vectorized, Matrix, MatrixView, Op, Real, Team};
use crate::regularizer::{RegSampling, SampledGradient};

use super::config::TrainConfig;
use super::loss::{output_gradient, BatchTargets, BatchTotals};
use super::network::{relu, relu_mask, set_shape, OutputLayer};
use super::optim::UpdateRule;
use super::train::{
    add_regularizer_gradient, all_coupled, decoupled_gradient, regularizer_weights, TrainState,
};
use crate::regularizer::coupling::apply_decoupled;

/// Fewest multiply-adds of the first-layer product in one block (b d n_t for n_t units;
/// about 10 units at b = 128, d = 784): a step gets as many blocks as the threads and this
/// allow, so the parallelism follows the matrix sizes and a small step stays on one
/// thread however many there are. Below about this size a second block gains little or
/// nothing, above it the gain grows with the block; `diversenet bench train --widths
/// 16,24,32,40 --blocks 1` against `--blocks 2`, run alternately, measures it
/// (bench/HISTORY.md has the figures behind this choice).
const MIN_BLOCK_MACS: usize = 1 << 20;
/// Elements of W per fused gradient-and-update chunk (about 256 KiB in f32: in L2).
const CHUNK_ELEMENTS: usize = 1 << 16;

/// Blocks for `units` hidden units whose first-layer product costs `macs_per_unit`
/// multiply-adds each (b d), on `threads` threads: one per thread while every block keeps at
/// least [`MIN_BLOCK_MACS`], never more than the units, at least one. It never falls as the
/// threads grow.
fn unit_blocks(macs_per_unit: usize, units: usize, threads: usize) -> usize {
    let by_size = macs_per_unit.saturating_mul(units) / MIN_BLOCK_MACS;
    by_size.min(threads).min(units).max(1)
}

/// Targets converted to the training precision.
pub(crate) enum OwnedTargets<T> {
    Scalar(Vec<T>),
    Classes(Vec<u32>),
}

impl<T: Real> OwnedTargets<T> {
    pub(crate) fn new(t: &Targets) -> Self {
        match t {
            Targets::Scalar(y) => Self::Scalar(y.iter().map(|&v| T::from_f64(v)).collect()),
            Targets::Classes { labels, .. } => Self::Classes(labels.clone()),
        }
    }
    pub(crate) fn range(&self, start: usize, end: usize) -> BatchTargets<'_, T> {
        match self {
            Self::Scalar(y) => BatchTargets::Real(&y[start..end]),
            Self::Classes(l) => BatchTargets::Classes(&l[start..end]),
        }
    }
    pub(crate) fn is_classes(&self) -> bool {
        matches!(self, Self::Classes(_))
    }
}

/// The buffers of one block of hidden units.
struct UnitBlock<T> {
    units: Range<usize>,
    /// V's columns of these units (c x n_t).
    v: Matrix<T>,
    /// relu(W_t X^T), n_t x b.
    hidden: Matrix<T>,
    /// V_t H_t^T, this block's share of F^T (c x b).
    share: Matrix<T>,
    /// dH_t^T, n_t x b.
    d_hidden: Matrix<T>,
    /// dV_t (c x n_t).
    grad_v: Matrix<T>,
    /// One chunk of rows of dW.
    grad_w: Matrix<T>,
    /// ||w_k|| of these units, on steps with a sampled regulariser.
    row_norms: Vec<f64>,
}

/// The regularisers' part of one step.
enum RegStep<T> {
    /// None on this step.
    Off,
    /// Exact, in the n x d buffer `reg_grad`.
    Buffered,
    /// Sampled, added chunk by chunk.
    Sampled(SampledGradient<T>),
}

/// Where the blocks of a step run.
enum Workers {
    /// One block, on the calling thread.
    Inline,
    /// Blocks as rayon tasks: for steps taken inside a rayon worker (the reproduction's
    /// parallel runs), whose pool is already busy with other runs.
    Rayon,
    /// Blocks on a team of threads that stay awake between the step's phases.
    Team(Team),
}

impl Workers {
    /// Workers for `blocks` blocks, chosen by where the step is built: a team only on
    /// cores of its own (spinning members that share a core wait on each other); rayon
    /// inside a rayon worker or with more blocks than cores. (Regularised steps use the
    /// team too: a sampled regulariser's rows are added by the members in the backward
    /// phase; an exact one runs on rayon's pool between the phases, where a team was no
    /// slower than rayon tasks: `diversenet bench reg` times the regularised step, and
    /// bench/HISTORY.md has the comparison.)
    fn new(blocks: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        if blocks == 1 {
            Self::Inline
        } else if rayon::current_thread_index().is_some() || blocks > cores {
            Self::Rayon
        } else {
            // A team whose threads cannot be started (a process limit) falls back to rayon.
            Team::new(blocks).map_or(Self::Rayon, Self::Team)
        }
    }

    /// Runs `f` on every block's work item, one item per worker. A team member keeps its
    /// item's products on its own thread (rayon tasks may share theirs with idle workers).
    /// The arithmetic does not depend on the kind of workers.
    fn for_each<W: Send>(&mut self, items: &mut [W], f: impl Fn(&mut W) + Sync + Send) {
        match self {
            Self::Inline => items.iter_mut().for_each(f),
            Self::Rayon => items.par_iter_mut().for_each(f),
            Self::Team(team) => team.for_each_mut(items, |item| as_one_part(|| f(item))),
        }
    }
}

/// A training set in the training precision with the buffers of one minibatch step.
pub struct MinibatchStep<T> {
    cfg: TrainConfig,
    workers: Workers,
    x: Matrix<T>,
    y: OwnedTargets<T>,
    blocks: Vec<UnitBlock<T>>,
    /// The minibatch gathered out of `x` (b x d).
    batch_x: Matrix<T>,
    batch_scalar: Vec<T>,
    batch_labels: Vec<u32>,
    /// F, then dF (b x c).
    out: Matrix<T>,
    /// F^T, then dF^T (c x b).
    out_t: Matrix<T>,
    /// The regularisers' gradient (n x d) on steps where they apply, for the exact ones
    /// (allocated on first use).
    reg_grad: Matrix<T>,
    /// Whether a sampled regulariser is added chunk by chunk (`false`: through `reg_grad`,
    /// as an exact one; for tests).
    fuse_sampled: bool,
    /// How the regularisers entered the last step ("off", "buffered", "sampled").
    #[cfg(test)]
    last_reg: &'static str,
    grad_v: Vec<T>,
    /// Rows of W per fused chunk.
    chunk_rows: usize,
}

impl<T: Real> MinibatchStep<T> {
    /// Converts `data` (already scaled) to precision `T` and sizes the buffers for `cfg`
    /// and the crate's thread count.
    pub fn new(cfg: &TrainConfig, data: &Dataset) -> Self {
        let (n, d, b) = (cfg.width(), cfg.dim(), cfg.batch_size());
        Self::with_blocks(cfg, data, unit_blocks(b * d, n, crate::linalg::threads()))
    }

    /// As [`Self::new`] with the hidden units split into `blocks` blocks (at least one).
    pub fn with_blocks(cfg: &TrainConfig, data: &Dataset, blocks: usize) -> Self {
        let (n, d, c, b) = (cfg.width(), cfg.dim(), cfg.outputs(), cfg.batch_size());
        let blocks = blocks.clamp(1, n);
        let blocks: Vec<UnitBlock<T>> = (0..blocks)
            .map(|i| {
                let units = i * n / blocks..(i + 1) * n / blocks;
                let nt = units.len();
                UnitBlock {
                    units,
                    v: Matrix::zeros(c, nt),
                    hidden: Matrix::zeros(nt, b),
                    share: Matrix::zeros(c, b),
                    d_hidden: Matrix::zeros(nt, b),
                    grad_v: Matrix::zeros(c, nt),
                    grad_w: Matrix::zeros(0, d),
                    row_norms: Vec::new(),
                }
            })
            .collect();
        Self {
            cfg: cfg.clone(),
            workers: Workers::new(blocks.len()),
            x: data.x.par_map(|&v| T::from_f64(v)),
            y: OwnedTargets::new(&data.targets),
            blocks,
            batch_x: Matrix::zeros(0, d),
            batch_scalar: Vec::with_capacity(b),
            batch_labels: Vec::with_capacity(b),
            out: Matrix::zeros(b, c),
            out_t: Matrix::zeros(c, b),
            reg_grad: Matrix::zeros(0, d),
            fuse_sampled: true,
            #[cfg(test)]
            last_reg: "off",
            grad_v: vec![T::from_f64(0.0); c * n],
            chunk_rows: (CHUNK_ELEMENTS / d.max(1)).max(8),
        }
    }

    /// Samples in the training set.
    pub fn samples(&self) -> usize {
        self.x.rows()
    }
    /// The training inputs in precision `T`.
    pub(crate) fn inputs(&self) -> &Matrix<T> {
        &self.x
    }
    /// The training targets in precision `T`.
    pub(crate) fn targets(&self) -> &OwnedTargets<T> {
        &self.y
    }
    /// Blocks of hidden units the step is split into (one per thread, or one).
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// One optimiser step at learning rate `lr` on the samples `batch` (indices into the
    /// training set, at most the configured batch size): forward, loss, backward, the
    /// regularisers on their steps, update. Returns the batch's summed loss and errors
    /// (measured before the update). Stops with [`Error::Diverged`], leaving `state`
    /// untouched, if the batch loss is not finite.
    pub fn step(
        &mut self,
        state: &mut TrainState<T>,
        batch: &[usize],
        lr: f64,
    ) -> Result<BatchTotals> {
        self.gather(batch);
        let sampled = self.fuse_sampled
            && self.cfg.reg_sampling().is_some()
            && all_coupled(&self.cfg)
            && self.cfg.regularizes_at(state.optimizer.steps);
        let totals = self.forward_and_loss(state, sampled);
        let batch_loss = totals.loss_sum / batch.len() as f64;
        if !batch_loss.is_finite() {
            return Err(Error::Diverged {
                epoch: state.epochs_done + 1,
                step: state.optimizer.steps as usize + 1,
                loss: batch_loss,
            });
        }
        let reg = self.regularizer_step(state, sampled);
        let decoupled = decoupled_gradient(&self.cfg, &state.net.w, state.optimizer.steps);
        #[cfg(test)]
        {
            self.last_reg = match reg {
                RegStep::Off => "off",
                RegStep::Buffered => "buffered",
                RegStep::Sampled(_) => "sampled",
            };
        }
        state.optimizer.begin_step();
        let rule = state.optimizer.rule(lr);
        let w_rule = rule.decaying(lr, self.cfg.weight_decay());
        self.backward_and_update(state, (w_rule, rule), &reg, 1.0 / batch.len() as f64);
        if let Some(g) = decoupled {
            apply_decoupled(&mut state.net.w, &g, lr);
        }
        Ok(totals)
    }

    /// Copies the batch's rows of the inputs into `batch_x` (split over the workers: at
    /// width 100 the copy is a tenth of a step) and its targets into the target buffers.
    fn gather(&mut self, batch: &[usize]) {
        let parts = self.blocks.len();
        if parts == 1 {
            self.batch_x.gather_rows(&self.x, batch);
        } else {
            self.batch_x.resize_rows(batch.len());
            let d = self.x.cols().max(1);
            let rows_per_part = batch.len().div_ceil(parts).max(1);
            let mut items: Vec<_> = self
                .batch_x
                .as_mut_slice()
                .chunks_mut(rows_per_part * d)
                .zip(batch.chunks(rows_per_part))
                .collect();
            let x = &self.x;
            self.workers.for_each(&mut items, |(dst, rows)| {
                for (dst, &i) in dst.chunks_exact_mut(d).zip(rows.iter()) {
                    dst.copy_from_slice(x.row(i));
                }
            });
        }
        match &self.y {
            OwnedTargets::Scalar(y) => {
                self.batch_scalar.clear();
                self.batch_scalar.extend(batch.iter().map(|&i| y[i]));
            }
            OwnedTargets::Classes(l) => {
                self.batch_labels.clear();
                self.batch_labels.extend(batch.iter().map(|&i| l[i]));
            }
        }
    }

    /// Phases 1 and 2: F^T by blocks (with the blocks' row norms of W when `norms`), then
    /// dF (in `out` and, transposed, in `out_t`).
    fn forward_and_loss(&mut self, state: &TrainState<T>, norms: bool) -> BatchTotals {
        let b = self.batch_x.rows();
        let (w, v) = (&state.net.w, &state.net.v);
        let x = &self.batch_x;
        let forward = |blk: &mut UnitBlock<T>| {
            if norms {
                let rows = w.row_range(blk.units.start, blk.units.end);
                blk.row_norms = crate::geometry::row_norms(rows.as_slice(), w.cols());
            }
            let nt = blk.units.len();
            set_shape(&mut blk.hidden, nt, b);
            set_shape(&mut blk.d_hidden, nt, b);
            set_shape(&mut blk.share, v.rows(), b);
            for (dst, src) in blk.v.as_mut_slice().chunks_exact_mut(nt.max(1)).zip(0..) {
                dst.copy_from_slice(&v.row(src)[blk.units.clone()]);
            }
            gemm(
                &mut blk.hidden,
                false,
                w.row_range(blk.units.start, blk.units.end),
                Op::N,
                x.view(),
                Op::T,
                T::from_f64(1.0),
            );
            relu(blk.hidden.as_mut_slice());
            gemm(
                &mut blk.share,
                false,
                blk.v.view(),
                Op::N,
                blk.hidden.view(),
                Op::N,
                T::from_f64(1.0),
            );
        };
        self.workers.for_each(&mut self.blocks, forward);
        let c = v.rows();
        set_shape(&mut self.out_t, c, b);
        set_shape(&mut self.out, b, c);
        let (first, rest) = self.blocks.split_first().expect("at least one block");
        self.out_t
            .as_mut_slice()
            .copy_from_slice(first.share.as_slice());
        for blk in rest {
            add_assign(self.out_t.as_mut_slice(), blk.share.as_slice());
        }
        transpose(&self.out_t, &mut self.out);
        let targets = match &self.y {
            OwnedTargets::Scalar(_) => BatchTargets::Real(&self.batch_scalar),
            OwnedTargets::Classes(_) => BatchTargets::Classes(&self.batch_labels),
        };
        let totals = output_gradient(&mut self.out, targets, self.cfg.loss());
        transpose(&self.out, &mut self.out_t);
        totals
    }

    /// The regularisers' gradient sum_i lambda_i k dR_i/dW on every k-th step (k =
    /// `reg_every`; the step about to be taken is number `steps + 1`): `sampled` (phase 1
    /// left the row norms in the blocks) draws the partners of a sampled estimate, to be
    /// added chunk by chunk, where every term is one; otherwise it fills `reg_grad`.
    fn regularizer_step(&mut self, state: &TrainState<T>, sampled: bool) -> RegStep<T> {
        let steps = state.optimizer.steps;
        if !self.cfg.regularizes_at(steps) {
            return RegStep::Off;
        }
        if let (true, Some(sampling)) = (sampled, self.cfg.reg_sampling()) {
            let norms = self.blocks.iter().flat_map(|b| b.row_norms.iter().copied());
            let terms: Vec<_> = regularizer_weights(&self.cfg).collect();
            if let Some(estimate) = SampledGradient::prepare(
                &terms,
                &state.net.w,
                norms.collect(),
                sampling,
                &mut RegSampling::rng(self.cfg.seed(), steps),
            ) {
                return RegStep::Sampled(estimate);
            }
        }
        let w = &state.net.w;
        if self.reg_grad.rows() != w.rows() {
            self.reg_grad = Matrix::zeros(w.rows(), w.cols());
        } else {
            self.reg_grad.as_mut_slice().fill(T::from_f64(0.0));
        }
        if add_regularizer_gradient(&self.cfg, w, steps, &mut self.reg_grad) {
            RegStep::Buffered
        } else {
            RegStep::Off
        }
    }

    /// Phase 3: the gradients by blocks, each chunk of W's rows updated right after its
    /// gradient (by `w_rule`, with any decoupled decay); then V (by `v_rule`).
    fn backward_and_update(
        &mut self,
        state: &mut TrainState<T>,
        (w_rule, v_rule): (UpdateRule<T>, UpdateRule<T>),
        reg: &RegStep<T>,
        scale: f64,
    ) {
        let d = self.batch_x.cols();
        let scale = T::from_f64(scale);
        let trained_v = state.net.output_layer == OutputLayer::Trained;
        let (x, out_t, chunk_rows) = (&self.batch_x, &self.out_t, self.chunk_rows);
        let reg_grad = &self.reg_grad;
        let (first, second) = state.optimizer.buffers_mut(0);
        let mut rest = (state.net.w.as_mut_slice(), first, second);
        let mut work: Vec<BlockWork<'_, T>> = self
            .blocks
            .iter_mut()
            .map(|blk| {
                let rows = blk.units.len() * d;
                let w = take_rows(&mut rest.0, rows);
                let m1 = take_rows(&mut rest.1, rows);
                let m2 = take_rows(&mut rest.2, rows);
                (blk, w, m1, m2)
            })
            .collect();
        let backward = |(blk, w, m1, m2): &mut BlockWork<'_, T>| {
            if trained_v {
                gemm(
                    &mut blk.grad_v,
                    false,
                    out_t.view(),
                    Op::N,
                    blk.hidden.view(),
                    Op::T,
                    scale,
                );
            }
            gemm(
                &mut blk.d_hidden,
                false,
                blk.v.view(),
                Op::T,
                out_t.view(),
                Op::N,
                T::from_f64(1.0),
            );
            relu_mask(blk.d_hidden.as_mut_slice(), blk.hidden.as_slice());
            let nt = blk.units.len();
            for r0 in (0..nt).step_by(chunk_rows) {
                let r1 = (r0 + chunk_rows).min(nt);
                set_shape(&mut blk.grad_w, r1 - r0, d);
                gemm(
                    &mut blk.grad_w,
                    false,
                    blk.d_hidden.row_range(r0, r1),
                    Op::N,
                    x.view(),
                    Op::N,
                    scale,
                );
                let g = blk.grad_w.as_mut_slice();
                let (lo, hi) = (r0 * d, r1 * d);
                match reg {
                    RegStep::Off => {}
                    RegStep::Buffered => {
                        let start = blk.units.start * d;
                        add_assign(g, &reg_grad.as_slice()[start + lo..start + hi]);
                    }
                    RegStep::Sampled(estimate) => {
                        let rows = MatrixView::from_slice(r1 - r0, d, &w[lo..hi]);
                        estimate.add_rows(rows, blk.units.start + r0, g);
                    }
                }
                w_rule.apply(&mut w[lo..hi], g, part(m1, lo, hi), part(m2, lo, hi));
            }
        };
        self.workers.for_each(&mut work, backward);
        if trained_v {
            let c = state.net.v.rows();
            let n = state.net.v.cols();
            for blk in &self.blocks {
                for j in 0..c {
                    self.grad_v[j * n + blk.units.start..j * n + blk.units.end]
                        .copy_from_slice(blk.grad_v.row(j));
                }
            }
            let (first, second) = state.optimizer.buffers_mut(1);
            let v = state.net.v.as_mut_slice();
            v_rule.apply(v, &self.grad_v, first, second);
        }
    }
}

/// A block with its rows of W and of the optimiser's two buffers.
type BlockWork<'a, T> = (&'a mut UnitBlock<T>, &'a mut [T], &'a mut [T], &'a mut [T]);

/// `data[lo..hi]`, or the empty slice where an optimiser keeps no such buffer.
fn part<T>(data: &mut [T], lo: usize, hi: usize) -> &mut [T] {
    if data.is_empty() {
        data
    } else {
        &mut data[lo..hi]
    }
}

/// The first `len` values of `rest` (the next block's rows of a row-major n x d tensor), or
/// the empty slice where an optimiser keeps no such buffer; `rest` keeps the others.
fn take_rows<'a, T>(rest: &mut &'a mut [T], len: usize) -> &'a mut [T] {
    let len = if rest.is_empty() { 0 } else { len };
    let (head, tail) = std::mem::take(rest).split_at_mut(len);
    *rest = tail;
    head
}

/// `dst = src^T` (dst already shaped).
fn transpose<T: Copy>(src: &Matrix<T>, dst: &mut Matrix<T>) {
    let (r, c) = (src.rows(), src.cols());
    let d = dst.as_mut_slice();
    for (i, row) in src.as_slice().chunks_exact(c.max(1)).enumerate().take(r) {
        for (j, v) in row.iter().enumerate() {
            d[j * r + i] = *v;
        }
    }
}

/// a += b, vectorised.
fn add_assign<T: Real>(a: &mut [T], b: &[T]) {
    vectorized(|| {
        for (a, b) in a.iter_mut().zip(b) {
            *a += *b;
        }
    });
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;
