//! The pieces the integration tests (`strace-api/tests/support`, the one test
//! harness) and the benchmark driver (`strace-bench`) share: starting the
//! daemon binary and learning its address, and the flag files the workload
//! programs wait on.
mod daemon;
mod flag;

pub use daemon::{Started, start};
pub use flag::{FlagFile, set as set_flag};

/// One line from a child's output (a workload's `ready PID`), up to and
/// with its newline; what there is at end of file.
pub fn read_line(r: &mut impl std::io::Read) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while r.read(&mut byte)? == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}
