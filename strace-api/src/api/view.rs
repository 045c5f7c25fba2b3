//! The JSON shape of one event.
use std::borrow::Cow;

use serde::Serialize;

use crate::{clock::Clock, recorder::Event, syscall};

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
    /// `null` for calls that do not return (`exit_group`).
    pub ret: Option<i64>,
    /// Errno name when the call failed.
    pub errno: Option<&'static str>,
    pub duration_ns: Option<u64>,
    /// The strace-style line.
    pub text: String,
}

impl EventView {
    pub fn new(pid: u32, seq: u64, ev: &Event, clock: &Clock) -> EventView {
        let arity = syscall::signature(ev.nr).map_or(6, |s| s.args.len());
        let ret = ev.returns().then_some(ev.ret);
        EventView {
            seq,
            ts: clock.rfc3339(ev.enter_ns),
            pid,
            tid: ev.tid,
            syscall: syscall::name(ev.nr),
            nr: ev.nr,
            args: ev.args[..arity].iter().map(|a| format!("{a:#x}")).collect(),
            ret,
            errno: ret.and_then(syscall::errno_of).map(|e| syscall::errno_name(e).unwrap_or("E?")),
            duration_ns: ev.duration_ns(),
            text: syscall::line(ev),
        }
    }
}
