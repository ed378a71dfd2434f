//! # diversenet-repro
//!
//! The lab beside the [`diversenet`] library: the reproduction of the findings of Xie,
//! Liang & Song, "Diverse Neural Network Learns True Target Functions" (AISTATS 2017), and
//! the throughput benchmarks.
//! - [`experiments`]: the reproduction (plan, stored runs, statistics, verdicts);
//! - [`report`]: its plots and documents;
//! - [`bench`](mod@bench): throughput measurements beside numpy and PyTorch, and
//!   [`bench_ntk`]: the empirical NTK of a ReLU MLP beside torch.func.
//!
//! `diversenet reproduce` and `diversenet bench` (crate `diversenet-cli`) are thin layers
//! over this crate.

pub mod bench;
pub mod bench_ntk;
pub mod experiments;
pub mod report;
