//! Giving freed memory back to the system. mimalloc (the daemon's
//! allocator) keeps a thread's freed pages until that thread allocates
//! again; a thread that built a big response and then waits keeps them
//! resident. The async workers release theirs when they go idle (main.rs);
//! the blocking pool's threads after each job (`api::blocking`).

// Links mimalloc (which has `mi_collect`) into every build of the library,
// tests included, where it is not the global allocator.
extern crate mimalloc as _;

unsafe extern "C" {
    /// mimalloc's: frees this thread's unused pages back to the system
    /// (`force`: also what other threads freed of this thread's memory).
    fn mi_collect(force: bool);
}

/// Returns this thread's freed pages to the system now.
pub fn release_thread() {
    // SAFETY: takes no pointers; it only walks this thread's own mimalloc
    // heap (linked whether or not mimalloc is the global allocator).
    unsafe { mi_collect(false) }
}

/// Returns every freed page mimalloc holds to the system, other threads'
/// frees of this thread's memory included (after loading the probe).
pub fn release_all() {
    // SAFETY: as in `release_thread`.
    unsafe { mi_collect(true) }
}
