//! A real browser for the page's tests: Debian's `chromium`, headless,
//! driven through the DevTools protocol over a pipe
//! (`--remote-debugging-pipe`: JSON messages ended by a NUL byte, read on
//! its fd 3 and written on its fd 4), so no websocket client, no npm and no
//! browser download.
//!
//! Outside CI a missing chromium makes the test skip with a `SKIPPED` line
//! that shows past the harness's capture; with `CI=true` it fails (`.ci/run`
//! installs it).
use std::{
    collections::HashMap,
    fs::File,
    io::{Read as _, Write as _},
    os::{
        fd::{FromRawFd as _, OwnedFd},
        unix::process::CommandExt as _,
    },
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::in_ci;

/// Starts a browser or returns from the test (skipping outside CI).
#[macro_export]
macro_rules! browser {
    () => {
        match support::browser::Browser::start() {
            Some(b) => b,
            None => return,
        }
    };
}

/// The DevTools events kept for the tests to read (others, such as every
/// chunk of a streamed response, are not kept: a storm would pile them up).
const KEPT_EVENTS: [&str; 5] = [
    "Network.requestWillBeSent",
    "Runtime.exceptionThrown",
    "Runtime.consoleAPICalled",
    "Log.entryAdded",
    "Target.attachedToTarget",
];

/// How long one DevTools command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Ids of the commands the reader sends itself (to a worker as it starts),
/// whose answers nobody waits for: above the tests' own, below 2^31 (what
/// chromium takes for an id).
const OWN_IDS: u64 = 1 << 30;

pub struct Browser {
    child: Child,
    to: Arc<Mutex<File>>,
    inbox: Arc<Inbox>,
    next: AtomicU64,
    profile: PathBuf,
    pub log: PathBuf,
}

#[derive(Default)]
struct Inbox {
    state: Mutex<Received>,
    arrived: Condvar,
}

#[derive(Default)]
struct Received {
    replies: HashMap<u64, Value>,
    /// Kept events, each with its session.
    events: Vec<Value>,
    closed: bool,
}

/// Where Debian puts it (or `CHROMIUM` says).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("chromium")).find(|p| p.is_file())
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "{}", std::io::Error::last_os_error());
    // SAFETY: both are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    /// `None` when chromium is missing and we are not in CI.
    pub fn start() -> Option<Browser> {
        let Some(bin) = chromium() else {
            assert!(!in_ci(), "chromium is missing (.ci/run installs Debian's chromium)");
            super::skipped("chromium is missing (apt-get install chromium), and CI is not set");
            return None;
        };
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let profile = tmp.join(format!("chromium-profile-{}-{}", std::process::id(), super::unique()));
        let log = tmp.join(format!("chromium-{}-{}.log", std::process::id(), super::unique()));
        std::fs::create_dir_all(&profile).unwrap();
        // Chromium reads our commands on its fd 3 and writes its answers on fd 4.
        let (its_in, our_out) = pipe();
        let (our_in, its_out) = pipe();
        let (r, w) = (std::os::fd::AsRawFd::as_raw_fd(&its_in), std::os::fd::AsRawFd::as_raw_fd(&its_out));
        let mut cmd = Command::new(bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Out of the way first, in case either already is 3 or 4;
                // dup2 leaves the copies open across exec.
                let a = libc::fcntl(r, libc::F_DUPFD, 10);
                let b = libc::fcntl(w, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(a);
                libc::close(b);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        drop((its_in, its_out));
        let inbox = Arc::new(Inbox::default());
        let sink = inbox.clone();
        let mut from = File::from(our_in);
        let to = Arc::new(Mutex::new(File::from(our_out)));
        let to_worker = to.clone();
        std::thread::spawn(move || {
            // A page's worker waits for its debugger (`Page::new`): it runs
            // once its requests and exceptions are reported too.
            let mut own = OWN_IDS;
            let mut start_worker = |session: &str| {
                // Requests reported, their bodies not kept (a stream's would be).
                let network = json!({"maxTotalBufferSize": 1024, "maxResourceBufferSize": 1024});
                for (method, params) in [
                    ("Network.enable", network),
                    ("Runtime.enable", json!({})),
                    ("Runtime.runIfWaitingForDebugger", json!({})),
                ] {
                    own += 1;
                    let command = json!({"id": own, "method": method, "params": params, "sessionId": session});
                    let mut bytes = serde_json::to_vec(&command).unwrap();
                    bytes.push(0);
                    let _ = to_worker.lock().unwrap().write_all(&bytes);
                }
            };
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 1 << 16];
            loop {
                let n = match from.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    let Ok(v) = serde_json::from_slice::<Value>(&msg[..end]) else { continue };
                    if v["method"] == "Target.attachedToTarget" && v["params"]["waitingForDebugger"] == true {
                        start_worker(v["params"]["sessionId"].as_str().unwrap_or_default());
                    }
                    let mut s = sink.state.lock().unwrap();
                    if let Some(id) = v["id"].as_u64() {
                        if id < OWN_IDS {
                            s.replies.insert(id, v);
                        }
                    } else if KEPT_EVENTS.contains(&v["method"].as_str().unwrap_or_default()) {
                        s.events.push(v);
                    }
                    sink.arrived.notify_all();
                }
            }
            sink.state.lock().unwrap().closed = true;
            sink.arrived.notify_all();
        });
        let browser = Browser { child, to, inbox, next: AtomicU64::new(1), profile, log };
        let version = browser.call(None, "Browser.getVersion", json!({})).unwrap_or_else(|e| {
            panic!("chromium does not answer: {e}\n{}", std::fs::read_to_string(&browser.log).unwrap_or_default())
        });
        eprintln!("browser: {}", version["product"]);
        Some(browser)
    }

    /// Sends a command (to a page's session when given) and waits for its answer.
    pub fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.lock().unwrap().write_all(&bytes).map_err(|e| format!("{method}: {e}"))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        let mut s = self.inbox.state.lock().unwrap();
        loop {
            if let Some(reply) = s.replies.remove(&id) {
                return match reply.get("error") {
                    Some(e) => Err(format!("{method}: {e}")),
                    None => Ok(reply["result"].clone()),
                };
            }
            if s.closed {
                return Err(format!("{method}: chromium is gone"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("{method}: no answer in {CALL_TIMEOUT:?}"));
            }
            s = self.inbox.arrived.wait_timeout(s, left).unwrap().0;
        }
    }

    /// The CPU time the browser's renderer processes took so far, in
    /// seconds: their main threads (where a page's scripts, layout and
    /// input run), and in all (workers, compositing, …). CPU time, not
    /// wall time: on a loaded machine it still says how much work it was.
    pub fn renderer_cpu(&self) -> (f64, f64) {
        let info = self.call(None, "SystemInfo.getProcessInfo", json!({})).unwrap();
        // SAFETY: sysconf has no preconditions.
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let ticks = |stat: &str| -> f64 {
            // utime and stime: fields 14 and 15, after the ")" that ends the name.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<&str> = rest.split_whitespace().collect();
            (f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
                + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
                / tick
        };
        let (mut main, mut all) = (0.0, 0.0);
        for p in info["processInfo"].as_array().unwrap().iter().filter(|p| p["type"] == "renderer") {
            let pid = p["id"].as_u64().unwrap();
            main += ticks(&std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/stat")).unwrap_or_default());
            all += ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default());
        }
        (main, all)
    }

    /// A new tab of `width` × `height` CSS pixels.
    pub fn page(&self, width: u32, height: u32) -> Page<'_> {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"})).unwrap();
        let target = target["targetId"].as_str().unwrap().to_string();
        let session = self.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true})).unwrap();
        let page = Page { browser: self, session: session["sessionId"].as_str().unwrap().to_string() };
        for domain in ["Page", "Runtime", "Network", "Log"] {
            page.call(&format!("{domain}.enable"), json!({}));
        }
        // Its workers too, each in a session of its own (their heaps,
        // requests and exceptions are the page's too), held at their start
        // until the reader has enabled what reports them.
        page.call("Target.setAutoAttach", json!({"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true}));
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call(None, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A tab, as a person would use it: go to a page, click, type, look.
pub struct Page<'a> {
    browser: &'a Browser,
    session: String,
}

impl Page<'_> {
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.browser.call(Some(&self.session), method, params).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Navigates, and waits until the new document has loaded.
    pub fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        let loaded = format!("location.href === {} && document.readyState === 'complete'", json!(url));
        self.wait_for("the page loaded", &loaded, Duration::from_secs(30));
    }

    /// The value of a JavaScript expression (a promise is awaited); an
    /// exception panics with its text.
    pub fn eval(&self, expression: &str) -> Value {
        self.try_eval(expression).unwrap_or_else(|e| panic!("{expression}: {e}"))
    }

    /// The value of an expression, or its exception's text.
    fn try_eval(&self, expression: &str) -> Result<Value, String> {
        let r = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}));
        match r.get("exceptionDetails") {
            Some(e) => Err(e["exception"]["description"].as_str().unwrap_or(&e.to_string()).to_string()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// Polls `expression` until it is truthy (an exception counts as not
    /// yet: the page may still be loading); after `within`, saves a
    /// screenshot and panics, saying what was awaited.
    pub fn wait_for(&self, what: &str, expression: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        let mut error = None;
        let mut tries = 0;
        loop {
            let v = match self.try_eval(expression) {
                Ok(v) => v,
                Err(e) => {
                    error = Some(e);
                    Value::Null
                }
            };
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v.as_f64() != Some(0.0) && v.as_str() != Some("");
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("failed-{}", what.replace(|c: char| !c.is_alphanumeric(), "-")));
                panic!(
                    "the page never showed {what} ({expression}: {v}, last exception {error:?}); screenshot {}; console: {:?}",
                    shot.display(),
                    self.problems()
                );
            }
            // Soon at first (a click's effect is measured with it), then every 100 ms.
            tries += 1;
            std::thread::sleep(Duration::from_millis(if tries < 20 { 5 } else { 100 }));
        }
    }

    /// Where the element's centre is, scrolled into view: `None` when absent.
    fn centre(&self, selector: &str) -> Option<(f64, f64)> {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            json!(selector)
        );
        let v = self.eval(&js);
        Some((v[0].as_f64()?, v[1].as_f64()?))
    }

    /// A real click (mouse pressed and released) on the element's centre;
    /// returns how long the browser took to take it.
    pub fn click(&self, selector: &str) -> Duration {
        let (x, y) = self.centre(selector).unwrap_or_else(|| panic!("nothing to click at {selector}"));
        let start = Instant::now();
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
        start.elapsed()
    }

    /// Focuses the field, empties it, and types `text` into it.
    pub fn type_into(&self, selector: &str, text: &str) {
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); e.focus(); e.select?.(); }})()",
            json!(selector)
        ));
        self.call("Input.insertText", json!({"text": text}));
    }

    /// A PNG of the tab, saved as `<target tmp>/page-screenshots/NAME.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("page-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let Ok(shot) = self.browser.call(Some(&self.session), "Page.captureScreenshot", json!({"format": "png"}))
        else {
            return path;
        };
        std::fs::write(&path, base64(shot["data"].as_str().unwrap_or_default())).unwrap();
        path
    }

    /// The JavaScript heap in use after a full garbage collection, in
    /// bytes: the page's, and its workers' together.
    pub fn heap(&self) -> (u64, u64) {
        let used = |session: &str| {
            let call = |m: &str| self.browser.call(Some(session), m, json!({}));
            call("HeapProfiler.collectGarbage").ok()?;
            call("Runtime.getHeapUsage").ok()?["usedSize"].as_f64().map(|b| b as u64)
        };
        let page = used(&self.session).expect("the page's heap");
        let workers = self.worker_sessions().iter().filter_map(|s| used(s.as_str()?)).sum();
        (page, workers)
    }

    /// The sessions of this tab's workers.
    fn worker_sessions(&self) -> Vec<Value> {
        self.events("Target.attachedToTarget")
            .iter()
            .filter(|e| e["params"]["targetInfo"]["type"] == "worker")
            .map(|e| e["params"]["sessionId"].clone())
            .collect()
    }

    /// The kept events of this tab with this method (the tab's own).
    pub fn events(&self, method: &str) -> Vec<Value> {
        let s = self.browser.inbox.state.lock().unwrap();
        s.events.iter().filter(|e| e["sessionId"] == self.session.as_str() && e["method"] == method).cloned().collect()
    }

    /// The kept events with this method of this tab and its workers.
    fn events_with_workers(&self, method: &str) -> Vec<Value> {
        let workers = self.worker_sessions();
        let s = self.browser.inbox.state.lock().unwrap();
        s.events
            .iter()
            .filter(|e| {
                e["method"] == method && (e["sessionId"] == self.session.as_str() || workers.contains(&e["sessionId"]))
            })
            .cloned()
            .collect()
    }

    /// What the page's console would show a developer as wrong: uncaught
    /// exceptions, errors it logged, and the browser's own complaints (a
    /// refused policy, a load that failed), but the API's answers in the
    /// 400s, which the page expects and handles (a 401 asks for a token, a
    /// 404 for a process not watched yet or an endpoint this daemon lacks).
    pub fn problems(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .events_with_workers("Runtime.exceptionThrown")
            .iter()
            .map(|e| format!("exception: {}", e["params"]["exceptionDetails"]))
            .collect();
        for e in self.events_with_workers("Runtime.consoleAPICalled") {
            if e["params"]["type"] == "error" {
                all.push(format!("console.error: {}", e["params"]["args"]));
            }
        }
        for e in self.events("Log.entryAdded") {
            let entry = &e["params"]["entry"];
            let text = entry["text"].as_str().unwrap_or_default();
            let answered = entry["source"] == "network" && text.contains("responded with a status of 4");
            if entry["level"] == "error" && !answered {
                all.push(format!("{}: {text} {}", entry["source"], entry["url"]));
            }
        }
        all
    }

    /// Every URL the page and its workers requested.
    pub fn requested(&self) -> Vec<String> {
        self.events_with_workers("Network.requestWillBeSent")
            .iter()
            .map(|e| e["params"]["request"]["url"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Standard base64 (what DevTools sends screenshots in).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
