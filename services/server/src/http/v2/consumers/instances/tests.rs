use super::*;

#[test]
fn path_segments_are_percent_encoded() {
    assert_eq!(segment("my_consumer-1.a~"), "my_consumer-1.a~");
    assert_eq!(segment("a b/c"), "a%20b%2Fc");
}
