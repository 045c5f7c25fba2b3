//! Offsets of kernel struct fields, read from the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`). The eBPF program reads `task_struct` fields at
//! these offsets (Rust eBPF has no CO-RE relocations).
//!
//! A small reader of the BTF format (the kernel's Documentation/bpf/btf.rst):
//! it indexes where each type starts and follows only what a lookup needs.
//! The btf-rs crate parsed every type for the same two offsets: 45 MiB at its
//! peak in a program doing only that, and the daemon's start-up peak RSS
//! went from 75-92 MiB with it to 69 with this.

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Byte offsets in `struct task_struct`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskOffsets {
    pub pid: u32,
    pub tgid: u32,
    /// From a task to an fd's inode number (see
    /// strace_common::maps::globals::FD_INODE_OFFSETS); `None` if the BTF
    /// lacks one of the fields.
    pub fd_inode: Option<[u32; 6]>,
}

pub fn task_offsets() -> Result<TaskOffsets, String> {
    let bytes = std::fs::read(VMLINUX).map_err(|e| format!("cannot read {VMLINUX}: {e}"))?;
    let btf = Btf::parse(&bytes).map_err(|e| format!("cannot parse {VMLINUX}: {e}"))?;
    Ok(TaskOffsets {
        pid: member_offset(&btf, "task_struct", "pid")?,
        tgid: member_offset(&btf, "task_struct", "tgid")?,
        fd_inode: fd_inode_offsets(&btf),
    })
}

fn fd_inode_offsets(btf: &Btf) -> Option<[u32; 6]> {
    let fields = [
        ("task_struct", "files"),
        ("files_struct", "fdt"),
        ("fdtable", "max_fds"),
        ("fdtable", "fd"),
        ("file", "f_inode"),
        ("inode", "i_ino"),
    ];
    let mut out = [0; 6];
    for (o, (s, f)) in out.iter_mut().zip(fields) {
        match member_offset(btf, s, f) {
            Ok(v) => *o = v,
            Err(e) => {
                tracing::warn!("{e}: the inode numbers of new sockets and pipes are not read (fd paths)");
                return None;
            }
        }
    }
    Some(out)
}

/// Byte offset of `field` in `struct name`, looking into anonymous members
/// (randomized or grouped layouts nest fields in unnamed structs).
pub fn member_offset(btf: &Btf, name: &str, field: &str) -> Result<u32, String> {
    let s = btf
        .types()
        .find(|t| t.kind == STRUCT && t.vlen > 0 && btf.name(t.name_off) == Some(name))
        .ok_or_else(|| format!("BTF has no struct {name}"))?;
    let mut budget = MAX_MEMBERS_VISITED;
    btf.find(&s, field, 0, 0, &mut budget)
        .map(|bits| bits / 8)
        .ok_or_else(|| format!("struct {name} has no field {field}"))
}

const MAGIC: u16 = 0xeb9f;
const HEADER_BYTES: usize = 24;
/// `struct btf_type`: name_off, info, size or type.
const TYPE_BYTES: usize = 12;
/// `struct btf_member`: name_off, type, offset.
const MEMBER_BYTES: usize = 12;

/// Anonymous members inside anonymous members, at most (task_struct: 2),
/// and members looked at in all (task_struct: a few hundred): a malformed
/// BTF could nest a struct in itself, or many times in another.
const MAX_NESTING: u32 = 16;
const MAX_MEMBERS_VISITED: u32 = 100_000;

const STRUCT: u8 = 4;
const UNION: u8 = 5;
const TYPEDEF: u8 = 8;
const VOLATILE: u8 = 9;
const CONST: u8 = 10;
const RESTRICT: u8 = 11;
const TYPE_TAG: u8 = 18;

/// The bytes after a type's `struct btf_type`, by kind.
fn extra_bytes(kind: u8, vlen: usize) -> Option<usize> {
    Some(match kind {
        2 | 7..=12 | 16 | 18 => 0, // ptr, fwd, typedef, volatile, const, restrict, func, float, type_tag
        1 | 14 | 17 => 4,          // int, var, decl_tag
        3 => 12,                   // array
        4 | 5 | 15 | 19 => 12 * vlen, // struct, union, datasec, enum64
        6 | 13 => 8 * vlen,        // enum, func_proto
        _ => return None,
    })
}

/// One type's header.
#[derive(Clone, Copy, Debug)]
struct Type {
    name_off: u32,
    kind: u8,
    /// Member offsets hold a bitfield's size in their top byte.
    kind_flag: bool,
    vlen: usize,
    /// For the modifiers and typedefs: the type they refer to.
    refers_to: u32,
    /// Where its members start in the type section.
    members_at: usize,
}

pub struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Where each type starts in `types`, by type id - 1 (id 0 is void).
    starts: Vec<u32>,
}

impl<'a> Btf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Btf<'a>, String> {
        let u32_at = |at: usize| data.get(at..at + 4).map(|b| u32::from_ne_bytes(b.try_into().unwrap()));
        if data.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]])) != Some(MAGIC) {
            return Err("not BTF (or not this machine's byte order)".into());
        }
        if data.get(2) != Some(&1) {
            return Err(format!("BTF version {:?}, where this reader knows 1", data.get(2)));
        }
        let header = u32_at(4).ok_or("truncated header")? as usize;
        let field = |i: usize| u32_at(8 + 4 * i).map(|v| v as usize).ok_or("truncated header");
        let (type_off, type_len, str_off, str_len) = (field(0)?, field(1)?, field(2)?, field(3)?);
        if header < HEADER_BYTES {
            return Err(format!("header of {header} bytes"));
        }
        let section = |off: usize, len: usize| {
            let start = header.checked_add(off).ok_or("section out of range")?;
            data.get(start..start.checked_add(len).ok_or("section out of range")?).ok_or("section out of range")
        };
        let (types, strings) = (section(type_off, type_len)?, section(str_off, str_len)?);
        let mut btf = Btf { types, strings, starts: vec![] };
        let mut at = 0;
        while at < types.len() {
            let t = btf.type_at(at).ok_or_else(|| format!("type {} is cut off", btf.starts.len() + 1))?;
            btf.starts.push(at as u32);
            let extra = extra_bytes(t.kind, t.vlen).ok_or_else(|| format!("unknown BTF kind {}", t.kind))?;
            at = t.members_at + extra;
        }
        Ok(btf)
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        self.types.get(at..at + 4).map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
    }

    fn type_at(&self, at: usize) -> Option<Type> {
        let info = self.u32_at(at + 4)?;
        let t = Type {
            name_off: self.u32_at(at)?,
            kind: ((info >> 24) & 0x1f) as u8,
            kind_flag: info >> 31 == 1,
            vlen: (info & 0xffff) as usize,
            refers_to: self.u32_at(at + 8)?,
            members_at: at + TYPE_BYTES,
        };
        // Its trailing data must be there too.
        let extra = extra_bytes(t.kind, t.vlen).unwrap_or(0);
        (t.members_at + extra <= self.types.len()).then_some(t)
    }

    fn by_id(&self, id: u32) -> Option<Type> {
        let start = *self.starts.get((id as usize).checked_sub(1)?)?;
        self.type_at(start as usize)
    }

    fn types(&self) -> impl Iterator<Item = Type> + '_ {
        self.starts.iter().filter_map(|&at| self.type_at(at as usize))
    }

    fn name(&self, off: u32) -> Option<&str> {
        let rest = self.strings.get(off as usize..)?;
        std::str::from_utf8(&rest[..rest.iter().position(|&b| b == 0)?]).ok()
    }

    /// The struct or union `id` names, past typedefs and modifiers.
    fn composite(&self, mut id: u32) -> Option<Type> {
        for _ in 0..32 {
            let t = self.by_id(id)?;
            match t.kind {
                STRUCT | UNION => return Some(t),
                TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG => id = t.refers_to,
                _ => return None,
            }
        }
        None
    }

    /// Bit offset of `field` in the struct or union `s`, which starts at bit
    /// `base`; anonymous members are searched in turn, `depth` levels down
    /// so far, with `budget` members left to look at (see MAX_NESTING).
    fn find(&self, s: &Type, field: &str, base: u32, depth: u32, budget: &mut u32) -> Option<u32> {
        if depth > MAX_NESTING {
            return None;
        }
        for i in 0..s.vlen {
            *budget = budget.checked_sub(1)?;
            let at = s.members_at + i * MEMBER_BYTES;
            let (name_off, ty, offset) = (self.u32_at(at)?, self.u32_at(at + 4)?, self.u32_at(at + 8)?);
            let bits = base.checked_add(if s.kind_flag { offset & 0xff_ffff } else { offset })?;
            // A name that cannot be read is not the field's.
            let Some(name) = self.name(name_off) else { continue };
            if name == field {
                return Some(bits);
            }
            if name.is_empty()
                && let Some(inner) = self.composite(ty)
                && let Some(found) = self.find(&inner, field, bits, depth + 1, budget)
            {
                return Some(found);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a BTF blob type by type.
    struct Blob {
        types: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Blob {
        fn new() -> Blob {
            Blob { types: vec![], strings: vec![0] }
        }

        fn name(&mut self, n: &str) -> u32 {
            if n.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(n.as_bytes());
            self.strings.push(0);
            off
        }

        /// A type: kind, vlen, kind_flag, size or type, trailing words.
        fn ty(&mut self, name: &str, kind: u8, vlen: u32, kind_flag: bool, size: u32, extra: &[u32]) {
            let info = (u32::from(kind_flag) << 31) | (u32::from(kind) << 24) | vlen;
            let name = self.name(name);
            for w in [name, info, size].iter().chain(extra) {
                self.types.extend_from_slice(&w.to_ne_bytes());
            }
        }

        fn bytes(&self) -> Vec<u8> {
            let mut out = MAGIC.to_ne_bytes().to_vec();
            out.extend_from_slice(&[1, 0]);
            let (t, s) = (self.types.len() as u32, self.strings.len() as u32);
            for v in [HEADER_BYTES as u32, 0, t, t, s] {
                out.extend_from_slice(&v.to_ne_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    #[test]
    fn finds_fields_through_anonymous_members_and_modifiers() {
        let mut b = Blob::new();
        let (state, pid, tgid) = (b.name("state"), b.name("pid"), b.name("tgid"));
        b.ty("int", 1, 0, false, 4, &[32]); // 1
        b.ty("task_struct", STRUCT, 0, false, 0, &[]); // 2: a declaration, skipped
        // 3: struct task_struct { int state: 32; const <4> at bit 64 }, bitfield-style offsets
        b.ty("task_struct", STRUCT, 2, true, 16, &[state, 1, 32 << 24, 0, 5, 64]);
        b.ty("", STRUCT, 2, false, 8, &[pid, 1, 0, tgid, 1, 32]); // 4: struct { int pid; int tgid; }
        b.ty("", CONST, 0, false, 4, &[]); // 5: const <4>
        b.ty("loop", STRUCT, 1, false, 4, &[0, 6, 0]); // 6: struct loop { struct loop; }
        // 7: struct wide { four anonymous struct wide }: 4^16 paths
        b.ty("wide", STRUCT, 4, false, 4, &[0, 7, 0, 0, 7, 0, 0, 7, 0, 0, 7, 0]);
        // 8: struct far { <4> at the last bit there is }: overflows with its nested offset
        b.ty("far", STRUCT, 1, false, 4, &[0, 4, u32::MAX]);
        let data = b.bytes();
        let btf = Btf::parse(&data).unwrap();
        assert_eq!(member_offset(&btf, "task_struct", "state"), Ok(0));
        assert_eq!(member_offset(&btf, "task_struct", "pid"), Ok(8));
        assert_eq!(member_offset(&btf, "task_struct", "tgid"), Ok(12));
        assert!(member_offset(&btf, "task_struct", "comm").unwrap_err().contains("no field comm"));
        assert!(member_offset(&btf, "mm_struct", "pid").unwrap_err().contains("no struct mm_struct"));
        assert!(member_offset(&btf, "loop", "pid").unwrap_err().contains("no field pid"), "a struct nested in itself");
        assert!(member_offset(&btf, "wide", "pid").is_err(), "many times in itself: the budget ends the search");
        assert!(member_offset(&btf, "far", "tgid").is_err(), "an offset past u32: not found, no overflow");
    }

    #[test]
    fn rejects_what_is_not_btf() {
        assert!(Btf::parse(b"").is_err());
        assert!(Btf::parse(&[0u8; 64]).err().expect("parsed").contains("not BTF"));
        let mut b = Blob::new();
        b.ty("int", 1, 0, false, 4, &[32]);
        b.types.truncate(b.types.len() - 2); // into the int's trailing word
        assert!(Btf::parse(&b.bytes()).err().expect("parsed").contains("cut off"));
        let mut b = Blob::new();
        b.ty("x", 30, 0, false, 0, &[]);
        assert!(Btf::parse(&b.bytes()).err().expect("parsed").contains("unknown BTF kind 30"));
        let mut data = Blob::new().bytes();
        data[16..20].copy_from_slice(&1000u32.to_ne_bytes()); // strings past the end
        assert!(Btf::parse(&data).err().expect("parsed").contains("out of range"));
        let mut data = Blob::new().bytes();
        data[2] = 2;
        assert!(Btf::parse(&data).err().expect("parsed").contains("version"));
    }

    #[test]
    fn finds_task_struct_fields_when_the_kernel_has_btf() {
        if !std::path::Path::new(VMLINUX).exists() {
            eprintln!("SKIPPED: this kernel has no BTF at {VMLINUX}");
            return;
        }
        let o = task_offsets().unwrap();
        let fd = o.fd_inode.expect("task to inode offsets");
        assert!(fd[0] > 0 && fd[4] > 0 && fd[5] > 0, "{fd:?}");
        assert!(o.pid > 0 && o.tgid == o.pid + 4, "{o:?}");
        let bytes = std::fs::read(VMLINUX).unwrap();
        let btf = Btf::parse(&bytes).unwrap();
        assert!(member_offset(&btf, "task_struct", "no_such_field").is_err());
        assert!(member_offset(&btf, "no_such_struct", "pid").is_err());
    }
}
