// The details view of one result: verdict in words, the sampled frames with every face boxed, the
// selected face's heatmap, the score timeline, per-branch scores, provenance in words (raw records
// behind "technical details"), the media's facts, and "Export report" (HTML or PDF, made by the daemon).
import './shared/messages.js';
import { boxesAt, describeError, STATE_TEXT } from './shared/verdict.js';
import { c2paSummary, KNOWN_LIMITS, percent, PROVENANCE_WORDS } from './shared/wording.js';
import { timelineSvg, TRACK_COLOURS } from './details/timeline.js';

const { UI_TO_SW, STATES } = globalThis.DeepsentryMessages;
const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
const recordId = new URLSearchParams(location.search).get('id') || '';
const ui = { t: null, track: 0 };       // the selected frame time and face
let current = null;

function el(tag, attrs = {}, text = null, ns = null) {
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  if (text !== null) e.textContent = text;
  return e;
}

function table(rows, hashKey = null) {
  const t = el('table');
  for (const [k, v] of rows) {
    const tr = el('tr');
    tr.append(el('th', {}, k), el('td', k === hashKey ? { class: 'hash' } : {}, v));
    t.append(tr);
  }
  return t;
}

/** Frames to show: the daemon's thumbnails (explain), else the one frame the worker kept. */
function framesOf(rec) {
  const thumbs = rec.result?.thumbnails;
  if (thumbs?.length) return thumbs.map((f) => ({ t: f.t, src: `data:image/jpeg;base64,${f.jpeg}` }));
  if (rec.frame?.jpeg) return [{ t: rec.frame.t, src: `data:image/jpeg;base64,${rec.frame.jpeg}` }];
  const m = rec.result?.media;
  if (m?.kind === 'image' && /^(https?|data):/.test(rec.mediaUrl || '')) return [{ t: null, src: rec.mediaUrl }];
  return [];
}

function bestTime(faces, frames) {
  const counts = new Map();
  for (const f of faces || []) for (const b of f.boxes || []) counts.set(b.t ?? 0, (counts.get(b.t ?? 0) || 0) + 1);
  let t = frames[0]?.t ?? 0;
  let n = -1;
  for (const fr of frames) if ((counts.get(fr.t) || 0) > n) { n = counts.get(fr.t) || 0; t = fr.t; }
  return t;
}

function render(rec) {
  current = rec;
  const main = $('main');
  if (!rec) {
    main.dataset.state = 'missing';
    $('verdict').textContent = 'This result is no longer available: results are kept until the browser closes.';
    return;
  }
  main.dataset.state = rec.state;
  main.dataset.jobId = rec.jobId || '';
  main.dataset.sent = rec.sent || '';
  const result = rec.result || null;
  const view = rec.view || {};
  const label = view.word || STATE_TEXT[rec.state]?.text || rec.state;
  $('state').textContent = label;
  $('state').dataset.state = rec.state;
  $('error-box').replaceChildren();
  $('score').textContent = '';
  $('faces-section').hidden = !result;
  if (rec.state === STATES.CHECKING) {
    const stage = rec.stage ? ` (${rec.stage})` : '';
    $('verdict').textContent = `Checking… ${Math.round((rec.progress || 0) * 100)}%${stage}`;
  } else if (rec.error && !result) {
    const e = describeError(rec.error);
    $('state').textContent = rec.state === STATES.ERROR ? e.word : label;
    $('verdict').textContent = e.sentence;
    const d = el('details');
    d.append(el('summary', {}, 'Technical details'), el('pre', {}, e.technical));
    $('error-box').append(d);
  } else {
    $('verdict').textContent = `${label}: ${view.sentence || rec.reason || ''}.`.replace(/\.\.$/, '.');
    const parts = [];
    if (typeof rec.score === 'number') parts.push(`Fake score ${percent(rec.score)}`);
    if (typeof rec.threshold === 'number') parts.push(`threshold ${percent(rec.threshold)}`);
    if (Array.isArray(rec.band)) parts.push(`uncertain between ${percent(rec.band[0])} and ${percent(rec.band[1])}`);
    $('score').textContent = parts.join(', ');
  }
  $('frames-used').textContent = view.frames || '';
  const model = result?.model;
  $('model').textContent = model ? `Model: ${model.name} ${model.version || ''}` : (result ? `Model: none (${result.model_status || 'no weights'})` : '');
  for (const b of ['export-html', 'export-pdf']) $(b).disabled = !result;
  const frames = framesOf(rec);
  if (ui.t === null || !frames.some((f) => f.t === ui.t)) ui.t = bestTime(result?.faces, frames);
  renderFaces(rec, frames);
  renderSummary(rec);
  renderProvenance(rec);
  renderMedia(rec);
  const raw = result ? { ...result, thumbnails: undefined, faces: (result.faces || []).map(({ heatmap, ...f }) => f) } : rec.error;
  $('tech-json').textContent = JSON.stringify(raw, null, 2);
}

function renderFaces(rec, frames) {
  const result = rec.result;
  if (!result) return;
  const faces = result.faces || [];
  const media = result.media || {};
  const strip = $('strip');
  strip.replaceChildren();
  if (frames.length > 1) {
    for (const f of frames) {
      const b = el('button', { type: 'button', 'aria-pressed': String(f.t === ui.t), 'aria-label': `Frame at ${Number(f.t).toFixed(2)} s`, 'data-t': f.t });
      b.append(el('img', { src: f.src, alt: '' }), el('span', { class: 't' }, `${Number(f.t).toFixed(1)} s`));
      b.addEventListener('click', () => { ui.t = f.t; render(current); });
      strip.append(b);
    }
  }
  const stage = $('stage');
  stage.replaceChildren();
  const frame = frames.find((f) => f.t === ui.t) || frames[0];
  const w = media.width || rec.frame?.width;
  const h = media.height || rec.frame?.height;
  if (frame && w && h) {
    stage.append(el('img', { id: 'frame', alt: frame.t === null ? 'Checked image' : `Frame at ${Number(frame.t).toFixed(2)} s`, src: frame.src, 'data-t': frame.t ?? '' }));
    const svg = el('svg', { id: 'boxes', viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `${faces.length} face(s)` }, null, SVG);
    const drawn = boxesAt(faces, frame.t);
    for (const { face, box } of drawn) {
      const i = faces.indexOf(face);
      const colour = TRACK_COLOURS[i % TRACK_COLOURS.length];
      const sw = Math.max(2, w / 200);
      const g = el('g', { 'data-track-id': face.track_id }, null, SVG);
      g.append(el('rect', { x: box.x, y: box.y, width: box.w, height: box.h, fill: 'none', stroke: '#fff', 'stroke-width': sw * 2 }, null, SVG));
      g.append(el('rect', { class: 'face-box', 'data-track-id': face.track_id, x: box.x, y: box.y, width: box.w, height: box.h,
        fill: 'none', stroke: colour, 'stroke-width': sw }, null, SVG));
      const fs = Math.max(12, w / 32);
      g.append(el('text', { x: box.x, y: Math.max(fs, box.y - 4), fill: '#fff', 'font-size': fs, 'font-weight': 700, stroke: '#000',
        'stroke-width': fs / 10, 'paint-order': 'stroke' }, `Face ${i + 1}: ${percent(face.fake_prob)}`, SVG));
      svg.append(g);
    }
    stage.append(svg);
    const where = frame.t === null ? '' : ` at ${Number(frame.t).toFixed(2)} s`;
    $('caption').textContent = `${drawn.length} of ${faces.length} face(s) shown${where}.`;
  } else {
    $('caption').textContent = faces.length ? 'The frame cannot be shown here.' : (result.verdict?.reason === 'faces_too_small'
      ? `Faces were found, but the largest is ${result.verdict.largest_small_face_px} px: deepsentry judges faces of ${result.verdict.min_face_px} px or more.`
      : 'No face large enough to judge was found.');
  }
  renderTracks(faces);
  const box = $('timeline-box');
  box.replaceChildren();
  if (media.kind === 'image' || !faces.some((f) => (f.frame_probs || []).some((p) => typeof p.p === 'number'))) {
    box.append(el('p', { class: 'hint' }, media.kind === 'image' ? 'A still image has no timeline.' : 'No per-frame scores (no faces, or no detector weights on the daemon).'));
  } else {
    box.append(timelineSvg(faces, { threshold: rec.threshold, band: rec.band, duration: durationOf(rec), selectedT: ui.t }, (t) => {
      if (!frames.length) return;
      ui.t = frames.reduce((a, f) => (Math.abs(f.t - t) < Math.abs(a.t - t) ? f : a)).t;
      render(current);
    }));
  }
}

function renderTracks(faces) {
  const list = $('tracks');
  list.replaceChildren();
  if (ui.track >= faces.length) ui.track = 0;
  faces.forEach((f, i) => {
    const li = el('li');
    const b = el('button', { type: 'button', 'aria-pressed': String(i === ui.track), 'data-track-id': f.track_id });
    const branches = Object.entries(f.branches || {}).map(([k, v]) => `${k} ${percent(typeof v === 'object' ? v.fake_prob : v)}`).join(', ');
    b.append(el('span', { class: 'swatch', style: `background:${TRACK_COLOURS[i % TRACK_COLOURS.length]}` }),
      el('span', {}, `Face ${i + 1}: fake score ${percent(f.fake_prob)}, seen in ${(f.boxes || []).length} frame(s)${branches ? `; per branch: ${branches}` : ''}`));
    b.addEventListener('click', () => {
      ui.track = i;
      const first = (f.heatmap?.t ?? f.boxes?.[0]?.t);
      if (typeof first === 'number') ui.t = nearestFrameT(first);
      render(current);
    });
    li.append(b);
    list.append(li);
  });
  const hb = $('heatmap-box');
  hb.replaceChildren();
  const face = faces[ui.track];
  if (face?.heatmap?.png) {
    hb.append(el('img', { id: 'heatmap', src: `data:image/png;base64,${face.heatmap.png}`,
      alt: `Heatmap of face ${ui.track + 1}: the regions that raised its fake score most` }),
    el('p', { class: 'hint' }, `Face ${ui.track + 1} at ${Number(face.heatmap.t).toFixed(2)} s, its most suspicious frame: red areas moved the score most.`));
  } else {
    hb.textContent = faces.length ? 'No heatmap in this result.' : 'No face to explain.';
  }
}

function nearestFrameT(t) {
  const frames = framesOf(current);
  if (!frames.length) return t;
  return frames.reduce((a, f) => (Math.abs(f.t - t) < Math.abs(a.t - t) ? f : a)).t;
}

function durationOf(rec) {
  if (typeof rec.mediaDuration === 'number') return rec.mediaDuration;
  return rec.result?.media?.kind === 'frames' ? null : rec.result?.media?.duration ?? null;
}

function renderSummary(rec) {
  const v = rec.view || {};
  const s = [];
  if (rec.result) {
    s.push(`${v.sentence || rec.reason || ''}.`);
    if (rec.result.faces?.length > 1) s.push(`${rec.result.faces.length} face tracks were followed; the verdict is that of the most suspicious one.`);
    if (rec.sent === 'frames') s.push('The browser sent the frames it could read; checking the file itself can differ slightly.');
    if (v.caution) s.push(v.caution);
  }
  $('summary').textContent = s.join(' ').replace(/\.\./g, '.');
  $('limits').replaceChildren(...KNOWN_LIMITS.map((x) => el('li', {}, x)),
    el('li', {}, 'How the model was trained and measured, family by family: its model card, MODEL_CARD.md beside the weights '
      + '(`deepsentry doctor` prints where they are).'));
}

function renderProvenance(rec) {
  const box = $('provenance');
  box.replaceChildren();
  const p = rec.result?.provenance;
  if (!p) {
    box.textContent = rec.sent === 'frames' || rec.sent === 'screenshot'
      ? 'Not checked: frames captured by the browser carry no file, so Content Credentials, watermark and ledger cannot be read. Check a link to the file itself to see them.'
      : 'Not checked.';
    return;
  }
  box.append(el('p', { id: 'provenance-summary' }, PROVENANCE_WORDS[p.verdict] || p.verdict));
  const rows = c2paSummary(p.c2pa);
  if (rows.length) {
    box.append(el('h3', {}, 'Content Credentials (C2PA)'), table(rows));
  }
  if (p.watermark) box.append(el('p', {}, `deepsentry watermark ${p.watermark.id} found (confidence ${percent(p.watermark.confidence)}).`));
  const tech = {};
  for (const k of ['record', 'ledger', 'fingerprint_similarity', 'evidence', 'c2pa']) if (p[k]) tech[k] = p[k];
  if (Object.keys(tech).length) {
    const d = el('details', { id: 'provenance-tech' });
    d.append(el('summary', {}, 'Technical details: ledger record and evidence'), el('pre', {}, JSON.stringify(tech, null, 2)));
    box.append(d);
  }
}

function renderMedia(rec) {
  const m = rec.result?.media || {};
  const dur = durationOf(rec);
  const rows = [
    ['Sent as', { frames: 'frames captured by the browser', bytes: 'file upload', url: 'address fetched by deepsentry', screenshot: 'screenshot crop' }[rec.sent] || '–'],
    ['Media address', rec.mediaUrl || '–'], ['Page', rec.pageUrl || '–'], ['Kind', m.kind || '–'],
    ['Size', m.width && m.height ? `${m.width}×${m.height}` : '–'], ['Duration', typeof dur === 'number' ? `${dur.toFixed(2)} s` : '–'],
    ['SHA-256', m.sha256 || rec.sha256 || '–'], ['Checked at', rec.analysedAt || '–'], ['Job', rec.jobId || '–'],
  ];
  $('media').replaceWith(Object.assign(table(rows, 'SHA-256'), { id: 'media' }));
}

async function load() {
  render(await chrome.runtime.sendMessage({ type: UI_TO_SW.GET_RESULT, recordId }));
}

$('again').addEventListener('click', async () => {
  $('verdict').textContent = 'Checking again…';
  const r = await chrome.runtime.sendMessage({ type: UI_TO_SW.CHECK_AGAIN, recordId });
  if (!r?.ok) $('verdict').textContent = `Cannot check again: ${r?.message || 'the extension did not answer'}`;
});

async function exportReport(format) {
  $('export-status').textContent = 'Making the report…';
  const r = await chrome.runtime.sendMessage({ type: UI_TO_SW.EXPORT_REPORT, recordId, format });
  if (!r?.ok) { $('export-status').textContent = `The report could not be made: ${r?.message || 'no answer'}`; return; }
  const bytes = Uint8Array.from(atob(r.base64), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: r.mime }));
  const a = el('a', { href: url, download: r.name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  $('export-status').textContent = `Saved ${r.name}`;
}
$('export-html').addEventListener('click', () => exportReport('html'));
$('export-pdf').addEventListener('click', () => exportReport('pdf'));

chrome.storage.onChanged.addListener((changes, area) => {
  const k = `rec:${recordId}`;
  if (area === 'session' && changes[k]) render(changes[k].newValue);
});

load();
