use super::*;

#[test]
fn frame_round_trip_and_detection() {
    let mut buf = Vec::new();
    encode_frame(b"hello", &mut buf);
    encode_frame(b"", &mut buf);
    let bodies: Vec<_> = frames(&buf).collect::<Result<_, _>>().expect("valid");
    assert_eq!(bodies, vec![&b"hello"[..], &b""[..]]);

    let mut torn = buf.clone();
    torn.truncate(buf.len() - 1);
    assert!(frames(&torn).any(|f| f.is_err()));

    let mut flipped = buf.clone();
    flipped[9] ^= 0x01;
    assert!(matches!(
        decode_frame(&flipped),
        Err(FormatError::Crc { .. })
    ));
    assert_eq!(decode_frame(&buf[..5]), Ok(FrameRead::Incomplete));
}
