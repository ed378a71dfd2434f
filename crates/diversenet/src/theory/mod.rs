//! The paper's instruments, for any network and data: the extended feature matrix D and
//! its smallest singular value s_m(D) (with the training-loss bound), the ReLU kernel K and
//! its spectrum gamma_u on the sphere, and the geometric discrepancies of the hidden units;
//! [`measure`]: each instrument on checked inputs, with its memory check.

pub mod analyze;
pub mod discrepancy;
pub mod feature_matrix;
pub mod kernel;
pub mod measure;
pub mod spectrum;

pub use analyze::{analyze, analyze_points, Analysis, AnalysisOptions};
