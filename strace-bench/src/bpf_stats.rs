//! The kernel's own per-program statistics (`kernel.bpf_stats_enabled`).

use std::{collections::HashMap, path::Path};

use anyhow::{Context as _, Result};

use crate::{
    STORM_CPU,
    daemon::Daemon,
    runs::watched_storm,
    storm::{Mode, Storm},
};

/// Kernel-side cost per program run, from the kernel's own BPF statistics.
pub fn bpf_stats_phase(d: &Daemon, bin: &Path, tmp: &Path, helper: u32) -> Result<Vec<(String, f64)>> {
    let path = "/proc/sys/kernel/bpf_stats_enabled";
    let before = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, "1").context("enabling BPF statistics")?;
    let snapshot = || -> Result<HashMap<String, (u64, u64)>> {
        let h = d.get("/healthz")?;
        Ok(h["programs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let name = p["name"].as_str().unwrap_or("?").to_string();
                (name, (p["run_count"].as_u64().unwrap_or(0), p["run_time_ns"].as_u64().unwrap_or(0)))
            })
            .collect())
    };
    let per_run = |a: &HashMap<String, (u64, u64)>, b: &HashMap<String, (u64, u64)>, name: &str| {
        let (c0, t0) = a.get(name).copied().unwrap_or_default();
        let (c1, t1) = b.get(name).copied().unwrap_or_default();
        (c1 > c0).then(|| (t1 - t0) as f64 / (c1 - c0) as f64)
    };
    let mut out = vec![];
    let result = (|| -> Result<()> {
        d.put(&format!("/v1/watch/{helper}?children=false"))?;
        let a = snapshot()?;
        Storm::run(bin, Mode::Getppid, 2_000_000, STORM_CPU, tmp)?;
        let b = snapshot()?;
        for name in ["sys_enter", "sys_exit"] {
            if let Some(v) = per_run(&a, &b, name) {
                out.push((format!("{name}, process not watched (ns/run)"), v));
            }
        }
        // Every context switch and timer tick on the host, while attached.
        for name in ["task_switch", "tick"] {
            if let Some(v) = per_run(&a, &b, name) {
                out.push((format!("{name}, storm not watched (nothing to flush; ns/run)"), v));
            }
        }
        let (_, w) = watched_storm(d, bin, Mode::Getppid, 2_000_000, tmp)?;
        let c = snapshot()?;
        let _ = w;
        for name in ["sys_enter", "sys_exit", "task_switch", "tick"] {
            if let Some(v) = per_run(&b, &c, name) {
                out.push((format!("{name}, all runs while the storm was watched (ns/run)"), v));
            }
        }
        d.delete(&format!("/v1/watch/{helper}"))?;
        Ok(())
    })();
    std::fs::write(path, before.trim())?;
    result?;
    Ok(out)
}
