// Build the body of POST /v1/analyze from what the content script collected.

import { sha256Hex } from './store.js';

const MAX_FETCH_BYTES = 64 * 1024 * 1024;

/**
 * @returns {Promise<{kind: 'frames'|'bytes'|'url'|'screenshot', body: object|FormData, sha256?: string,
 *   frames?: Array<{t: number, jpeg: string}>, frameSize?: {width, height}, sentUrl?: string}>}
 */
export async function buildRequest(req) {
  const media = isHttp(req.mediaUrl) ? req.mediaUrl : null;
  if (Array.isArray(req.frames) && req.frames.length) {
    const body = { frames: req.frames };
    if (isHttp(req.pageUrl)) body.page_url = req.pageUrl;
    if (media) body.media_url = media;
    return { kind: 'frames', body, frames: req.frames, frameSize: req.frameSize || null };
  }
  if (req.bytes) {
    return bytesRequest(base64ToBytes(req.bytes), req.mime || 'application/octet-stream', 'upload');
  }
  if (req.mediaType === 'image' && req.mediaUrl?.startsWith('data:')) {
    const resp = await fetch(req.mediaUrl);
    const blob = await resp.blob();
    return bytesRequest(new Uint8Array(await blob.arrayBuffer()), blob.type, 'image');
  }
  if (req.mediaType === 'image' && media) {
    const got = await fetchBytes(media);
    if (got) return bytesRequest(got.bytes, got.type, fileName(media));
  }
  const url = media || (isHttp(req.linkUrl) ? req.linkUrl : null) || (isHttp(req.pageUrl) ? req.pageUrl : null);
  if (!url) throw new Error('This media has no URL the daemon could fetch');
  return { kind: 'url', body: { url }, sentUrl: url };
}

async function bytesRequest(bytes, type, name) {
  const sha256 = await sha256Hex(bytes);
  const form = new FormData();
  form.append('file', new Blob([bytes], { type }), name);
  return { kind: 'bytes', body: form, sha256 };
}

/** Fetch media bytes when this extension may (host permission or CORS); null when it cannot. */
async function fetchBytes(url) {
  try {
    const resp = await fetch(url, { credentials: 'omit', signal: AbortSignal.timeout(15000) });
    if (!resp.ok) return null;
    const type = (resp.headers.get('content-type') || '').split(';')[0].trim();
    if (!/^(image|video)\//.test(type)) return null;
    const len = Number(resp.headers.get('content-length') || 0);
    if (len > MAX_FETCH_BYTES) return null;
    const bytes = new Uint8Array(await resp.arrayBuffer());
    return bytes.length <= MAX_FETCH_BYTES ? { bytes, type } : null;
  } catch {
    return null;
  }
}

/** On an explicit user click only: crop the element out of a screenshot of the visible tab. */
export async function captureTabCrop(tabId, rect) {
  const tab = await chrome.tabs.get(tabId);
  const dataUrl = await chrome.tabs.captureVisibleTab(tab.windowId, { format: 'jpeg', quality: 92 });
  const shot = await createImageBitmap(await (await fetch(dataUrl)).blob());
  const dpr = rect.dpr || 1;
  const sx = Math.max(0, Math.round(rect.x * dpr));
  const sy = Math.max(0, Math.round(rect.y * dpr));
  const sw = Math.min(shot.width - sx, Math.round(rect.w * dpr));
  const sh = Math.min(shot.height - sy, Math.round(rect.h * dpr));
  if (sw < 16 || sh < 16) throw new Error('The element is not visible on screen');
  const canvas = new OffscreenCanvas(sw, sh);
  canvas.getContext('2d').drawImage(shot, sx, sy, sw, sh, 0, 0, sw, sh);
  const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
  const jpeg = bytesToBase64(new Uint8Array(await blob.arrayBuffer()));
  const frames = [{ t: 0, jpeg }];
  return { kind: 'screenshot', body: { frames }, frames, frameSize: { width: sw, height: sh } };
}

function isHttp(u) { return typeof u === 'string' && /^https?:\/\//i.test(u); }

function fileName(url) {
  try { return decodeURIComponent(new URL(url).pathname.split('/').pop()) || 'media'; } catch { return 'media'; }
}

export function base64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
