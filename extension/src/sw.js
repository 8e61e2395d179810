// Service worker: the only part of the extension that talks to the daemon and holds the token.
// Content scripts send CHECK requests; progress and results go back to the tab as UPDATE messages.
// Results live in chrome.storage.session (per browser session), keyed by media URL and content hash.

import './shared/messages.js';
import { DEFAULTS, KEYS, loadSettings, siteAllowed, validateSettings } from './shared/settings.js';
import { DaemonClient, DaemonError } from './sw/daemon.js';
import { describeError, describeResult, percent } from './shared/verdict.js';
import { buildRequest, captureTabCrop } from './sw/media.js';
import * as store from './sw/store.js';

const { CS_TO_SW, SW_TO_CS, UI_TO_SW, STATES } = globalThis.DeepsentryMessages;
const MENU_ID = 'deepsentry-check';
const URL_PROBLEMS = ['url_refused', 'fetch_failed', 'unsupported_media'];
const EXTENSION_ORIGIN = new URL(chrome.runtime.getURL('/')).origin;

// ---------------------------------------------------------------- context menu

function createMenus() {
  chrome.contextMenus.removeAll(() => {
    chrome.contextMenus.create({
      id: MENU_ID,
      title: 'Check with deepsentry',
      contexts: ['video', 'image', 'link', 'page'],
    }, () => void chrome.runtime.lastError);
  });
}
chrome.runtime.onInstalled.addListener(createMenus);
chrome.runtime.onStartup.addListener(createMenus);

/** The registered contextMenus.onClicked listener (also reachable as globalThis.deepsentry.onMenuClick). */
async function onMenuClick(info, tab) {
  if (info.menuItemId !== MENU_ID) return;
  const mediaType = info.mediaType === 'video' || info.mediaType === 'image' ? info.mediaType
    : info.linkUrl ? 'link' : 'page';
  const target = { menuItemId: info.menuItemId, mediaType, srcUrl: info.srcUrl || null,
    linkUrl: info.linkUrl || null, pageUrl: info.pageUrl || tab?.url || null };
  try {
    await chrome.tabs.sendMessage(tab.id, { type: SW_TO_CS.CHECK_TARGET, ...target }, { frameId: info.frameId ?? 0 });
  } catch {
    // No content script there (e.g. a page opened before install): check the URL without a badge.
    const url = target.srcUrl || target.linkUrl || target.pageUrl;
    if (!url) return;
    const recordId = await enqueue({ badgeId: null, mediaType, mediaUrl: url, pageUrl: target.pageUrl, explicit: true }, null);
    if (recordId) chrome.tabs.create({ url: chrome.runtime.getURL(`details.html?id=${recordId}`) });
  }
}
chrome.contextMenus.onClicked.addListener(onMenuClick);

// ---------------------------------------------------------------- queue of checks

const queue = [];
let running = 0;
const inflight = new Map();   // recordId -> Promise<recordId>

/**
 * Queue one check. `target` is {tabId, frameId} of the badge's tab, or null. Resolves with the
 * record id when the check has finished (in any state).
 */
function enqueue(req, target) {
  return new Promise((resolve) => {
    queue.push({ req, target, resolve });
    notify(target, req.badgeId, { state: STATES.CHECKING, progress: 0, stage: 'queued' });
    pump();
  });
}

// Chromium stops an idle worker after 30 s; a queued daemon job can wait longer than that without
// progress events. While checks are running, a cheap extension API call every 20 s keeps it alive.
let keepAlive = null;
function holdWorker(on) {
  if (on && !keepAlive) keepAlive = setInterval(() => chrome.runtime.getPlatformInfo().catch(() => {}), 20000);
  if (!on && keepAlive) { clearInterval(keepAlive); keepAlive = null; }
}

async function pump() {
  const settings = await loadSettings();
  while (running < settings.maxConcurrent && queue.length) {
    const item = queue.shift();
    running += 1;
    holdWorker(true);
    runCheck(item.req, item.target, settings)
      .catch((err) => console.error('deepsentry check failed', err))
      .then((id) => item.resolve(id))
      .finally(() => {
        running -= 1;
        if (!running && !queue.length) holdWorker(false);
        pump();
      });
  }
}

function notify(target, badgeId, update) {
  if (!target || !badgeId) return;
  chrome.tabs.sendMessage(target.tabId, { type: SW_TO_CS.UPDATE, badgeId, ...update }, { frameId: target.frameId })
    .catch(() => { /* tab gone or navigated */ });
}

async function runCheck(req, target, settings) {
  const key = store.cacheKey(req);
  const recordId = await store.recordIdFor(key);
  if (!req.force) {
    const cached = await store.getRecord(recordId);
    if (cached && cached.final) {
      notify(target, req.badgeId, updateFromRecord(cached));
      await store.linkBadge(recordId, target, req.badgeId);
      return recordId;
    }
  }
  if (inflight.has(recordId) && !req.force) {
    await inflight.get(recordId);
    const rec = await store.getRecord(recordId);
    if (rec) notify(target, req.badgeId, updateFromRecord(rec));
    return recordId;
  }
  const work = doCheck(req, target, settings, key, recordId);
  inflight.set(recordId, work);
  try { return await work; } finally { inflight.delete(recordId); }
}

async function doCheck(req, target, settings, key, recordId) {
  const client = new DaemonClient(settings);
  const base = {
    id: recordId, key, mediaType: req.mediaType, mediaUrl: req.mediaUrl || null, pageUrl: req.pageUrl || null,
    tabId: target?.tabId ?? null, frameId: target?.frameId ?? 0, badgeId: req.badgeId || null,
    createdAt: Date.now(), final: false, mediaDuration: Number.isFinite(req.duration) ? req.duration : null,
  };
  await store.putRecord({ ...(await store.getRecord(recordId) || {}), ...base, state: STATES.CHECKING, progress: 0,
    stage: 'starting' });
  notify(target, req.badgeId, { state: STATES.CHECKING, progress: 0, stage: 'starting', recordId });
  let built;
  try {
    built = await buildRequest(req);
    if (built.sha256 && !req.force) {
      const other = await store.recordForHash(built.sha256);
      if (other && other.final && other.id !== recordId) {
        const copy = { ...other, ...base, final: true };
        await store.putRecord(copy);
        notify(target, req.badgeId, updateFromRecord(copy));
        return recordId;
      }
    }
    // On an explicit click, a URL the daemon cannot fetch falls back to a crop of the visible tab
    // (activeTab is granted by the context-menu click).
    const canCrop = () => built.kind === 'url' && req.explicit && req.rect && target && ['video', 'image'].includes(req.mediaType);
    const progress = (j) => {
      const update = { state: STATES.CHECKING, progress: j.progress ?? 0, stage: j.stage || '', recordId };
      notify(target, req.badgeId, update);
      store.patchRecord(recordId, { progress: update.progress, stage: update.stage });
    };
    let done;
    try {
      const job = await submit(client, built, req);
      await store.logSent({ badgeId: req.badgeId, kind: built.kind, mediaUrl: req.mediaUrl, sentUrl: built.sentUrl || null, jobId: job.job_id });
      done = await client.waitJob(job, progress);
      if (done.status === 'error' && URL_PROBLEMS.includes(done.error?.code) && canCrop()) {
        throw new DaemonError(done.error.message, { code: done.error.code });
      }
    } catch (err) {
      if (!(err instanceof DaemonError && URL_PROBLEMS.includes(err.code) && canCrop())) throw err;
      try {
        built = await captureTabCrop(target.tabId, req.rect);
      } catch (capErr) {
        throw new DaemonError(`${err.message}; a screenshot of the tab was not possible either (${capErr.message || capErr})`, { code: err.code });
      }
      const job = await submit(client, built, req);
      await store.logSent({ badgeId: req.badgeId, kind: built.kind, mediaUrl: req.mediaUrl, sentUrl: null, jobId: job.job_id });
      done = await client.waitJob(job, progress);
    }
    const record = finishRecord(base, built, done, settings);
    await store.putRecord(record);
    notify(target, req.badgeId, updateFromRecord(record));
    return recordId;
  } catch (err) {
    const isDaemon = err instanceof DaemonError;
    const state = isDaemon ? err.state : STATES.ERROR;
    const record = { ...base, state, final: false, progress: null, sent: built?.kind || null,
      error: { code: isDaemon ? err.code : 'extension_error', message: err.message || String(err) } };
    await store.putRecord(record);
    notify(target, req.badgeId, updateFromRecord(record));
    return recordId;
  }
}

function submit(client, built, req) {
  // explain: the heatmaps and the sampled frames the details view and the report show
  const query = { nocache: Boolean(req.force), explain: true };
  return client.analyze(built.body, query);
}

function finishRecord(base, built, job, settings) {
  const rec = { ...base, sent: built.kind, sentUrl: built.sentUrl || null, jobId: job.job_id, final: true, progress: 1 };
  if (job.status === 'error') {
    const code = job.error?.code || 'error';
    const noFace = code === 'no_faces';
    return { ...rec, state: noFace ? STATES.NO_FACE : STATES.ERROR, error: job.error || { code, message: 'The check failed' },
      final: noFace || !['busy', 'fetch_failed'].includes(code) };
  }
  const result = job.result || {};
  const d = describeResult(result, settings.threshold);
  const frame = result.thumbnails?.length ? null : pickFrame(built, result);
  return { ...rec, state: d.state, score: d.score, threshold: d.threshold, band: d.band, reason: d.reason, result,
    frame, sha256: result.media?.sha256 || built.sha256 || null, error: null, view: viewOf(d),
    mediaDuration: typeof base.mediaDuration === 'number' ? base.mediaDuration : null, analysedAt: new Date().toISOString() };
}

/** What a badge and the details headline say: graded words, plain sentence, frames used, credentials. */
function viewOf(d) {
  return { word: d.word, compact: d.compact, sentence: d.sentence, credentials: d.credentials, frames: d.frames,
    caution: d.cautions?.join(' ') || null, branches: d.branches,
    scoreText: typeof d.score === 'number' ? percent(d.score) : null, grade: d.grade };
}

/** For frames we sent, keep the one JPEG showing the most faces (details view draws on it). */
function pickFrame(built, result) {
  if (!built.frames?.length) return null;
  const counts = new Map();
  for (const face of result.faces || []) {
    for (const b of face.boxes || []) counts.set(b.t, (counts.get(b.t) || 0) + 1);
  }
  let bestT = built.frames[0].t;
  let best = -1;
  for (const f of built.frames) {
    const n = counts.get(f.t) || 0;
    if (n > best) { best = n; bestT = f.t; }
  }
  const f = built.frames.find((x) => x.t === bestT);
  return { t: f.t, jpeg: f.jpeg, width: built.frameSize?.width ?? null, height: built.frameSize?.height ?? null };
}

function updateFromRecord(rec) {
  const base = { state: rec.state, score: rec.score ?? null, recordId: rec.id, progress: rec.progress ?? null };
  if (rec.error && !rec.result) {
    const e = describeError(rec.error);
    const word = rec.state === STATES.ERROR ? e.word : undefined;     // offline / pairing keep their state's words
    return { ...base, word, compact: word, sentence: e.sentence, reason: e.sentence };
  }
  return { ...base, reason: rec.view?.sentence || rec.reason || null, ...(rec.view || {}) };
}

// ---------------------------------------------------------------- settings broadcast

async function configFor(pageUrl) {
  const s = await loadSettings();
  return { autoMode: s.autoMode, paused: s.paused, siteAllowed: siteAllowed(s, pageUrl), frameCount: s.frameCount,
    minMediaSize: s.minMediaSize, maxConcurrent: s.maxConcurrent, paired: Boolean(s.token) };
}

chrome.storage.onChanged.addListener(async (changes, area) => {
  if (area !== 'local' || !Object.keys(changes).some((k) => KEYS.includes(k))) return;
  const tabs = await chrome.tabs.query({});
  for (const tab of tabs) {
    chrome.tabs.sendMessage(tab.id, { type: SW_TO_CS.CONFIG_CHANGED, changed: Object.keys(changes) })
      .catch(() => { /* no content script in that tab */ });
  }
});

// ---------------------------------------------------------------- messages

async function daemonStatus(overrides = {}) {
  const s = { ...(await loadSettings()), ...overrides };
  const client = new DaemonClient(s);
  try {
    await client.health();
  } catch (err) {
    return { online: false, paired: Boolean(s.token), state: STATES.DAEMON_OFFLINE, message: err.message };
  }
  try {
    const info = await client.info();
    return { online: true, paired: true, state: 'ok', info, message: `Connected: deepsentry ${info.version || ''}`.trim() };
  } catch (err) {
    const state = err instanceof DaemonError ? err.state : STATES.ERROR;
    return { online: true, paired: state !== STATES.UNPAIRED, state, message: err.message };
  }
}

const contentHandlers = {
  async [CS_TO_SW.CHECK](msg, sender) {
    const target = { tabId: sender.tab.id, frameId: sender.frameId ?? 0 };
    enqueue(msg, target);
    return { accepted: true };
  },
  [CS_TO_SW.GET_CONFIG](msg, sender) { return configFor(sender.url || msg.pageUrl); },
  async [CS_TO_SW.OPEN_DETAILS](msg, sender) {
    if (!/^[0-9a-f]{16}$/.test(msg.recordId || '')) return { ok: false };
    await chrome.tabs.create({ url: chrome.runtime.getURL(`details.html?id=${msg.recordId}`), index: sender.tab.index + 1,
      openerTabId: sender.tab.id });
    return { ok: true };
  },
  async [CS_TO_SW.OPEN_OPTIONS]() { await chrome.runtime.openOptionsPage(); return { ok: true }; },
  async [CS_TO_SW.PING_DAEMON]() {
    const st = await daemonStatus();
    return { online: st.online, paired: st.paired };
  },
};

const uiHandlers = {
  [UI_TO_SW.STATUS]() { return daemonStatus(); },
  async [UI_TO_SW.TEST_CONNECTION](msg) {
    let overrides = {};
    try { overrides = validateSettings(pick(msg, ['daemonUrl', 'token'])); } catch (err) {
      return { ok: false, state: STATES.ERROR, message: err.message };
    }
    const st = await daemonStatus(overrides);
    return { ok: st.state === 'ok', ...st };
  },
  async [UI_TO_SW.PAIR](msg) {
    let url;
    try { ({ daemonUrl: url } = validateSettings({ daemonUrl: msg.daemonUrl || DEFAULTS.daemonUrl })); } catch (err) {
      return { ok: false, message: err.message };
    }
    const code = String(msg.code || '').replace(/[\s\u2010-\u2015]+/g, (m) => (/\s/.test(m) ? '' : '-')).toUpperCase();
    if (!/^[A-Z0-9]{4}-?[A-Z0-9]{4}$/.test(code)) {
      return { ok: false, message: 'A pairing code is eight letters and digits, like AB12-CD34: run `deepsentry pair` to see it' };
    }
    try {
      const { token } = await new DaemonClient({ daemonUrl: url, token: '' }).pair(code);
      const valid = validateSettings({ token });
      await chrome.storage.local.set({ daemonUrl: url, token: valid.token });
      return { ok: true, message: `Paired with the deepsentry daemon at ${url}` };
    } catch (err) {
      return { ok: false, message: err.message };
    }
  },
  async [UI_TO_SW.GET_RESULT](msg) { return store.getRecord(String(msg.recordId || '')); },
  async [UI_TO_SW.CHECK_AGAIN](msg) {
    const rec = await store.getRecord(String(msg.recordId || ''));
    if (!rec) return { ok: false, message: 'unknown result' };
    if (rec.tabId !== null && rec.badgeId) {
      try {
        const r = await chrome.tabs.sendMessage(rec.tabId, { type: SW_TO_CS.RECHECK, badgeId: rec.badgeId }, { frameId: rec.frameId || 0 });
        if (r?.ok) return { ok: true };
      } catch { /* tab closed */ }
      // The tab was closed or reloaded (its badge is gone): check the media again from here, into this record.
    }
    if (!rec.mediaUrl && !rec.pageUrl) return { ok: false, message: 'There is nothing to check again: the media had no address.' };
    enqueue({ badgeId: null, mediaType: rec.mediaType, mediaUrl: rec.mediaUrl, pageUrl: rec.pageUrl, force: true,
      explicit: true }, null);
    return { ok: true };
  },
  async [UI_TO_SW.RECENT]() { return store.recent(10); },
  async [UI_TO_SW.EXPORT_REPORT](msg) {
    const rec = await store.getRecord(String(msg.recordId || ''));
    if (!rec?.result) return { ok: false, message: 'This result has nothing to report yet.' };
    const format = msg.format === 'pdf' ? 'pdf' : 'html';
    try {
      const got = await new DaemonClient(await loadSettings()).report({
        result: rec.result, media_url: rec.mediaUrl || null, page_url: rec.pageUrl || null,
        media_duration: typeof rec.mediaDuration === 'number' ? rec.mediaDuration : null,
        analysed_at: rec.analysedAt || new Date(rec.createdAt || Date.now()).toISOString(),
      }, format);
      return { ok: true, ...got };
    } catch (err) {
      return { ok: false, message: err.message || String(err) };
    }
  },
};

function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
}

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id || !msg || typeof msg.type !== 'string') return false;
  const fromExtensionPage = sender.origin === EXTENSION_ORIGIN || (sender.url || '').startsWith(EXTENSION_ORIGIN + '/');
  const handler = fromExtensionPage ? uiHandlers[msg.type] : (sender.tab ? contentHandlers[msg.type] : undefined);
  if (!handler) return false;
  Promise.resolve()
    .then(() => handler(msg, sender))
    .then(sendResponse, (err) => sendResponse({ ok: false, error: String(err?.message || err) }));
  return true;
});

// For automation: the same listener functions the browser calls (tests dispatch the menu with synthetic info).
globalThis.deepsentry = Object.freeze({ onMenuClick, daemonStatus });
