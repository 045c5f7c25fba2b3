//! Decoding and rendering never fail, whatever a record or a capture holds:
//! any syscall number, any registers, any capture bytes, any flags.
use proptest::prelude::*;
use strace_common::capture;

use super::{decode, line, sockaddr, unfinished};
use crate::recorder::Event;

fn event() -> impl Strategy<Value = Event> {
    (
        prop_oneof![0i16..520, Just(-1i16), any::<i16>()],
        any::<[u64; 6]>(),
        any::<i64>(),
        any::<u16>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
    )
        .prop_map(|(nr, args, ret, flags, capture)| Event {
            nr,
            args,
            ret,
            flags,
            enter_ns: 5,
            exit_ns: 9,
            capture: capture.map(Vec::into_boxed_slice),
            ..Default::default()
        })
}

/// Captures that parse: items of every kind for the call's arguments.
fn well_formed_capture() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((0u8..6, 1u8..5, 0u8..8, 0u8..8, proptest::collection::vec(any::<u8>(), 0..64)), 0..6)
        .prop_map(|items| {
            let items: Vec<_> = items.iter().map(|(a, k, f, i, d)| (*a, *k, *f, *i, &d[..])).collect();
            capture::build(&items)
        })
}

proptest! {
    #[test]
    fn any_event_decodes_and_renders(ev in event()) {
        let decoded = decode(&ev);
        prop_assert!(decoded.len() <= 6);
        let text = line(&ev, true);
        prop_assert!(!text.is_empty());
        let _ = unfinished(&ev);
        serde_json::to_string(&decoded).expect("decoded arguments serialise");
    }

    #[test]
    fn any_well_formed_capture_of_a_common_call_renders(nr in prop::sample::select(vec![0i16, 1, 2, 42, 44, 45, 49, 59, 257, 262, 43, 288]), args in any::<[u64; 6]>(), capture in well_formed_capture()) {
        let ev = Event { nr, args, capture: Some(capture.into_boxed_slice()), ..Default::default() };
        let text = line(&ev, false);
        prop_assert!(text.starts_with(&*super::name(nr.into())));
    }

    #[test]
    fn any_socket_address_decodes(bytes in proptest::collection::vec(any::<u8>(), 0..140)) {
        let (text, value) = sockaddr::decode(&bytes);
        let braced = text.starts_with('{') && text.ends_with('}');
        prop_assert!(braced, "{}", text);
        prop_assert!(value.is_object());
    }

    #[test]
    fn any_string_is_quoted_and_escaped(bytes in proptest::collection::vec(any::<u8>(), 0..100), truncated in any::<bool>()) {
        let q = super::quote(&bytes, truncated);
        prop_assert!(q.starts_with('"'));
        prop_assert!(q.is_ascii(), "strace's escapes leave only printable ASCII: {}", q);
        prop_assert_eq!(q.ends_with("..."), truncated);
    }
}
