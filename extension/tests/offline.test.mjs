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

/**
 * The badge sits INSET px inside the media's top-left corner; when that corner is scrolled above the
 * viewport, it slides down the media's edge to stay on screen (2 px from the viewport's top).
 */
function assertAligned(b, what) {
  assert.ok(b && b.id, `${what}: no badge`);
  assert.ok(Math.abs(b.host.x - (b.media.x + 6)) <= 1.5, `${what}: badge x ${b.host.x} vs media x ${b.media.x}`);
  const want = b.media.y + 6 >= 2 ? b.media.y + 6 : 2;
  assert.ok(Math.abs(b.host.y - want) <= 1.5, `${what}: badge y ${b.host.y} vs media y ${b.media.y}`);
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
  assert.ok(before.media.y < 0 && before.host.y >= 0, 'scrolled 120px: the media is partly above the viewport, its badge is not');

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
  // Updates as the service worker sends them (graded words from shared/wording.js).
  const shows = [
    ['#face-img', { state: 'fake', score: 0.998, word: 'LIKELY FAKE', compact: 'FAKE', sentence: 'Strong evidence of manipulation',
      scoreText: '>99%', frames: 'Based on the image itself.' }, /^\u2716LIKELY FAKE$/, /Strong evidence of manipulation\. fake score >99%/, '0.998'],
    ['#landscape', { state: 'real', score: 0.08, word: 'LIKELY REAL', compact: 'REAL', sentence: 'Very little evidence of manipulation',
      scoreText: '8%', credentials: 'valid' }, /^\u2714LIKELY REALCR$/, /fake score 8%\. has Content Credentials/, '0.080'],
    ['#same-video', { state: 'registered-synthetic', score: null, word: 'REGISTERED SYNTHETIC', sentence: 'Registered synthetic media' },
      /REGISTERED SYNTHETIC/, /Registered synthetic media/, null],
    ['#cross-video', { state: 'error', word: "CAN'T CHECK", sentence: 'The file is damaged or incomplete, so it cannot be read' },
      /^!CAN'T CHECK$/, /damaged or incomplete/, null],
  ];
  for (const [sel, update, text, aria, score] of shows) {
    const b = await badgeOf(page, sel);
    await sw.evaluate(([tabId, msg]) => chrome.tabs.sendMessage(tabId, msg), [tab.id, { type: SW_TO_CS.UPDATE, badgeId: b.id, ...update }]);
    const now = await badgeOf(page, sel);
    assert.equal(now.state, update.state);
    assert.match(now.text, text);
    assert.equal(now.score, score);
    assert.match(now.ariaLabel, aria);
    assert.doesNotMatch(now.text, /fake \d+%/, 'no "REAL fake 8%": the score is in the tooltip and details');
  }
  await shot(page, 'states');
});

test('details view: strip of frames, boxes, heatmap, labelled timeline that jumps to a frame, provenance in words', async () => {
  // A stored record as the service worker writes it, for states the model-less CI daemon cannot produce.
  const [fx, fy, fw, fh] = truth.astronaut_face_box;
  const jpeg = fs.readFileSync(path.join(mediaDir, 'astronaut.jpg')).toString('base64');
  const png = fs.readFileSync(path.join(mediaDir, 'icon.png')).toString('base64');
  const box = (t) => ({ t, x: fx, y: fy, w: fw, h: fh, confidence: 0.99 });
  const result = {
    media: { kind: 'video', width: 512, height: 512, size: 1, duration: 6.0, sha256: 'f'.repeat(64), frames_sampled: 3 },
    faces: [{ track_id: 3, boxes: [box(0), box(0.5), box(1)], fake_prob: 0.81, branches: { blend: 0.84, synthesis: 0.22 },
      frame_probs: [{ t: 0, p: 0.7 }, { t: 0.5, p: 0.85 }, { t: 1, p: 0.88 }], heatmap: { t: 1, png } }],
    thumbnails: [0, 0.5, 1].map((t) => ({ t, width: 512, height: 512, jpeg })),
    verdict: { label: 'fake', fake_prob: 0.81, threshold: 0.5, uncertain_band: [0.4, 0.6] },
    model: { name: 'test-model', version: '7' }, model_status: 'ready',
    provenance: { verdict: 'registered', sha256: 'f'.repeat(64), record: { content_id: '0xabc' },
      c2pa: { state: 'valid', valid: true, signer: { common_name: 'Studio A', issuer: 'Test CA', time: '2026-11-30T10:00:00Z' },
        claim_generator: 'deepsentry', failures: [{ code: 'signingCredential.untrusted', explanation: 'x' }] },
      watermark: { id: 'ds-42', confidence: 0.97 }, ledger: { chain: 31337, contract: '0xdef' } },
  };
  const rec = { id: '00112233445566aa', state: 'registered-synthetic', score: 0.81, threshold: 0.5, band: [0.4, 0.6],
    reason: 'registered synthetic media', final: true, sent: 'url', jobId: 'job-x', mediaUrl: `${sites.a}/media/face.mp4`,
    view: { word: 'REGISTERED SYNTHETIC', sentence: 'Registered synthetic media', frames: 'Based on 3 frames sampled by deepsentry from the video.' },
    pageUrl: `${sites.a}/index.html`, result, tabId: null, badgeId: null, analysedAt: '2026-12-02T07:00:00.000Z' };
  const sw = await serviceWorker(browser.context);
  await sw.evaluate((r) => chrome.storage.session.set({ [`rec:${r.id}`]: r }), rec);
  const d = await browser.context.newPage();
  await d.setViewportSize({ width: 1280, height: 900 });
  await d.goto(`${EXT_ORIGIN}/details.html?id=${rec.id}`);
  await waitFor(() => d.$eval('#main', (m) => m.dataset.state === 'registered-synthetic'), { what: 'details rendered' });
  assert.equal(await d.textContent('#state'), 'REGISTERED SYNTHETIC');
  assert.match(await d.textContent('#score'), /Fake score 81%, threshold 50%, uncertain between 40% and 60%/);
  assert.match(await d.textContent('#frames-used'), /3 frames sampled by deepsentry/);
  assert.match(await d.textContent('#model'), /test-model 7/);
  const rect = await d.$eval('rect.face-box', (r) => ['x', 'y', 'width', 'height'].map((k) => Number(r.getAttribute(k))));
  assert.deepEqual(rect, [fx, fy, fw, fh]);
  assert.equal(await d.$$eval('#strip button', (b) => b.length), 3);
  assert.match(await d.getAttribute('#heatmap', 'src'), /^data:image\/png;base64,/);
  assert.match(await d.textContent('#tracks'), /blend 84%, synthesis 22%/);
  // The timeline: legend, axis titles, labelled threshold, shaded band, one point per scored frame.
  assert.equal(await d.textContent('#timeline .threshold-label'), 'threshold 50%');
  assert.deepEqual(await d.$$eval('#timeline .axis-title', (t) => t.map((x) => x.textContent)), ['time in the video (s)', 'fake score']);
  assert.match(await d.textContent('#timeline .legend'), /Face 1: fake score 81%/);
  assert.equal(await d.$$eval('#timeline .uncertain-band', (r) => r.length), 1);
  assert.equal(await d.$eval('#timeline polyline', (p) => p.getAttribute('points').trim().split(/\s+/).length), 3);
  const colour = await d.$eval('#timeline polyline', (p) => p.getAttribute('stroke'));
  assert.ok(contrast(colour, '#ffffff') >= 3, `track colour ${colour} below 3:1 on the chart`);
  // Duration: one figure (the media's 6 s), on the chart's axis and in the media table.
  assert.match(await d.textContent('#media'), /Duration6\.00 s/);
  // Click the chart near t = 0 (its left end): the frame at 0 s is selected.
  await d.click('[data-t="1"]');
  assert.equal(await d.getAttribute('#strip [data-t="1"]', 'aria-pressed'), 'true');
  const chart = await d.$eval('#timeline', (s) => { s.scrollIntoView({ block: 'center' }); const r = s.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
  await d.mouse.click(chart.x + chart.w * (56 / 640) + 2, chart.y + chart.h * 0.3);
  await waitFor(() => d.getAttribute('#strip [data-t="0"]', 'aria-pressed').then((v) => v === 'true'), { what: 'timeline click selects frame 0' });
  // Provenance in words; the ledger record behind technical details.
  assert.match(await d.textContent('#provenance-summary'), /Registered synthetic media/);
  const prov = await d.textContent('#provenance');
  assert.match(prov, /Signed byStudio A/);
  assert.match(prov, /not issued by an authority this computer trusts/);
  assert.match(prov, /ds-42 found \(confidence 97%\)/);
  assert.equal(await d.$eval('#provenance-tech', (x) => x.open), false);
  assert.match(await d.textContent('#provenance-tech pre'), /0xabc/);
  assert.ok((await d.$$eval('#limits li', (l) => l.length)) >= 3);
  await shot(d, 'details-rendering');
  await d.close();
});

/** WCAG contrast ratio of two #rrggbb colours. */
function contrast(a, b) {
  const lum = (hex) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m);
  return (x + 0.05) / (y + 0.05);
}

test('an error record: plain words, technical details folded, no "No faces found"', async () => {
  const rec = { id: '00112233445566bb', state: 'error', final: true, sent: 'url', mediaUrl: 'http://localhost/x.mp4',
    error: { code: 'url_refused', message: 'refusing to fetch localhost: it resolves to 127.0.0.1 (loopback address)' } };
  const sw = await serviceWorker(browser.context);
  await sw.evaluate((r) => chrome.storage.session.set({ [`rec:${r.id}`]: r }), rec);
  const d = await browser.context.newPage();
  await d.goto(`${EXT_ORIGIN}/details.html?id=${rec.id}`);
  await waitFor(() => d.$eval('#main', (m) => m.dataset.state === 'error'), { what: 'error details' });
  assert.equal(await d.textContent('#state'), "CAN'T CHECK");
  assert.match(await d.textContent('#verdict'), /points to this computer or a private network/);
  assert.doesNotMatch(await d.textContent('#verdict'), /loopback|allow-list/);
  assert.match(await d.textContent('#error-box pre'), /url_refused: refusing to fetch localhost/);
  assert.equal(await d.isVisible('#faces-section'), false);
  assert.doesNotMatch(await d.textContent('main'), /No faces found/);
  await d.close();
});

test('layout: compact badge keeps its word on a 100 px image, overlays avoided, page badge on screen, tab order', async () => {
  const p = await browser.context.newPage();
  await p.setViewportSize({ width: 1280, height: 900 });
  await p.goto(`${sites.a}/layout.html`);
  await waitFor(async () => ['daemon-offline', 'unpaired'].includes((await badgeOf(p, '#small'))?.state), { what: 'small badge' });
  const sw = await serviceWorker(browser.context);
  const tab = await sw.evaluate(async (url) => (await chrome.tabs.query({})).find((t) => t.url === url), p.url());
  const small = await badgeOf(p, '#small');
  for (const [update, word] of [[{ state: 'real', score: 0.16, word: 'LIKELY REAL', compact: 'REAL', scoreText: '16%' }, 'REAL'],
    [{ state: 'uncertain', score: 0.5, word: 'UNCERTAIN', compact: 'UNSURE', scoreText: '50%' }, 'UNSURE'],
    [{ state: 'registered-synthetic', word: 'REGISTERED SYNTHETIC', compact: 'SYNTHETIC' }, 'SYNTHETIC'],
    [{ state: 'content-credentials', word: 'CONTENT CREDENTIALS', compact: 'CREDENTIALS' }, 'CREDENTIALS']]) {
    await sw.evaluate(([tabId, msg]) => chrome.tabs.sendMessage(tabId, msg), [tab.id, { type: SW_TO_CS.UPDATE, badgeId: small.id, ...update }]);
    const b = await badgeOf(p, '#small');
    assert.equal(b.label, word, `compact badge on a 100 px image says ${word}`);
    const clipped = await p.evaluate((id) => {
      const t = document.getElementById(id).shadowRoot.querySelector('.text');
      return t.scrollWidth > t.clientWidth + 1;
    }, small.id);
    assert.equal(clipped, false, `${word} is cut off`);
    assert.match(b.ariaLabel, new RegExp(update.word));
  }
  await shot(p, 'compact-badge');
  // Media below the fold wait, and say so, instead of showing "CHECKING 0%".
  const below = await waitFor(() => p.evaluate(() => {
    const h = document.getElementById(document.getElementById('below').getAttribute('data-deepsentry-badge'));
    return h ? { state: h.getAttribute('data-deepsentry-state'), stage: h.getAttribute('data-deepsentry-stage'),
      label: h.getAttribute('data-deepsentry-label') } : null;
  }), { what: 'badge below the fold' });
  assert.deepEqual(below, { state: 'checking', stage: 'waiting', label: 'WAITING' });
  // The custom player's title bar covers the top-left corner: the badge takes the top-right one.
  const pv = await waitFor(async () => { const b = await badgeOf(p, '#player-video'); return b?.state ? b : null; }, { what: 'player badge' });
  assert.ok(pv.host.x > pv.media.x + pv.media.w / 2, `badge at x ${pv.host.x} sits under the title bar`);
  assert.ok(pv.host.y < pv.media.y + 40, 'badge in the top-right corner');
  // Tab order: link before -> the small image's badge -> link after.
  await p.focus('#before');
  await p.keyboard.press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement?.id), small.id);
  await p.keyboard.press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement?.id), 'after');
  await p.keyboard.press('Shift+Tab');
  assert.equal(await p.evaluate(() => document.activeElement?.id), small.id);
  // A page-level check (context menu on the page): its badge stays inside the viewport.
  await sw.evaluate(([tabId, msg]) => chrome.tabs.sendMessage(tabId, msg), [tab.id, { type: SW_TO_CS.CHECK_TARGET, menuItemId: 'deepsentry-check',
    mediaType: 'page', pageUrl: p.url() }]);
  const measure = () => p.evaluate(() => {
    const h = [...document.querySelectorAll('deepsentry-badge')].find((x) => x.getAttribute('style').includes('fixed'));
    const r = h?.shadowRoot.querySelector('button').getBoundingClientRect();
    return h && ['daemon-offline', 'unpaired'].includes(h.getAttribute('data-deepsentry-state')) ? { right: r.right, left: r.left, vw: document.documentElement.clientWidth } : null;
  });
  await waitFor(measure, { what: 'page badge' });
  await p.waitForTimeout(300);       // placed on the next animation frame after its text changed
  const pageBadge = await measure();
  assert.ok(pageBadge.left >= 0 && pageBadge.right <= pageBadge.vw, `page badge ${pageBadge.left}..${pageBadge.right} outside 0..${pageBadge.vw}`);
  await p.close();
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
