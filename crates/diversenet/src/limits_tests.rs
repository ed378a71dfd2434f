//! Tests of `limits` (the memory estimates and checks).
use super::*;

#[test]
fn sizes_parse_in_decimal_and_binary_units() {
    assert_eq!(parse_size("8G").unwrap(), 8_000_000_000);
    assert_eq!(parse_size("500M").unwrap(), 500_000_000);
    assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
    assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
    assert_eq!(parse_size("64kib").unwrap(), 65536);
    assert_eq!(parse_size("1234").unwrap(), 1234);
    for bad in ["", "G", "8X", "-1G", "0", "1e400"] {
        match parse_size(bad) {
            Err(Error::Config { setting, value, .. }) => {
                assert_eq!((setting, value.as_deref()), ("max_memory", Some(bad)));
            }
            other => panic!("{bad}: expected a refusal, got {other:?}"),
        }
    }
    // u64::MAX - 1 rounds to 2^64 in f64: too large, not "at least 1 byte".
    for huge in ["18446744073709551614", "20000000T"] {
        let e = parse_size(huge).unwrap_err().to_string();
        assert!(
            e.contains("too large") && !e.contains("at least"),
            "{huge}: {e}"
        );
    }
    assert!(parse_size("0.5")
        .unwrap_err()
        .to_string()
        .contains("at least 1 byte"));
}

#[test]
fn default_budget_reads_meminfo_and_falls_back() {
    let info = "MemTotal:       16000000 kB\nMemFree:  1000 kB\nMemAvailable:   10000000 kB\n";
    let b = default_budget(Some(info));
    assert_eq!(b.bytes, (10_000_000.0 * 1024.0 * 0.8) as u64);
    assert_eq!(
        b.source,
        BudgetSource::Available {
            bytes: 10_000_000 * 1024
        }
    );
    let b = default_budget(Some("MemTotal: 1000 kB\n"));
    assert_eq!(b.bytes, (1000.0 * 1024.0 * 0.8) as u64);
    assert_eq!(b.source, BudgetSource::Installed { bytes: 1000 * 1024 });
    assert_eq!(default_budget(None).bytes, FALLBACK_BYTES);
    assert_eq!(default_budget(None).source, BudgetSource::Unreadable);
}

#[test]
fn refusal_names_the_estimate_the_budget_and_the_advice() {
    let budget = Budget {
        bytes: 1_000_000,
        source: BudgetSource::Set,
    };
    let mut e = Estimate::default();
    e.add("Gram", 1e6, 8).add("X", 10.0, 8);
    let advice = Advice::Largest {
        setting: "points",
        value: 353,
    };
    let refusal = match check_against(&budget, "analyze", &e, |_| Some(advice.clone())) {
        Err(Error::Memory(refusal)) => refusal,
        other => panic!("expected a memory refusal, got {other:?}"),
    };
    assert_eq!(refusal.task, "analyze");
    assert_eq!(refusal.needed, 8e6 + 80.0);
    assert_eq!(refusal.largest_parts[0], ("Gram".to_string(), 8e6));
    assert_eq!(refusal.budget, budget);
    assert_eq!(refusal.advice, Some(advice));
    // In words (the library's own spelling of the settings).
    let msg = Error::Memory(refusal).to_string();
    assert!(msg.contains("about 8.0 MB"), "{msg}");
    assert!(msg.contains("Gram 8.0 MB"), "{msg}");
    assert!(
        msg.contains("budget of 1.0 MB (set by `max_memory`)"),
        "{msg}"
    );
    assert!(
        msg.ends_with("the largest `points` that fits is 353"),
        "{msg}"
    );
    let mut small = Estimate::default();
    small.add("X", 10.0, 8);
    assert!(check_against(&budget, "x", &small, |_| None).is_ok());
}

#[test]
fn theory_estimates_grow_as_their_matrices() {
    // Four m x m f64 matrices for the kernel; 2 (mc)^2 + m^2 + n m for s_m(D).
    assert_eq!(kernel_estimate(1000).total(), 4.0 * 8.0 * 1e6);
    assert_eq!(
        feature_gram_estimate(10, 7, 3).total(),
        8.0 * (2.0 * 900.0 + 100.0 + 70.0)
    );
    assert_eq!(unit_angles_estimate(10, 3).total(), 8.0 * (200.0 + 60.0));
    match check_rows("kernel_lambda_min", "X", 100_000_000, kernel_estimate) {
        Err(Error::Memory(refusal)) => {
            assert!(refusal.task.contains("100000000 rows of X"), "{refusal:?}");
            assert!(
                matches!(&refusal.advice, Some(Advice::AtMost { what, .. }) if what == "rows of X"),
                "{refusal:?}"
            );
        }
        other => panic!("expected a memory refusal, got {other:?}"),
    }
}

#[test]
fn largest_fitting_is_the_boundary() {
    // m^2 * 8 bytes <= 8e6: m <= 1000.
    let f = |m: usize| (m * m * 8) as f64;
    assert_eq!(largest_fitting(1, 1_000_000, 8e6, f), Some(1000));
    assert_eq!(largest_fitting(1, 10, 8e6, f), Some(10));
    assert_eq!(largest_fitting(2000, 3000, 8e6, f), None);
}

#[test]
fn thread_counts_above_the_bound_are_refused_with_the_reason() {
    assert!(check_threads(0).is_ok());
    assert!(check_threads(cores()).is_ok());
    let e = check_threads(100_000).unwrap_err();
    assert!(
        matches!(&e, Error::Config { setting: "threads", value: Some(v), .. } if v == "100000"),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.contains("100000 threads") && e.contains("per core"),
        "{e}"
    );
}

#[test]
fn bytes_are_formatted_for_people() {
    assert_eq!(format_bytes(28.8e9), "28.8 GB");
    assert_eq!(format_bytes(512e6), "512 MB");
    assert_eq!(format_bytes(12.0), "12 bytes");
}
