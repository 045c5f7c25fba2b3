//! The JSON shape of one event.
use std::borrow::Cow;

use serde::Serialize;

use crate::{
    clock::Clock,
    recorder::Event,
    syscall::{self, Decoded},
};

#[derive(Debug, Serialize)]
pub struct EventView {
    /// Per-process cursor: pass it as `after` to get only newer events.
    pub seq: u64,
    /// Wall-clock time of the syscall's entry, RFC 3339 UTC.
    pub ts: String,
    pub pid: u32,
    pub tid: u32,
    pub syscall: Cow<'static, str>,
    pub nr: i32,
    /// Raw argument registers in hex, as many as the syscall takes (six when unknown).
    pub args: Vec<String>,
    /// The arguments decoded, with types: paths, flags, addresses, …
    pub decoded: Vec<Decoded>,
    /// `null` for calls that do not return (`exit_group`).
    pub ret: Option<i64>,
    /// Errno name when the call failed.
    pub errno: Option<&'static str>,
    pub duration_ns: Option<u64>,
    /// The copies of its argument memory were lost (ring buffer full): its
    /// paths and addresses show as pointers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub aux_lost: bool,
    /// The arguments are unknown (`args` and `decoded` are empty): a
    /// successful execve seen only at its exit (`--entry-hook false`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_lost: bool,
    /// The strace-style line.
    pub text: String,
}

impl EventView {
    pub fn new(pid: u32, seq: u64, ev: &Event, clock: &Clock, durations: bool) -> EventView {
        let decoded = syscall::decode(ev);
        let ret = ev.returns().then_some(ev.ret);
        EventView {
            seq,
            ts: clock.rfc3339(ev.time_ns()),
            pid,
            tid: ev.tid,
            syscall: syscall::name(ev.nr()),
            nr: ev.nr(),
            args: ev.args[..decoded.len()].iter().map(|a| format!("{a:#x}")).collect(),
            ret,
            errno: ret.and_then(syscall::errno_of).map(|e| syscall::errno_name(e).unwrap_or("E?")),
            duration_ns: ev.duration_ns(),
            aux_lost: ev.flags & strace_common::SyscallRecord::AUX_LOST != 0,
            args_lost: ev.flags & strace_common::SyscallRecord::ARGS_LOST != 0,
            text: syscall::line_of(ev, &decoded, durations),
            decoded,
        }
    }
}

/// A call a thread is in right now (blocked, most likely).
#[derive(Debug, Serialize)]
pub struct InFlightView {
    pub tid: u32,
    pub syscall: Cow<'static, str>,
    pub nr: i32,
    /// Since when (wall clock, RFC 3339), and for how long so far (`null`
    /// with durations off: the entry was not timed).
    pub since: Option<String>,
    pub elapsed_ns: Option<u64>,
    pub args: Vec<String>,
    /// Its input arguments decoded (outputs are not known yet).
    pub decoded: Vec<Decoded>,
    /// strace's form: `read(3, <unfinished ...>`.
    pub text: String,
}

impl InFlightView {
    pub fn new(ev: &Event, clock: &Clock, now_ns: u64) -> InFlightView {
        let mut decoded = syscall::decode(ev);
        let args = ev.args[..decoded.len()].iter().map(|a| format!("{a:#x}")).collect();
        decoded.retain(|a| !a.output);
        InFlightView {
            tid: ev.tid,
            syscall: syscall::name(ev.nr()),
            nr: ev.nr(),
            since: ev.enter_time().map(|t| clock.rfc3339(t)),
            elapsed_ns: ev.enter_time().map(|t| now_ns.saturating_sub(t)),
            args,
            decoded,
            text: syscall::unfinished(ev),
        }
    }
}
