//! A flag file: 4 KiB of zeros a workload maps and spins on, making no
//! syscalls, until its first byte is set (1: go, 2: exit). Removed on drop.
use std::{
    os::unix::fs::FileExt as _,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

pub struct FlagFile {
    path: PathBuf,
}

impl FlagFile {
    /// A new zeroed flag file in `dir`, named after `name`, this process and a counter.
    pub fn new(dir: &Path, name: &str) -> std::io::Result<FlagFile> {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = dir.join(format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&path, [0u8; 4096])?;
        Ok(FlagFile { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn set(&self, v: u8) -> std::io::Result<()> {
        set(&self.path, v)
    }

    /// Its path, the file kept: the caller removes it.
    pub fn keep(self) -> PathBuf {
        let path = self.path.clone();
        std::mem::forget(self);
        path
    }
}

/// Sets the flag byte of the file at `path`.
pub fn set(path: &Path, v: u8) -> std::io::Result<()> {
    std::fs::OpenOptions::new().write(true).open(path)?.write_all_at(&[v], 0)
}

impl Drop for FlagFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_set_in_place_and_removed_on_drop() {
        let f = FlagFile::new(&std::env::temp_dir(), "harness-flag").unwrap();
        f.set(2).unwrap();
        let bytes = std::fs::read(f.path()).unwrap();
        assert_eq!((bytes.len(), bytes[0], bytes[1]), (4096, 2, 0));
        let path = f.path().to_path_buf();
        drop(f);
        assert!(!path.exists());
    }
}
