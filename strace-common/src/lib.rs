//! Types shared by the kernel program (`strace-ebpf`) and the daemon (`strace-api`).
//!
//! Everything here is `#[repr(C)]` plain data: the kernel writes it into maps and
//! the ring buffer, userspace reads the same bytes. Userspace-only trait impls
//! live behind the `user` feature.
#![no_std]

#[cfg(feature = "user")]
extern crate alloc;

pub mod batch;
pub mod capture;
pub mod filter;
pub mod limits;
pub mod loss;
pub mod maps;
pub mod record;

pub use loss::LossRecord;
pub use maps::{Counter, ThreadSlot, WatchEntry};
pub use record::{ProcessRecord, RecordKind, SyscallRecord};
