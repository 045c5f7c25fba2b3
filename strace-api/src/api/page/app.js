// The page: the process list on the left; the chosen processes' calls live,
// their summary, and the daemon's health on the right. Events are read by a
// worker (source.js); this module wires the parts together.
import { Api } from './api.js';
import { Health } from './health.js';
import { Live } from './live.js';
import { Processes } from './processes.js';
import { Summary } from './summary.js';
import { $, count, el } from './util.js';

/** How often the process list is read again (while the tab is visible). */
const PROCS_MS = 3000;
/**
 * Calls of history shown when a process is opened, before the live ones:
 * no more than one batch of the worker's holds, so none is left out.
 */
const BACKLOG = 200;

const api = new Api();
const worker = new Worker('/ui/source.js', { type: 'module' });
const live = new Live();
const summary = new Summary(api);
new Health();
/** pid → the worker's last word on its source ({ state, mode, message }). */
const states = new Map();
let filters = {};
/** Filter changes so far: batches and tallies of earlier filters are dropped. */
let gen = 0;
const procs = new Processes({ onChoose: choose, onWatch: watch });

api.onToken.push((token) => {
  worker.postMessage({ type: 'config', token });
  drawToken();
});

worker.onmessage = ({ data: m }) => {
  switch (m.type) {
    case 'batch':
      if (m.gen === gen) live.add(m.items);
      break;
    case 'inflight':
      if (procs.chosen.has(m.pid)) live.setInflight(m.pid, m.calls, m.at);
      break;
    case 'tally':
      if (m.gen === gen && procs.chosen.has(m.pid)) summary.setTally(m.pid, m.rows);
      break;
    case 'state':
      states.set(m.pid, m);
      if (m.state !== 'live') live.forget(m.pid);
      if (m.state === 'bad-request') $('#f-error').textContent = m.message;
      drawChosen();
      break;
    case 'auth':
      api.askToken(api.token ? 'That token was refused: the daemon answered 401.' : 'This daemon needs a bearer token.');
      break;
  }
};

function banner(text) {
  const b = $('#banner');
  b.textContent = text ?? '';
  b.hidden = !text;
}

// ---- choosing processes and watching them ----

/** Where a source starts: BACKLOG calls before the newest the list knows of. */
function startOf(pid) {
  const w = procs.get(pid)?.watch;
  if (!w) return 0;
  return Math.max(0, w.last_seq - Math.min(BACKLOG, w.retained));
}

function choose(pid, chosen) {
  if (chosen) {
    worker.postMessage({ type: 'open', pid, after: startOf(pid) });
  } else {
    worker.postMessage({ type: 'close', pid });
    live.forget(pid);
    states.delete(pid);
  }
  const pids = [...procs.chosen];
  live.multi = pids.length > 1;
  summary.setChosen(pids);
  history.replaceState(null, '', pids.length ? `#pid=${pids.join(',')}` : '#');
  drawChosen();
}

async function watch(pid, start) {
  try {
    if (start) await api.watch(pid, { fdPaths: $('#fd-paths').checked });
    else await api.unwatch(pid);
    banner(null);
    if (start && !procs.chosen.has(pid)) procs.toggle(pid, true);
  } catch (e) {
    banner(`${start ? 'Watching' : 'Unwatching'} ${pid}: ${e.message}`);
  }
  procs.canOperate = api.scope !== 'read';
  drawToken();
  await refreshProcs();
}

function drawChosen() {
  const box = $('#chosen');
  const chips = [...procs.chosen].map((pid) => {
    const p = procs.get(pid);
    const s = states.get(pid);
    const name = p ? (p.comm ?? p.watch?.comm ?? '') : '';
    const state = s?.state ?? 'opening';
    const chip = el('span', { className: `chosen-chip ${state}`, dataset: { pid: String(pid), state } },
      `${pid} ${name} · ${state === 'not-watched' ? 'not watched' : state}`);
    if (s?.message) chip.title = s.message;
    if (state === 'not-watched' && p?.alive) {
      const b = el('button', { type: 'button', className: 'watch', disabled: api.scope === 'read' }, 'watch');
      b.addEventListener('click', () => watch(pid, true));
      chip.append(b);
    }
    const x = el('button', { type: 'button', className: 'close', title: `stop following ${pid}`, ariaLabel: `stop following ${pid}` }, '✕');
    x.addEventListener('click', () => procs.toggle(pid, false));
    chip.append(x);
    return chip;
  });
  box.replaceChildren(...chips);
  $('#rows-empty').textContent = procs.chosen.size
    ? 'Waiting for calls…'
    : 'Choose a process on the left: its calls scroll here as they happen.';
}

function drawToken() {
  const c = $('#chip-token');
  c.hidden = !api.token;
  c.textContent = api.scope === 'read' ? 'read-only token' : 'token';
  c.dataset.state = api.scope === 'read' ? 'warn' : 'ok';
  c.title = 'Kept for this tab only. Click to forget it.';
}

$('#chip-token').addEventListener('click', () => {
  sessionStorage.clear();
  location.reload();
});

// ---- the process list ----

let refreshing = null;
async function refreshProcs() {
  refreshing ??= (async () => {
    try {
      procs.set(await api.processes());
      procs.canOperate = api.scope !== 'read';
      banner(null);
    } catch (e) {
      banner(`Listing the processes: ${e.message}`);
    } finally {
      refreshing = null;
    }
    drawChosen();
  })();
  return refreshing;
}

// ---- filters, pause, copy ----

function readFilters() {
  const classes = [...document.querySelectorAll('#f-classes input:checked')].map((c) => c.value);
  return {
    syscall: $('#f-syscall').value.trim(),
    classes,
    failed: $('#f-failed').checked,
    minUs: Math.max(0, parseInt($('#f-min').value, 10) || 0),
    tid: $('#f-tid').value.replace(/\s+/g, ''),
  };
}

function applyFilters() {
  filters = readFilters();
  $('#f-error').textContent = '';
  gen++;
  worker.postMessage({ type: 'config', filters, gen });
  summary.setFilters(filters);
  live.clear();
  for (const pid of procs.chosen) worker.postMessage({ type: 'open', pid, after: startOf(pid) });
  document.body.dataset.filters = JSON.stringify(filters);
}

$('#filters').addEventListener('submit', (e) => {
  e.preventDefault();
  applyFilters();
});
// A checkbox applies at once; text fields on Enter (or Apply).
for (const c of document.querySelectorAll('#filters input[type=checkbox]')) c.addEventListener('change', applyFilters);

$('#pause').addEventListener('click', () => {
  const paused = !live.paused;
  live.setPaused(paused);
  $('#pause').textContent = paused ? 'Resume' : 'Pause';
  $('#pause').ariaPressed = String(paused);
});
$('#copy').addEventListener('click', async () => {
  const ok = await live.copy();
  $('#copy').textContent = ok ? 'Copied' : 'Copy as text';
  setTimeout(() => { $('#copy').textContent = 'Copy as text'; }, 1500);
});
$('#clear').addEventListener('click', () => live.clear());
$('#slow-ms').addEventListener('change', (e) => live.setSlow(Math.max(0, Number(e.target.value) || 0)));

// ---- tabs ----

for (const tab of document.querySelectorAll('[role=tab]')) {
  tab.addEventListener('click', () => {
    for (const t of document.querySelectorAll('[role=tab]')) {
      const on = t === tab;
      t.ariaSelected = String(on);
      $(`#${t.getAttribute('aria-controls')}`).hidden = !on;
    }
    if (tab.id === 'tab-summary') summary.refresh();
  });
}

// ---- the rate of calls received ----

let lastReceived = 0;
setInterval(() => {
  const now = live.totals.received;
  const rate = Math.max(0, now - lastReceived);
  lastReceived = now;
  $('#chip-rate').textContent = `${count(rate)} calls/s`;
  $('#chip-rate').dataset.rate = String(rate);
}, 1000);

// ---- start ----

async function start() {
  worker.postMessage({ type: 'config', token: api.token, filters });
  drawToken();
  await refreshProcs();
  const wanted = /pid=([\d,]+)/.exec(location.hash)?.[1]?.split(',').map(Number).filter((p) => p > 0) ?? [];
  for (const pid of wanted) procs.toggle(pid, true);
  setInterval(() => !document.hidden && refreshProcs(), PROCS_MS);
  document.body.dataset.ready = 'true';
}

start();
