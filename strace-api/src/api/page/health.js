// The daemon's own health (GET /healthz, which needs no token): its hooks,
// how full its ring buffer came, what the kernel could not hand over, and
// what its eBPF programs cost per run.
import { $, bytes, count, duration, el } from './util.js';

const REFRESH_MS = 2000;

export class Health {
  constructor() {
    this.last = null;
    this.refresh();
    setInterval(() => !document.hidden && this.refresh(), REFRESH_MS);
  }

  async refresh() {
    try {
      const res = await fetch('/healthz', { cache: 'no-store' });
      this.last = await res.json();
      this.error = null;
    } catch (e) {
      this.error = `the daemon does not answer: ${e.message}`;
    }
    this.draw();
  }

  draw() {
    const h = this.last;
    const chip = (id, text, state, title) => {
      const c = $(id);
      c.textContent = text;
      c.dataset.state = state;
      if (title) c.title = title;
    };
    if (this.error || !h) {
      chip('#chip-hooks', 'daemon unreachable', 'bad', this.error);
      return;
    }
    const k = h.kernel ?? {};
    const drops = (k.ring_full ?? 0) + (k.threads_full ?? 0);
    const fill = h.ring?.peak_used_bytes === null || h.ring?.peak_used_bytes === undefined
      ? null : h.ring.peak_used_bytes / h.ring.size_bytes;
    chip('#chip-hooks', h.hooks_attached ? 'hooks attached' : 'hooks detached', h.hooks_attached ? 'ok' : 'idle',
      h.hooks_attached ? 'The syscall hooks are attached' : 'Nothing is watched: the syscall hooks are detached');
    chip('#chip-ring', fill === null ? 'ring ?' : `ring peak ${(100 * fill).toFixed(fill < 0.1 ? 1 : 0)}%`,
      fill === null ? 'idle' : fill > 0.8 ? 'bad' : fill > 0.5 ? 'warn' : 'ok');
    chip('#chip-drops', `${count(drops)} dropped`, drops ? 'bad' : 'ok');

    const grid = $('#health-grid');
    const item = (name, value, bad = false, title = '') =>
      el('div', { className: `item${bad ? ' bad' : ''}`, title }, el('div', { className: 'name' }, name), el('div', { className: 'value' }, value));
    const items = [
      item('status', h.status),
      item('syscall hooks', h.hooks_attached ? 'attached' : 'detached (nothing watched)'),
      item('watched', `${count(h.watched)} alive, ${count(h.exited)} exited kept`),
      item('history memory', bytes(h.memory_bytes)),
      item('ring buffer', h.ring ? `${bytes(h.ring.size_bytes)}, peak ${fill === null ? '?' : `${bytes(h.ring.peak_used_bytes)} (${(100 * fill).toFixed(1)}%)`}` : '?',
        fill !== null && fill > 0.8, 'The most it has held since start: near 100% says to raise --ring-bytes'),
      item('kernel: ring full', count(k.ring_full), !!k.ring_full, 'Records lost: the ring buffer was full'),
      item('kernel: thread table full', count(k.threads_full), !!k.threads_full),
      item('kernel: watch table full', count(k.watched_full), !!k.watched_full),
      item('argument copies lost', count(k.aux_lost), !!k.aux_lost),
      item('late, malformed', `${count(h.late)}, ${count(h.malformed)}`, !!h.malformed),
    ];
    if (k.loss_unplaced !== undefined) items.push(item('losses not placed', count(k.loss_unplaced), !!k.loss_unplaced));
    if (h.connections) items.push(item('connections', `${count(h.connections.open)} open of ${count(h.connections.max)}`));
    if (h.streams) items.push(item('streams', `${count(h.streams.open)} open of ${count(h.streams.max)}; ${count(h.streams.lagged)} cut off as too slow`));
    grid.replaceChildren(...items);

    const programs = h.programs ?? [];
    $('#prog-table tbody').replaceChildren(...programs.map((p) => el(
      'tr',
      {},
      el('td', {}, p.name),
      el('td', { className: 'num' }, String(p.id)),
      el('td', { className: 'num' }, count(p.run_count)),
      el('td', { className: 'num' }, p.run_count ? duration(p.run_time_ns) : ''),
      el('td', { className: 'num' }, p.run_count ? duration(Math.round(p.run_time_ns / p.run_count)) : ''),
    )));
    const measured = programs.some((p) => p.run_count > 0);
    $('#prog-note').textContent = measured
      ? 'Time the kernel spent in each program, and per run: the cost of tracing each call.'
      : 'Run counts and times are 0 unless the host runs with kernel.bpf_stats_enabled=1 (sysctl), which measures them.';
  }
}
