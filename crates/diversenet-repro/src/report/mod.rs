//! The report: documents of blocks rendered to Markdown and HTML, SVG plots, the sections
//! with their claims and verdicts, and the assembly of the whole report.

pub mod document;
pub mod plot;
pub mod render;
pub mod section;
