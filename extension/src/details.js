import './shared/messages.js';
import { boxesAt, percent, STATE_TEXT } from './shared/verdict.js';

const { UI_TO_SW, STATES } = globalThis.DeepsentryMessages;
const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
const recordId = new URLSearchParams(location.search).get('id') || '';
const COLORS = ['#ffeb3b', '#00e5ff', '#ff4081', '#76ff03', '#ff9100'];

function el(tag, attrs = {}, text = null, ns = null) {
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  if (text !== null) e.textContent = text;
  return e;
}

function bestTime(faces) {
  const counts = new Map();
  for (const f of faces || []) for (const b of f.boxes || []) counts.set(b.t ?? 0, (counts.get(b.t ?? 0) || 0) + 1);
  let t = 0;
  let n = -1;
  for (const [k, c] of counts) if (c > n) { n = c; t = k; }
  return t;
}

function render(rec) {
  const main = $('main');
  if (!rec) {
    main.dataset.state = 'missing';
    $('verdict').textContent = 'This result is no longer available (results last for the browser session).';
    return;
  }
  main.dataset.state = rec.state;
  main.dataset.jobId = rec.jobId || '';
  main.dataset.sent = rec.sent || '';
  const label = STATE_TEXT[rec.state]?.text || rec.state;
  $('state').textContent = label;
  $('state').dataset.state = rec.state;
  const result = rec.result || null;
  const v = result?.verdict || {};
  if (rec.state === STATES.CHECKING) {
    $('verdict').textContent = `Checking… ${Math.round((rec.progress || 0) * 100)}%`;
  } else if (rec.error && !result) {
    $('verdict').textContent = `${label}: ${rec.error.message} (${rec.error.code})`;
  } else {
    const parts = [`${label}.`];
    if (typeof rec.score === 'number') parts.push(`Fake probability ${percent(rec.score)}`);
    if (typeof rec.threshold === 'number') parts.push(`threshold ${percent(rec.threshold)}`);
    if (Array.isArray(rec.band)) parts.push(`uncertain between ${percent(rec.band[0])} and ${percent(rec.band[1])}`);
    const why = rec.reason ? ` (${rec.reason === 'no_weights' ? 'no detector weights installed on the daemon' : rec.reason})` : '';
    $('verdict').textContent = `${parts[0]} ${parts.slice(1).join(', ')}${why}`.replace(/\s+/g, ' ').trim();
  }
  const model = result?.model;
  $('model').textContent = model ? `Model: ${model.name} ${model.version || ''}` : (result ? `Model: none (${result.model_status || 'no weights'})` : '');
  renderStage(rec, result);
  renderTimeline(result, rec.threshold);
  renderProvenance(result?.provenance);
  renderMedia(rec, result);
}

function renderStage(rec, result) {
  const stage = $('stage');
  stage.replaceChildren();
  const faces = result?.faces || [];
  const media = result?.media || {};
  let node = null;
  let t = 0;
  let w = media.width;
  let h = media.height;
  if (rec.frame?.jpeg) {
    node = el('img', { id: 'frame', alt: `Frame at ${rec.frame.t}s`, src: `data:image/jpeg;base64,${rec.frame.jpeg}` });
    t = rec.frame.t;
    w = w || rec.frame.width;
    h = h || rec.frame.height;
  } else if (rec.mediaUrl && /^(https?|data):/.test(rec.mediaUrl) && media.kind === 'image') {
    node = el('img', { id: 'frame', alt: 'Checked image', src: rec.mediaUrl });
    t = null;
  } else if (rec.mediaUrl && /^https?:/.test(rec.mediaUrl) && media.kind === 'video') {
    t = bestTime(faces);
    node = el('video', { id: 'frame', src: `${rec.mediaUrl}#t=${t}`, muted: '', preload: 'auto', 'aria-label': `Video frame at ${t}s` });
    node.muted = true;
  }
  if (!node || !w || !h) {
    $('caption').textContent = faces.length ? 'The frame cannot be shown here.' : 'No faces found.';
    return;
  }
  const svg = el('svg', { id: 'boxes', viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `${faces.length} face(s)` }, null, SVG);
  const drawn = boxesAt(faces, t);
  drawn.forEach(({ face, box }, i) => {
    const color = COLORS[i % COLORS.length];
    const g = el('g', { 'data-track-id': face.track_id }, null, SVG);
    g.append(el('rect', { class: 'face-box', 'data-track-id': face.track_id, x: box.x, y: box.y, width: box.w, height: box.h,
      fill: 'none', stroke: color, 'stroke-width': Math.max(2, w / 200) }, null, SVG));
    const score = typeof face.fake_prob === 'number' ? `fake ${percent(face.fake_prob)}` : 'no score';
    const fs = Math.max(12, w / 32);
    g.append(el('text', { x: box.x, y: Math.max(fs, box.y - 4), fill: color, 'font-size': fs, 'font-weight': 700,
      stroke: '#000', 'stroke-width': fs / 12, 'paint-order': 'stroke' }, `Face ${i + 1}: ${score}`, SVG));
    svg.append(g);
  });
  stage.append(node, svg);
  const where = t === null ? '' : ` at ${Number(t).toFixed(2)} s`;
  $('caption').textContent = `${drawn.length} face(s) shown${where}; ${faces.length} face track(s) in total.`;
}

function renderTimeline(result, threshold) {
  const box = $('timeline-box');
  box.replaceChildren();
  const faces = (result?.faces || []).filter((f) => (f.frame_probs || []).some((p) => typeof p.p === 'number'));
  if (!faces.length || result?.media?.kind === 'image') {
    box.append(el('p', { class: 'hint' }, result?.media?.kind === 'image' ? 'A still image has no timeline.'
      : 'No per-frame scores (no faces, or no detector weights on the daemon).'));
    return;
  }
  const W = 600;
  const H = 160;
  const pad = 28;
  const tMax = Math.max(0.001, ...faces.flatMap((f) => f.frame_probs.map((p) => p.t || 0)));
  const X = (t) => pad + ((W - 2 * pad) * t) / tMax;
  const Y = (p) => H - pad + (-(H - 2 * pad) * p);
  const svg = el('svg', { id: 'timeline', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Fake probability over time per face' }, null, SVG);
  svg.append(el('line', { x1: pad, y1: Y(0), x2: W - pad, y2: Y(0), stroke: 'currentColor' }, null, SVG));
  svg.append(el('line', { x1: pad, y1: Y(1), x2: pad, y2: Y(0), stroke: 'currentColor' }, null, SVG));
  svg.append(el('text', { x: 2, y: Y(1) + 4, 'font-size': 11, fill: 'currentColor' }, '1', SVG));
  svg.append(el('text', { x: 2, y: Y(0) + 4, 'font-size': 11, fill: 'currentColor' }, '0', SVG));
  svg.append(el('text', { x: W - pad - 40, y: H - 6, 'font-size': 11, fill: 'currentColor' }, `${tMax.toFixed(1)} s`, SVG));
  if (typeof threshold === 'number') {
    svg.append(el('line', { x1: pad, y1: Y(threshold), x2: W - pad, y2: Y(threshold), stroke: '#b71c1c', 'stroke-dasharray': '5 4' }, null, SVG));
  }
  faces.forEach((f, i) => {
    const pts = f.frame_probs.filter((p) => typeof p.p === 'number').map((p) => `${X(p.t || 0).toFixed(1)},${Y(p.p).toFixed(1)}`);
    svg.append(el('polyline', { points: pts.join(' '), fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 2,
      'data-track-id': f.track_id }, null, SVG));
  });
  box.append(svg);
}

function renderProvenance(p) {
  const box = $('provenance');
  box.replaceChildren();
  if (!p) { box.textContent = 'None returned by the daemon.'; return; }
  const t = el('table');
  const row = (k, v) => { const tr = el('tr'); tr.append(el('th', {}, k), el('td', {}, v)); t.append(tr); };
  row('Verdict', p.verdict);
  if (p.record) for (const [k, v] of Object.entries(p.record)) row(`Ledger ${k}`, typeof v === 'object' ? JSON.stringify(v) : String(v));
  if (p.c2pa) row('C2PA', typeof p.c2pa === 'object' ? JSON.stringify(p.c2pa).slice(0, 400) : String(p.c2pa));
  if (p.watermark) row('Watermark', `${p.watermark.id} (confidence ${percent(p.watermark.confidence)})`);
  if (p.ledger && typeof p.ledger === 'object') row('Ledger', JSON.stringify(p.ledger).slice(0, 400));
  if (typeof p.fingerprint_similarity === 'number') row('Fingerprint similarity', percent(p.fingerprint_similarity));
  if (Array.isArray(p.evidence) && p.evidence.length) row('Evidence', p.evidence.join('; '));
  box.append(t);
}

function renderMedia(rec, result) {
  const t = $('media');
  t.replaceChildren();
  const m = result?.media || {};
  const rows = [
    ['Sent as', { frames: 'captured frames', bytes: 'file upload', url: 'URL fetched by the daemon', screenshot: 'screenshot crop' }[rec.sent] || '–'],
    ['Media URL', rec.mediaUrl || '–'], ['Page', rec.pageUrl || '–'], ['Kind', m.kind || '–'],
    ['Size', m.width && m.height ? `${m.width}×${m.height}` : '–'], ['Duration', m.duration ? `${m.duration.toFixed(2)} s` : '–'],
    ['SHA-256', m.sha256 || '–'], ['Job', rec.jobId || '–'],
  ];
  for (const [k, v] of rows) { const tr = el('tr'); tr.append(el('th', {}, k), el('td', {}, v)); t.append(tr); }
}

async function load() {
  render(await chrome.runtime.sendMessage({ type: UI_TO_SW.GET_RESULT, recordId }));
}

$('again').addEventListener('click', async () => {
  $('verdict').textContent = 'Checking again…';
  const r = await chrome.runtime.sendMessage({ type: UI_TO_SW.CHECK_AGAIN, recordId });
  if (!r?.ok) $('verdict').textContent = `Cannot check again: ${r?.message || 'unknown error'}`;
});

chrome.storage.onChanged.addListener((changes, area) => {
  const k = `rec:${recordId}`;
  if (area === 'session' && changes[k]) render(changes[k].newValue);
});

load();
