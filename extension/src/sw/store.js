// Results for this browser session, in chrome.storage.session:
//   rec:<id>     one record per checked media (id = first 16 hex of sha256 of the cache key)
//   hash:<sha>   record id for a content hash (same bytes found under another URL)
//   order        record ids, oldest first (pruned to MAX_RECORDS)
//   sent         the last requests sent to the daemon: {kind: 'frames'|'bytes'|'url'|'screenshot', ...}

const MAX_RECORDS = 40;
// chrome.storage.session holds 10 MB. A result with its frames and heatmaps is a few hundred kB, so when
// a write does not fit, the oldest records are dropped (a dozen at a time) until it does.
const DROP_ON_FULL = 12;
const MAX_SENT = 100;
let chain = Promise.resolve();

/** Serialise read-modify-write updates of shared keys. */
function serial(fn) {
  const next = chain.then(fn, fn);
  chain = next.catch(() => {});
  return next;
}

export function cacheKey(req) {
  const url = req.mediaUrl || '';
  if (/^(https?|data):/i.test(url)) return `u:${url}`;
  return `p:${req.pageUrl || ''}|${url}`;
}

export async function sha256Hex(data) {
  const buf = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export async function recordIdFor(key) { return (await sha256Hex(key)).slice(0, 16); }

export async function getRecord(id) {
  if (!id) return null;
  const k = `rec:${id}`;
  return (await chrome.storage.session.get(k))[k] || null;
}

export function putRecord(rec) {
  return serial(async () => {
    const { order = [] } = await chrome.storage.session.get('order');
    const next = order.filter((x) => x !== rec.id);
    next.push(rec.id);
    const drop = next.length > MAX_RECORDS ? next.splice(0, next.length - MAX_RECORDS) : [];
    const set = { [`rec:${rec.id}`]: rec, order: next };
    if (rec.final && rec.sha256) set[`hash:${rec.sha256}`] = rec.id;
    if (drop.length) await chrome.storage.session.remove(drop.map((id) => `rec:${id}`));
    for (;;) {
      try {
        await chrome.storage.session.set(set);
        return;
      } catch (err) {
        if (next.length <= 1 || !/quota/i.test(String(err?.message || err))) throw err;
        const older = next.splice(0, Math.min(DROP_ON_FULL, next.length - 1));
        set.order = next;
        await chrome.storage.session.remove(older.map((id) => `rec:${id}`));
      }
    }
  });
}

/** Merge a few fields into a stored record (progress while a check runs); a no-op if it is gone. */
export function patchRecord(id, fields) {
  return serial(async () => {
    const k = `rec:${id}`;
    const rec = (await chrome.storage.session.get(k))[k];
    if (rec && !rec.final) await chrome.storage.session.set({ [k]: { ...rec, ...fields } });
  });
}

export async function linkBadge(id, target, badgeId) {
  if (!target || !badgeId) return;
  const rec = await getRecord(id);
  if (rec) await putRecord({ ...rec, tabId: target.tabId, frameId: target.frameId, badgeId });
}

export async function recordForHash(sha) {
  const k = `hash:${sha}`;
  const id = (await chrome.storage.session.get(k))[k];
  return id ? getRecord(id) : null;
}

export function logSent(entry) {
  return serial(async () => {
    const { sent = [] } = await chrome.storage.session.get('sent');
    sent.push({ ...entry, at: Date.now() });
    await chrome.storage.session.set({ sent: sent.slice(-MAX_SENT) });
  });
}

/** The most recent records, newest first, without their frame images. */
export async function recent(n) {
  const { order = [] } = await chrome.storage.session.get('order');
  const ids = order.slice(-n).reverse();
  const got = await chrome.storage.session.get(ids.map((id) => `rec:${id}`));
  return ids.map((id) => got[`rec:${id}`]).filter(Boolean).map(({ frame, result, ...rest }) => ({
    ...rest, model: result?.model || null,
  }));
}
