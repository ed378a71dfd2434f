//! The CSV loader on arbitrary bytes, with automatic and named target columns.
#![no_main]
use std::path::Path;

use diversenet::data::Task;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.csv");
    let _ = diversenet::data::csv::parse(data, p, None, Task::Auto);
    let _ = diversenet::data::csv::parse(data, p, Some("label"), Task::Classify);
    let _ = diversenet::data::csv::parse(data, p, Some("y"), Task::Regress);
});
