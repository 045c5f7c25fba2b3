//! Fields of `struct task_struct`, at offsets the loader took from the
//! running kernel's BTF (no CO-RE relocations in Rust eBPF yet).
use aya_ebpf::helpers::bpf_probe_read_kernel;

#[inline(always)]
pub fn read_u32(task: *const u8, offset: u32) -> Option<u32> {
    if offset == 0 {
        return None;
    }
    // SAFETY: a kernel pointer read through the probe helper, which tolerates faults.
    unsafe { bpf_probe_read_kernel(task.wrapping_add(offset as usize) as *const u32) }.ok()
}
