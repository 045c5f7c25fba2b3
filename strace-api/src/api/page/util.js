// Small helpers the page's modules share.

/** An element: el('td', {className: 'num'}, 'text', child, …). */
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** 1234567 → "1,234,567". */
export function count(n) {
  return Number(n ?? 0).toLocaleString('en-US');
}

/** A duration in ns as a person reads it: "850 ns", "12.3 µs", "4.56 ms", "1.20 s". */
export function duration(ns) {
  if (ns === null || ns === undefined) return '';
  if (ns < 1000) return `${ns} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

export function bytes(n) {
  if (n === null || n === undefined) return '?';
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** The time of day of an RFC 3339 time, to the µs: "06:40:39.123456". */
export function timeOfDay(ts) {
  return ts ? ts.slice(11, 26) : '';
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/**
 * Latency buckets, shared by the worker (which fills them) and the summary
 * (which draws them): four a power of two, from 1 ns; bucket i holds
 * durations in [2^(i/4), 2^((i+1)/4)) ns.
 */
export const BUCKETS = 4 * 40;
export function bucketOf(ns) {
  if (ns < 1) return 0;
  return Math.min(BUCKETS - 1, Math.floor(Math.log2(ns) * 4));
}
export function bucketLow(i) {
  return 2 ** (i / 4);
}

/** Writes text to the clipboard, or shows it in a dialog to copy by hand. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const dialog = $('#copy-dialog');
    $('#copy-text').value = text;
    $('#copy-close').onclick = () => dialog.close();
    dialog.showModal();
    $('#copy-text').select();
    return false;
  }
}
