//! Bounds of every kernel-side table. Userspace may lower or raise the sizing
//! defaults at load time; these are the defaults and the hard ceilings.

/// Default ring-buffer size in bytes (a power of two, a multiple of the page size).
pub const DEFAULT_RING_BYTES: u32 = 8 << 20;
/// Smallest ring buffer the daemon accepts.
pub const MIN_RING_BYTES: u32 = 64 << 10;
/// Largest ring buffer the daemon accepts.
pub const MAX_RING_BYTES: u32 = 1 << 30;

/// Processes (thread groups) that can be watched at once.
pub const MAX_WATCHED: u32 = 8192;

/// Watch requests waiting for the kernel to see their process.
pub const MAX_PENDING: u32 = 1024;

/// Default number of per-thread syscall-entry slots (threads of watched
/// processes that made a syscall since they were watched).
pub const DEFAULT_MAX_THREADS: u32 = 16384;
