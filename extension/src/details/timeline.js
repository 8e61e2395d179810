// The fake-score-over-time chart of the details view: one line per face, a legend, axis titles, the
// threshold labelled, the uncertain band shaded; a click picks the sampled frame nearest that time.
import { percent } from '../shared/wording.js';

const SVG = 'http://www.w3.org/2000/svg';

// Track colours with at least 3:1 contrast on the chart's white background (WCAG 2.1 non-text
// contrast); the same order as deepsentry/report/html.py.
export const TRACK_COLOURS = Object.freeze(['#1565c0', '#c62828', '#2e7d32', '#6a1b9a', '#e65100', '#00695c']);

function node(tag, attrs = {}, text = null) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  if (text !== null) e.textContent = text;
  return e;
}

/**
 * @param {object[]} faces  result.faces with frame_probs
 * @param {{threshold: number|null, band: number[]|null, duration: number|null, selectedT: number|null}} opts
 * @param {(t: number) => void} onPick  called with the time clicked
 */
export function timelineSvg(faces, { threshold, band, duration, selectedT }, onPick) {
  const W = 640; const H = 230; const L = 56; const R = 16; const T = 14; const B = 46;
  const scored = faces.filter((f) => (f.frame_probs || []).some((p) => typeof p.p === 'number'));
  const tMax = Math.max(0.001, duration || 0, ...scored.flatMap((f) => f.frame_probs.map((p) => p.t || 0)));
  const X = (t) => L + ((W - L - R) * t) / tMax;
  const Y = (p) => T + (H - T - B) * (1 - p);
  const legendH = 22 * scored.length;
  const svg = node('svg', { id: 'timeline', viewBox: `0 0 ${W} ${H + legendH}`, role: 'img', 'font-size': 12,
    'font-family': 'system-ui, sans-serif', 'aria-label': `Fake score over time for ${scored.length} face(s). Click to show the frame at that time.` });
  if (Array.isArray(band)) {
    svg.append(node('rect', { class: 'uncertain-band', x: L, y: Y(band[1]), width: W - L - R, height: Y(band[0]) - Y(band[1]),
      fill: '#8d5b00', 'fill-opacity': 0.14 }));
    svg.append(node('text', { x: W - R - 4, y: Y(band[1]) + 14, 'text-anchor': 'end', fill: '#6b4500' }, 'uncertain band'));
  }
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(node('line', { x1: L - 4, x2: L, y1: Y(p), y2: Y(p), stroke: '#444' }));
    svg.append(node('text', { x: L - 7, y: Y(p) + 4, 'text-anchor': 'end', fill: '#333' }, `${p * 100}%`));
  }
  for (let k = 0; k <= 5; k += 1) {
    const t = (tMax * k) / 5;
    svg.append(node('text', { x: X(t), y: H - B + 16, 'text-anchor': 'middle', fill: '#333' }, t.toFixed(1)));
  }
  svg.append(node('line', { x1: L, y1: Y(0), x2: W - R, y2: Y(0), stroke: '#444' }));
  svg.append(node('line', { x1: L, y1: Y(0), x2: L, y2: Y(1), stroke: '#444' }));
  svg.append(node('text', { x: (L + W - R) / 2, y: H - 10, 'text-anchor': 'middle', fill: '#333', class: 'axis-title' }, 'time in the video (s)'));
  svg.append(node('text', { transform: `translate(14 ${(T + H - B) / 2}) rotate(-90)`, 'text-anchor': 'middle', fill: '#333',
    class: 'axis-title' }, 'fake score'));
  if (typeof threshold === 'number') {
    svg.append(node('line', { class: 'threshold', x1: L, x2: W - R, y1: Y(threshold), y2: Y(threshold), stroke: '#b71c1c',
      'stroke-dasharray': '6 4', 'stroke-width': 1.5 }));
    svg.append(node('text', { class: 'threshold-label', x: L + 6, y: Y(threshold) - 5, fill: '#b71c1c' }, `threshold ${percent(threshold)}`));
  }
  if (typeof selectedT === 'number') {
    svg.append(node('line', { class: 'cursor', x1: X(selectedT), x2: X(selectedT), y1: Y(1), y2: Y(0), stroke: '#0d47a1', 'stroke-width': 1 }));
  }
  scored.forEach((f, i) => {
    const colour = TRACK_COLOURS[i % TRACK_COLOURS.length];
    const pts = f.frame_probs.filter((p) => typeof p.p === 'number');
    svg.append(node('polyline', { points: pts.map((p) => `${X(p.t || 0).toFixed(1)},${Y(p.p).toFixed(1)}`).join(' '), fill: 'none',
      stroke: colour, 'stroke-width': 2.5, 'data-track-id': f.track_id }));
    for (const p of pts) svg.append(node('circle', { cx: X(p.t || 0), cy: Y(p.p), r: 3, fill: colour }));
    const ly = H + 22 * i + 8;
    svg.append(node('line', { x1: L, x2: L + 26, y1: ly, y2: ly, stroke: colour, 'stroke-width': 3 }));
    svg.append(node('text', { class: 'legend', x: L + 32, y: ly + 4, fill: '#1c1c1c' }, `Face ${i + 1}: fake score ${percent(f.fake_prob)}`));
  });
  svg.addEventListener('click', (e) => {
    const r = svg.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * W;
    onPick(Math.min(tMax, Math.max(0, ((x - L) / (W - L - R)) * tMax)));
  });
  return svg;
}
