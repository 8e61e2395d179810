// HTTP client for the local deepsentry daemon (the contract in the daemon's /v1/openapi.json).
// Only the service worker uses it: it alone holds the token.

const STATES = globalThis.DeepsentryMessages.STATES;

/** An error with the badge state it maps to: daemon-offline, unpaired or error. */
export class DaemonError extends Error {
  constructor(message, { state = STATES.ERROR, code = 'error', status = 0 } = {}) {
    super(message);
    this.name = 'DaemonError';
    this.state = state;
    this.code = code;
    this.status = status;
  }
}

const JOB_TIMEOUT_MS = 10 * 60 * 1000;

export class DaemonClient {
  /** @param {{daemonUrl: string, token: string}} settings */
  constructor({ daemonUrl, token }) {
    this.base = String(daemonUrl || '').replace(/\/+$/, '');
    this.token = token || '';
  }

  async request(path, { method = 'GET', body, auth = true, timeoutMs = 30000, signal } = {}) {
    if (auth && !this.token) {
      throw new DaemonError('Not paired with the deepsentry daemon: add a token in the options', { state: STATES.UNPAIRED, code: 'no_token' });
    }
    const headers = {};
    if (auth) headers.Authorization = `Bearer ${this.token}`;
    let payload = body;
    if (body && !(body instanceof FormData)) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    let resp;
    try {
      resp = await fetch(this.base + path, {
        method, headers, body: payload, credentials: 'omit', cache: 'no-store',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new DaemonError(`No deepsentry daemon answers at ${this.base}. Start it with \`deepsentry serve\`; if it runs on `
        + 'another port, `deepsentry pair` prints its address: put that in the daemon URL', { state: STATES.DAEMON_OFFLINE, code: 'offline' });
    }
    return resp;
  }

  async json(path, opts) {
    const resp = await this.request(path, opts);
    let data = null;
    try { data = await resp.json(); } catch { /* empty or non-JSON body */ }
    if (!resp.ok) throw errorFromResponse(resp.status, data);
    return data;
  }

  health() { return this.json('/v1/health', { auth: false, timeoutMs: 3000 }); }
  info() { return this.json('/v1/info', { timeoutMs: 5000 }); }
  pair(code) { return this.json('/v1/pair', { method: 'POST', body: { code }, auth: false, timeoutMs: 5000 }); }

  /** Start an analysis; body is FormData (file upload) or {url} / {frames, ...}. Returns the job. */
  analyze(body, query = {}) {
    const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v).map(([k]) => [k, '1'])).toString();
    return this.json('/v1/analyze' + (qs ? `?${qs}` : ''), { method: 'POST', body, timeoutMs: 120000 });
  }

  /** A shareable report of a result: {name, mime, base64} of the HTML or PDF file the daemon writes. */
  async report(body, format = 'html') {
    const resp = await this.request(`/v1/report?format=${format}`, { method: 'POST', body, timeoutMs: 60000 });
    if (!resp.ok) {
      let data = null;
      try { data = await resp.json(); } catch { /* not JSON */ }
      throw errorFromResponse(resp.status, data);
    }
    const bytes = new Uint8Array(await resp.arrayBuffer());
    const name = /filename="([^"]+)"/.exec(resp.headers.get('content-disposition') || '')?.[1] || `deepsentry-report.${format}`;
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { name, mime: resp.headers.get('content-type') || 'application/octet-stream', base64: btoa(bin) };
  }

  job(id) { return this.json(`/v1/jobs/${encodeURIComponent(id)}`, { timeoutMs: 10000 }); }

  /**
   * Follow a job to the end through its SSE stream, calling onProgress(job) on each event; falls back
   * to polling GET /v1/jobs/{id} if the stream breaks. Resolves with the finished job (done or error).
   */
  async waitJob(job, onProgress = () => {}) {
    if (job.status === 'done' || job.status === 'error') return job;
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    try {
      const last = await this.followEvents(job, onProgress, deadline);
      if (last) return last;
    } catch (err) {
      if (err instanceof DaemonError && err.state !== STATES.ERROR) throw err;
    }
    // Polling fallback, bounded by the deadline.
    let delay = 300;
    while (Date.now() < deadline) {
      const cur = await this.job(job.job_id);
      if (cur.status === 'done' || cur.status === 'error') return cur;
      onProgress(cur);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 1.5, 2000);
    }
    throw new DaemonError('The daemon did not finish the check in time', { code: 'timeout' });
  }

  async followEvents(job, onProgress, deadline) {
    const path = job.events_url || `/v1/jobs/${encodeURIComponent(job.job_id)}/events`;
    const resp = await this.request(path, { timeoutMs: Math.max(1000, deadline - Date.now()) });
    if (!resp.ok || !resp.body) {
      let data = null;
      try { data = await resp.json(); } catch { /* ignore */ }
      throw errorFromResponse(resp.status, data);
    }
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let last = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n/g, '\n');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (!data.length) continue;
        let obj;
        try { obj = JSON.parse(data.join('\n')); } catch { continue; }
        if (obj && obj.job_id) last = obj;
        if (event === 'done' || event === 'error' || obj?.status === 'done' || obj?.status === 'error') {
          reader.cancel().catch(() => {});
          return obj?.job_id ? obj : last;
        }
        if (obj?.job_id) onProgress(obj);
      }
    }
    return last && (last.status === 'done' || last.status === 'error') ? last : null;
  }
}

export function errorFromResponse(status, data) {
  const err = data?.error || {};
  const message = err.message || `The daemon answered HTTP ${status}`;
  const code = err.code || `http_${status}`;
  if (status === 401 && code === 'bad_code') {
    return new DaemonError('That is not the code the daemon shows now. Run `deepsentry pair` in a terminal and type the '
      + 'XXXX-XXXX code it prints', { state: STATES.ERROR, code, status });
  }
  if (status === 429 && code === 'rate_limited') {
    return new DaemonError('Too many wrong codes: wait a minute, then type the code `deepsentry pair` prints', { code, status });
  }
  if (status === 401) {
    return new DaemonError('The daemon rejected the token: pair again in the options', { state: STATES.UNPAIRED, code, status });
  }
  if (status === 403 && /origin/i.test(`${code} ${message}`)) {
    return new DaemonError(`The daemon does not allow this extension's origin: ${message}`, { code, status });
  }
  return new DaemonError(message, { code, status });
}
