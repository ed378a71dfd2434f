//! The model and its training: the one-hidden-layer ReLU network f(x) = V relu(W x), its
//! losses and their gradients, optimisers, the training loop, model files and run
//! directories; weights given from outside, checked once ([`Weights`], [`HiddenUnits`]),
//! and a trained model checked as a whole ([`TrainedModel`]).

pub mod compat;
pub mod config;
pub mod file;
pub mod fit;
pub mod foreign;
pub mod loss;
pub mod network;
pub mod optim;
pub mod options;
pub mod run;
pub mod step;
pub mod train;
pub mod trained;
pub mod weights;

pub use config::{Precision, TrainConfig, TrainSettings};
pub use loss::Loss;
pub use network::{Network, OutputLayer};
pub use optim::{LrSchedule, OptimizerKind};
pub use train::{EpochMetrics, MetricKind};
pub use trained::TrainedModel;
pub use weights::{HiddenUnits, Weights};
