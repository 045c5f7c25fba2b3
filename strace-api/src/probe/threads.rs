//! The kernel's thread table seen from userspace: the array is mapped into
//! memory, so reading the calls in progress costs no syscall per slot (see
//! strace-ebpf/src/threads.rs for the table's layout).
use std::{
    os::fd::{AsFd, AsRawFd},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use aya::maps::{HashMap, Map, MapData, MapError};
use strace_common::ThreadSlot;

pub struct ThreadTable {
    slots: NonNull<ThreadSlot>,
    len: usize,
    claims: HashMap<MapData, u32, u32>,
    /// Keeps the map (and so the mapping's memory) alive.
    _map: MapData,
}

// SAFETY: the mapping is shared memory; every access below is a volatile
// copy or an atomic store, and the table is only reached through the
// daemon's probe lock.
unsafe impl Send for ThreadTable {}
unsafe impl Sync for ThreadTable {}

impl ThreadTable {
    /// Maps `map` (an mmapable `Array<ThreadSlot>` of `len` slots).
    pub fn new(map: Map, len: u32, claims: Map) -> Result<ThreadTable, String> {
        let Map::Array(map) = map else { return Err("not an array".into()) };
        let bytes = len as usize * size_of::<ThreadSlot>();
        // SAFETY: a shared mapping of the map's fd, as long as the map's value area.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mapping the thread table: {}", std::io::Error::last_os_error()));
        }
        let claims = HashMap::try_from(claims).map_err(|e: MapError| e.to_string())?;
        Ok(ThreadTable {
            slots: NonNull::new(ptr.cast()).expect("mmap succeeded"),
            len: len as usize,
            claims,
            _map: map,
        })
    }

    fn slot(&self, i: usize) -> ThreadSlot {
        // SAFETY: i < len, inside the mapping; the kernel may be writing it, so
        // the copy may mix two states of a slot (it is a snapshot for display).
        unsafe { self.slots.add(i).read_volatile() }
    }

    fn owner(&self, i: usize) -> &AtomicU64 {
        // SAFETY: i < len; `owner` is an aligned u64 at the start of the slot.
        unsafe { AtomicU64::from_ptr(self.slots.add(i).cast::<u64>().as_ptr()) }
    }

    /// The slots of `host_pid`'s threads.
    pub fn of(&self, host_pid: u32) -> impl Iterator<Item = (usize, ThreadSlot)> + '_ {
        (0..self.len)
            .filter(move |&i| self.owner(i).load(Ordering::Relaxed) >> 32 == host_pid as u64)
            .map(|i| (i, self.slot(i)))
            .filter(move |(_, s)| s.host_pid() == host_pid)
    }

    /// Frees the slots of a process no longer watched (its threads may live on).
    pub fn free_process(&mut self, host_pid: u32) {
        let indices: Vec<usize> = self.of(host_pid).map(|(i, _)| i).collect();
        for i in indices {
            self.owner(i).store(0, Ordering::Relaxed);
            let _ = self.claims.remove(&(i as u32));
        }
    }
}

impl Drop for ThreadTable {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.slots.as_ptr().cast(), self.len * size_of::<ThreadSlot>()) };
    }
}
