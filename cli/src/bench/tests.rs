use super::*;

#[test]
fn records_are_valid_json_of_the_requested_size() {
    let mut rng = Rng::new(1);
    for size in [200, 1024, 4096] {
        let (_, v) = record(&mut rng, size);
        assert_eq!(v.len(), size);
        let parsed: serde_json::Value = serde_json::from_str(&v).expect("valid json");
        assert!(parsed["user_id"].is_u64());
    }
}

#[test]
fn histogram_quantiles_come_from_bucket_deltas() {
    let b = |le: &str, v: f64| (format!("h_bucket{{le=\"{le}\"}}"), v);
    let before = vec![b("0.1", 5.0), b("1", 5.0), b("+Inf", 5.0)];
    let after = vec![b("0.1", 95.0), b("1", 104.0), b("+Inf", 105.0)];
    assert_eq!(
        histogram_quantile(&before, &after, "h_bucket{le=\"", 0.5),
        Some(100.0)
    );
    assert_eq!(
        histogram_quantile(&before, &after, "h_bucket{le=\"", 0.99),
        Some(1000.0)
    );
    assert_eq!(
        histogram_quantile(&after, &after, "h_bucket{le=\"", 0.5),
        None
    );
}

#[test]
fn percentiles_pick_the_right_rank() {
    let v: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
    assert_eq!(percentile(&v, 0.5), 500.0);
    assert_eq!(percentile(&v, 0.99), 990.0);
    assert_eq!(percentile(&v, 0.999), 999.0);
}
