//! The FILTERS map's slots: one per distinct kernel-side syscall filter,
//! shared by the watches (and the children they follow) that use it. A slot
//! is taken for a filter the kernel does not hold yet; when none is free,
//! the slots no WATCHED or PENDING entry names any more are freed first.
use aya::maps::{Array, HashMap, MapData};
use strace_common::{
    WatchEntry,
    filter::{FILTERS, MAX_FILTERS, SyscallFilter},
};

use crate::kernel::KernelError;

pub struct FilterSlots {
    map: Array<MapData, SyscallFilter>,
    /// What each slot holds (index 0 unused: 0 means no filter).
    held: Vec<Option<SyscallFilter>>,
    /// The `--watch-all-syscalls` filter's slot is never freed: the kernel
    /// gives it to every process it starts watching, and reads its number
    /// from a constant.
    pinned: bool,
}

impl FilterSlots {
    /// The slot of `--watch-all-syscalls`'s filter.
    pub const WATCH_ALL: u32 = 1;

    /// With `watch_all`, its filter written at slot WATCH_ALL.
    pub fn new(
        map: Array<MapData, SyscallFilter>,
        watch_all: Option<&SyscallFilter>,
    ) -> Result<FilterSlots, KernelError> {
        let mut slots = FilterSlots { map, held: vec![None; MAX_FILTERS as usize], pinned: watch_all.is_some() };
        if let Some(f) = watch_all {
            slots.map.set(Self::WATCH_ALL, f, 0).map_err(|source| KernelError::Map { map: FILTERS, source })?;
            slots.held[Self::WATCH_ALL as usize] = Some(*f);
        }
        Ok(slots)
    }

    /// The slot holding `filter`, written into a free one if none does.
    pub fn slot(
        &mut self,
        filter: &SyscallFilter,
        watched: &HashMap<MapData, u32, WatchEntry>,
        pending: &HashMap<MapData, u32, u32>,
    ) -> Result<u32, KernelError> {
        if let Some(i) = self.held.iter().position(|h| h.as_ref() == Some(filter)) {
            return Ok(i as u32);
        }
        let free = match self.free() {
            Some(i) => i,
            None => {
                self.release_unused(watched, pending);
                self.free().ok_or(KernelError::TableFull { map: FILTERS, limit: MAX_FILTERS - 1 })?
            }
        };
        self.map.set(free, filter, 0).map_err(|source| KernelError::Map { map: FILTERS, source })?;
        self.held[free as usize] = Some(*filter);
        Ok(free)
    }

    fn free(&self) -> Option<u32> {
        (1..self.held.len()).find(|&i| self.held[i].is_none()).map(|i| i as u32)
    }

    /// Forgets the slots no watch names (a slot stays written: an entry
    /// could only name it again by being given it here).
    fn release_unused(&mut self, watched: &HashMap<MapData, u32, WatchEntry>, pending: &HashMap<MapData, u32, u32>) {
        let mut used = vec![false; self.held.len()];
        let in_use = watched
            .iter()
            .filter_map(Result::ok)
            .map(|(_, e)| e.filter)
            .chain(pending.iter().filter_map(Result::ok).map(|(_, v)| WatchEntry::from_pending(v).1));
        for slot in in_use {
            if let Some(u) = used.get_mut(slot as usize) {
                *u = true;
            }
        }
        if self.pinned {
            used[Self::WATCH_ALL as usize] = true;
        }
        for (i, held) in self.held.iter_mut().enumerate() {
            if !used[i] {
                *held = None;
            }
        }
    }
}
