//! One event from arbitrary bytes (number, registers, flags, capture): it
//! decodes, renders as a line and as a call in progress, and serialises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strace_api::{recorder::Event, syscall};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 + 48 + 8 + 2 {
        return;
    }
    let word = |i: usize| u64::from_ne_bytes(data[2 + 8 * i..10 + 8 * i].try_into().expect("8 bytes"));
    let ev = Event {
        nr: i16::from_ne_bytes([data[0], data[1]]),
        args: [word(0), word(1), word(2), word(3), word(4), word(5)],
        ret: word(6) as i64,
        flags: u16::from_ne_bytes([data[58], data[59]]),
        enter_ns: 1,
        exit_ns: 2,
        capture: Some(data[60..].into()),
        ..Default::default()
    };
    let decoded = syscall::decode(&ev);
    let _ = syscall::line(&ev, true);
    let _ = syscall::unfinished(&ev);
    let _ = syscall::decode(&ev).len() == decoded.len();
});
