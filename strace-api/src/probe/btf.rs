//! Offsets of kernel struct fields, read from the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`). The eBPF program reads `task_struct` fields at
//! these offsets (Rust eBPF has no CO-RE relocations).
use btf_rs::{Btf, Type};

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Byte offsets in `struct task_struct`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskOffsets {
    pub pid: u32,
    pub tgid: u32,
}

pub fn task_offsets() -> Result<TaskOffsets, String> {
    // One read, then parse from memory (reading the file piecemeal costs tens
    // of thousands of syscalls).
    let bytes = std::fs::read(VMLINUX).map_err(|e| format!("cannot read {VMLINUX}: {e}"))?;
    let btf = Btf::from_bytes(&bytes).map_err(|e| format!("cannot parse {VMLINUX}: {e}"))?;
    Ok(TaskOffsets {
        pid: member_offset(&btf, "task_struct", "pid")?,
        tgid: member_offset(&btf, "task_struct", "tgid")?,
    })
}

/// Byte offset of `field` in `struct name`, looking into anonymous members
/// (randomized or grouped layouts nest fields in unnamed structs).
pub fn member_offset(btf: &Btf, name: &str, field: &str) -> Result<u32, String> {
    let types = btf.resolve_types_by_name(name).map_err(|e| format!("BTF has no {name}: {e}"))?;
    let s = types
        .iter()
        .find_map(|t| match t {
            Type::Struct(s) if !s.members.is_empty() => Some(s),
            _ => None,
        })
        .ok_or_else(|| format!("BTF has no struct {name}"))?;
    find(btf, s, field).map(|bits| bits / 8).ok_or_else(|| format!("struct {name} has no field {field}"))
}

fn find(btf: &Btf, s: &btf_rs::Struct, field: &str) -> Option<u32> {
    for m in &s.members {
        let name = btf.resolve_name(m).unwrap_or_default();
        if name == field {
            return Some(m.bit_offset());
        }
        if name.is_empty() {
            let inner = match btf.resolve_chained_type(m).ok()? {
                Type::Struct(inner) | Type::Union(inner) => inner,
                _ => continue,
            };
            if let Some(bits) = find(btf, &inner, field) {
                return Some(m.bit_offset() + bits);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_task_struct_fields_when_the_kernel_has_btf() {
        if !std::path::Path::new(VMLINUX).exists() {
            eprintln!("SKIPPED: this kernel has no BTF at {VMLINUX}");
            return;
        }
        let o = task_offsets().unwrap();
        assert!(o.pid > 0 && o.tgid == o.pid + 4, "{o:?}");
        let btf = Btf::from_file(VMLINUX).unwrap();
        assert!(member_offset(&btf, "task_struct", "no_such_field").is_err());
        assert!(member_offset(&btf, "no_such_struct", "pid").is_err());
    }
}
