//! `docs/training-options.md` is the library's table of training options
//! (`diversenet::model::options::TRAIN_OPTIONS`) as this test renders it.

use std::path::Path;

use diversenet::model::options::{FrontEnds, OptionDefault, TRAIN_OPTIONS};

/// `docs/training-options.md`: the options as a table, with the command line's flag and
/// Python's keyword of each.
fn markdown() -> String {
    let mut out = String::from(
        "# Training options\n\n\
         Generated from the table of training options in \
         `crates/diversenet/src/model/options.rs` (the test `training_options_doc` checks \
         that this file is current; `DIVERSENET_WRITE_DOCS=1 cargo test --release -p \
         diversenet --test training_options_doc` rewrites it). The command line \
         (`diversenet train`) and Python (`diversenet.train`) take the same options with \
         the same defaults, except where a row says otherwise.\n\n\
         | Command line | Python | Default | What it does |\n\
         |---|---|---|---|\n",
    );
    for o in TRAIN_OPTIONS {
        let flag = format!("`--{} {}`", o.name.replace('_', "-"), o.value);
        let keyword = match (o.front_ends, o.name) {
            (FrontEnds::CommandLine, _) => "(command line only)".to_string(),
            (_, "lambda") => "`lambda_`".to_string(),
            (_, name) => format!("`{name}`"),
        };
        let default = match o.default {
            OptionDefault::Number(v) | OptionDefault::Name(v) => v.to_string(),
            OptionDefault::WhereApplicable(v) => format!("{v} where it applies"),
            OptionDefault::Unset => "see the text".to_string(),
        };
        let default = match o.command_line_default {
            Some((v, why)) => format!("{default}; command line {v} ({why})"),
            None => default,
        };
        let help = (o.help)()
            .to_string()
            .replace("\n  ", "<br>")
            .replace('|', "\\|");
        out += &format!("| {flag} | {keyword} | {default} | {help} |\n");
    }
    out
}

#[test]
fn training_options_doc_is_the_generated_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/training-options.md");
    let generated = markdown();
    if std::env::var_os("DIVERSENET_WRITE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is not the generated table of training options; rewrite it with \
         DIVERSENET_WRITE_DOCS=1 cargo test --release -p diversenet --test training_options_doc",
        path.display()
    );
}
