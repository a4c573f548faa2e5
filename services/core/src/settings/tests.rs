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
