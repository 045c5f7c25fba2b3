//! The JSON shapes of one event and of a call in progress.
use std::borrow::Cow;

use serde::Serialize;
use strace_common::SyscallRecord;
use utoipa::ToSchema;

use crate::{
    clock::Clock,
    kernel::CallInProgress,
    recorder::{Event, Gap},
    syscall::{self, Decoded},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Per-process cursor: pass it as `after` to get only newer events.
    pub seq: u64,
    /// Wall-clock time of the syscall's entry, RFC 3339 UTC.
    pub ts: String,
    pub pid: u32,
    pub tid: u32,
    #[schema(value_type = String)]
    pub syscall: Cow<'static, str>,
    pub nr: i32,
    /// Raw argument registers in hex, as many as the syscall takes (six when unknown).
    #[schema(value_type = Vec<String>)]
    pub args: Vec<Hex>,
    /// The arguments decoded, with types: `{"name", "type", "value"}` (see
    /// README: paths, flags, addresses, …).
    #[schema(value_type = Vec<Object>)]
    pub decoded: Vec<Decoded>,
    /// `null` for calls that do not return (`exit_group`).
    pub ret: Option<i64>,
    /// Errno name when the call failed.
    pub errno: Option<&'static str>,
    /// The path of the fd it returned (`--fd-paths`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ret_path: Option<String>,
    pub duration_ns: Option<u64>,
    /// The capture of its argument memory was lost (ring buffer full): its
    /// paths and addresses show as pointers. (The API's name for a capture
    /// is older than the code's.)
    #[serde(rename = "aux_lost", skip_serializing_if = "std::ops::Not::not")]
    pub capture_lost: bool,
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
            args: Hex::all(&ev.args[..decoded.len()]),
            ret,
            errno: ret.and_then(syscall::errno_of).map(|e| syscall::errno_name(e).unwrap_or("E?")),
            ret_path: syscall::returned_path(ev),
            duration_ns: ev.duration_ns(),
            capture_lost: ev.flags & SyscallRecord::CAPTURE_LOST != 0,
            args_lost: ev.flags & SyscallRecord::ARGS_LOST != 0,
            text: syscall::line_of(ev, &decoded, durations),
            decoded,
        }
    }
}

/// A call a thread is in right now (blocked, most likely).
#[derive(Debug, Serialize, ToSchema)]
pub struct InFlightView {
    pub tid: u32,
    #[schema(value_type = String)]
    pub syscall: Cow<'static, str>,
    pub nr: i32,
    /// Since when (wall clock, RFC 3339), and for how long so far (`null`
    /// with durations off: the entry was not timed).
    pub since: Option<String>,
    pub elapsed_ns: Option<u64>,
    #[schema(value_type = Vec<String>)]
    pub args: Vec<Hex>,
    /// Its input arguments decoded (outputs are not known yet).
    #[schema(value_type = Vec<Object>)]
    pub decoded: Vec<Decoded>,
    /// strace's form: `read(3, <unfinished ...>`.
    pub text: String,
}

impl InFlightView {
    pub fn new(call: &CallInProgress, clock: &Clock, now_ns: u64) -> InFlightView {
        let mut decoded = syscall::decode(call);
        let args = Hex::all(&call.args[..decoded.len()]);
        decoded.retain(|a| !a.output);
        InFlightView {
            tid: call.tid,
            syscall: syscall::name(call.nr),
            nr: call.nr,
            since: call.since_ns.map(|t| clock.rfc3339(t)),
            elapsed_ns: call.since_ns.map(|t| now_ns.saturating_sub(t)),
            args,
            decoded,
            text: syscall::unfinished(call),
        }
    }
}

/// A register as JSON: `"0x1b"`, written straight into the page (a
/// `String` per argument was a tenth of building a page; bench/README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex(pub u64);

impl Hex {
    fn all(args: &[u64]) -> Vec<Hex> {
        args.iter().copied().map(Hex).collect()
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 18];
        let mut at = buf.len();
        let mut v = self.0;
        loop {
            at -= 1;
            buf[at] = DIGITS[(v & 0xf) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        buf[at - 2..at].copy_from_slice(b"0x");
        s.serialize_str(std::str::from_utf8(&buf[at - 2..]).expect("ASCII digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::Hex;

    #[test]
    fn hex_is_what_format_writes() {
        for v in [0, 1, 0xf, 0x10, 0x1b, 0xdead_beef, u64::from(u32::MAX) + 1, u64::MAX - 1, u64::MAX] {
            assert_eq!(serde_json::to_string(&Hex(v)).unwrap(), format!("\"{v:#x}\""));
        }
    }
}

/// Where calls are missing, and how many: the stream's `event: gap`, and an
/// entry of an events page's `gaps`.
#[derive(Serialize, ToSchema)]
pub struct GapView {
    /// The gap lies after this event and before the next.
    after: u64,
    /// Calls missing there.
    count: u64,
    /// `dropped`: the kernel's ring buffer had no room; `throttled`: the
    /// process was over its share of a nearly full ring (`--fair-ring`);
    /// `evicted`: pushed out of the history before this reader read them.
    reason: &'static str,
    /// When the kernel lost the first of them (dropped and throttled only).
    at: Option<String>,
}

impl GapView {
    pub fn new(g: &Gap, clock: &Clock) -> GapView {
        GapView {
            after: g.after,
            count: g.count,
            reason: g.reason.name(),
            at: (g.at_ns != 0).then(|| clock.rfc3339(g.at_ns)),
        }
    }
}
