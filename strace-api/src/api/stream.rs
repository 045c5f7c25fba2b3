//! `GET /v1/processes/{pid}/events/stream`: a live tail of a process's
//! events as Server-Sent Events (or, with `format=text` and no
//! `Accept: text/event-stream`, plain strace lines), with the events
//! endpoint's filters.
//!
//! No buffer per client: the history is the source. A stream keeps a cursor
//! and, woken by the tracer's arrivals (as long polls are), reads what is
//! newer in slices of `SLICE` events, renders one, and hands it to the
//! connection through a one-chunk channel; it holds one slice at a time.
//! The history is bounded, so a reader can fall behind it: the events it
//! evicted past the cursor are a gap (`event: gap`, reason `evicted`), and
//! the kernel's losses are gaps where they happened (reason `dropped`). A
//! client that is the reason it fell behind (it took longer to take the
//! chunks than the stream took to make them), or that takes no chunk for
//! `STALL`, is cut off with `event: lagged`: it never holds up the drain,
//! and costs one slice and the connection's own buffers.
//!
//! Every stream ends with a last event saying why: `end` (the process
//! exited and everything was sent, or it is no longer watched), `shutdown`
//! (the daemon is stopping), or `lagged`. Streams at once are capped
//! (`--max-streams`): one more is a 503 with `Retry-After`.
use std::{
    future::Future as _,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot},
    time::Instant,
};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiError,
    error::ErrorBody,
    extract::{ApiQuery, PidPath, durations},
    filters::{filter, filter_query},
    sse,
    text::{self, Format},
    view::{EventView, GapView},
};
use crate::{
    clock::Clock,
    filter::Filter,
    recorder::{Cursor, Entry, Event, Gap, GapReason},
    syscall,
    tracer::{Tracer, WatchError},
};

/// Events read from the history at a time: the most a stream holds.
pub const SLICE: usize = 64;
/// A comment this often on an idle stream, so proxies keep it open.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// A client that takes no chunk for this long is cut off.
const STALL: Duration = Duration::from_secs(10);
/// Streams open at once, by default (`--max-streams`).
pub const DEFAULT_MAX_STREAMS: usize = 64;
/// What a refused client is told to wait before trying again, in seconds.
const RETRY_AFTER_SECS: u64 = 5;

/// The streams open, their cap, and how they ended.
pub struct Streams {
    permits: Arc<Semaphore>,
    max: usize,
    opened: AtomicU64,
    refused: AtomicU64,
    lagged: AtomicU64,
}

/// For /healthz.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct StreamCounts {
    /// Streams open now, and the most at once (`--max-streams`).
    pub open: usize,
    pub max: usize,
    /// Streams opened since start; refused (503) at the cap; cut off for
    /// reading too slowly (`event: lagged`).
    pub opened: u64,
    pub refused: u64,
    pub lagged: u64,
}

impl Streams {
    pub fn new(max: usize) -> Streams {
        Streams {
            permits: Arc::new(Semaphore::new(max)),
            max,
            opened: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
        }
    }

    pub fn counts(&self) -> StreamCounts {
        StreamCounts {
            open: self.max - self.permits.available_permits(),
            max: self.max,
            opened: self.opened.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            lagged: self.lagged.load(Ordering::Relaxed),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Start after this event (`SEQ`, or an id `SEQ:gap`); the
    /// `Last-Event-ID` header, when sent, wins. Default: the newest event
    /// now (only what comes next); `0` for the whole history first.
    after: Option<String>,
    /// Append strace -T's `<seconds>` to each line.
    durations: Option<bool>,
    /// `json` (default): each event's JSON as the events page has it;
    /// `text`: its strace line (with `[pid N]` once a second thread shows
    /// up). Without `Accept: text/event-stream`, `text` is plain lines,
    /// not events (for `curl -N`).
    format: Option<Format>,
    /// Syscalls by name and strace class, as strace's `-e trace=`.
    syscall: Option<String>,
    /// strace's classes: `%file,%network`, …
    class: Option<String>,
    /// `true`: failed calls only (strace -Z); `false`: successful ones only.
    failed: Option<bool>,
    /// Calls that took at least this many microseconds.
    #[param(value_type = Option<u64>)]
    min_duration_us: Option<super::extract::Uint>,
    /// Only these threads: `1234,1235`.
    tid: Option<String>,
}
filter_query!(StreamQuery);

/// The data of the last event (`end`, `shutdown`, `lagged`).
#[derive(Serialize, ToSchema)]
pub struct EndView {
    reason: String,
}

/// How the stream writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// SSE, each event's JSON as its data.
    Json,
    /// SSE, each event's strace line as its data.
    Text,
    /// Plain strace lines (no SSE framing).
    Lines,
}

/// A live tail of a watched process's events.
#[utoipa::path(
    get,
    path = "/v1/processes/{pid}/events/stream",
    tag = "events",
    params(
        ("pid" = u32, Path, description = "A watched process's pid"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this id (sent by EventSource on reconnect)"),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "Server-Sent Events: one per syscall (`id` its seq, data its JSON or line); `event: gap` where calls are missing (data: GapView); a last `event: end`, `shutdown` or `lagged` (data: EndView). Plain lines with `format=text` and no `Accept: text/event-stream`.",
         content((String = "text/event-stream"), (String = "text/plain"))),
        (status = 400, description = "A malformed pid, cursor or parameter: an unknown syscall or class names it", body = ErrorBody),
        (status = 404, description = "The process is not watched", body = ErrorBody),
        (status = 503, description = "As many streams are open as `--max-streams` allows; `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn stream(
    State(tracer): State<Arc<Tracer>>,
    State(streams): State<Arc<Streams>>,
    PidPath(pid): PidPath,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let durations = durations(q.durations, tracer.durations())?;
    let filter = filter(&q, tracer.durations())?;
    let resume = headers.get("last-event-id").map(|v| v.to_str().unwrap_or("?").to_string()).or(q.after);
    let asked = match resume {
        Some(id) => Some(sse::cursor(&id).ok_or_else(|| {
            ApiError::bad_request(format!("after (or Last-Event-ID) must be an event id, SEQ or SEQ:gap, not {id:?}"))
        })?),
        None => None,
    };
    let sse_wanted = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.to_ascii_lowercase().contains("text/event-stream"));
    let mode = match q.format {
        Some(Format::Text) if sse_wanted => Mode::Text,
        Some(Format::Text) => Mode::Lines,
        _ => Mode::Json,
    };
    let last_seq = tracer.stats(pid).ok_or(WatchError::NotWatched(pid))?.last_seq;
    let cursor = asked.unwrap_or(Cursor::at(last_seq));
    let Ok(permit) = streams.permits.clone().try_acquire_owned() else {
        streams.refused.fetch_add(1, Ordering::Relaxed);
        let body = ErrorBody { error: format!("{} streams are open, the most allowed (--max-streams)", streams.max) };
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())],
            axum::Json(body),
        )
            .into_response());
    };
    streams.opened.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(1);
    let (last_tx, last_rx) = oneshot::channel();
    let clock = *tracer.clock();
    let producer = Producer { tracer, streams, pid, filter, durations, mode, clock, threads: Threads::default() };
    tokio::spawn(producer.run(cursor, tx, last_tx, permit));
    let content_type = if mode == Mode::Lines { "text/plain; charset=utf-8" } else { "text/event-stream" };
    let mut resp = Body::from_stream(Chunks { rx, last: Some(last_rx), done: false }).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies that buffer responses (nginx) pass this one through at once.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}

/// Which threads a stream has shown, for strace -f's `[pid N]` prefix:
/// once a second thread shows up, every line has it.
#[derive(Default)]
struct Threads {
    first: Option<u32>,
    many: bool,
}

impl Threads {
    fn prefix(&mut self, tid: u32) -> Option<String> {
        match self.first {
            None => self.first = Some(tid),
            Some(t) if t != tid => self.many = true,
            Some(_) => {}
        }
        self.many.then(|| text::pid_prefix(tid))
    }
}

/// Makes one stream's chunks.
struct Producer {
    tracer: Arc<Tracer>,
    streams: Arc<Streams>,
    pid: u32,
    filter: Filter,
    durations: bool,
    mode: Mode,
    clock: Clock,
    threads: Threads,
}

/// Why a stream ended (its last event's name and data).
enum Ending {
    /// The client is gone: nothing to say.
    Gone,
    Say(&'static str, String),
}

impl Producer {
    async fn run(
        mut self,
        mut cursor: Cursor,
        tx: mpsc::Sender<Bytes>,
        last: oneshot::Sender<Bytes>,
        _permit: OwnedSemaphorePermit,
    ) {
        // Time spent waiting for the client to take chunks, and making them,
        // since the stream last caught up with the history: who is slower.
        let (mut waited, mut worked) = (Duration::ZERO, Duration::ZERO);
        let mut first_read = true;
        let tracer = self.tracer.clone();
        let ending = loop {
            let arrival = tracer.arrivals().notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            if self.tracer.closing() {
                break Ending::Say("shutdown", "the daemon is shutting down".into());
            }
            let start = Instant::now();
            let Some((entries, next, exited)) = self.tracer.read_entries(self.pid, cursor, SLICE) else {
                break Ending::Say("end", format!("pid {} is no longer watched", self.pid));
            };
            if entries.is_empty() {
                if exited {
                    break Ending::Say("end", format!("pid {} exited; every event was sent", self.pid));
                }
                (waited, worked) = (Duration::ZERO, Duration::ZERO);
                first_read = false;
                let mut out = String::new();
                tokio::select! {
                    _ = arrival => continue,
                    _ = tokio::time::sleep(KEEPALIVE) => if self.mode != Mode::Lines {
                        sse::comment(&mut out, "keep-alive");
                    },
                }
                if !out.is_empty() && !self.send(&tx, out).await.0 {
                    break Ending::Gone;
                }
                continue;
            }
            if let Some(Entry::Gap(g)) = entries.first()
                && g.reason == GapReason::Evicted
                && !first_read
                && waited > worked
            {
                self.streams.lagged.fetch_add(1, Ordering::Relaxed);
                let why = format!(
                    "the client read too slowly: {} events after {} left the history before they were sent; reconnect to go on from the oldest retained",
                    g.count, g.after
                );
                let _ = last.send(self.last_event("lagged", &why));
                return;
            }
            first_read = false;
            let chunk = self.render(&entries);
            cursor = next;
            worked += start.elapsed();
            if chunk.is_empty() {
                continue;
            }
            let (sent, took) = self.send(&tx, chunk).await;
            if !sent {
                if took >= STALL {
                    self.streams.lagged.fetch_add(1, Ordering::Relaxed);
                    let why = format!("the client took no data for {} s", STALL.as_secs());
                    let _ = last.send(self.last_event("lagged", &why));
                }
                return;
            }
            waited += took;
        };
        if let Ending::Say(kind, why) = ending {
            let _ = tokio::time::timeout(STALL, tx.send(self.last_event(kind, &why))).await;
        }
    }

    /// Hands a chunk to the connection: whether it was taken within STALL,
    /// and how long that took.
    async fn send(&self, tx: &mpsc::Sender<Bytes>, chunk: String) -> (bool, Duration) {
        let start = Instant::now();
        let sent = matches!(tokio::time::timeout(STALL, tx.send(Bytes::from(chunk))).await, Ok(Ok(())));
        (sent, start.elapsed())
    }

    fn last_event(&self, kind: &'static str, why: &str) -> Bytes {
        let mut out = String::new();
        match self.mode {
            Mode::Lines => out = format!("--- {kind}: {why} ---\n"),
            _ => {
                let data = serde_json::to_string(&EndView { reason: why.to_string() }).unwrap_or_default();
                sse::event(&mut out, None, Some(kind), &data);
            }
        }
        Bytes::from(out)
    }

    /// A slice's events and gaps as the stream writes them; events the
    /// filter leaves out are skipped (the cursor still passes them).
    fn render(&mut self, entries: &[Entry]) -> String {
        let mut out = String::with_capacity(entries.len() * 400);
        for entry in entries {
            match entry {
                Entry::Event(seq, ev) if self.filter.matches(ev) => self.event(&mut out, *seq, ev),
                Entry::Event(..) => {}
                Entry::Gap(g) => self.gap(&mut out, g),
            }
        }
        out
    }

    fn event(&mut self, out: &mut String, seq: u64, ev: &Event) {
        let id = seq.to_string();
        match self.mode {
            Mode::Json => {
                let view = EventView::new(self.pid, seq, ev, &self.clock, self.durations);
                sse::event(out, Some(&id), None, &serde_json::to_string(&view).unwrap_or_default());
            }
            Mode::Text | Mode::Lines => {
                let mut line = self.threads.prefix(ev.tid).unwrap_or_default();
                line.push_str(&syscall::line(ev, self.durations));
                if self.mode == Mode::Text {
                    sse::event(out, Some(&id), None, &line);
                } else {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
    }

    fn gap(&self, out: &mut String, g: &Gap) {
        // A reader that got an eviction gap has passed every evicted event.
        let id = match g.reason {
            GapReason::Dropped | GapReason::Throttled => sse::gap_id(g.after),
            GapReason::Evicted => (g.after + g.count).to_string(),
        };
        if self.mode == Mode::Lines {
            out.push_str(&text::gap_line(g));
            out.push('\n');
            return;
        }
        let view = GapView::new(g, &self.clock);
        sse::event(out, Some(&id), Some("gap"), &serde_json::to_string(&view).unwrap_or_default());
    }
}

/// The response body: the producer's chunks, or its last word at once if
/// it cut the client off (whatever chunk was still queued is not sent).
struct Chunks {
    rx: mpsc::Receiver<Bytes>,
    last: Option<oneshot::Receiver<Bytes>>,
    done: bool,
}

impl futures_util::Stream for Chunks {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(last) = self.last.as_mut()
            && let Poll::Ready(said) = Pin::new(last).poll(cx)
        {
            self.last = None;
            if let Ok(bytes) = said {
                self.done = true;
                return Poll::Ready(Some(Ok(bytes)));
            }
        }
        self.rx.poll_recv(cx).map(|c| c.map(Ok))
    }
}
