//! The sidecar situation for real: an app container, and strace-api in a
//! second container that joins the app's PID namespace (`--pid=container:APP`)
//! with the documented least privileges (CAP_BPF, CAP_PERFMON and the seccomp
//! profile in deploy/). Needs podman and runc; outside CI it skips without them.
mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use support::{Daemon, in_ci, workload_binary};

/// podman as it works on these machines: runc, cgroupfs, and rlimits it can set.
fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    c
}

const LIMITS: [&str; 4] = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

fn run(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::piped()).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn podman_missing() -> Option<String> {
    for tool in ["podman", "runc"] {
        match Command::new(tool).arg("--version").output() {
            Ok(o) if o.status.success() => {}
            _ => return Some(format!("{tool} is not installed")),
        }
    }
    None
}

/// Removes the containers and the image however the test ends.
struct Cleanup {
    containers: Vec<String>,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman().args(["rm", "-f", "-t", "0", c]).output();
        }
        let _ = podman().args(["rmi", "-f", &self.image]).output();
    }
}

/// A FROM-scratch image holding the daemon and the workload, with their libraries.
fn build_image(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sidecar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rootfs = dir.join("rootfs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rootfs.sh");
    let workload = dir.join("workload");
    std::fs::copy(workload_binary(), &workload).unwrap();
    run(Command::new("bash").arg(&script).arg(&rootfs).arg(env!("CARGO_BIN_EXE_strace-api")).arg(&workload));
    std::fs::write(dir.join("Containerfile"), "FROM scratch\nCOPY rootfs/ /\n").unwrap();
    run(podman().args(["build", "-q", "-t", tag, "-f"]).arg(dir.join("Containerfile")).arg(&dir));
    dir
}

#[test]
fn a_sidecar_in_the_apps_pid_namespace_sees_the_app_as_pid_1() {
    if let Some(why) = podman_missing() {
        assert!(!in_ci(), "CI must run the sidecar test: {why} (.ci/run installs podman and runc)");
        support::skipped(&format!("no container runtime here: {why}"));
        return;
    }
    let id = std::process::id();
    let image = format!("localhost/strace-api-test:{id}");
    let (app, side) = (format!("strace-api-test-app-{id}"), format!("strace-api-test-sidecar-{id}"));
    let _cleanup = Cleanup { containers: vec![side.clone(), app.clone()], image: image.clone() };
    build_image(&image);

    run(podman().args(["run", "-d", "--name", &app]).args(LIMITS).args([&image, "/workload", "-", "forever"]));

    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/seccomp.json");
    let mut cmd = podman();
    cmd.args(["run", "--rm", "--name", &side])
        .args(LIMITS)
        .arg(format!("--pid=container:{app}"))
        .args(["--network", "host", "--cap-drop", "all", "--cap-add", "BPF", "--cap-add", "PERFMON"])
        .arg(format!("--security-opt=seccomp={}", profile.display()))
        .args(["-e", "STRACE_API_TOKEN=sidecar-test-token"])
        .args([&image, "/strace-api"]);
    let Some(mut d) = Daemon::start_command(cmd) else { return };
    d.token = Some("sidecar-test-token".into());

    assert_eq!(d.get("/v1/watch").0, 200);
    let (status, lines) = d.get("/strace/1/10?wait_ms=20000");
    assert_eq!(status, 200, "{lines}\n{}", d.log());
    let lines: Vec<&str> = lines.as_array().unwrap().iter().map(|l| l["data"].as_str().unwrap()).collect();
    assert_eq!(lines.len(), 10, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("openat(") && l.ends_with("ENOENT (No such file or directory)")),
        "{lines:?}"
    );
    assert!(lines.contains(&"getppid() = 0"), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("nanosleep(")), "{lines:?}");
    assert!(lines.iter().filter(|l| l.ends_with("<unfinished ...>")).all(|l| l.starts_with("nanosleep(")), "{lines:?}");

    let (_, procs) = d.get("/v1/processes");
    let procs = procs.as_array().unwrap();
    assert_eq!(procs.len(), 1, "only the app, not the sidecar nor the host: {procs:?}");
    assert_eq!((procs[0]["pid"].as_u64(), procs[0]["comm"].as_str()), (Some(1), Some("workload")));
    assert_eq!(d.put(&format!("/v1/watch/{id}")).0, 404, "a host process is not watchable from the sidecar");

    d.token = None;
    assert_eq!(d.get("/v1/watch").0, 401, "the token is required");
    assert_eq!(d.get("/healthz").0, 200);
    d.token = Some("sidecar-test-token".into());
    let status = d.stop();
    assert!(status.success(), "{status}");
}
