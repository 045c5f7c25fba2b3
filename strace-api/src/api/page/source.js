// The page's reader of events: a worker, so that reading and parsing a storm
// of calls never holds up the page. One source per chosen process: its live
// stream (GET …/events/stream with the filters, Server-Sent Events read with
// fetch, since EventSource cannot send a token; the daemon filters), and the
// calls in progress from its events page. It hands the page batches every
// FLUSH_MS, of bounded size (BATCH_EVENTS, BURST_EVENTS: the newest; the
// others are counted where they were left out), the calls in progress, and
// a tally of every call it received (for the summary's histograms).
import { filterParams } from './api.js';
import { BUCKETS, bucketOf, sleep } from './util.js';

/** How often batches go to the page. */
const FLUSH_MS = 100;
/**
 * Events handed to the page: BATCH_EVENTS a batch on average (ten batches a
 * second), up to BURST_EVENTS at once after quieter batches (a backlog, a
 * burst). Beyond, the newest, and a count of the others where they were
 * left out: a storm costs the page's thread no more than a busy calm.
 */
const BATCH_EVENTS = 250;
const BURST_EVENTS = 2000;
/** How often the calls in progress are asked for. */
const INFLIGHT_MS = 1000;
/** How often tallies go to the page. */
const TALLY_MS = 1000;

let token = null;
/** The page's count of filter changes: what it receives is tagged with it. */
let gen = 0;
let filters = {};
const sources = new Map();
let tokenWaiters = [];

// The next batch: items in arrival order, and how many of them are events;
// and how many events the page may be handed now.
let out = [];
let outEvents = 0;
let credit = BURST_EVENTS;

self.onmessage = ({ data: m }) => {
  switch (m.type) {
    case 'config':
      if (m.token !== undefined && m.token !== token) {
        token = m.token;
        for (const w of tokenWaiters) w();
        tokenWaiters = [];
      }
      if (m.filters) filters = m.filters;
      if (m.gen !== undefined) gen = m.gen;
      break;
    case 'open':
      forget(m.pid);
      sources.set(m.pid, new Source(m.pid, m.after));
      break;
    case 'close':
      forget(m.pid);
      break;
  }
};

/** Closes a pid's source, and drops what of it waits for the next batch. */
function forget(pid) {
  sources.get(pid)?.close();
  sources.delete(pid);
  out = out.filter((i) => i.pid !== pid);
  if (out[0]?.k === 'skip') delete out[0].per[pid];
  outEvents = out.filter((i) => i.k === 'e').length;
}

function post(msg) {
  self.postMessage(msg);
}

function push(item) {
  if (item.k === 'e') {
    out.push(item);
    outEvents++;
    // Trimmed as it goes, so a storm between two flushes costs no more.
    if (outEvents >= 2 * BURST_EVENTS) trim(BURST_EVENTS);
    return;
  }
  const last = out[out.length - 1];
  if (item.k === 'gap' && last?.k === 'gap' && last.pid === item.pid && last.reason === item.reason) {
    last.count += item.count;
    return;
  }
  out.push(item);
}

/**
 * Keeps the newest `n` events; the older ones become one `skip` item,
 * first, which also counts the gaps among them.
 */
function trim(n) {
  let drop = outEvents - n;
  if (drop <= 0) return;
  const skip = out[0]?.k === 'skip' ? out.shift() : { k: 'skip', count: 0, per: {}, lost: {} };
  const kept = [];
  for (const item of out) {
    if (drop > 0 && item.k === 'e') {
      drop--;
      skip.count++;
      skip.per[item.pid] = (skip.per[item.pid] ?? 0) + 1;
    } else if (drop > 0 && item.k === 'gap') {
      skip.lost[item.reason] = (skip.lost[item.reason] ?? 0) + item.count;
    } else {
      kept.push(item);
    }
  }
  out = [skip, ...kept];
  outEvents = n;
}

setInterval(() => {
  credit = Math.min(BURST_EVENTS, credit + BATCH_EVENTS);
  if (!out.length) return;
  trim(credit);
  credit -= outEvents;
  post({ type: 'batch', gen, items: out });
  out = [];
  outEvents = 0;
}, FLUSH_MS);

setInterval(() => {
  for (const s of sources.values()) s.postTally();
}, TALLY_MS);

function nextToken() {
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

/** A GET with the token; on a 401 the page asks for a new one and it tries again. */
async function get(path, signal, accept) {
  for (;;) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (accept) headers.Accept = accept;
    const res = await fetch(path, { headers, signal, cache: 'no-store' });
    if (res.status !== 401) return res;
    post({ type: 'auth' });
    await nextToken();
  }
}

/** The numeric part of an event id (`42`, or `42:gap` for the gap after 42). */
function seqOf(id) {
  return parseInt(String(id), 10) || 0;
}

class Source {
  constructor(pid, after) {
    this.pid = pid;
    this.cursor = String(after ?? 0);
    this.abort = new AbortController();
    this.closed = false;
    this.backoff = 0;
    /** syscall → { calls, hist }: the calls received, for the summary's histograms. */
    this.tally = new Map();
    this.tallyDirty = false;
    this.run();
  }

  close() {
    this.closed = true;
    this.abort.abort();
  }

  state(state, message = '') {
    if (this.closed) return;
    post({ type: 'state', pid: this.pid, state, message });
  }

  note(text, level = 'info') {
    push({ k: 'note', pid: this.pid, text, level });
  }

  async run() {
    while (!this.closed) {
      try {
        const again = await this.stream();
        if (again === 'stop') {
          // Until the page closes this source (or opens it again).
          await new Promise((r) => this.abort.signal.addEventListener('abort', r, { once: true }));
        }
      } catch (e) {
        if (this.closed) return;
        this.backoff = Math.min(10000, (this.backoff || 500) * 2);
        this.state('reconnecting', `${e.message ?? e}; trying again in ${this.backoff / 1000} s`);
        await sleep(this.backoff, this.abort.signal);
      }
    }
  }

  /**
   * An answer other than 200: what to do next. 'stop' waits for the page;
   * anything else tries again.
   */
  async refused(res) {
    const body = await res.json().catch(() => ({}));
    const why = body.error ?? `HTTP ${res.status}`;
    if (res.status === 404) {
      // Not watched (yet): the page offers to watch it; look again soon.
      this.state('not-watched', why);
      await sleep(2000, this.abort.signal);
      return 'again';
    }
    if (res.status === 400) {
      this.state('bad-request', why);
      return 'stop';
    }
    const wait = res.status === 503 ? (parseInt(res.headers.get('retry-after'), 10) || 5) * 1000 : 2000;
    this.state('reconnecting', `${why}; trying again in ${wait / 1000} s`);
    await sleep(wait, this.abort.signal);
    return 'again';
  }

  // ---- the live stream (Server-Sent Events) ----

  async stream() {
    const q = filterParams(filters);
    q.set('after', this.cursor);
    const res = await get(`/v1/processes/${this.pid}/events/stream?${q}`, this.abort.signal, 'text/event-stream');
    if (!res.ok) return this.refused(res);
    this.state('live');
    this.backoff = 0;
    this.ending = null;
    this.watchInFlight();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { id: null, event: 'message', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let start = 0;
      let nl;
      while ((nl = buf.indexOf('\n', start)) >= 0) {
        let line = buf.slice(start, nl);
        start = nl + 1;
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (ev.data.length) this.dispatch(ev);
          ev = { id: null, event: 'message', data: [] };
          continue;
        }
        if (line[0] === ':') continue; // a comment: keep-alive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val[0] === ' ') val = val.slice(1);
        if (field === 'data') ev.data.push(val);
        else if (field === 'id') ev.id = val;
        else if (field === 'event') ev.event = val;
      }
      buf = buf.slice(start);
    }
    const ending = this.ending;
    if (ending === 'exited') {
      this.state('exited');
      return 'stop';
    }
    if (ending === 'unwatched') {
      this.state('not-watched', `pid ${this.pid} is no longer watched`);
      await sleep(2000, this.abort.signal);
      return 'again';
    }
    if (ending === 'lagged') return 'again';
    // The connection ended without a last word, or the daemon is stopping.
    this.backoff = Math.min(10000, (this.backoff || 500) * 2);
    this.state('reconnecting', `the stream ended; trying again in ${this.backoff / 1000} s`);
    await sleep(this.backoff, this.abort.signal);
    return 'again';
  }

  dispatch(ev) {
    const data = ev.data.join('\n');
    if (ev.id !== null) this.cursor = ev.id;
    switch (ev.event) {
      case 'message':
        this.event(JSON.parse(data));
        break;
      case 'gap': {
        const g = JSON.parse(data);
        this.gap(g.count, g.reason);
        break;
      }
      case 'end': {
        const { reason } = JSON.parse(data);
        this.ending = /exited/.test(reason) ? 'exited' : 'unwatched';
        this.note(reason, this.ending === 'exited' ? 'info' : 'warn');
        break;
      }
      case 'lagged':
        this.ending = 'lagged';
        this.note(`${JSON.parse(data).reason} (reconnecting)`, 'warn');
        break;
      case 'shutdown':
        this.ending = 'shutdown';
        this.note(JSON.parse(data).reason, 'warn');
        break;
    }
  }

  /** While the stream runs: the calls in progress, from the events page. */
  async watchInFlight() {
    if (this.inflightRunning) return;
    this.inflightRunning = true;
    try {
      while (!this.closed) {
        const res = await get(`/v1/processes/${this.pid}/events?after=${seqOf(this.cursor)}&limit=1`, this.abort.signal);
        if (res.ok) {
          const page = await res.json();
          post({ type: 'inflight', pid: this.pid, calls: page.in_flight ?? [], at: Date.now() });
          if (!page.alive) break;
        }
        await sleep(INFLIGHT_MS, this.abort.signal);
      }
    } catch {
      // Closed, or the daemon is gone: the stream says so.
    } finally {
      this.inflightRunning = false;
    }
  }

  // ---- what the stream hands over ----

  event(e) {
    push({
      k: 'e',
      pid: this.pid,
      seq: e.seq,
      tid: e.tid,
      ts: e.ts,
      sc: e.syscall,
      text: e.text,
      err: e.errno ?? null,
      dur: e.duration_ns ?? null,
    });
    let t = this.tally.get(e.syscall);
    if (!t) {
      t = { calls: 0, hist: new Uint32Array(BUCKETS) };
      this.tally.set(e.syscall, t);
    }
    t.calls++;
    const d = e.duration_ns;
    if (d !== null && d !== undefined) t.hist[bucketOf(d)]++;
    this.tallyDirty = true;
  }

  /** Calls missing here: `dropped` or `throttled` by the kernel, or `evicted` from the history unread. */
  gap(count, reason) {
    if (count > 0) push({ k: 'gap', pid: this.pid, count, reason });
  }

  postTally() {
    if (!this.tallyDirty || this.closed) return;
    this.tallyDirty = false;
    const rows = [];
    for (const [syscall, t] of this.tally) rows.push({ syscall, calls: t.calls, hist: t.hist.slice() });
    post({ type: 'tally', gen, pid: this.pid, rows });
  }
}
