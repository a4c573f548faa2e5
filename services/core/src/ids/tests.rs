use super::*;

#[test]
fn topic_names_follow_kafka_rules() {
    assert!(validate_topic_name("orders.v1_x-2").is_ok());
    assert!(validate_topic_name("").is_err());
    assert!(validate_topic_name(&"a".repeat(250)).is_err());
    assert!(validate_topic_name(&"a".repeat(249)).is_ok());
    assert!(validate_topic_name("..").is_err());
    assert!(validate_topic_name("a/b").is_err());
    assert!(validate_topic_name("héllo").is_err());
}

#[test]
fn offset_arithmetic() {
    assert_eq!(Offset(5).plus(3), Offset(8));
    assert_eq!(Offset(8).since(Offset(5)), 3);
    assert_eq!(Offset(5).since(Offset(8)), 0);
}
