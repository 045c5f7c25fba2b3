//! A call as decoding and rendering see it: its number, its argument
//! registers and the capture of what they point at. A completed call comes
//! from a history (`recorder::Event`), one in progress from the kernel's
//! thread table or /proc (`kernel::CallInProgress`).
use strace_common::SyscallRecord;

use crate::{kernel::CallInProgress, recorder::Event};

pub trait Call {
    fn nr(&self) -> i32;
    fn args(&self) -> &[u64; 6];
    /// The capture items region (see strace_common::capture), empty when
    /// nothing was captured.
    fn capture(&self) -> &[u8];
    /// Its arguments went with the registers that held them (a successful
    /// execve seen only at its exit): there is nothing to decode.
    fn args_lost(&self) -> bool;
    /// What it returned, once it has.
    fn ret(&self) -> Option<i64>;
}

impl Call for Event {
    fn nr(&self) -> i32 {
        Event::nr(self)
    }
    fn args(&self) -> &[u64; 6] {
        &self.args
    }
    fn capture(&self) -> &[u8] {
        Event::capture(self)
    }
    fn args_lost(&self) -> bool {
        self.flags & SyscallRecord::ARGS_LOST != 0
    }
    fn ret(&self) -> Option<i64> {
        self.returns().then_some(self.ret)
    }
}

impl Call for CallInProgress {
    fn nr(&self) -> i32 {
        self.nr
    }
    fn args(&self) -> &[u64; 6] {
        &self.args
    }
    fn capture(&self) -> &[u8] {
        self.capture.as_deref().unwrap_or(&[])
    }
    fn args_lost(&self) -> bool {
        false
    }
    fn ret(&self) -> Option<i64> {
        None
    }
}
