//! Whatever the ring hands over, ingesting it neither fails nor loses count:
//! every record is stored, counted late or counted malformed.
use proptest::prelude::*;
use strace_common::{RecordKind, SyscallRecord, batch};

use super::testing;

/// Ring records: garbage, syscall records (of the watched process and of
/// others), and batches of them, some cut short.
fn ring_record(pid: u32) -> impl Strategy<Value = Vec<u8>> {
    let syscall = (prop_oneof![Just(pid), any::<u32>()], any::<i32>(), any::<u64>()).prop_map(|(p, nr, enter)| {
        SyscallRecord { kind: RecordKind::Syscall as u16, pid: p, tid: p, nr, enter_ns: enter, ..Default::default() }
            .as_bytes()
            .to_vec()
    });
    let garbage = proptest::collection::vec(any::<u8>(), 0..200);
    let one = prop_oneof![syscall.clone(), garbage.clone()];
    let batched =
        (proptest::collection::vec(syscall, 0..8), any::<u32>(), 0usize..64).prop_map(|(records, count, cut)| {
            let mut out = vec![0u8; batch::HEADER_BYTES];
            for r in &records {
                out.extend_from_slice(r);
                out.resize(batch::next_offset(out.len(), 0), 0);
            }
            let head = batch::BatchHeader {
                kind: RecordKind::Batch as u16,
                count: if count % 2 == 0 { records.len() as u32 } else { count % 100 },
                len: out.len() as u32,
                ..Default::default()
            };
            out[..batch::HEADER_BYTES].copy_from_slice(head.as_bytes());
            out.truncate(out.len().saturating_sub(cut));
            out
        });
    prop_oneof![one, batched, garbage]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn any_ring_records_are_stored_or_counted(records in proptest::collection::vec(ring_record(std::os::unix::process::parent_id()), 0..20)) {
        let t = testing::tracer();
        let pid = std::os::unix::process::parent_id();
        t.watch(pid, false).unwrap();
        let mut handed = 0;
        {
            let mut ingest = t.ingest();
            for r in &records {
                handed += ingest.record(r);
            }
        }
        let totals = t.totals();
        let seen = t.stats(pid).unwrap().seen;
        // Every record the walk found, and every one a batch announced but
        // did not hold, is stored, late or malformed.
        prop_assert_eq!(seen + totals.late + totals.malformed + totals.capture_unpaired, handed as u64);
    }
}
