// Badges with no daemon running: placement over qualifying media (none on icons), following scroll,
// layout change and late insertion, surviving hostile page CSS, keyboard focus, 200% zoom, and the
// daemon-offline / pairing-prompt states. Needs only Chromium (no daemon).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import '../src/shared/messages.js';
import {
  allBadges, badgeOf, EXT_ORIGIN, freePort, launch, makeMedia, serviceWorker, removeTmpDirs, setSettings, shot, startSites, tmpDir, waitFor,
} from './harness.mjs';

const { SW_TO_CS } = globalThis.DeepsentryMessages;

const QUALIFYING = ['#face-img', '#landscape', '#same-video', '#cross-video'];
let sites;
let mediaDir;
let truth;
let browser;
let page;

/** The badge sits INSET px inside the media's top-left corner. */
function assertAligned(b, what) {
  assert.ok(b && b.id, `${what}: no badge`);
  assert.ok(Math.abs(b.host.x - (b.media.x + 6)) <= 1.5, `${what}: badge x ${b.host.x} vs media x ${b.media.x}`);
  assert.ok(Math.abs(b.host.y - (b.media.y + 6)) <= 1.5, `${what}: badge y ${b.host.y} vs media y ${b.media.y}`);
}

before(async () => {
  mediaDir = tmpDir('ds-media-');
  truth = makeMedia(mediaDir);
  sites = await startSites(mediaDir);
  browser = await launch();
  const deadPort = await freePort();   // nothing listens here
  await setSettings(browser.context, { daemonUrl: `http://127.0.0.1:${deadPort}`, token: 'a'.repeat(64) });
  page = await browser.context.newPage();
  await page.goto(`${sites.a}/index.html`);
});

after(async () => {
  await browser?.context.close();
  await sites?.close();
  removeTmpDirs();
});

test('badges on every qualifying medium, none on icons, in the daemon-offline state', async () => {
  await waitFor(async () => {
    const states = await Promise.all(QUALIFYING.map((s) => badgeOf(page, s)));
    return states.every((b) => b?.state === 'daemon-offline');
  }, { what: 'daemon-offline badges', timeout: 40000 });
  const badges = await allBadges(page);
  assert.equal(badges.length, QUALIFYING.length, JSON.stringify(badges));
  for (const sel of ['#icon1', '#icon2']) {
    assert.equal(await page.$eval(sel, (e) => e.getAttribute('data-deepsentry-badge')), null, `${sel} got a badge`);
  }
  for (const sel of QUALIFYING) {
    const b = await badgeOf(page, sel);
    assertAligned(b, sel);
    assert.ok(b.visible, `${sel} badge hidden by page CSS`);
    assert.match(b.text, /DAEMON OFFLINE/);
    assert.match(b.ariaLabel, /deepsentry: DAEMON OFFLINE/);
    assert.ok(b.button.h >= 14, `badge text too small: ${b.button.h}px`);   // page sets * { font-size: 3px }
    assert.equal(b.score, null);
  }
  await shot(page, 'offline-badges');
});

test('badges follow scrolling, layout changes and late insertion', async () => {
  await page.evaluate(() => window.scrollTo(0, 120));
  await page.waitForTimeout(100);
  for (const sel of QUALIFYING) assertAligned(await badgeOf(page, sel), `${sel} after scroll`);
  const before = await badgeOf(page, '#face-img');
  assert.ok(before.host.y < 0, 'scrolled 120px: the face image badge should be partly above the viewport top');

  // Layout change: content inserted above pushes everything down (no resize of the media).
  await page.evaluate(() => {
    const p = document.createElement('p');
    p.style.height = '90px';
    p.textContent = 'pushed';
    document.body.insertBefore(p, document.body.firstChild);
  });
  await page.waitForTimeout(150);
  for (const sel of QUALIFYING) assertAligned(await badgeOf(page, sel), `${sel} after layout change`);

  // Late insertion: a video added to the page gets its own badge.
  await page.evaluate(() => {
    const v = document.createElement('video');
    v.id = 'late-video';
    v.src = '/media/face.mp4';
    v.width = 300;
    v.height = 168;
    v.muted = true;
    document.getElementById('late-slot').append(v);
    v.scrollIntoView();
  });
  const late = await waitFor(async () => {
    const b = await badgeOf(page, '#late-video');
    return b?.state === 'daemon-offline' ? b : null;
  }, { what: 'badge on the late video' });
  assertAligned(late, '#late-video');
  await shot(page, 'offline-late-insert');

  // Resize: the media grows; the badge stays at its corner and the badge limit follows.
  await page.evaluate(() => { document.getElementById('late-video').width = 420; });
  await page.waitForTimeout(150);
  assertAligned(await badgeOf(page, '#late-video'), '#late-video after resize');

  // Removal: the badge goes with its element.
  const id = late.id;
  await page.evaluate(() => document.getElementById('late-video').remove());
  await waitFor(() => page.evaluate((i) => !document.getElementById(i), id), { what: 'badge removal' });
});

test('badges are keyboard reachable and activate with Enter', async () => {
  await page.evaluate(() => window.scrollTo(0, 0));
  let focusedHost = null;
  for (let i = 0; i < 12 && !focusedHost; i += 1) {
    await page.keyboard.press('Tab');
    focusedHost = await page.evaluate(() => (document.activeElement?.localName === 'deepsentry-badge' ? document.activeElement.id : null));
  }
  assert.ok(focusedHost, 'Tab never reached a badge');
  const role = await page.evaluate((id) => document.getElementById(id).shadowRoot.activeElement?.localName, focusedHost);
  assert.equal(role, 'button');
  await page.keyboard.press('Enter');     // daemon-offline: Enter retries, which ends offline again
  await waitFor(() => page.evaluate((id) => document.getElementById(id).getAttribute('data-deepsentry-state') === 'daemon-offline', focusedHost),
    { what: 'retry back to daemon-offline' });
});

test('missing token shows the pairing prompt', async () => {
  await setSettings(browser.context, { token: '' });
  await waitFor(async () => {
    const states = await Promise.all(QUALIFYING.map((s) => badgeOf(page, s)));
    return states.every((b) => b?.state === 'unpaired');
  }, { what: 'unpaired badges' });
  const b = await badgeOf(page, '#face-img');
  assert.match(b.text, /PAIR DEEPSENTRY/);
  await shot(page, 'unpaired-no-token');
});

test('every result state renders text, icon and score on the badge', async () => {
  const sw = await serviceWorker(browser.context);
  const tab = await sw.evaluate(async (url) => (await chrome.tabs.query({})).find((t) => t.url === url), page.url());
  const shows = [
    ['#face-img', { state: 'fake', score: 0.87 }, /FAKE fake 87%/, '0.870'],
    ['#landscape', { state: 'real', score: 0.08 }, /REAL fake 8%/, '0.080'],
    ['#same-video', { state: 'registered-synthetic', score: null, reason: 'registered synthetic media' }, /REGISTERED SYNTHETIC/, null],
    ['#cross-video', { state: 'error', reason: 'corrupt media' }, /ERROR: corrupt media/, null],
  ];
  for (const [sel, update, text, score] of shows) {
    const b = await badgeOf(page, sel);
    await sw.evaluate(([tabId, msg]) => chrome.tabs.sendMessage(tabId, msg), [tab.id, { type: SW_TO_CS.UPDATE, badgeId: b.id, ...update }]);
    const now = await badgeOf(page, sel);
    assert.equal(now.state, update.state);
    assert.match(now.text, text);
    assert.equal(now.score, score);
    assert.match(now.ariaLabel, text);
  }
  await shot(page, 'states');
});

test('details view renders scores over time, threshold, model and provenance', async () => {
  // A stored record as the service worker writes it, for states the model-less CI daemon cannot produce.
  const [fx, fy, fw, fh] = truth.astronaut_face_box;
  const jpeg = fs.readFileSync(path.join(mediaDir, 'astronaut.jpg')).toString('base64');
  const result = {
    media: { kind: 'frames', width: 512, height: 512, size: 1, duration: null, sha256: 'f'.repeat(64) },
    faces: [{ track_id: 3, boxes: [{ t: 0.5, x: fx, y: fy, w: fw, h: fh, confidence: 0.99 }], fake_prob: 0.81,
      frame_probs: [{ t: 0, p: 0.7 }, { t: 0.5, p: 0.85 }, { t: 1, p: 0.88 }] }],
    verdict: { label: 'fake', fake_prob: 0.81, threshold: 0.5, uncertain_band: [0.4, 0.6] },
    model: { name: 'test-model', version: '7' }, model_status: 'ready',
    provenance: { verdict: 'registered', sha256: 'f'.repeat(64), record: { content_id: '0xabc' }, c2pa: null,
      watermark: { id: 'ds-42', confidence: 0.97 } },
  };
  const rec = { id: '00112233445566aa', state: 'registered-synthetic', score: 0.81, threshold: 0.5, band: [0.4, 0.6],
    reason: 'registered synthetic media', final: true, sent: 'frames', jobId: 'job-x', mediaUrl: `${sites.a}/media/face.mp4`,
    pageUrl: `${sites.a}/index.html`, frame: { t: 0.5, jpeg, width: 512, height: 512 }, result, tabId: null, badgeId: null };
  const sw = await serviceWorker(browser.context);
  await sw.evaluate((r) => chrome.storage.session.set({ [`rec:${r.id}`]: r }), rec);
  const d = await browser.context.newPage();
  await d.goto(`${EXT_ORIGIN}/details.html?id=${rec.id}`);
  await waitFor(() => d.$eval('#main', (m) => m.dataset.state === 'registered-synthetic'), { what: 'details rendered' });
  assert.equal(await d.textContent('#state'), 'REGISTERED SYNTHETIC');
  assert.match(await d.textContent('#verdict'), /Fake probability 81%.*threshold 50%.*40% and 60%/);
  assert.match(await d.textContent('#model'), /test-model 7/);
  const box = await d.$eval('rect.face-box', (r) => ['x', 'y', 'width', 'height'].map((k) => Number(r.getAttribute(k))));
  assert.deepEqual(box, [fx, fy, fw, fh]);
  const pts = await d.$eval('#timeline polyline', (p) => p.getAttribute('points').trim().split(/\s+/).length);
  assert.equal(pts, 3);
  const prov = await d.textContent('#provenance');
  assert.match(prov, /registered/);
  assert.match(prov, /ds-42 \(confidence 97%\)/);
  assert.match(prov, /0xabc/);
  await shot(d, 'details-rendering');
  await d.close();
});

test('readable at 200% zoom', async () => {
  const zoomed = await launch({ zoom: 2 });
  try {
    const p = await zoomed.context.newPage();
    await p.goto(`${sites.a}/index.html`);
    // 200% zoom halves the CSS viewport (1280 -> 640 CSS px wide).
    assert.equal(await p.evaluate(() => Math.round(window.innerWidth)), 640);
    await waitFor(async () => (await badgeOf(p, '#face-img'))?.state === 'unpaired', { what: 'zoomed badge' });
    const b = await badgeOf(p, '#face-img');
    assertAligned(b, 'zoomed #face-img');
    assert.ok(b.visible);
    assert.ok(b.button.w <= b.media.w, 'badge wider than its media at 200%');
    await shot(p, 'zoom-200');
  } finally {
    await zoomed.context.close();
  }
});

test('pause stops automatic badges', async () => {
  await setSettings(browser.context, { paused: true });
  const p = await browser.context.newPage();
  await p.goto(`${sites.a}/index.html?b=paused`);
  await p.waitForTimeout(1500);
  assert.equal((await allBadges(p)).length, 0);
  await setSettings(browser.context, { paused: false });
  await waitFor(async () => (await allBadges(p)).length === QUALIFYING.length, { what: 'badges after unpause' });
  await p.close();
});

test('auto mode off: idle badges that check on click; deny list keeps a site out', async () => {
  await setSettings(browser.context, { autoMode: false, token: 'c'.repeat(64) });
  const p = await browser.context.newPage();
  await p.goto(`${sites.a}/index.html?b=manual`);
  await waitFor(async () => {
    const bs = await Promise.all(QUALIFYING.map((s) => badgeOf(p, s)));
    return bs.every((b) => b?.state === 'idle');
  }, { what: 'idle badges' });
  assert.match((await badgeOf(p, '#face-img')).text, /CHECK/);
  await shot(p, 'auto-off-idle');
  const b = await badgeOf(p, '#face-img');
  await p.locator(`#${b.id} button`).click();
  await waitFor(async () => (await badgeOf(p, '#face-img')).state === 'daemon-offline', { what: 'clicked check' });
  assert.equal((await badgeOf(p, '#landscape')).state, 'idle', 'only the clicked medium is checked');
  await setSettings(browser.context, { autoMode: true, denySites: ['127.0.0.1'] });
  await p.reload();
  await p.waitForTimeout(1000);
  assert.equal((await allBadges(p)).length, 0, 'denied site got badges');
  await setSettings(browser.context, { denySites: [] });
  await p.close();
});
