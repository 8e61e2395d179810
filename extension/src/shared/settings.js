// Settings kept in chrome.storage.local. The keys are part of the documented interface: an
// administrator (managed storage, policy) or a test may provision `daemonUrl` and `token` directly.

export const DEFAULTS = Object.freeze({
  daemonUrl: 'http://127.0.0.1:8765',
  token: '',
  autoMode: true,          // badge and check visible media automatically
  paused: false,           // stop all automatic checks (context menu still works)
  maxConcurrent: 2,        // daemon jobs in flight at once
  frameCount: 8,           // frames captured per readable video
  minMediaSize: 96,        // CSS px; smaller media (icons) get no badge
  threshold: null,         // null: the daemon model's threshold; else a number in (0, 1)
  allowSites: [],          // hostnames; when non-empty, auto mode runs only there
  denySites: [],           // hostnames where auto mode never runs
});

export const KEYS = Object.freeze(Object.keys(DEFAULTS));

export async function loadSettings() {
  const got = await chrome.storage.local.get(KEYS);
  return { ...DEFAULTS, ...got };
}

/** Normalise user input; throws Error with a readable message on invalid values. */
export function validateSettings(input) {
  const out = {};
  if ('daemonUrl' in input) {
    let url;
    try { url = new URL(String(input.daemonUrl).trim()); } catch { throw new Error('Daemon URL is not a valid URL'); }
    if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      throw new Error('Daemon URL must be http://127.0.0.1:PORT or http://localhost:PORT (the daemon is local only)');
    }
    out.daemonUrl = url.origin;
  }
  if ('token' in input) {
    const t = String(input.token).trim();
    if (t && !/^[0-9a-f]{64}$/i.test(t)) throw new Error('Token must be 64 hexadecimal characters');
    out.token = t.toLowerCase();
  }
  for (const k of ['autoMode', 'paused']) if (k in input) out[k] = Boolean(input[k]);
  const ints = { maxConcurrent: [1, 8], frameCount: [1, 32], minMediaSize: [16, 2000] };
  for (const [k, [lo, hi]] of Object.entries(ints)) {
    if (!(k in input)) continue;
    const n = Number(input[k]);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`${k} must be an integer from ${lo} to ${hi}`);
    out[k] = n;
  }
  if ('threshold' in input) {
    const v = input.threshold;
    if (v === null || v === '' || v === undefined) out.threshold = null;
    else {
      const n = Number(v);
      if (!(n > 0 && n < 1)) throw new Error('Threshold must be between 0 and 1 (exclusive), or empty for the model default');
      out.threshold = n;
    }
  }
  for (const k of ['allowSites', 'denySites']) {
    if (!(k in input)) continue;
    const list = Array.isArray(input[k]) ? input[k] : String(input[k]).split(/[\s,]+/);
    out[k] = [...new Set(list.map((s) => String(s).trim().toLowerCase()).filter(Boolean))];
  }
  return out;
}

/** Does a hostname match a site-list entry? "example.com" matches itself and its subdomains. */
export function hostMatches(host, entry) {
  host = String(host || '').toLowerCase();
  entry = entry.replace(/^\*\./, '');
  return host === entry || host.endsWith('.' + entry);
}

export function siteAllowed(settings, pageUrl) {
  let host = '';
  try { host = new URL(pageUrl).hostname; } catch { return false; }
  if (settings.denySites.some((e) => hostMatches(host, e))) return false;
  if (settings.allowSites.length && !settings.allowSites.some((e) => hostMatches(host, e))) return false;
  return true;
}
