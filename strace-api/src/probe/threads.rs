//! The kernel's thread table seen from userspace: the slot array and the
//! array of their owners are mapped into memory, so finding a process's calls
//! in progress scans 8 bytes a slot and costs no syscall (see
//! strace-ebpf/src/threads.rs for the table's layout).
use std::{
    os::fd::{AsFd, AsRawFd},
    ptr::NonNull,
    sync::{
        Arc,
        atomic::{
            AtomicU64,
            Ordering::{self, SeqCst},
        },
    },
};

use aya::maps::{HashMap, Map, MapData, MapError};
use strace_common::ThreadSlot;

pub struct ThreadTable {
    view: Arc<ThreadView>,
    claims: HashMap<MapData, u32, u32>,
    /// Slots retired by `retire_process`, not yet freed.
    retired: Vec<usize>,
}

/// The slots and their owners, mapped; shared with the probe's read side,
/// which copies slots while the table changes (as the kernel does).
pub struct ThreadView {
    slots: Mapped<ThreadSlot>,
    /// Host tgid owning each slot, 0 if free.
    owners: Mapped<u64>,
}

impl ThreadTable {
    /// Maps THREADS and OWNERS (mmapable arrays of `len` elements).
    pub fn new(slots: Map, owners: Map, claims: Map, len: u32) -> Result<ThreadTable, String> {
        Ok(ThreadTable {
            view: Arc::new(ThreadView { slots: Mapped::new(slots, len)?, owners: Mapped::new(owners, len)? }),
            claims: HashMap::try_from(claims).map_err(|e: MapError| e.to_string())?,
            retired: vec![],
        })
    }

    pub fn view(&self) -> Arc<ThreadView> {
        self.view.clone()
    }

    /// Retires the slots of a process no longer watched (its threads may
    /// live on): no thread finds or claims them from now on. A program that
    /// found one just before may still be writing it, so they are freed by
    /// `free`, once such programs have ended: otherwise another
    /// thread could claim a slot and have its call overwritten by the old
    /// owner's. Each owner is swapped only if unchanged since the scan (the
    /// kernel frees a slot at thread exit and claims free ones).
    pub fn retire_process(&mut self, host_pid: u32) {
        let view = &self.view;
        let found: Vec<(usize, u64)> = view.of(host_pid).map(|(i, s)| (i, s.owner)).collect();
        for (i, owner) in found {
            if view.slot_owner(i).compare_exchange(owner, ThreadSlot::RETIRED, SeqCst, SeqCst).is_ok() {
                let _ = view.owner_tgid(i).compare_exchange(u64::from(host_pid), 0, SeqCst, SeqCst);
                self.retired.push(i);
            }
        }
    }

    /// The slots retired since the last call, to free after a grace period
    /// (see `retire_process`).
    pub fn take_retired(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.retired)
    }

    /// Frees retired slots: a grace period has passed since they were retired.
    pub fn free(&mut self, retired: Vec<usize>) {
        for i in retired {
            if self.view.slot_owner(i).compare_exchange(ThreadSlot::RETIRED, 0, SeqCst, SeqCst).is_ok() {
                let _ = self.claims.remove(&(i as u32));
            }
        }
    }
}

impl ThreadView {
    /// The slots of `host_pid`'s threads: (index, a copy of the slot). The
    /// kernel may be writing a slot while it is copied, so a copy may mix two
    /// moments of one call (it is a snapshot for display).
    pub fn of(&self, host_pid: u32) -> impl Iterator<Item = (usize, ThreadSlot)> + '_ {
        (0..self.owners.len)
            .filter(move |&i| self.owner_tgid(i).load(Ordering::Relaxed) == u64::from(host_pid))
            // SAFETY: i < len.
            .map(|i| (i, unsafe { self.slots.ptr.add(i).read_volatile() }))
            .filter(move |(_, s)| s.host_pid() == host_pid)
    }

    /// The `owner` field of slot `i`, the slot's first, aligned u64.
    fn slot_owner(&self, i: usize) -> &AtomicU64 {
        // SAFETY: i < len (callers take indices from `of`), in the mapping.
        unsafe { AtomicU64::from_ptr(self.slots.ptr.add(i).cast::<u64>().as_ptr()) }
    }

    fn owner_tgid(&self, i: usize) -> &AtomicU64 {
        // SAFETY: i < len (callers iterate 0..len), an aligned u64 in the mapping.
        unsafe { AtomicU64::from_ptr(self.owners.ptr.add(i).as_ptr()) }
    }
}

/// An mmapable BPF array mapped shared and writable. The kernel lays out
/// elements 8-byte aligned: `T`'s size must be a multiple of 8.
struct Mapped<T> {
    ptr: NonNull<T>,
    len: usize,
    /// Keeps the map, and so the mapping's memory, alive.
    _map: MapData,
}

// SAFETY: shared memory with the kernel, which writes it from every CPU at
// once; every access is a volatile copy or an atomic. The probe's read side
// copies slots while the probe swaps their owners: a copy may be torn, like
// one the kernel writes into meanwhile, and is a snapshot for display only
// (filtered by its owner again, see `ThreadView::of`).
unsafe impl<T> Send for Mapped<T> {}
unsafe impl<T> Sync for Mapped<T> {}

impl<T> Mapped<T> {
    fn new(map: Map, len: u32) -> Result<Mapped<T>, String> {
        const { assert!(size_of::<T>().is_multiple_of(8)) };
        let Map::Array(map) = map else { return Err("not an array map".into()) };
        // SAFETY: a shared mapping of the map's fd, as long as its value area.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize * size_of::<T>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        let ptr = NonNull::new(ptr.cast()).ok_or("mmap returned NULL")?;
        Ok(Mapped { ptr, len: len as usize, _map: map })
    }
}

impl<T> Drop for Mapped<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len * size_of::<T>()) };
    }
}
