//! Tests of the error type: its fields, its renderings, and no front end's syntax in the
//! library's words.

use std::path::Path;

use super::*;

/// A front end that writes settings as `<name>` and offers none, to see every setting a
/// rendering names.
struct Marked;

impl Spelling for Marked {
    fn setting(&self, name: &str) -> String {
        format!("<{name}>")
    }
    fn setting_value(&self, name: &str, value: &str) -> String {
        format!("<{name}:{value}>")
    }
    fn offers(&self, _name: &str) -> bool {
        false
    }
    fn front_end(&self) -> &str {
        "the marked front end"
    }
}

/// One error of every kind, with every kind of setting reference and advice.
fn every_kind() -> Vec<Error> {
    let budget = |source| Budget {
        bytes: 1_000_000,
        source,
    };
    let refusal = |source, advice| MemoryRefusal {
        task: "training".into(),
        needed: 2e6,
        largest_parts: vec![("W".into(), 2e6)],
        budget: budget(source),
        advice,
    };
    let mut errors = vec![
        Error::io("f.npy", std::io::Error::other("gone")),
        Error::format("f.npy", Message::from("pass ").setting("data_dir")),
        Error::data("X", "a NaN"),
        Error::Diverged {
            epoch: 1,
            step: 2,
            loss: f64::INFINITY,
        },
        Error::Interrupted { steps: 3 },
        Error::Fetch(Message::from("get it with ").command("fetch mnist", &[("dir", "DIR")])),
        Error::no_effect("momentum", "only sgd has one"),
        Error::config("lambda", Message::from("given without ").setting("reg")),
    ];
    for expected in [
        Expected::Positive,
        Expected::NonNegative,
        Expected::UnitInterval,
        Expected::AtLeast {
            min: 1,
            unit: "hidden unit",
        },
        Expected::OneOf("f32 or f64"),
    ] {
        errors.push(Error::setting("batch_size", "-1", expected));
    }
    let sources = [
        BudgetSource::Set,
        BudgetSource::Available { bytes: 2_000_000 },
        BudgetSource::Installed { bytes: 2_000_000 },
        BudgetSource::Unreadable,
    ];
    let advice = [
        None,
        Some(Advice::Largest {
            setting: "width",
            value: 7,
        }),
        Some(Advice::AtMost {
            count: 5,
            what: "epochs".into(),
        }),
        Some(Advice::NothingFits {
            what: "even width 1 does not fit".into(),
            remedy: Some(Message::from("use fewer ").setting("train_samples")),
        }),
    ];
    for source in sources {
        for a in advice.clone() {
            errors.push(refusal(source.clone(), a).into());
        }
    }
    errors
}

/// The settings an error names are fields ([`Error::settings`]); its renderings write each
/// in the front end's spelling, and the library's own rendering has no flag syntax.
#[test]
fn renderings_spell_the_settings_the_error_names() {
    for e in every_kind() {
        let neutral = e.to_string();
        assert!(!has_flag_syntax(&neutral), "{neutral}");
        let marked = e.render(&Marked);
        for setting in e.settings() {
            let spelled = format!("<{setting}");
            let offered = setting != "max_memory";
            assert!(
                marked.contains(&spelled) || !offered,
                "{setting} missing from {marked}"
            );
        }
        assert!(!marked.contains('`') || neutral.contains('`'), "{marked}");
    }
    let diverged = Error::Diverged {
        epoch: 1,
        step: 2,
        loss: f64::NAN,
    };
    assert!(diverged
        .render(&Marked)
        .contains("lower the learning rate (<lr>)"));
    assert!(diverged
        .to_string()
        .contains("lower the learning rate (`lr`)"));
}

/// A front end without a memory setting says that its budget is fixed rather than naming
/// one; a front end with it names it.
#[test]
fn memory_advice_follows_what_the_front_end_offers() {
    let refusal: Error = MemoryRefusal {
        task: "analyze on 10 points".into(),
        needed: 2e6,
        largest_parts: vec![("Gram".into(), 2e6)],
        budget: Budget {
            bytes: 1_000_000,
            source: BudgetSource::Available { bytes: 1_250_000 },
        },
        advice: Some(Advice::NothingFits {
            what: "not even one point fits".into(),
            remedy: None,
        }),
    }
    .into();
    let marked = refusal.render(&Marked);
    assert!(
        marked
            .contains("80% of the 1.2 MB available; the marked front end always uses this budget"),
        "{marked}"
    );
    assert!(marked.ends_with("not even one point fits"), "{marked}");
    let neutral = refusal.to_string();
    assert!(
        neutral.contains("change it with `max_memory`")
            && neutral.ends_with("not even one point fits: raise `max_memory`"),
        "{neutral}"
    );
}

#[test]
fn a_setting_error_carries_the_setting_the_value_and_the_range() {
    let e = Error::setting("lr", -1.0, Expected::Positive);
    assert!(matches!(
        &e,
        Error::Config { setting: "lr", value: Some(v), expected: Expected::Positive } if v == "-1"
    ));
    assert_eq!(
        e.to_string(),
        "invalid setting `lr`: -1 is not a finite value > 0"
    );
    assert_eq!(
        e.render(&Marked),
        "invalid setting <lr>: -1 is not a finite value > 0"
    );
    let e = Error::no_effect("batch_size", "gd steps on the whole set");
    assert_eq!(
        e.render(&Marked),
        "invalid setting <batch_size>: it does not apply here: gd steps on the whole set; \
         leave it out"
    );
}

/// Whether `text` holds a command-line flag (`--name`).
fn has_flag_syntax(text: &str) -> bool {
    text.match_indices("--")
        .any(|(i, _)| text[i + 2..].starts_with(|c: char| c.is_ascii_lowercase()))
}

/// The string literals of Rust source `code` (ordinary, byte and raw strings), outside
/// comments.
fn string_literals(code: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'\'' => {
                // A char literal ('"', '\'') or a lifetime ('a).
                if bytes.get(i + 1) == Some(&b'\\') {
                    i += 4;
                } else if bytes.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            b'r' if (bytes.get(i + 1) == Some(&b'"') || bytes.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
                let start = i + 2 + hashes;
                if bytes.get(start - 1) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let end = code[start..].find(&close).map_or(code.len(), |e| start + e);
                out.push(code[start..end].to_string());
                i = end + close.len();
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                out.push(code[start..i.min(code.len())].to_string());
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// No string literal of the library (its tests apart) holds a command-line flag: the
/// settings a message names are [`Piece::Setting`]s, spelled by each front end.
#[test]
fn no_library_message_holds_flag_syntax() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 40, "{files:?}");
    let mut found = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let code = std::fs::read_to_string(&path).unwrap();
        // A file's unit tests are its module `tests`, at its end.
        let end = ["#[cfg(test)]\nmod ", "#[cfg(test)]\n#[path"]
            .iter()
            .filter_map(|m| code.find(m))
            .min()
            .unwrap_or(code.len());
        let code = &code[..end];
        for literal in string_literals(code) {
            if has_flag_syntax(&literal) {
                found.push(format!("{}: {literal:?}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "flag syntax in messages:\n{}",
        found.join("\n")
    );
    // The scanner itself.
    let sample = "let a = \"plain\"; // \"--x\" in a comment\nlet b = r#\"raw --lr\"#; '\"';";
    assert_eq!(string_literals(sample), vec!["plain", "raw --lr"]);
    assert!(has_flag_syntax("raw --lr") && !has_flag_syntax("a -- b"));
}
