//! Checks before loading, so a missing privilege or an old kernel is one clear
//! sentence instead of an errno from deep inside the loader.
use super::StartupError;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

pub fn check() -> Result<(), StartupError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = effective_caps(&status).unwrap_or(0);
    missing_caps(cap_eff).map_err(|missing| StartupError::NotPrivileged { missing: missing.join(" and ") })?;
    if let Ok(v) = procfs::KernelVersion::current()
        && v < procfs::KernelVersion::new(5, 11, 0)
    {
        return Err(StartupError::KernelTooOld { found: format!("{}.{}.{}", v.major, v.minor, v.patch) });
    }
    raise_memlock();
    Ok(())
}

/// The `CapEff:` bitmask of a `/proc/<pid>/status` text.
pub fn effective_caps(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Loading and attaching tracing programs needs CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN.
pub fn missing_caps(cap_eff: u64) -> Result<(), Vec<&'static str>> {
    let has = |cap: u32| cap_eff & (1 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    let mut missing = vec![];
    if !has(CAP_BPF) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) {
        missing.push("CAP_PERFMON");
    }
    Err(missing)
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones use memcg
/// accounting and need nothing. Failing here is only worth a note.
fn raise_memlock() {
    let rlim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: valid pointer to an rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) } != 0 {
        tracing::debug!("could not raise RLIMIT_MEMLOCK (not needed on kernels >= 5.11)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_set() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_caps(status), Some(0x1ff_ffff_ffff));
        assert_eq!(effective_caps("Name: x\n"), None);
    }

    #[test]
    fn privileges() {
        assert!(missing_caps(1 << CAP_SYS_ADMIN).is_ok());
        assert!(missing_caps((1 << CAP_BPF) | (1 << CAP_PERFMON)).is_ok());
        assert_eq!(missing_caps(1 << CAP_BPF), Err(vec!["CAP_PERFMON"]));
        assert_eq!(missing_caps(0), Err(vec!["CAP_BPF", "CAP_PERFMON"]));
    }
}
