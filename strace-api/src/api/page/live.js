// The live view: calls scrolling as they arrive, taken in batches (at the
// next requestAnimationFrame; the worker's batches are bounded) into a list
// of at most MAX_ROWS that can be scrolled back through, of which only the
// rows in sight are in the DOM (a few dozen elements, reused), so a storm
// costs the page a fixed amount of memory and time. Whatever is not kept is
// said where it was left out.
import { $, copyText, count, duration, el, timeOfDay } from './util.js';

/** Rows kept to scroll back through; older ones are dropped (and counted). */
export const MAX_ROWS = 2000;
/** Every row is one line this high (px), so the rows in sight are known without layout. */
const ROW_H = 17;
/** Rows drawn beyond the edges of the view, for smooth scrolling. */
const OVERSCAN = 8;
/** Calls in progress listed at most. */
const MAX_INFLIGHT = 50;

export class Live {
  constructor() {
    this.scroller = $('#rows');
    this.spacer = $('#rows-spacer');
    this.view = $('#rows-view');
    this.toLive = $('#to-live');
    this.countsEl = $('#live-counts');
    /** What can be scrolled to, oldest first. */
    this.items = [];
    /** Row elements, reused as the view moves. */
    this.pool = [];
    this.selected = null;
    this.pending = [];
    this.pendingEvents = 0;
    this.paused = false;
    this.follow = true;
    this.scheduled = false;
    this.slowNs = 10e6;
    this._multi = false;
    this.removed = 0;
    this.totals = { received: 0, notShown: 0, dropped: 0, evicted: 0 };
    /** pid → { calls, at } */
    this.inflight = new Map();
    this.scroller.addEventListener('scroll', () => {
      this.scrolled();
      this.draw();
    }, { passive: true });
    new ResizeObserver(() => (this.follow && !this.paused ? this.toBottom() : this.draw())).observe(this.scroller);
    this.view.addEventListener('click', (e) => {
      const r = e.target.closest('[data-i]');
      if (r) this.select(this.items[Number(r.dataset.i)]);
    });
    $('#detail-close').addEventListener('click', () => this.select(null));
    this.toLive.addEventListener('click', () => {
      this.follow = true;
      this.toBottom();
      this.schedule();
    });
  }

  /** Several processes: each row says whose it is. */
  set multi(on) {
    this._multi = on;
    this.scroller.classList.toggle('multi', on);
  }

  get multi() {
    return this._multi;
  }

  /** Items from the worker: events, gaps, notes and counts of skipped events. */
  add(items) {
    for (const it of items) {
      if (it.k === 'e') {
        this.totals.received++;
        this.pending.push(it);
        this.pendingEvents++;
      } else {
        if (it.k === 'skip') {
          this.totals.received += it.count;
          this.totals.notShown += it.count;
          this.totals.dropped += (it.lost.dropped ?? 0) + (it.lost.throttled ?? 0);
          this.totals.evicted += it.lost.evicted ?? 0;
        }
        // Throttled calls are the kernel's drops too (the process was over its share).
        if (it.k === 'gap') this.totals[it.reason === 'evicted' ? 'evicted' : 'dropped'] += it.count;
        this.pending.push(it);
      }
    }
    // Bounded however long the screen is held: the newest MAX_ROWS wait.
    if (this.pendingEvents > MAX_ROWS) this.pending = this.keepNewest(this.pending, MAX_ROWS);
    this.schedule();
  }

  /**
   * Keeps the newest `n` events of `items`; the older ones become one count
   * where they were, which also counts the gaps among them (so nothing
   * waiting grows without bound).
   */
  keepNewest(items, n) {
    let drop = this.pendingEvents - n;
    if (drop <= 0) return items;
    const why = this.held() ? 'paused' : 'fast';
    const skip = { k: 'skip', why, count: 0, per: {}, lost: {}, mine: true };
    const kept = [skip];
    let newly = 0;
    const add = (to, from) => {
      for (const [k, c] of Object.entries(from)) to[k] = (to[k] ?? 0) + c;
    };
    for (const it of items) {
      if (drop > 0 && it.k === 'e') {
        drop--;
        newly++;
        skip.count++;
        add(skip.per, { [it.pid]: 1 });
      } else if (drop > 0 && it.k === 'gap') {
        add(skip.lost, { [it.reason]: it.count });
      } else if (drop > 0 && it.k === 'skip' && (it.mine ? it.why === why : why === 'fast')) {
        // An earlier count among those left out: one count.
        skip.count += it.count;
        add(skip.per, it.per);
        add(skip.lost, it.lost);
      } else {
        kept.push(it);
      }
    }
    this.totals.notShown += newly;
    this.pendingEvents = n;
    return kept;
  }

  held() {
    return this.paused || !this.follow;
  }

  /** Takes what waits at the next frame (source.js's batches come ten times a second). */
  schedule() {
    if (this.scheduled || this.held()) return;
    this.scheduled = true;
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    this.scheduled = false;
    if (this.held()) return;
    const items = this.pending;
    this.pending = [];
    this.pendingEvents = 0;
    if (items.length) {
      this.items.push(...items);
      const excess = this.items.length - MAX_ROWS;
      if (excess > 0) {
        this.items.splice(0, excess);
        this.removed += excess;
      }
      this.spacer.style.height = `${this.items.length * ROW_H}px`;
      this.scroller.dataset.kept = String(this.items.length);
      $('#rows-empty').hidden = true;
      this.toBottom();
    }
    this.drawCounts();
  }

  toBottom() {
    this.scroller.scrollTop = this.items.length * ROW_H;
    this.lastTop = this.scroller.scrollTop;
    this.draw();
  }

  /** Fills the rows in sight (and a few beyond) from `items`. */
  draw() {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const end = Math.min(this.items.length, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    this.view.style.transform = `translateY(${first * ROW_H}px)`;
    while (this.pool.length < end - first) {
      const r = el('div', {}, el('span', { className: 'ts' }), el('span', { className: 'pid' }),
        el('span', { className: 'tid' }), el('span', { className: 'text' }), el('span', { className: 'dur' }));
      this.pool.push(r);
      this.view.append(r);
    }
    this.pool.forEach((r, k) => {
      const i = first + k;
      r.hidden = i >= end;
      if (!r.hidden) this.fill(r, this.items[i], i);
    });
  }

  /** One row: a call, or a mark saying what is missing there. */
  fill(r, it, i) {
    const [ts, pid, tid, text, dur] = r.children;
    r.dataset.i = String(i);
    const selected = it === this.selected ? ' selected' : '';
    if (it.k === 'e') {
      const slow = it.dur !== null && it.dur >= this.slowNs;
      r.className = `row${it.err ? ' fail' : ''}${slow ? ' slow' : ''}${selected}`;
      ts.textContent = timeOfDay(it.ts);
      pid.textContent = it.pid;
      tid.textContent = it.tid;
      text.textContent = it.text;
      dur.textContent = duration(it.dur);
    } else {
      r.className = `mark ${it.k}${it.reason ? ` ${it.reason}` : ''}${it.level ? ` ${it.level}` : ''}${selected}`;
      ts.textContent = pid.textContent = tid.textContent = dur.textContent = '';
      text.textContent = Live.markText(it);
    }
  }

  /** Shows a row whole (and what else is known of it) below the list; `null` closes it. */
  select(it) {
    this.selected = it ?? null;
    const box = $('#row-detail');
    box.hidden = !it;
    if (it) {
      $('#detail-text').textContent = it.k === 'e' ? it.text : Live.markText(it);
      $('#detail-meta').textContent = it.k === 'e'
        ? `pid ${it.pid} · thread ${it.tid} · call #${it.seq} · ${it.ts}${it.dur !== null ? ` · took ${duration(it.dur)}` : ''}${it.err ? ` · ${it.err}` : ''}`
        : '';
    }
    this.draw();
  }

  /** What a mark says. */
  static markText(it) {
    switch (it.k) {
      case 'gap': {
        const what = {
          dropped: 'dropped by the kernel here (its ring buffer was full)',
          throttled: 'throttled by the kernel here (over its share of a nearly full ring buffer)',
        }[it.reason] ?? 'left the daemon\'s history before this page read them';
        return `⋯ ${count(it.count)} calls of pid ${it.pid} ${what} ⋯`;
      }
      case 'skip': {
        const pids = Object.keys(it.per);
        const whose = pids.length > 1 ? ` (${pids.map((p) => `pid ${p}: ${count(it.per[p])}`).join(', ')})` : '';
        const why = it.why === 'paused'
          ? 'arrived while the view was held, beyond what it keeps'
          : 'arrived faster than the screen shows them; the summary counts them';
        const lost = [];
        if (it.lost.dropped) lost.push(`${count(it.lost.dropped)} more dropped by the kernel`);
        if (it.lost.throttled) lost.push(`${count(it.lost.throttled)} more throttled by the kernel`);
        if (it.lost.evicted) lost.push(`${count(it.lost.evicted)} more evicted before the page read them`);
        const also = lost.length ? `; among them, ${lost.join(' and ')}` : '';
        return `⋯ ${count(it.count)} calls not shown here${whose}: they ${why}${also} ⋯`;
      }
      default:
        return `— pid ${it.pid}: ${it.text} —`;
    }
  }

  /**
   * Scrolling up holds the view (as Pause does) until it is back at the
   * bottom. Only a move up leaves the live view: the list's box changing
   * size (the calls in progress above it come and go) does not.
   */
  scrolled() {
    const r = this.scroller;
    const atBottom = r.scrollTop + r.clientHeight >= r.scrollHeight - 4;
    const up = r.scrollTop < (this.lastTop ?? 0) - 4;
    this.lastTop = r.scrollTop;
    const follow = this.follow ? !up || atBottom : atBottom;
    if (follow === this.follow) return;
    this.follow = follow;
    this.toLive.hidden = follow || this.paused;
    if (follow) this.schedule();
    this.drawCounts();
  }

  setPaused(paused) {
    this.paused = paused;
    this.toLive.hidden = true;
    if (!paused) {
      this.follow = true;
      this.toBottom();
      this.schedule();
    }
    this.drawCounts();
  }

  setSlow(ms) {
    this.slowNs = ms * 1e6;
    this.draw();
  }

  clear() {
    this.items = [];
    this.pending = [];
    this.pendingEvents = 0;
    this.removed = 0;
    this.totals = { received: 0, notShown: 0, dropped: 0, evicted: 0 };
    this.spacer.style.height = '0';
    this.scroller.dataset.kept = '0';
    this.select(null);
    $('#rows-empty').hidden = false;
    this.drawCounts();
  }

  drawCounts() {
    const t = this.totals;
    const parts = [
      `${count(t.received)} received`,
      `${count(this.items.length)} kept (at most ${count(MAX_ROWS)})`,
    ];
    if (this.removed) parts.push(`${count(this.removed)} older rows dropped`);
    if (t.notShown) parts.push(`${count(t.notShown)} not shown`);
    if (t.dropped) parts.push(`${count(t.dropped)} dropped by the kernel`);
    if (t.evicted) parts.push(`${count(t.evicted)} evicted unread`);
    if (this.held()) parts.push(`${count(this.pendingEvents)} waiting`);
    this.countsEl.textContent = parts.join(' · ');
    this.countsEl.dataset.received = String(t.received);
    this.toLive.textContent = `↓ back to live (${count(this.pendingEvents)} new)`;
  }

  /** The rows kept, as text for a ticket: strace -f's lines with the time and duration. */
  text() {
    const lines = this.items.map((it) => {
      if (it.k !== 'e') return Live.markText(it);
      const who = this.multi ? `[pid ${it.pid} tid ${it.tid}]` : `[tid ${it.tid}]`;
      const took = it.dur === null ? '' : ` <${(it.dur / 1e9).toFixed(6)}>`;
      return `${timeOfDay(it.ts)} ${who} ${it.text}${took}`;
    });
    return `${lines.join('\n')}\n`;
  }

  copy() {
    return copyText(this.text());
  }

  // ---- calls in progress, pinned on top ----

  setInflight(pid, calls, at) {
    this.inflight.set(pid, { calls, at });
    this.drawInflight();
  }

  forget(pid) {
    this.inflight.delete(pid);
    this.drawInflight();
  }

  drawInflight() {
    const box = $('#inflight');
    const all = [];
    for (const [pid, { calls, at }] of this.inflight) {
      // As last read (the readings come every second or faster): a call
      // that ended since is not stretched on.
      for (const c of calls) all.push({ pid, ...c, elapsed: c.elapsed_ns ?? null, at });
    }
    all.sort((a, b) => (b.elapsed ?? Infinity) - (a.elapsed ?? Infinity));
    // Shown while a process is followed, so the list below does not jump.
    box.hidden = this.inflight.size === 0;
    const list = box.querySelector('.list');
    const shown = all.slice(0, MAX_INFLIGHT).map((c) => {
      const slow = c.elapsed === null || c.elapsed >= this.slowNs;
      return el(
        'div',
        { className: `row${slow ? ' slow' : ''}` },
        this.multi ? el('span', { className: 'pid' }, String(c.pid)) : '',
        el('span', { className: 'tid' }, String(c.tid)),
        el('span', { className: 'text' }, c.text),
        el('span', { className: 'dur', title: `${c.since ? `since ${c.since}` : 'since before the watch began'}, as read at ${new Date(c.at).toLocaleTimeString()}` },
          c.elapsed === null ? 'since before the watch' : `for ${duration(Math.round(c.elapsed))}`),
      );
    });
    if (all.length > MAX_INFLIGHT) shown.push(el('div', { className: 'muted' }, `and ${all.length - MAX_INFLIGHT} more`));
    if (!all.length) shown.push(el('div', { className: 'row muted' }, el('span', { className: 'text' }, 'none right now')));
    list.replaceChildren(...shown);
  }
}
