//! # diversenet
//!
//! One-hidden-layer ReLU networks f(x) = V relu(W x) and the theory of Xie, Liang & Song,
//! "Diverse Neural Network Learns True Target Functions" (AISTATS 2017).
//!
//! The crate is organised as the paper's pipeline:
//! - [`data`]: data sources (synthetic teacher-student data, MNIST, CSV, NumPy) and scaling;
//! - [`model`]: the network, its losses and gradients, optimisers, the training loop,
//!   model files and resumable run directories;
//! - [`linalg`]: the dense linear algebra every hot loop goes through (faer);
//! - [`bench`]: throughput measurements;
//! - [`rng`], [`files`], [`error`]: seeded randomness, atomic files, the error type.
//!
//! The command-line program `diversenet` is a thin layer over this library.

pub mod bench;
pub mod data;
pub mod error;
pub mod experiments;
pub mod files;
pub mod linalg;
pub mod model;
pub mod regularizer;
pub mod report;
pub mod rng;
pub mod theory;

pub use error::{Error, Result};
