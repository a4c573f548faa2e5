use super::*;

#[test]
fn a_short_election_is_ready_a_long_one_is_not() {
    let h = Health::new(Duration::from_millis(600));
    assert!(h.check_quorum(false).is_ok(), "an election is under way");
    *h.lock().leaderless_since.as_mut().expect("set") -= Duration::from_secs(2);
    let e = h.check_quorum(false).expect_err("too long");
    assert_eq!(e.what, "quorum");
    assert!(h.check_quorum(true).is_ok());
}

#[test]
fn failing_writes_make_the_node_unready_after_a_while_and_a_success_clears_them() {
    let h = Health::new(Duration::from_millis(600));
    h.quorum_write(Err("timed out".into()));
    assert!(h.check_quorum(true).is_ok(), "one failure is not enough");
    h.lock().write_failure.as_mut().expect("set").0 -= WRITES_FAIL_FOR;
    let e = h.check_quorum(true).expect_err("failing");
    assert!(e.reason.contains("timed out"), "{}", e.reason);
    h.quorum_write(Ok(()));
    assert!(h.check_quorum(true).is_ok());
}
