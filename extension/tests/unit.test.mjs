// Pure logic shared by the service worker and the pages, plus the manifest and web-ext lint.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import '../src/shared/messages.js';
import { DEFAULTS, hostMatches, siteAllowed, validateSettings } from '../src/shared/settings.js';
import { boxesAt, describeError, describeResult } from '../src/shared/verdict.js';
import { EXT_ID, ROOT } from './harness.mjs';

const M = globalThis.DeepsentryMessages;

test('message tables are frozen, unique and prefixed by direction', () => {
  assert.ok(Object.isFrozen(M) && Object.isFrozen(M.CS_TO_SW) && Object.isFrozen(M.STATES));
  const all = [];
  for (const [dir, prefix] of [['CS_TO_SW', 'cs-sw-'], ['SW_TO_CS', 'sw-cs-'], ['UI_TO_SW', 'ui-sw-']]) {
    for (const v of Object.values(M[dir])) { assert.ok(v.startsWith(prefix), v); all.push(v); }
  }
  assert.equal(new Set(all).size, all.length);
  for (const s of Object.values(M.STATES)) {
    assert.match(s, /^[a-z-]+$/);
    assert.ok(M.STATE_TEXT[s]?.text && M.STATE_TEXT[s]?.icon, `no text/icon for ${s}`);
  }
});

test('manifest: stable id from the public key, minimal permissions, Firefox fallback', () => {
  const m = JSON.parse(fs.readFileSync(path.join(ROOT, 'extension/src/manifest.json'), 'utf8'));
  const pub = fs.readFileSync(path.join(ROOT, 'extension/.pubkey.b64'), 'utf8').trim();
  assert.equal(m.key, pub);
  const hex = crypto.createHash('sha256').update(Buffer.from(pub, 'base64')).digest('hex').slice(0, 32);
  const id = [...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('');
  assert.equal(id, EXT_ID);
  assert.deepEqual(m.permissions.sort(), ['activeTab', 'contextMenus', 'storage']);
  assert.deepEqual(m.host_permissions, ['http://127.0.0.1/*', 'http://localhost/*']);
  assert.equal(m.background.service_worker, 'sw.js');
  assert.deepEqual(m.background.scripts, ['sw.js']);
  assert.equal(m.browser_specific_settings.gecko.id, 'deepsentry@deepsentry.local');
});

test('settings validation', () => {
  assert.deepEqual(validateSettings({ daemonUrl: 'http://localhost:9000/x' }), { daemonUrl: 'http://localhost:9000' });
  assert.throws(() => validateSettings({ daemonUrl: 'http://evil.example:8765' }), /127\.0\.0\.1/);
  assert.throws(() => validateSettings({ daemonUrl: 'https://127.0.0.1:8765' }), /http/);
  assert.throws(() => validateSettings({ token: 'abc' }), /64 hexadecimal/);
  assert.equal(validateSettings({ token: ` ${'AB'.repeat(32)} ` }).token, 'ab'.repeat(32));
  assert.equal(validateSettings({ token: '' }).token, '');
  assert.throws(() => validateSettings({ frameCount: 0 }), /frameCount/);
  assert.throws(() => validateSettings({ threshold: 1.5 }), /Threshold/);
  assert.equal(validateSettings({ threshold: '' }).threshold, null);
  assert.deepEqual(validateSettings({ denySites: 'A.com\n b.org, a.com' }).denySites, ['a.com', 'b.org']);
});

test('site lists', () => {
  assert.ok(hostMatches('www.example.com', 'example.com'));
  assert.ok(!hostMatches('badexample.com', 'example.com'));
  const s = { ...DEFAULTS, denySites: ['ads.example.com'] };
  assert.ok(siteAllowed(s, 'https://example.com/a'));
  assert.ok(!siteAllowed(s, 'https://x.ads.example.com/'));
  assert.ok(!siteAllowed({ ...DEFAULTS, allowSites: ['news.org'] }, 'https://example.com/'));
  assert.ok(siteAllowed({ ...DEFAULTS, allowSites: ['news.org'] }, 'https://m.news.org/'));
});

const res = (verdict, extra = {}) => ({ faces: [{ track_id: 0, boxes: [], fake_prob: verdict.fake_prob ?? null }], verdict, ...extra });

test('verdict mapping, threshold override and provenance', () => {
  assert.equal(describeResult(res({ label: 'fake', fake_prob: 0.9, threshold: 0.5, uncertain_band: [0.4, 0.6] })).state, 'fake');
  assert.equal(describeResult(res({ label: 'real', fake_prob: 0.1, threshold: 0.5 })).state, 'real');
  assert.equal(describeResult({ faces: [], verdict: { label: 'no_faces', fake_prob: null } }).state, 'no-face');
  const nw = describeResult(res({ label: 'uncertain', fake_prob: null, reason: 'no_weights' }));
  assert.deepEqual([nw.state, nw.score, nw.reason], ['uncertain', null, 'no_weights']);
  // The user's threshold moves the band with it.
  const o = describeResult(res({ label: 'fake', fake_prob: 0.68, threshold: 0.5, uncertain_band: [0.45, 0.55] }), 0.7);
  assert.equal(o.state, 'uncertain');
  assert.equal(describeResult(res({ label: 'fake', fake_prob: 0.62, threshold: 0.5 }), 0.7).state, 'real');
  for (const v of ['registered', 'registered_copy', 'revoked']) {
    assert.equal(describeResult(res({ label: 'real', fake_prob: 0.1 }, { provenance: { verdict: v } })).state, 'registered-synthetic');
  }
  assert.equal(describeResult(res({ label: 'real', fake_prob: 0.1 }, { provenance: { verdict: 'c2pa_valid' } })).state, 'real');
});

test('graded words: never "REAL fake 16%", strength from the bands, credentials and small faces named', () => {
  const words = (v, extra) => { const d = describeResult(res(v, extra)); return [d.state, d.word, d.compact, d.sentence]; };
  assert.deepEqual(words({ label: 'fake', fake_prob: 0.998, threshold: 0.5, uncertain_band: [0.4, 0.6] }),
    ['fake', 'LIKELY FAKE', 'FAKE', 'Strong evidence of manipulation']);
  assert.deepEqual(words({ label: 'fake', fake_prob: 0.7, threshold: 0.5 }), ['fake', 'LIKELY FAKE', 'FAKE', 'Substantial evidence of manipulation']);
  assert.deepEqual(words({ label: 'real', fake_prob: 0.16, threshold: 0.5 }), ['real', 'LIKELY REAL', 'REAL', 'Little evidence of manipulation']);
  assert.deepEqual(words({ label: 'uncertain', fake_prob: 0.5 }).slice(0, 3), ['uncertain', 'UNCERTAIN', 'UNSURE']);
  // a user threshold that makes 0.62 real: graded as real, not with the daemon's "fake" words
  assert.equal(describeResult(res({ label: 'fake', fake_prob: 0.62, threshold: 0.5 }), 0.7).word, 'LIKELY REAL');
  const small = describeResult({ faces: [], verdict: { label: 'no_faces', fake_prob: null, reason: 'faces_too_small' } });
  assert.deepEqual([small.state, small.word], ['no-face', 'FACES TOO SMALL']);
  const cr = describeResult({ faces: [], verdict: { label: 'no_faces', fake_prob: null }, provenance: { verdict: 'c2pa_valid', c2pa: { valid: true } } });
  assert.deepEqual([cr.state, cr.word, cr.credentials], ['content-credentials', 'CONTENT CREDENTIALS', 'valid']);
  const faceCr = describeResult(res({ label: 'real', fake_prob: 0.1 }, { provenance: { verdict: 'c2pa_valid', c2pa: { valid: true } } }));
  assert.deepEqual([faceCr.state, faceCr.credentials], ['real', 'valid']);
  const bad = describeResult(res({ label: 'real', fake_prob: 0.1 }, { provenance: { verdict: 'c2pa_invalid', c2pa: { valid: false } } }));
  assert.match(bad.sentence, /Content Credentials that do not validate/);
  assert.equal(describeResult({ media: { kind: 'frames', frames_sampled: 8 }, ...res({ label: 'real', fake_prob: 0.2 }) }).frames,
    'Based on 8 frames captured by the browser.');
  assert.equal(describeResult(res({ label: 'fake', fake_prob: 0.8, branches: { blend: 0.91, synthesis: 0.12 } })).branches,
    'blend 91%, synthesis 12%');
  assert.equal(describeError({ code: 'url_refused', message: 'refusing to fetch localhost' }).word, "CAN'T CHECK");
  assert.doesNotMatch(describeError({ code: 'url_refused', message: 'x' }).sentence, /loopback|allow-list/);
});

test('boxes drawn at a time: nearest box per track, tracks absent then are left out', () => {
  const faces = [
    { track_id: 1, boxes: [{ t: 0, x: 1 }, { t: 0.5, x: 2 }, { t: 1, x: 3 }] },
    { track_id: 2, boxes: [{ t: 0, x: 9 }, { t: 0.5, x: 8 }] },
  ];
  assert.deepEqual(boxesAt(faces, 0.5).map((d) => d.box.x), [2, 8]);
  assert.deepEqual(boxesAt(faces, 1).map((d) => d.box.x), [3]);
  assert.deepEqual(boxesAt([{ track_id: 0, boxes: [{ t: 0, x: 5 }] }], null).map((d) => d.box.x), [5]);
});

test('web-ext lint reports no errors', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'extension/build.mjs'), '--lint'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /web-ext lint: 0 errors/);
});
