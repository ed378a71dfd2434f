//! Reporting: SVG plots (and, with the reproduction, reports) generated from computed results.

pub mod document;
pub mod plot;
