//! The hot-path filter: one cached byte per host thread-group id, in a global
//! array (.bss). Its address is a constant, so finding a byte is an add, not
//! a map lookup: 3-5 ns a call less than an array map lookup, whose key goes
//! through the stack even when it is a constant (bench/README.md, item 23).
//! A process the cache does not know yet is classified once, on its next
//! syscall, from the authoritative maps. The fork and exit hooks reset bytes
//! to UNKNOWN whenever the truth changes, and so does userspace, by running
//! `forget_tgid`: aya does not make the .bss map mmapable, and a map update
//! would rewrite all 4 MiB. A process watched with a kernel-side filter has
//! a byte of its own (`state::filtered`, from FILTERED_BASE on) that names
//! its filter's slot: only such a process reads a filter (one array lookup
//! and a bit), and the byte of every other stays one compare away.
use aya_ebpf::helpers::{bpf_get_current_pid_tgid, generated::bpf_get_current_task_btf};
use strace_common::{Counter, ProcessRecord, RecordKind, WatchEntry, maps::state};

use crate::{
    emit,
    maps::{
        FILTERS, NS_MODE, PENDING, SELF_PID, TASK_PID_OFFSET, TASK_TGID_OFFSET, WATCH_ALL, WATCHED, add, count,
        count_lost,
    },
    ns,
};

/// The cache: a byte per host tgid, `maps::state` values.
static mut STATE: [u8; state::TGIDS as usize] = [state::UNKNOWN; state::TGIDS as usize];

/// The cache byte of `tgid`. Tgids are below TGIDS (the kernel's
/// PID_MAX_LIMIT), so the mask changes none: it shows the verifier the
/// offset's bound (a compare would not do: the compiler may test the bound
/// on another register than the one it adds).
#[inline(always)]
pub fn byte(tgid: u32) -> *mut u8 {
    // SAFETY: the offset is below the array's length.
    unsafe { (&raw mut STATE as *mut u8).add((tgid & (state::TGIDS - 1)) as usize) }
}

/// The calling thread's (tgid, tid), read from the current task: the task's
/// `tgid` and `pid` are plain loads at the offsets the loader read from the
/// kernel's BTF (constants in .rodata, so the verifier can check them).
#[inline(always)]
pub fn current() -> (u32, u32) {
    // SAFETY: a trusted pointer to the current task; the offsets are task_struct's.
    unsafe {
        let task = bpf_get_current_task_btf() as *const u8;
        let tgid = *(task.add(TASK_TGID_OFFSET.load() as usize) as *const u32);
        let tid = *(task.add(TASK_PID_OFFSET.load() as usize) as *const u32);
        (tgid, tid)
    }
}

/// Whether the calling process's call is to be recorded: one byte read when
/// cached. A filtered process's call is looked up in its filter (`nr` is
/// read only then): a watch without one pays nothing for filters. The two
/// common verdicts are tested first and in this order, as before filters
/// existed, so an unwatched process's path is the same few instructions.
#[inline(always)]
pub fn traced(tgid: u32, nr: impl FnOnce() -> i32) -> bool {
    let b = byte(tgid);
    // SAFETY: a byte of the cache.
    let v = unsafe { *b };
    if v == state::IGNORED {
        return false;
    }
    if v == state::WATCHED {
        return true;
    }
    traced_otherwise(v, b, nr())
}

/// `traced` for a process the cache does not know, or a filtered one.
#[inline(never)]
fn traced_otherwise(v: u8, b: *mut u8, nr: i32) -> bool {
    allows(resolve(v, b, true), nr)
}

/// The process's verdict: IGNORED, WATCHED, or its filtered byte
/// (`state::filtered`); one byte read when cached. `count`: a call the
/// verdict leaves out because the process could not be announced yet is
/// counted to it (false where sys_enter already counted it).
#[inline(always)]
pub fn verdict(tgid: u32, count: bool) -> u8 {
    let b = byte(tgid);
    // SAFETY: a byte of the cache.
    let v = unsafe { *b };
    if v == state::IGNORED || v == state::WATCHED {
        return v;
    }
    resolve(v, b, count)
}

/// The verdict of a byte that is not IGNORED or WATCHED: classified if
/// UNKNOWN, told to userspace if REFUSED, else the filtered byte itself.
#[inline(always)]
fn resolve(v: u8, b: *mut u8, count: bool) -> u8 {
    match v {
        state::UNKNOWN => classify(bpf_get_current_pid_tgid(), b, count),
        state::REFUSED => refused(b),
        v => v,
    }
}

/// A child the fork hook could not watch, at its first syscall: tells
/// userspace (which lists it as not watched, and why), then is IGNORED.
#[inline(never)]
fn refused(byte: *mut u8) -> u8 {
    let pid_tgid = bpf_get_current_pid_tgid();
    match ns::ids(pid_tgid) {
        Some((ns_pid, _)) if !refuse((pid_tgid >> 32) as u32, ns_pid) => {}
        // SAFETY: a byte of the cache.
        _ => unsafe { *byte = state::IGNORED },
    }
    state::IGNORED
}

/// Tells userspace that process `ns_pid` was to be watched and is not (the
/// watch table is full); false if the record did not fit.
fn refuse(host_pid: u32, ns_pid: u32) -> bool {
    emit::process(ProcessRecord {
        kind: RecordKind::Process as u16,
        flags: WatchEntry::REFUSED,
        host_pid,
        ns_pid,
        ..Default::default()
    })
}

/// Whether a process with verdict `v` records call `nr`. Out of line: only
/// cold paths and filtered processes come here, and inlined, its map key on
/// the stack pushed sys_exit's deepest chain of calls over the verifier's
/// 512 bytes.
#[inline(never)]
pub fn allows(v: u8, nr: i32) -> bool {
    match v {
        state::WATCHED => true,
        v if v >= state::FILTERED_BASE => {
            FILTERS.get_ptr(state::filter_slot(v)).is_some_and(|f| unsafe { (*f).allows(nr) })
        }
        _ => false,
    }
}

/// The cache is cold for this process: decide from the maps, and remember
/// the answer unless it may change without userspace knowing this process's
/// host tgid (see `decide`). Returns the verdict (IGNORED when to ask again).
#[inline(never)]
fn classify(pid_tgid: u64, byte: *mut u8, count: bool) -> u8 {
    let tgid = (pid_tgid >> 32) as u32;
    let cache = match decide(pid_tgid, tgid, count) {
        Verdict::Watched(filter) => state::filtered(filter),
        Verdict::Ignored => state::IGNORED,
        Verdict::Recheck => return state::IGNORED,
    };
    // SAFETY: a byte of the cache.
    unsafe { *byte = cache };
    cache
}

enum Verdict {
    /// With this filter slot (0: none).
    Watched(u32),
    Ignored,
    /// Not watched now, but a watch request by namespace pid (PENDING) could
    /// come: ask again next time.
    Recheck,
}

/// `count_call`: a call left out because the process's announcement did
/// not fit in the ring is counted to it (`dropped`): it was to be recorded.
fn decide(pid_tgid: u64, tgid: u32, count_call: bool) -> Verdict {
    if let Some(entry) = WATCHED.get_ptr_mut(&tgid) {
        // SAFETY: pointer into a live map value.
        let entry = unsafe { &mut *entry };
        if entry.ns_pid != 0 {
            return Verdict::Watched(entry.filter);
        }
        // The kernel started watching it by itself (a followed child, a
        // pending or --watch-all process): tell userspace first. Until that
        // record is out, the process is not traced (it would have no log).
        let Some((ns_pid, _)) = ns::ids(pid_tgid) else {
            // A child in a nested namespace: not the daemon's to watch.
            let _ = WATCHED.remove(&tgid);
            return Verdict::Ignored;
        };
        if !announce(tgid, ns_pid, entry) {
            if count_call {
                lost_call(&raw mut entry.dropped);
            }
            return Verdict::Recheck;
        }
        entry.ns_pid = ns_pid;
        return Verdict::Watched(entry.filter);
    }
    // Outside the daemon's namespace: never watchable.
    let Some((ns_pid, _)) = ns::ids(pid_tgid) else { return Verdict::Ignored };
    if ns_pid == SELF_PID.load() {
        return Verdict::Ignored;
    }
    let (flags, filter) = match unsafe { PENDING.get(&ns_pid) } {
        Some(&value) => WatchEntry::from_pending(value),
        None => match WATCH_ALL.load() {
            // In the initial namespace userspace knows host tgids and resets
            // the cache itself when it starts a watch; elsewhere it cannot.
            0 if NS_MODE.load() == 0 => return Verdict::Ignored,
            0 => return Verdict::Recheck,
            // `--watch-all-syscalls`: its filter's slot rides in the high half.
            all => {
                let (flags, filter) = WatchEntry::from_pending(all);
                (flags | WatchEntry::AUTO, filter)
            }
        },
    };
    let entry = WatchEntry { flags, filter, ..Default::default() };
    if WATCHED.insert(&tgid, &entry, 0).is_err() {
        // Counted once: the verdict is cached until userspace frees room.
        count(Counter::WatchedFull);
        let _ = refuse(tgid, ns_pid);
        return Verdict::Ignored;
    }
    let _ = PENDING.remove(&ns_pid);
    // Announce it as above; if that does not fit, the next syscall will.
    match WATCHED.get_ptr_mut(&tgid) {
        // SAFETY: pointer into a live map value.
        Some(e) if announce(tgid, ns_pid, unsafe { &*e }) => {
            unsafe { (*e).ns_pid = ns_pid };
            Verdict::Watched(filter)
        }
        Some(e) => {
            if count_call {
                lost_call(unsafe { &raw mut (*e).dropped });
            }
            Verdict::Recheck
        }
        None => Verdict::Recheck,
    }
}

/// A call of a process being watched not recorded because its announcement
/// did not fit in the ring: counted to it and host-wide (`RingFull`).
#[cold]
fn lost_call(dropped: *mut u64) {
    add(dropped, 1);
    count_lost(Counter::RingFull, 1);
}

/// Tells userspace the kernel started watching a process on its own; false
/// if the record did not fit in the ring (the next syscall tries again).
fn announce(host_pid: u32, ns_pid: u32, entry: &WatchEntry) -> bool {
    emit::process(ProcessRecord {
        kind: RecordKind::Process as u16,
        flags: entry.flags,
        host_pid,
        ns_pid,
        parent_ns_pid: entry.parent_ns_pid,
        filter: entry.filter,
        ..Default::default()
    })
}

/// `tgid` was to be watched and could not be: its first syscall says so.
#[inline(always)]
pub fn refuse_later(tgid: u32) {
    // SAFETY: a byte of the cache.
    unsafe { *byte(tgid) = state::REFUSED };
}

/// Forgets what the cache knew about `tgid` (a new process got that number).
#[inline(always)]
pub fn forget(tgid: u32) {
    // SAFETY: a byte of the cache.
    unsafe { *byte(tgid) = state::UNKNOWN };
}
