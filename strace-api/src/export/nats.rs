//! The publisher: takes the queued events, renders each as the events API
//! shows it (`api::view::EventView`, its `text` the strace line), and
//! publishes it on `<prefix>.<host>.<pid>.<syscall>`: to a JetStream stream
//! when one is named (each publish acknowledged, a window of them in
//! flight), otherwise as core NATS messages. The client reconnects on its
//! own, with a backoff; meanwhile the queue fills and the drain's offers
//! are dropped and counted.
use std::{collections::VecDeque, path::PathBuf, sync::Arc, time::Duration};

use async_nats::{
    ConnectOptions,
    jetstream::{self, context::PublishAckFuture, message::PublishMessage},
};
use bytes::Bytes;
use tokio::task::JoinHandle;

use super::{ExportStats, Exported, Queue};
use crate::{api::view::EventView, clock::Clock, syscall};

/// Where and how to publish (from the `--export-*` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsSettings {
    /// `nats://host:port`, or `tls://…` for TLS (several, comma-separated, for a cluster).
    pub url: String,
    /// A NATS credentials file (user JWT and nkey seed).
    pub creds_file: Option<PathBuf>,
    pub token: Option<String>,
    /// CA certificates to trust for TLS (PEM), besides the system's.
    pub tls_ca: Option<PathBuf>,
    /// JetStream stream to publish to (created, for `<prefix>.>`, if missing).
    pub stream: Option<String>,
    /// The subjects' first token(s).
    pub subject_prefix: String,
    /// The subjects' host token (this machine's or pod's name).
    pub host: String,
}

/// Acknowledgements awaited at once (JetStream): publishing goes on while
/// they come back, in order.
const ACK_WINDOW: usize = 256;

/// How long a JetStream publish may wait for its acknowledgement before it
/// counts as failed.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects (in the background: a server that is down now is retried, with
/// a backoff) and starts publishing what `queue` brings. Fails only for
/// settings that cannot work (an unreadable credentials file, a bad URL).
pub async fn start(
    settings: NatsSettings,
    queue: Queue,
    stats: Arc<ExportStats>,
    clock: Clock,
) -> anyhow::Result<JoinHandle<()>> {
    let mut options = match &settings.creds_file {
        Some(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the NATS credentials file {}: {e}", path.display()))?,
        None => ConnectOptions::new(),
    };
    if let Some(token) = &settings.token {
        options = options.token(token.clone());
    }
    if let Some(ca) = &settings.tls_ca {
        options = options.add_root_certificates(ca.clone());
    }
    let events = stats.clone();
    let options = options
        .name("strace-api")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(backoff)
        .event_callback(move |event| {
            let stats = events.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        stats.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::info!("export: connected to NATS");
                    }
                    async_nats::Event::Disconnected => tracing::warn!("export: disconnected from NATS; reconnecting"),
                    other => tracing::warn!("export: NATS: {other}"),
                }
            }
        });
    let client = options
        .connect(settings.url.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("cannot use the NATS server address {:?}: {e}", settings.url))?;
    let _ = stats.client.set(client.clone());
    tracing::info!(
        url = settings.url,
        stream = settings.stream.as_deref().unwrap_or("(none: core NATS)"),
        "exporting events to {}.{}.<pid>.<syscall>",
        settings.subject_prefix,
        settings.host
    );
    let publisher = Publisher { settings, stats, clock };
    Ok(tokio::spawn(publisher.run(client, queue)))
}

/// 100 ms after the first failed attempt, doubling up to 2 s.
fn backoff(attempts: usize) -> Duration {
    Duration::from_millis(100u64 << attempts.min(5)).min(Duration::from_secs(2))
}

struct Publisher {
    settings: NatsSettings,
    stats: Arc<ExportStats>,
    clock: Clock,
}

impl Publisher {
    async fn run(self, client: async_nats::Client, mut queue: Queue) {
        let js = match self.settings.stream.clone() {
            Some(name) => Some(self.stream(&client, &name).await),
            None => None,
        };
        let mut acks: VecDeque<PublishAckFuture> = VecDeque::new();
        loop {
            let x = match queue.try_recv() {
                Ok(x) => x,
                Err(_) => {
                    // Nothing queued: settle what is in flight, then wait.
                    while let Some(ack) = acks.pop_front() {
                        self.settle(ack).await;
                    }
                    match queue.recv().await {
                        Some(x) => x,
                        None => return,
                    }
                }
            };
            let (subject, payload) = self.render(&x);
            match &js {
                Some(js) => match js.send_publish(subject, PublishMessage::build().payload(payload)).await {
                    Ok(ack) => {
                        acks.push_back(ack);
                        if acks.len() >= ACK_WINDOW
                            && let Some(ack) = acks.pop_front()
                        {
                            self.settle(ack).await;
                        }
                    }
                    Err(e) => self.failed(&e),
                },
                None => match client.publish(subject, payload).await {
                    Ok(()) => self.published(),
                    Err(e) => self.failed(&e),
                },
            }
        }
    }

    /// A JetStream context whose stream exists: retried (with the backoff)
    /// until the server answers; the queue fills meanwhile.
    async fn stream(&self, client: &async_nats::Client, name: &str) -> jetstream::Context {
        let mut js = jetstream::new(client.clone());
        js.set_timeout(ACK_TIMEOUT);
        let config = jetstream::stream::Config {
            name: name.to_string(),
            subjects: vec![format!("{}.>", self.settings.subject_prefix)],
            ..Default::default()
        };
        let mut attempt: usize = 0;
        loop {
            match js.get_or_create_stream(config.clone()).await {
                Ok(_) => {
                    tracing::info!(stream = name, "export: the JetStream stream is there");
                    return js;
                }
                Err(e) => {
                    if attempt.is_multiple_of(10) {
                        tracing::warn!(stream = name, "export: cannot create or find the JetStream stream: {e}");
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn settle(&self, ack: PublishAckFuture) {
        match ack.await {
            Ok(_) => self.published(),
            Err(e) => self.failed(&e),
        }
    }

    fn published(&self) {
        self.stats.published.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn failed(&self, e: &dyn std::fmt::Display) {
        let before = self.stats.dropped_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Said once, then every 1000th: a server that is down fails them all.
        if before.is_multiple_of(1000) {
            tracing::warn!("export: publishing failed, event dropped ({} so far): {e}", before + 1);
        }
    }

    /// The subject and the message of an event: its JSON as the events API
    /// has it by default (the line without strace -T's time; `duration_ns`
    /// has it).
    fn render(&self, x: &Exported) -> (String, Bytes) {
        let view = EventView::new(x.pid, x.seq, &x.event, &self.clock, false);
        let subject = subject(&self.settings.subject_prefix, &self.settings.host, x.pid, &view.syscall);
        let payload = serde_json::to_vec(&view).unwrap_or_default();
        (subject, payload.into())
    }
}

/// `<prefix>.<host>.<pid>.<syscall>`.
pub fn subject(prefix: &str, host: &str, pid: u32, syscall: &str) -> String {
    format!("{prefix}.{host}.{pid}.{}", token(syscall))
}

/// A subject token: what NATS would read as a separator or a wildcard
/// (`.`, `*`, `>`, blanks) becomes `_`; an empty one is `_`.
pub fn token(s: &str) -> String {
    let t: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if t.is_empty() { "_".into() } else { t }
}

/// This machine's name (a pod's name in Kubernetes), as a subject token.
pub fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    token(name.trim())
}

/// The syscall's name as subjects carry it.
pub fn syscall_token(nr: i32) -> String {
    token(&syscall::name(nr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_have_four_tokens_whatever_the_names() {
        assert_eq!(subject("strace", "web-1", 42, "openat"), "strace.web-1.42.openat");
        assert_eq!(token("my.host name*>"), "my_host_name__");
        assert_eq!(token(""), "_");
        assert_eq!(syscall_token(syscalls::Sysno::openat.id()), "openat");
    }

    #[test]
    fn the_backoff_grows_to_two_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(50), Duration::from_secs(2));
    }
}
