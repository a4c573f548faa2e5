use super::*;

#[test]
fn durations_and_sizes_parse_in_human_form_and_format_back() {
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("100"), Ok(Duration::from_millis(100)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("5 days").is_err());
    assert!(parse_duration("99999999999999999h").is_err());
    assert_eq!(parse_size("8MiB"), Ok(8 << 20));
    assert_eq!(parse_size("512KiB"), Ok(512 << 10));
    assert_eq!(parse_size("10MB"), Ok(10_000_000));
    assert_eq!(parse_size("42"), Ok(42));
    assert!(parse_size("8 lots").is_err());
    for d in ["250ms", "30s", "5m", "2h", "0ms"] {
        assert_eq!(format_duration(parse_duration(d).expect("parses")), d);
    }
    for s in ["8MiB", "4GiB", "64KiB", "0B", "1000B", "1537B"] {
        assert_eq!(format_size(parse_size(s).expect("parses")), s);
    }
}

#[test]
fn range_checks_name_the_key_and_the_bounds() {
    assert_eq!(
        size_between("block-bytes", 1 << 30, 64 << 10, 64 << 20),
        Err(Invalid::new(
            "block-bytes",
            "must be between 64KiB and 64MiB"
        ))
    );
    assert_eq!(
        duration_between(
            "interval",
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::MAX
        ),
        Err(Invalid::new("interval", "must be above zero"))
    );
    assert_eq!(
        at_least("requests", 0, 1),
        Err(Invalid::new("requests", "must be at least 1"))
    );
}

/// Found by the guided fuzzer: a field far out of its range overflowed the arithmetic (a panic
/// in a debug build, a wrapped instant in a release one). Every field is now checked first.
#[test]
fn an_instant_with_a_field_out_of_its_range_is_refused() {
    assert_eq!(parse_instant("26-2-03T11:777777777007700001:0-1"), None);
    for bad in [
        "2026-02-03T24:00:00Z",
        "2026-02-03T11:60:00Z",
        "2026-02-03T11:00:61Z",
        "2026-02-03T11:00:00+24:00",
        "2026-02-03T11:00:00+01:60",
        "2026-02-03T11:00:00.-1Z",
        "99999999999999-02-03T11:00:00Z",
        "-1-02-03T11:00:00Z",
    ] {
        assert_eq!(parse_instant(bad), None, "{bad}");
    }
    assert_eq!(
        parse_instant("2026-02-03T23:59:60.5+23:59"),
        Some(1_770_076_860_500),
        "the ends of each range are kept"
    );
}
