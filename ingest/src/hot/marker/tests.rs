use strata_core::frame::{FrameRead, decode_frame};

use super::*;

#[test]
fn markers_round_trip() {
    for m in [
        Marker::Seal {
            seq: FlushSeq(7),
            batches: 3,
            writer: Some(Incarnation(12)),
        },
        Marker::Commit {
            seq: FlushSeq(9),
            writer: Some(Incarnation(12)),
        },
        Marker::Seal {
            seq: FlushSeq(7),
            batches: 3,
            writer: None,
        },
        Marker::Commit {
            seq: FlushSeq(9),
            writer: None,
        },
        Marker::Request {
            batches: 3,
            key: Some(RequestKey {
                id: u128::MAX - 5,
                fingerprint: 77,
            }),
        },
        Marker::Request {
            batches: 2,
            key: None,
        },
    ] {
        let frame = m.encode();
        let FrameRead::Frame { body, .. } = decode_frame(&frame).expect("valid") else {
            panic!("incomplete")
        };
        assert_eq!(Marker::decode(body).expect("decodes"), m);
    }
}
