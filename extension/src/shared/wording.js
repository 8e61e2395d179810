// The words a user reads about a result: graded verdicts, provenance, errors and progress stages.
// deepsentry/report/wording.py holds the same verdict and provenance tables for reports and the CLI;
// tests/report/test_wording_parity.py keeps the two in step.
//
// A detector score is evidence, not proof: the wording is graded and never says "real" without
// "likely". Inside the calibrated uncertain band the answer is UNCERTAIN; outside it the strength
// word follows the score (0.9 and over: strong evidence; 0.1 and under: very little evidence).

export const STRONG_FAKE = 0.9;
export const STRONG_REAL = 0.1;

// grade -> [badge word, compact word for small media, one sentence]
export const VERDICT_WORDS = Object.freeze({
  fake_strong: ['LIKELY FAKE', 'FAKE', 'Strong evidence of manipulation'],
  fake: ['LIKELY FAKE', 'FAKE', 'Substantial evidence of manipulation'],
  uncertain: ['UNCERTAIN', 'UNSURE', 'Mixed evidence: the detector cannot tell whether this face was manipulated'],
  real: ['LIKELY REAL', 'REAL', 'Little evidence of manipulation'],
  real_strong: ['LIKELY REAL', 'REAL', 'Very little evidence of manipulation'],
  no_faces: ['NO FACE', 'NO FACE', 'No face large enough to judge was found'],
  faces_too_small: ['FACES TOO SMALL', 'SMALL', 'Faces were found, but they are too small to judge'],
  no_weights: ['NO SCORE', 'NO SCORE', 'No detector weights are installed, so faces were found but not scored'],
});

export const KNOWN_LIMITS = Object.freeze([
  'A score is evidence, not proof: a low score does not show that media is authentic (Content Credentials '
    + 'and the ledger can), and a high one does not say who made it or how.',
  'Fakes from generators and editors unlike the ones in the training data can be missed or land in '
    + '"uncertain".',
  'Black-and-white photos, heavy compression, strong filters, profile views and faces smaller than about '
    + '40 pixels are scored less reliably.',
  'Frames captured by the browser and frames decoded from the file can give slightly different scores; the '
    + 'number of frames used is shown with every result.',
]);

export const PROVENANCE_WORDS = Object.freeze({
  registered: 'Registered synthetic media: its creator registered it on the deepsentry ledger as made with consent.',
  registered_copy: 'A re-encoded copy of registered synthetic media (found by its watermark and fingerprint).',
  revoked: 'Registered synthetic media whose registration or consent has been revoked.',
  c2pa_valid: 'Has valid Content Credentials (a C2PA manifest whose signature checks out).',
  c2pa_invalid: 'Has Content Credentials that do not validate: the file or its manifest changed after signing.',
  unknown: 'No provenance found: no Content Credentials, no watermark, not on the ledger.',
});

export const CAUTIONS = Object.freeze({
  greyscale: 'This picture is black-and-white, which the detector scores less reliably: weigh the score with care.',
});

/** What about this media makes its score less reliable, in words. */
export function cautions(result) {
  const scored = typeof result?.verdict?.fake_prob === 'number';
  return scored && result?.media?.greyscale ? [CAUTIONS.greyscale] : [];
}

export const C2PA_CODES = Object.freeze({
  'signingCredential.untrusted': "the signer's certificate is not issued by an authority this computer trusts",
  'signingCredential.expired': "the signer's certificate had expired when it signed",
  'signingCredential.revoked': "the signer's certificate has been revoked",
  'claimSignature.mismatch': 'the signature does not match the manifest: the credentials were altered',
  'assertion.dataHash.mismatch': "the file's content changed after it was signed",
  'assertion.bmffHash.mismatch': "the video's content changed after it was signed",
  'assertion.hashedURI.mismatch': 'a part of the manifest changed after it was signed',
  'manifest.unreadable': 'the Content Credentials are present but cannot be read',
});

// Failures: [short badge word, what happened and what to do]. The daemon's own message goes behind
// "technical details".
export const ERROR_WORDS = Object.freeze({
  url_refused: ["CAN'T CHECK", 'deepsentry does not download from this address because it points to this computer or '
    + 'a private network. Right-click the video while it plays and choose "Check with deepsentry" to check what is on screen.'],
  fetch_failed: ["CAN'T CHECK", 'deepsentry could not download this media: the site may block downloads or need a '
    + 'login. Right-click it while it is on screen and choose "Check with deepsentry" to check what is visible.'],
  unsupported_media: ["CAN'T CHECK", 'This file type cannot be checked. deepsentry reads common image and video formats '
    + '(JPEG, PNG, WebP, MP4, WebM, MOV).'],
  corrupt_media: ["CAN'T CHECK", 'The file is damaged or incomplete, so it cannot be read. Try again once it has fully loaded.'],
  too_large: ['TOO LARGE', 'This media is larger or longer than deepsentry is set to check. Download a shorter part '
    + 'and check the file instead.'],
  busy: ['BUSY', 'deepsentry is busy with other checks. It will try again; you can also click the badge later.'],
  timeout: ['TOO SLOW', 'The check took too long and was stopped. Click the badge to try again.'],
  model_unavailable: ['NO MODEL', 'The detector model is not available on this computer. Run `deepsentry doctor` to see why.'],
  offline: ['DAEMON OFFLINE', 'deepsentry is not running on this computer. Start it with `deepsentry serve`; the badge '
    + 'will check again by itself.'],
  no_faces: ['NO FACE', 'No face large enough to judge was found.'],
  missing_token: ['PAIR DEEPSENTRY', 'This browser is not paired with deepsentry yet. Click to open the options and pair.'],
  no_token: ['PAIR DEEPSENTRY', 'This browser is not paired with deepsentry yet. Click to open the options and pair.'],
  bad_token: ['PAIR DEEPSENTRY', 'deepsentry no longer accepts this browser\'s pairing. Click to open the options and pair again.'],
  bad_origin: ["CAN'T CHECK", 'The deepsentry daemon does not accept requests from this browser extension. If you use '
    + 'Firefox, add its extension address to DEEPSENTRY_ALLOWED_ORIGINS.'],
  extension_error: ["CAN'T CHECK", 'The browser could not read this media. Reload the page and try again.'],
});

const GENERIC_ERROR = ["CAN'T CHECK", 'The check did not finish. Click the badge to try again.'];

/** 0.998 reads ">99%", 0.004 "<1%": a rounded 100% or 0% claims a certainty the model does not have. */
export function percent(p) {
  if (typeof p !== 'number') return '–';
  if (p > 0.99) return '>99%';
  if (p < 0.01) return '<1%';
  return `${Math.round(p * 100)}%`;
}

/** The key into VERDICT_WORDS for a result's verdict (label from the daemon, or a state chosen with a user threshold). */
export function grade(verdict, label = verdict?.label) {
  const p = typeof verdict?.fake_prob === 'number' ? verdict.fake_prob : null;
  if (label === 'no_faces') return verdict?.reason === 'faces_too_small' ? 'faces_too_small' : 'no_faces';
  if (p === null) return verdict?.reason === 'no_weights' ? 'no_weights' : 'uncertain';
  if (label === 'fake') return p >= STRONG_FAKE ? 'fake_strong' : 'fake';
  if (label === 'real') return p <= STRONG_REAL ? 'real_strong' : 'real';
  return 'uncertain';
}

export function errorWords(code) { return ERROR_WORDS[code] || GENERIC_ERROR; }

/** How many frames the verdict rests on and where they came from. */
export function framesUsed(result) {
  const m = result?.media || {};
  const n = m.frames_sampled || 0;
  const s = n === 1 ? '' : 's';
  if (m.kind === 'image') return 'Based on the image itself.';
  if (m.kind === 'frames') return `Based on ${n} frame${s} captured by the browser.`;
  return `Based on ${n} frame${s} sampled by deepsentry from the video.`;
}

/** [label, text] rows describing a C2PA report in words. */
export function c2paSummary(c2pa) {
  if (!c2pa) return [];
  const signer = c2pa.signer || {};
  const rows = [['Signed by', signer.common_name || signer.issuer || 'unknown signer']];
  if (signer.issuer && signer.issuer !== signer.common_name) rows.push(['Certificate issued by', signer.issuer]);
  if (signer.time) rows.push(['Signed at', String(signer.time)]);
  if (c2pa.claim_generator) rows.push(['Made with', String(c2pa.claim_generator)]);
  if (c2pa.digital_source_type) {
    const src = String(c2pa.digital_source_type).split('/').pop();
    rows.push(['Declared source', { trainedAlgorithmicMedia: 'generated by an AI model',
      compositeSynthetic: 'a composite with synthetic parts' }[src] || src]);
  }
  rows.push(['Validation', { trusted: 'valid, signed by a trusted signer',
    valid: 'valid signature, but the signer is not one this computer trusts', invalid: 'does not validate' }[c2pa.state]
    || String(c2pa.state)]);
  for (const f of c2pa.failures || []) {
    rows.push([`Problem: ${f.code || ''}`, C2PA_CODES[f.code] || f.explanation || 'see the C2PA specification']);
  }
  return rows;
}
