use strata_core::batch::{UNASSIGNED, encode_batch};
use strata_core::record::Record;

use super::*;

#[test]
fn index_matches_the_built_object() {
    let mut batches = Vec::new();
    let mut offset = 0u64;
    for (t, p) in [(1u64, 1u32), (1, 0), (2, 0), (1, 1), (1, 0)] {
        let b = encode_batch(
            TopicId(t),
            PartitionId(p),
            UNASSIGNED,
            &[Record::default()],
            None,
            1,
        )
        .expect("encodes");
        let len = b.frame.len() as u32;
        batches.push(StagedBatch {
            header: b.header,
            frame: b.frame,
            loc: Location {
                segment: 0,
                offset,
                len,
            },
            request: None,
        });
        offset += u64::from(len);
    }
    let (bytes, sections, index) = build_object(Incarnation(1), FlushSeq(1), 0, &batches);
    assert_eq!(sections.len(), 3);
    for s in &sections {
        let locs = &index[&s.start];
        let from_hot: Vec<u8> = locs
            .iter()
            .flat_map(|l| {
                let b = batches.iter().find(|b| b.loc == *l).expect("known");
                b.frame.to_vec()
            })
            .collect();
        assert_eq!(
            &bytes[s.start as usize..(s.start + s.len) as usize],
            &from_hot[..]
        );
    }
}
