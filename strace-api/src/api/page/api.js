// The daemon's API as the page uses it: every request carries the bearer
// token (asked for once, kept in this tab's sessionStorage). The page and
// the daemon ship in one binary: this is the API of the daemon serving it.
import { $ } from './util.js';

const TOKEN_KEY = 'strace-api.token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Api {
  constructor() {
    this.token = sessionStorage.getItem(TOKEN_KEY);
    /** 'operate', 'read' (a 403 said so), or null (not known yet). */
    this.scope = null;
    /** One token prompt at a time, however many requests got a 401. */
    this.asking = null;
    this.onToken = [];
  }

  headers(extra = {}) {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra;
  }

  /** A fetch with the token; a 401 asks for a (new) token and tries again. */
  async fetch(method, path, { signal, accept } = {}) {
    for (;;) {
      const headers = this.headers(accept ? { Accept: accept } : {});
      const res = await fetch(path, { method, headers, signal, cache: 'no-store' });
      if (res.status !== 401) return res;
      await this.askToken(this.token ? 'That token was refused: the daemon answered 401.' : 'This daemon needs a bearer token.');
    }
  }

  /** The JSON of a request; an error answer throws its `error` sentence. */
  async json(method, path, opts) {
    const res = await this.fetch(method, path, opts);
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      if (res.status === 403) this.scope = 'read';
      throw new ApiError(res.status, body?.error ?? `${method} ${path}: ${res.status}`);
    }
    return { body, res };
  }

  /** Shows the token dialog (once for all waiting requests). */
  askToken(why) {
    if (!this.asking) {
      this.asking = new Promise((resolve) => {
        const dialog = $('#token-dialog');
        const input = $('#token-input');
        $('#token-why').textContent = why;
        input.value = '';
        const done = (e) => {
          e.preventDefault();
          const token = input.value.trim();
          if (!token) return;
          $('#token-form').removeEventListener('submit', done);
          dialog.close();
          this.setToken(token);
          this.asking = null;
          resolve();
        };
        $('#token-form').addEventListener('submit', done);
        // Escape would close it with no token: ask again.
        dialog.addEventListener('cancel', (e) => e.preventDefault(), { once: true });
        dialog.showModal();
        input.focus();
      });
    }
    return this.asking;
  }

  setToken(token) {
    this.token = token;
    this.scope = null;
    sessionStorage.setItem(TOKEN_KEY, token);
    for (const f of this.onToken) f(token);
  }

  /** Every process, page after page (`Link: rel="next"`), at most `max`. */
  async processes(max = 10000) {
    const all = [];
    let path = '/v1/processes?limit=1000';
    while (path && all.length < max) {
      const { body, res } = await this.json('GET', path);
      all.push(...body);
      const next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '');
      path = next ? next[1] : null;
    }
    return all;
  }

  /** Watches `pid`; with `fdPaths`, its fds with their paths (else as the daemon's default). */
  watch(pid, { fdPaths = false } = {}) {
    const q = fdPaths ? '?fd_paths=true' : '';
    return this.json('PUT', `/v1/watch/${pid}${q}`).then((r) => { this.scope = 'operate'; return r; });
  }

  unwatch(pid) {
    return this.json('DELETE', `/v1/watch/${pid}`).then((r) => { this.scope = 'operate'; return r; });
  }
}

/** The filters as query parameters (the API's names). */
export function filterParams(f) {
  const q = new URLSearchParams();
  if (f.syscall) q.set('syscall', f.syscall);
  if (f.classes?.length) q.set('class', f.classes.map((c) => `%${c}`).join(','));
  if (f.failed) q.set('failed', 'true');
  if (f.minUs) q.set('min_duration_us', String(f.minUs));
  if (f.tid) q.set('tid', f.tid);
  return q;
}
