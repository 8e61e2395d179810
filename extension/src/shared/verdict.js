// Turn a daemon RESULT into what a badge shows. Used by the service worker and the details page.

import { VERDICT_WORDS, cautions, errorWords, framesUsed, grade, percent as pct } from './wording.js';

const STATES = globalThis.DeepsentryMessages.STATES;

export const SYNTHETIC_PROVENANCE = Object.freeze(['registered', 'registered_copy', 'revoked']);

export const STATE_TEXT = globalThis.DeepsentryMessages.STATE_TEXT;

const LABEL_OF_STATE = { [STATES.FAKE]: 'fake', [STATES.REAL]: 'real', [STATES.UNCERTAIN]: 'uncertain' };

/**
 * @param {object} result  the daemon's RESULT object
 * @param {number|null} thresholdOverride  the user's threshold, or null for the model's
 * @returns {{state: string, score: number|null, threshold: number|null, band: number[]|null, reason: string|null,
 *   grade: string, word: string, compact: string, sentence: string, credentials: string|null, frames: string}}
 */
export function describeResult(result, thresholdOverride = null) {
  const out = classify(result, thresholdOverride);
  const v = result?.verdict || {};
  const prov = result?.provenance;
  out.credentials = prov?.c2pa ? (prov.c2pa.valid || prov.verdict === 'c2pa_valid' ? 'valid' : 'invalid') : null;
  out.frames = framesUsed(result);
  out.cautions = cautions(result);
  const br = Object.entries(v.branches || {}).filter(([, x]) => typeof x === 'number');
  out.branches = br.length ? br.map(([k, x]) => `${k} ${pct(x)}`).join(', ') : null;
  if (out.state === STATES.REGISTERED_SYNTHETIC || out.state === STATES.CONTENT_CREDENTIALS) {
    const t = STATE_TEXT[out.state];
    Object.assign(out, { grade: out.state, word: t.text, compact: t.compact, sentence: out.reason });
    return out;
  }
  const g = out.state === STATES.NO_FACE ? grade(v, 'no_faces') : grade({ ...v, fake_prob: out.score }, LABEL_OF_STATE[out.state]);
  const [word, compact, sentence] = VERDICT_WORDS[g];
  Object.assign(out, { grade: g, word, compact, sentence });
  if (out.credentials === 'invalid') out.sentence += '. It carries Content Credentials that do not validate';
  return out;
}

function classify(result, thresholdOverride) {
  const v = result?.verdict || {};
  const p = typeof v.fake_prob === 'number' ? v.fake_prob : null;
  let threshold = typeof v.threshold === 'number' ? v.threshold : null;
  let band = Array.isArray(v.uncertain_band) ? v.uncertain_band.slice(0, 2) : null;
  const out = { state: STATES.UNCERTAIN, score: p, threshold, band, reason: v.reason || null };
  const prov = result?.provenance;
  if (prov && SYNTHETIC_PROVENANCE.includes(prov.verdict)) {
    out.state = STATES.REGISTERED_SYNTHETIC;
    out.reason = prov.verdict === 'revoked' ? 'Registered synthetic media; its consent has been revoked'
      : 'Registered synthetic media: its creator labelled it as made with consent';
    return out;
  }
  const noFace = v.label === 'no_faces' || (Array.isArray(result?.faces) && result.faces.length === 0 && p === null
    && v.label !== 'fake' && v.label !== 'real');
  if (noFace && prov?.verdict === 'c2pa_valid') {
    out.state = STATES.CONTENT_CREDENTIALS;
    out.reason = 'No face to judge, but it carries valid Content Credentials: open details to see who signed it';
    return out;
  }
  if (noFace) {
    out.state = STATES.NO_FACE;
    out.reason = out.reason || 'no face found';
    return out;
  }
  if (p !== null && typeof thresholdOverride === 'number') {
    const shift = threshold !== null ? thresholdOverride - threshold : 0;
    threshold = thresholdOverride;
    band = band ? [clamp01(band[0] + shift), clamp01(band[1] + shift)] : null;
    out.threshold = threshold;
    out.band = band;
    if (band && p >= band[0] && p <= band[1]) out.state = STATES.UNCERTAIN;
    else out.state = p >= threshold ? STATES.FAKE : STATES.REAL;
    return out;
  }
  out.state = { fake: STATES.FAKE, real: STATES.REAL, uncertain: STATES.UNCERTAIN }[v.label] || STATES.UNCERTAIN;
  return out;
}

/** What a badge says about a failure: the short word, the plain sentence, and the daemon's own message. */
export function describeError(error) {
  const [word, sentence] = errorWords(error?.code);
  return { word, compact: word, sentence, technical: error ? `${error.code}: ${error.message}` : '' };
}

function clamp01(x) { return Math.min(1, Math.max(0, x)); }

export const percent = pct;

/** The face boxes to draw at time t: per track, the box nearest in time. */
export function boxesAt(faces, t) {
  const out = [];
  for (const face of faces || []) {
    let best = null;
    for (const b of face.boxes || []) {
      if (!best || Math.abs((b.t ?? 0) - t) < Math.abs((best.t ?? 0) - t)) best = b;
    }
    if (best && (t === null || Math.abs((best.t ?? 0) - t) < 0.26 || (face.boxes || []).length === 1)) out.push({ face, box: best });
  }
  return out;
}
