// strace -c's table for a chosen process, from the daemon's summary (over
// its whole retained history, with the filters and percentiles), sortable;
// a small latency histogram per syscall from the calls this page received
// (the worker's tallies).
import { filterParams } from './api.js';
import { $, bucketLow, copyText, count, duration, el } from './util.js';

/** Histogram bars: one a power of two, from 2^FIRST ns (~1 µs) to 2^LAST ns (~1 s) and more. */
const FIRST = 10;
const LAST = 30;
const REFRESH_MS = 2000;

export class Summary {
  constructor(api) {
    this.api = api;
    this.pid = null;
    this.filters = {};
    /** pid → syscall → tally row, from the worker. */
    this.tallies = new Map();
    this.server = null;
    this.sort = { key: 'percent', dir: -1 };
    this.select = $('#sum-pid');
    this.select.addEventListener('change', () => {
      this.pid = Number(this.select.value);
      this.server = null;
      this.refresh();
    });
    for (const th of document.querySelectorAll('#sum-table th[data-sort]')) {
      th.addEventListener('click', () => {
        const key = th.dataset.sort;
        this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : key === 'syscall' ? 1 : -1 };
        this.draw();
      });
    }
    $('#sum-copy').addEventListener('click', () => this.copy());
    setInterval(() => this.visible() && this.refresh(), REFRESH_MS);
  }

  visible() {
    return !$('#summary').hidden && !document.hidden;
  }

  setChosen(pids) {
    const had = this.select.value;
    this.select.replaceChildren(...pids.map((p) => el('option', { value: String(p) }, String(p))));
    if (pids.includes(Number(had))) this.select.value = had;
    this.pid = pids.length ? Number(this.select.value) : null;
    for (const pid of this.tallies.keys()) if (!pids.includes(pid)) this.tallies.delete(pid);
    this.server = null;
    if (this.visible()) this.refresh();
  }

  setFilters(filters) {
    this.filters = filters;
    this.tallies.clear();
    this.server = null;
  }

  setTally(pid, rows) {
    this.tallies.set(pid, new Map(rows.map((r) => [r.syscall, r])));
  }

  async refresh() {
    if (this.pid === null) {
      this.draw();
      return;
    }
    try {
      const { body } = await this.api.json('GET', `/v1/processes/${this.pid}/summary?${filterParams(this.filters)}`);
      this.server = body;
      this.error = null;
    } catch (e) {
      this.server = null;
      this.error = e.message;
    }
    this.draw();
  }

  /** The table's rows, from the daemon's summary (none until it answers). */
  rows() {
    const tally = this.tallies.get(this.pid);
    const s = this.server;
    if (!s) return { rows: [], total: null };
    const row = (r) => ({
      syscall: r.syscall,
      calls: r.calls,
      errors: r.errors,
      seconds: r.time_ns / 1e9,
      percent: r.percent_time,
      usecs: r.usecs_per_call,
      p50: r.latency_ns?.p50 ?? null,
      p95: r.latency_ns?.p95 ?? null,
      p99: r.latency_ns?.p99 ?? null,
      max: r.latency_ns?.max ?? null,
      hist: tally?.get(r.syscall)?.hist ?? null,
    });
    return { rows: s.syscalls.map(row), total: { ...row(s.total), hist: null } };
  }

  draw() {
    const body = $('#sum-table tbody');
    const foot = $('#sum-table tfoot');
    const where = $('#sum-where');
    if (this.pid === null) {
      body.replaceChildren();
      foot.replaceChildren();
      where.textContent = 'Choose a process on the left.';
      return;
    }
    const { rows, total } = this.rows();
    const { key, dir } = this.sort;
    rows.sort((a, b) => {
      const x = a[key] ?? -1;
      const y = b[key] ?? -1;
      return (x < y ? -1 : x > y ? 1 : 0) * dir || a.syscall.localeCompare(b.syscall);
    });
    body.replaceChildren(...rows.map((r) => this.row(r)));
    foot.replaceChildren(...(total ? [this.row(total)] : []));
    for (const th of document.querySelectorAll('#sum-table th[data-sort]')) {
      th.ariaSort = th.dataset.sort === key ? (dir > 0 ? 'ascending' : 'descending') : 'none';
    }
    const received = [...(this.tallies.get(this.pid)?.values() ?? [])].reduce((a, t) => a + t.calls, 0);
    if (this.server) {
      const s = this.server;
      where.textContent = `pid ${this.pid}: calls ${count(s.first_seq)}–${count(s.last_seq)} of the daemon's history`
        + `${s.missed ? ` (${count(s.missed)} evicted while read)` : ''}; histograms of the ${count(received)} calls this page received.`;
    } else {
      where.textContent = this.error ? `The daemon's summary failed: ${this.error}` : 'Asking the daemon…';
    }
  }

  row(r) {
    const ms = (ns) => (ns === null ? '' : duration(ns));
    return el(
      'tr',
      { dataset: { syscall: r.syscall } },
      el('td', { className: 'num' }, r.percent.toFixed(2)),
      el('td', { className: 'num' }, r.seconds.toFixed(6)),
      el('td', { className: 'num' }, String(r.usecs)),
      el('td', { className: 'num' }, count(r.calls)),
      el('td', { className: `num${r.errors ? ' bad' : ''}` }, r.errors ? count(r.errors) : ''),
      el('td', {}, r.syscall),
      el('td', { className: 'num' }, ms(r.p50)),
      el('td', { className: 'num' }, ms(r.p95)),
      el('td', { className: 'num' }, ms(r.p99)),
      el('td', { className: 'num' }, ms(r.max)),
      el('td', { className: 'hist' }, r.hist ? histogram(r.hist) : ''),
    );
  }

  /** The table as strace -c prints it, with its percentiles: the daemon's own text. */
  async copy() {
    if (this.pid === null) return;
    const res = await this.api.fetch('GET', `/v1/processes/${this.pid}/summary?${filterParams(this.filters)}&format=text&latency=true`);
    if (res.ok) await copyText(await res.text());
  }
}

/** A row's bars: the calls in each power of two from ~1 µs to ~1 s (the ends take the rest). */
function histogram(hist) {
  const bars = new Array(LAST - FIRST + 1).fill(0);
  for (let i = 0; i < hist.length; i++) {
    if (!hist[i]) continue;
    const octave = Math.floor(i / 4);
    bars[Math.min(LAST, Math.max(FIRST, octave)) - FIRST] += hist[i];
  }
  const most = Math.max(...bars);
  const box = el('div', { className: 'bars' });
  bars.forEach((n, k) => {
    const low = bucketLow(4 * (k + FIRST));
    const label = k === 0 ? `< ${duration(Math.round(bucketLow(4 * (FIRST + 1))))}`
      : k === bars.length - 1 ? `≥ ${duration(Math.round(low))}`
      : `${duration(Math.round(low))} – ${duration(Math.round(low * 2))}`;
    const bar = el('span', { title: `${label}: ${count(n)} calls` });
    bar.style.height = n ? `${Math.max(8, Math.round((100 * n) / most))}%` : '0';
    box.append(bar);
  });
  return box;
}
