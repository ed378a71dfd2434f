//! # diversenet
//!
//! One-hidden-layer ReLU networks f(x) = V relu(W x) and the theory of Xie, Liang & Song,
//! "Diverse Neural Network Learns True Target Functions" (AISTATS 2017).
//!
//! The crate is organised as the paper's pipeline (every module listed):
//! - [`data`]: data sources (synthetic teacher-student data, MNIST with its one
//!   locate-or-fetch, CSV, NumPy), input scaling, and the record of a run's data;
//! - [`model`]: the network, its losses and gradients, optimisers, the training loop,
//!   model files, resumable run directories, and whether a model fits a data set;
//! - [`regularizer`]: the diversity regulariser R(W) and its peers, value and gradient;
//! - [`theory`]: the extended feature matrix D and s_m(D), the loss bound, the kernel K and
//!   E_W, the discrepancies, the spectrum gamma_u, and `analyze`, which measures them all;
//! - [`linalg`]: the dense linear algebra every hot loop goes through (faer);
//! - [`geometry`]: the directions of the hidden units (unit rows, pairwise angles, slice
//!   volumes, the constant c_d, the closed form of L2(W)^2), shared by the training loop, the
//!   regularisers and the theory;
//! - [`limits`]: memory estimates from declared sizes against a budget, the thread bound;
//! - [`rng`], [`files`], [`error`], [`cancel`]: seeded randomness, atomic files, the error
//!   type, and stopping a long computation early.
//!
//! The reproduction of the paper's findings and the throughput benchmarks are the crate
//! `diversenet-repro`; the command-line program `diversenet` (crate `diversenet-cli`) is a
//! thin layer over both.
//!
//! The theory's quantities on your own W, V and X:
//!
//! ```
//! use diversenet::cancel::Cancel;
//! use diversenet::linalg::Matrix;
//! use diversenet::model::{Network, OutputLayer};
//! use diversenet::regularizer::{value_and_gradient, RegularizerKind};
//! use diversenet::theory::discrepancy::discrepancies;
//! use diversenet::theory::feature_matrix::{loss_bound, smallest_singular_value, squared_loss_and_gradient_norm};
//!
//! // Four units in d = 2 with output weights +1/-1, on three points of the circle.
//! let w = Matrix::from_vec(4, 2, vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0]);
//! let v = Matrix::from_vec(1, 4, vec![1.0, -1.0, 1.0, -1.0]);
//! let net = Network { w, v, output_layer: OutputLayer::Fixed };
//! let x = Matrix::from_vec(3, 2, vec![1.0, 0.0, 0.6, 0.8, -0.8, 0.6]);
//! let y = Matrix::from_vec(3, 1, vec![0.5, -0.2, 0.1]);
//!
//! // s_m(D), from the Gram form (Cancel::NEVER: nothing stops it early).
//! let s = smallest_singular_value(&net, &x, Cancel::NEVER).unwrap();
//! let (loss, grad) = squared_loss_and_gradient_norm(&net, &x, &y);
//! assert!(s.value > 0.0 && loss <= loss_bound(3, grad, s.value) * (1.0 + 1e-12));
//!
//! // Four orthogonal directions: a low L2 slice discrepancy.
//! let d = discrepancies(&net.w).unwrap();
//! assert!(d.l2_slice_sq >= 0.0 && d.l2_slice_sq < 0.05);
//!
//! // The diversity regulariser R(W) and its gradient, added to `grad_w` with weight 1.
//! let mut grad_w = Matrix::zeros(4, 2);
//! let r = value_and_gradient(RegularizerKind::Discrepancy, &net.w, Some((&mut grad_w, 1.0)));
//! assert!((r - (d.l2_slice_sq + d.c_d)).abs() < 1e-12);
//! ```

pub mod cancel;
pub mod data;
pub mod error;
pub mod files;
pub mod geometry;
pub mod limits;
pub mod linalg;
pub mod model;
pub mod regularizer;
pub mod rng;
pub mod theory;

pub use error::{Error, Result};
