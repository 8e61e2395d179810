// Turn a daemon RESULT into what a badge shows. Used by the service worker and the details page.

const STATES = globalThis.DeepsentryMessages.STATES;

export const SYNTHETIC_PROVENANCE = Object.freeze(['registered', 'registered_copy', 'revoked']);

export const STATE_TEXT = globalThis.DeepsentryMessages.STATE_TEXT;

/**
 * @param {object} result  the daemon's RESULT object
 * @param {number|null} thresholdOverride  the user's threshold, or null for the model's
 * @returns {{state: string, score: number|null, threshold: number|null, band: number[]|null, reason: string|null}}
 */
export function describeResult(result, thresholdOverride = null) {
  const v = result?.verdict || {};
  const p = typeof v.fake_prob === 'number' ? v.fake_prob : null;
  let threshold = typeof v.threshold === 'number' ? v.threshold : null;
  let band = Array.isArray(v.uncertain_band) ? v.uncertain_band.slice(0, 2) : null;
  const out = { state: STATES.UNCERTAIN, score: p, threshold, band, reason: v.reason || null };
  const prov = result?.provenance;
  if (prov && SYNTHETIC_PROVENANCE.includes(prov.verdict)) {
    out.state = STATES.REGISTERED_SYNTHETIC;
    out.reason = prov.verdict === 'revoked' ? 'registered synthetic; consent revoked' : 'registered synthetic media';
    return out;
  }
  if (v.label === 'no_faces' || (Array.isArray(result?.faces) && result.faces.length === 0 && p === null && v.label !== 'fake' && v.label !== 'real')) {
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

function clamp01(x) { return Math.min(1, Math.max(0, x)); }

export function percent(p) { return typeof p === 'number' ? `${Math.round(p * 100)}%` : '–'; }

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
