use strata_core::batch::{UNASSIGNED, encode_batch};
use strata_core::ids::{PartitionId, TopicId};
use strata_core::record::Record;

use super::*;

const W: Incarnation = Incarnation(5);

fn frame(p: u32) -> Vec<u8> {
    encode_batch(
        TopicId(1),
        PartitionId(p),
        UNASSIGNED,
        &[Record::default()],
        None,
        1,
    )
    .expect("encodes")
    .frame
    .to_vec()
}

#[test]
fn replay_rebuilds_flushes_and_unsealed_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut log, replay) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("opens");
        assert!(replay.flushes.is_empty() && replay.unsealed.is_empty());
        log.append_batches(&[&frame(0), &frame(1)])
            .expect("appends");
        log.seal(W, FlushSeq(1), 2).expect("seals");
        log.append_batches(&[&frame(0)]).expect("appends");
        log.seal(W, FlushSeq(2), 1).expect("seals");
        log.committed(W, FlushSeq(1), FlushIndex::new())
            .expect("commits");
        log.append_batches(&[&frame(2)]).expect("appends");
        log.sync_job().expect("dirty").run().expect("syncs");
    }
    let (_log, replay) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("reopens");
    assert_eq!(replay.flushes.len(), 2);
    assert!(replay.flushes[0].committed);
    assert!(
        replay.flushes[0].batches.iter().all(|b| b.frame.is_none()),
        "committed frames are dropped"
    );
    assert!(!replay.flushes[1].committed);
    assert_eq!(replay.flushes[1].batches.len(), 1);
    assert!(replay.flushes[1].batches[0].frame.is_some());
    assert_eq!(replay.unsealed.len(), 1);
    assert_eq!(replay.unsealed[0].header.partition, PartitionId(2));
    assert_eq!(replay.max_seq(), Some(FlushSeq(2)));
}

#[test]
fn a_torn_tail_is_cut_and_writing_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path;
    {
        let (mut log, _) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("opens");
        log.append_batches(&[&frame(0)]).expect("appends");
        log.seal(W, FlushSeq(1), 1).expect("seals");
        log.append_batches(&[&frame(1)]).expect("appends");
        path = segment_path(dir.path(), log.active_id);
    }
    // Tear the last frame in half, as a crash mid-write would.
    let len = std::fs::metadata(&path).expect("exists").len();
    let f = OpenOptions::new().write(true).open(&path).expect("opens");
    f.set_len(len - 10).expect("truncates");
    drop(f);
    let (mut log, replay) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("reopens");
    assert_eq!(replay.flushes.len(), 1);
    assert!(replay.unsealed.is_empty(), "the torn batch is dropped");
    let valid = std::fs::metadata(&path).expect("exists").len();
    assert!(
        valid < len - 10,
        "the file is cut back to its last whole frame"
    );
    log.append_batches(&[&frame(3)])
        .expect("appends after the cut");
    drop(log);
    let (_log, replay) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("reopens again");
    assert_eq!(replay.unsealed.len(), 1);
    assert_eq!(replay.unsealed[0].header.partition, PartitionId(3));
}

#[test]
fn a_flipped_byte_ends_the_replay_at_that_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path;
    {
        let (mut log, _) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("opens");
        for p in 0..3 {
            log.append_batches(&[&frame(p)]).expect("appends");
        }
        path = segment_path(dir.path(), log.active_id);
    }
    let mut bytes = std::fs::read(&path).expect("reads");
    let second = frame(0).len() + 12;
    bytes[second] ^= 0x40;
    std::fs::write(&path, &bytes).expect("writes");
    let (_log, replay) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("reopens");
    assert_eq!(
        replay.unsealed.len(),
        1,
        "only the frame before the bad one survives"
    );
}

#[test]
fn committed_segments_are_deleted_beyond_retention_but_never_uncommitted_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One-byte segments: every write rolls, so each frame is a segment of its own.
    let (mut log, _) = HotLog::open(dir.path(), 1, 0, W).expect("opens");
    let mut batch_segments = Vec::new();
    for seq in 1..=3u64 {
        let loc = log.append_batches(&[&frame(0)]).expect("appends")[0];
        batch_segments.push(segment_path(dir.path(), loc.segment));
        log.seal(W, FlushSeq(seq), 1).expect("seals");
    }
    log.committed(W, FlushSeq(1), FlushIndex::new())
        .expect("commits");
    assert!(
        !batch_segments[0].exists(),
        "flush 1 is committed: its segment is deleted"
    );
    assert!(
        batch_segments[1].exists(),
        "flush 2 is not committed: its segment stays"
    );
    assert!(
        batch_segments[2].exists(),
        "flush 3 is not committed: its segment stays"
    );
    log.committed(W, FlushSeq(3), FlushIndex::new())
        .expect("commits");
    assert!(!batch_segments[1].exists() && !batch_segments[2].exists());
    let left = std::fs::read_dir(dir.path()).expect("lists").count();
    assert_eq!(left, 1, "only the active segment is left");
}

#[test]
fn seals_name_their_writer_and_old_seals_belong_to_the_legacy_node_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut log, _) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("opens");
        log.append_batches(&[&frame(0)]).expect("appends");
        // A seal written before writer incarnations existed.
        log.append(&[&Marker::Seal {
            seq: FlushSeq(1),
            batches: 1,
            writer: None,
        }
        .encode()])
            .expect("appends");
        log.append_batches(&[&frame(1)]).expect("appends");
        log.seal(Incarnation(40), FlushSeq(2), 1).expect("seals");
        log.sync_job().expect("dirty").run().expect("syncs");
    }
    let (_log, replay) = HotLog::open(dir.path(), 1 << 20, 0, Incarnation(11)).expect("reopens");
    let writers: Vec<(Incarnation, FlushSeq)> =
        replay.flushes.iter().map(|f| (f.writer, f.seq)).collect();
    assert_eq!(
        writers,
        vec![
            (Incarnation(11), FlushSeq(1)),
            (Incarnation(40), FlushSeq(2))
        ]
    );
    assert_eq!(
        replay.pending_writers().into_iter().collect::<Vec<_>>(),
        vec![Incarnation(11), Incarnation(40)]
    );
}

#[test]
fn a_request_torn_in_the_middle_is_dropped_whole_and_keys_replay_with_their_batches() {
    use strata_core::meta::idempotency::RequestKey;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = RequestKey {
        id: 41,
        fingerprint: 42,
    };
    let path;
    {
        let (mut log, _) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("opens");
        log.append_request(Some(key), &[&frame(0), &frame(1)])
            .expect("appends");
        log.append_request(None, &[&frame(2), &frame(3)])
            .expect("appends");
        path = segment_path(dir.path(), log.active_id);
    }
    // Tear the last request's second batch, as a crash mid-write would.
    let len = std::fs::metadata(&path).expect("exists").len();
    let f = OpenOptions::new().write(true).open(&path).expect("opens");
    f.set_len(len - 5).expect("truncates");
    drop(f);
    let (_log, replay) = HotLog::open(dir.path(), 1 << 20, 0, W).expect("reopens");
    let partitions: Vec<u32> = replay
        .unsealed
        .iter()
        .map(|b| b.header.partition.0)
        .collect();
    assert_eq!(partitions, vec![0, 1], "the torn request is gone whole");
    assert!(replay.unsealed.iter().all(|b| b.request == Some((1, key))));
    assert_eq!(replay.requests, 1);
}
