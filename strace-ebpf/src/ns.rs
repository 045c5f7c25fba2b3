//! Ids as the daemon's PID namespace sees them. The daemon in the initial
//! namespace sees host ids; elsewhere the kernel translates (only on cold
//! paths: classification and a thread's first syscall).
use aya_ebpf::{bindings::bpf_pidns_info, helpers::generated::bpf_get_ns_current_pid_tgid};

use crate::maps::{NS_DEV, NS_INO, NS_MODE};

/// (tgid, tid) of the current task in the daemon's namespace, or `None` when
/// the task is not in that namespace.
#[inline(always)]
pub fn ids(pid_tgid: u64) -> Option<(u32, u32)> {
    if NS_MODE.load() == 0 {
        return Some(((pid_tgid >> 32) as u32, pid_tgid as u32));
    }
    let mut info = bpf_pidns_info { pid: 0, tgid: 0 };
    // SAFETY: valid pointer and size for the helper's output.
    let r = unsafe {
        bpf_get_ns_current_pid_tgid(NS_DEV.load(), NS_INO.load(), &mut info, size_of::<bpf_pidns_info>() as u32)
    };
    (r == 0).then_some((info.tgid, info.pid))
}
