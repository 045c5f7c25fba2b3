// The processes of the daemon's PID namespace as ps shows them, refreshed:
// choose one or several to follow, start and stop their watches.
import { $, count, el } from './util.js';

/** Rows drawn at most (the filter box narrows the rest down). */
const MAX_SHOWN = 400;

export class Processes {
  /**
   * `onChoose(pid, chosen)` when a row is picked or let go; `onWatch(pid,
   * watch)` when its watch button is pressed.
   */
  constructor({ onChoose, onWatch }) {
    this.onChoose = onChoose;
    this.onWatch = onWatch;
    this.list = [];
    this.byPid = new Map();
    this.chosen = new Set();
    this.rows = new Map();
    this.sort = { key: 'pid', dir: 1 };
    this.canOperate = true;
    this.body = $('#proc-table tbody');
    this.filterEl = $('#proc-filter');
    this.watchedOnly = $('#proc-watched');
    this.filterEl.addEventListener('input', () => this.draw());
    this.watchedOnly.addEventListener('change', () => this.draw());
    for (const th of document.querySelectorAll('#proc-table th[data-sort]')) {
      th.addEventListener('click', () => {
        const key = th.dataset.sort;
        this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : key === 'pid' || key === 'command' || key === 'user' ? 1 : -1 };
        this.draw();
      });
    }
    this.body.addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (!tr) return;
      const pid = Number(tr.dataset.pid);
      const button = e.target.closest('button');
      if (button) {
        this.onWatch(pid, button.dataset.action === 'watch');
        return;
      }
      this.toggle(pid);
    });
  }

  toggle(pid, chosen = !this.chosen.has(pid)) {
    if (chosen) this.chosen.add(pid);
    else this.chosen.delete(pid);
    this.onChoose(pid, chosen);
    this.draw();
  }

  set(list) {
    this.list = list;
    this.byPid = new Map(list.map((p) => [p.pid, p]));
    this.draw();
  }

  get(pid) {
    return this.byPid.get(pid);
  }

  static command(p) {
    const cmdline = p.cmdline ?? p.watch?.cmdline;
    if (cmdline?.length) return cmdline.join(' ');
    const comm = p.comm ?? p.watch?.comm;
    return comm ? `[${comm}]` : '?';
  }

  key(p, k) {
    switch (k) {
      case 'command': return Processes.command(p);
      case 'user': return p.user ?? String(p.uid ?? '');
      case 'state': return p.alive ? p.state ?? '' : 'X';
      case 'threads': return p.threads ?? 0;
      case 'dropped': return p.watch?.dropped ?? -1;
      default: return p.pid;
    }
  }

  visible() {
    const words = this.filterEl.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const watchedOnly = this.watchedOnly.checked;
    const shown = this.list.filter((p) => {
      if (this.chosen.has(p.pid)) return true;
      if (watchedOnly && !p.watch) return false;
      if (!words.length) return true;
      const hay = `${p.pid} ${Processes.command(p)} ${p.user ?? ''} ${p.comm ?? ''}`.toLowerCase();
      return words.every((w) => hay.includes(w));
    });
    const { key, dir } = this.sort;
    shown.sort((a, b) => {
      const x = this.key(a, key);
      const y = this.key(b, key);
      return (x < y ? -1 : x > y ? 1 : 0) * dir || a.pid - b.pid;
    });
    return shown;
  }

  draw() {
    const shown = this.visible();
    const rows = [];
    for (const p of shown.slice(0, MAX_SHOWN)) rows.push(this.row(p));
    // Rows are kept by pid and updated in place (and moved only when the
    // order changed), so a click is never lost to a refresh.
    const same = rows.length === this.body.children.length && rows.every((r, i) => this.body.children[i] === r);
    if (!same) this.body.replaceChildren(...rows);
    for (const pid of this.rows.keys()) if (!this.byPid.has(pid)) this.rows.delete(pid);
    for (const th of document.querySelectorAll('#proc-table th[data-sort]')) {
      th.ariaSort = th.dataset.sort === this.sort.key ? (this.sort.dir > 0 ? 'ascending' : 'descending') : 'none';
    }
    const more = shown.length > MAX_SHOWN ? ` (${count(shown.length - MAX_SHOWN)} more: narrow the filter)` : '';
    const watched = this.list.filter((p) => p.watched).length;
    $('#proc-foot').textContent = `${count(this.list.length)} processes, ${count(watched)} watched; showing ${count(Math.min(shown.length, MAX_SHOWN))}${more}`;
  }

  row(p) {
    let tr = this.rows.get(p.pid);
    if (!tr) {
      tr = el('tr', { dataset: { pid: String(p.pid) } });
      for (let i = 0; i < 8; i++) tr.append(el('td'));
      const [pick, pid, , , thr, cmd, drops, act] = tr.children;
      pick.className = 'pick';
      pick.append(el('input', { type: 'checkbox', tabIndex: -1, ariaLabel: `follow ${p.pid}` }));
      for (const td of [pid, thr, drops]) td.className = 'num';
      cmd.className = 'cmd';
      act.className = 'act';
      act.append(el('button', { type: 'button' }));
      this.rows.set(p.pid, tr);
    }
    const [pick, pid, user, state, thr, cmd, drops, act] = tr.children;
    const chosen = this.chosen.has(p.pid);
    tr.className = `${chosen ? 'chosen' : ''}${p.alive ? '' : ' exited'}${p.watched ? ' watched' : ''}`;
    pick.firstChild.checked = chosen;
    pid.textContent = p.pid;
    user.textContent = p.user ?? p.uid ?? '';
    state.textContent = p.alive ? p.state ?? '' : 'exited';
    thr.textContent = p.threads ?? '';
    const command = Processes.command(p);
    cmd.textContent = command;
    cmd.title = p.watch ? `${command}\n${count(p.watch.seen)} calls recorded since the watch began` : command;
    drops.textContent = p.watch?.dropped ? count(p.watch.dropped) : '';
    drops.classList.toggle('bad', !!p.watch?.dropped);
    drops.title = p.watch?.dropped ? Processes.why(p.watch) : '';
    const button = act.firstChild;
    const action = p.watched ? 'stop' : 'watch';
    button.dataset.action = action;
    button.textContent = action;
    button.hidden = !p.alive;
    button.disabled = !this.canOperate;
    button.title = !this.canOperate
      ? 'this token may only read: watches need the operator\'s token'
      : p.watched ? `stop watching ${p.pid} (its history is freed)` : `watch ${p.pid} and the processes it forks`;
    return tr;
  }

  /** Why a process's calls were dropped, as the kernel counted them. */
  static why(w) {
    const parts = [];
    if (w.throttled) parts.push(`${count(w.throttled)} throttled (over its share of a nearly full ring buffer)`);
    if (w.thread_share) parts.push(`${count(w.thread_share)} of threads beyond its share of the thread table`);
    const rest = w.dropped - (w.throttled ?? 0) - (w.thread_share ?? 0);
    if (rest > 0) parts.push(`${count(rest)} because the ring buffer or the thread table was full`);
    return `${count(w.dropped)} calls dropped by the kernel: ${parts.join('; ')}`;
  }
}
