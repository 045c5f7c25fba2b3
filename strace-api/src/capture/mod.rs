//! Captures in userspace: the copies of argument memory the kernel makes
//! (strace_common::capture has their format, reader and writer) arrive in
//! records of their own, before the call's record: `pairing` keeps them until
//! their call's record comes. A call the programs did not see begin (a thread
//! blocked since before its process was watched) has its inputs captured
//! from /proc instead, as the kernel would have: `proc_mirror`. The paths of
//! fds (`--fd-paths`) are added to a call's capture at ingest, from the fd
//! table kept of its process: `fd_paths`, resolving with `resolve`.
mod fd_paths;
mod pairing;
mod proc_mirror;
mod resolve;

pub use fd_paths::{FdTables, Seed};
pub use pairing::Pending;
pub use proc_mirror::blocked_calls;
