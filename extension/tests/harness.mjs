// Shared helpers for the extension's end-to-end tests: test media, a local test site (two origins),
// the real daemon, and headless Chromium with the unpacked extension.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const EXT_DIR = path.join(ROOT, 'extension/src');
export const ARTIFACTS = path.join(ROOT, 'artifacts/extension');
export const EXT_ID = 'aflmeaedhgdnmnldchfjaefkdijnlbgp';
export const EXT_ORIGIN = `chrome-extension://${EXT_ID}`;
const PY = path.join(ROOT, '.venv/bin/python');
const CLI = path.join(ROOT, '.venv/bin/deepsentry');
const CHROMIUM = process.env.DEEPSENTRY_CHROMIUM || '/usr/bin/chromium';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a truthy value (test-side only); throws with `what` on timeout. */
export async function waitFor(fn, { timeout = 30000, interval = 200, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      if (err.fatal) throw err;
      last = err;
    }
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what}; last value: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

const made = [];
export function tmpDir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Remove every temporary directory made by tmpDir (call after closing the browser and daemon). */
export function removeTmpDirs() {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Real photos and H.264 clips written by extension/tests/make_media.py; returns its JSON (true boxes). */
export function makeMedia(dir) {
  const r = spawnSync(PY, [path.join(ROOT, 'extension/tests/make_media.py'), dir], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make_media.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.jpg': 'image/jpeg', '.png': 'image/png', '.mp4': 'video/mp4' };

function staticServer(mediaDir, { pages = null, crossOrigin = null } = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (pages && url.pathname.endsWith('.html')) {
      const file = path.join(here, 'site', path.basename(url.pathname));
      if (!fs.existsSync(file)) { res.writeHead(404).end(); return; }
      const b = url.searchParams.get('b');
      const html = fs.readFileSync(file, 'utf8').replaceAll('{{Q}}', b ? `?b=${encodeURIComponent(b)}` : '')
        .replaceAll('{{CROSS}}', crossOrigin()).replaceAll('{{SELF_LOCALHOST}}', `http://localhost:${req.socket.localPort}`);
      res.writeHead(200, { 'Content-Type': TYPES['.html'], 'Cache-Control': 'no-store' }).end(html);
      return;
    }
    if (!url.pathname.startsWith('/media/')) { res.writeHead(404).end(); return; }
    const file = path.join(mediaDir, path.basename(url.pathname));
    if (!fs.existsSync(file)) { res.writeHead(404).end(); return; }
    const size = fs.statSync(file).size;
    const type = TYPES[path.extname(file)] || 'application/octet-stream';
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || '');
    if (range) {
      const start = range[1] ? Number(range[1]) : size - Number(range[2]);
      const end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size || start > end) { res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end(); return; }
      res.writeHead(206, { 'Content-Type': type, 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes',
        'Content-Range': `bytes ${start}-${end}/${size}` });
      fs.createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': size, 'Accept-Ranges': 'bytes' });
    if (req.method === 'HEAD') { res.end(); return; }
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * Site A (http://127.0.0.1:A) serves the pages and same-origin media; site B (http://localhost:B)
 * serves the same media cross-origin without CORS headers.
 */
export async function startSites(mediaDir) {
  const b = await staticServer(mediaDir);
  const bUrl = `http://localhost:${b.address().port}`;
  const a = await staticServer(mediaDir, { pages: true, crossOrigin: () => bUrl });
  const aUrl = `http://127.0.0.1:${a.address().port}`;
  return {
    a: aUrl, b: bUrl, aPort: a.address().port, bPort: b.address().port,
    close: () => Promise.all([a, b].map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); }))),
  };
}

/** The real daemon: `deepsentry serve` with an isolated DEEPSENTRY_HOME and no ledger node. */
export class Daemon {
  constructor({ home, port, allow }) {
    this.home = home;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.env = { ...process.env, DEEPSENTRY_HOME: home, DEEPSENTRY_LEDGER: '0', DEEPSENTRY_URL_ALLOWLIST: allow.join(',') };
    this.proc = null;
    this.log = '';
  }

  pairInfo() {
    const r = spawnSync(CLI, ['pair', '--json'], { env: this.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`deepsentry pair failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  }

  async start(timeout = 180000) {
    this.proc = spawn(CLI, ['serve', '--port', String(this.port)], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const add = (d) => { this.log = (this.log + d).slice(-20000); };
    this.proc.stdout.on('data', add);
    this.proc.stderr.on('data', add);
    const proc = this.proc;
    await waitFor(async () => {
      if (proc.exitCode !== null) throw Object.assign(new Error(`daemon exited (${proc.exitCode}): ${this.log}`), { fatal: true });
      const r = await fetch(`${this.url}/v1/health`);
      return r.ok;
    }, { timeout, interval: 300, what: `daemon health on ${this.url}` }).catch((err) => {
      throw new Error(`${err.message}\n--- daemon log ---\n${this.log}`);
    });
  }

  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 15000);
    await done;
    clearTimeout(t);
  }

  async api(pathname, { token, method = 'GET', body } = {}) {
    const r = await fetch(this.url + pathname, {
      method, headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, json: await r.json().catch(() => null) };
  }
}

/** Headless Chromium with the unpacked extension; returns {context, sw}. */
export async function launch({ userDataDir = tmpDir('ds-chromium-'), zoom = 1 } = {}) {
  if (zoom !== 1) {
    // Real browser zoom: Chromium's default zoom level (log base 1.2 of the factor) in the profile.
    fs.mkdirSync(path.join(userDataDir, 'Default'), { recursive: true });
    fs.writeFileSync(path.join(userDataDir, 'Default', 'Preferences'), JSON.stringify({
      partition: { default_zoom_level: { x: Math.log(zoom) / Math.log(1.2) } } }));
  }
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    args: [`--disable-extensions-except=${EXT_DIR}`, `--load-extension=${EXT_DIR}`, '--no-sandbox', '--disable-gpu',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-quic', '--autoplay-policy=no-user-gesture-required'],
  });
  let [sw] = context.serviceWorkers();
  if (!sw) sw = await context.waitForEvent('serviceworker', { timeout: 30000 });
  return { context, sw, userDataDir };
}

/** The service worker as it is now (Chromium may have restarted it since launch). */
export async function serviceWorker(context) {
  const live = context.serviceWorkers().filter((w) => w.url().startsWith(EXT_ORIGIN));
  return live[live.length - 1] || context.waitForEvent('serviceworker', { timeout: 30000 });
}

export async function setSettings(context, values) {
  const sw = await serviceWorker(context);
  await sw.evaluate((v) => chrome.storage.local.set(v), values);
}

export async function session(context) {
  const sw = await serviceWorker(context);
  return sw.evaluate(() => chrome.storage.session.get(null));
}

export async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: page.url().startsWith(EXT_ORIGIN) });
}

/** State of the badge linked to the media element matching `selector`, with both rectangles. */
export function badgeOf(page, selector) {
  return page.evaluate((sel) => {
    const media = document.querySelector(sel);
    if (!media) return null;
    const id = media.getAttribute('data-deepsentry-badge');
    const host = id && document.getElementById(id);
    if (!host) return { id: null };
    const r = (e) => { const b = e.getBoundingClientRect(); return { x: b.left, y: b.top, w: b.width, h: b.height }; };
    const button = host.shadowRoot?.querySelector('button');
    return {
      id, state: host.getAttribute('data-deepsentry-state'), score: host.getAttribute('data-deepsentry-score'),
      label: host.getAttribute('data-deepsentry-label'), text: button?.textContent || '',
      ariaLabel: button?.getAttribute('aria-label') || '', host: r(host), button: button ? r(button) : null, media: r(media),
      visible: Boolean(button) && (() => {
        // Painted: every ancestor displayed and opaque, the button on top at its own centre.
        for (let e = host; e; e = e.parentElement) {
          const cs = getComputedStyle(e);
          if (cs.display === 'none' || Number(cs.opacity) === 0) return false;
        }
        const b = button.getBoundingClientRect();
        const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
        return getComputedStyle(host).visibility === 'visible' && (hit === host || b.top + b.height / 2 < 0);
      })(),
    };
  }, selector);
}

export const FINAL_STATES = ['real', 'fake', 'uncertain', 'no-face', 'registered-synthetic', 'content-credentials'];

/** Every badge host on the page. */
export function allBadges(page) {
  return page.evaluate(() => [...document.querySelectorAll('deepsentry-badge')].map((h) => ({
    id: h.id, state: h.getAttribute('data-deepsentry-state'),
    media: document.querySelector(`[data-deepsentry-badge="${h.id}"]`)?.id || null,
  })));
}
