// End to end against the real daemon (`deepsentry serve`, no ledger) and a local two-origin test site,
// in headless Chromium with the unpacked extension. Screenshots of each state go to artifacts/extension/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import '../src/shared/messages.js';
import { boxesAt, describeResult } from '../src/shared/verdict.js';
import {
  allBadges, badgeOf, Daemon, EXT_ORIGIN, FINAL_STATES, freePort, launch, makeMedia, serviceWorker, session,
  removeTmpDirs, setSettings, shot, startSites, tmpDir, waitFor,
} from './harness.mjs';

const CHECK_TIMEOUT = 240000;     // CPU-only daemon on a shared 2-core machine
let sites;
let daemon;
let pair;
let truth;
let browser;

before(async () => {
  const media = tmpDir('ds-media-');
  truth = makeMedia(media);
  sites = await startSites(media);
  daemon = new Daemon({ home: tmpDir('ds-home-'), port: await freePort(),
    allow: [`127.0.0.1:${sites.aPort}`, `localhost:${sites.bPort}`] });
  await daemon.start();
  pair = daemon.pairInfo();
  browser = await launch();
});

after(async () => {
  await browser?.context.close();
  await daemon?.stop();
  await sites?.close();
  removeTmpDirs();
});

async function records() {
  const s = await session(browser.context);
  return Object.entries(s).filter(([k]) => k.startsWith('rec:')).map(([, v]) => v);
}

async function recordFor(badgeId) {
  return waitFor(async () => (await records()).find((r) => r.badgeId === badgeId && r.final), { what: `record of ${badgeId}` });
}

async function job(id) {
  const r = await daemon.api(`/v1/jobs/${id}`, { token: pair.token });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.status, 'done');
  return r.json;
}

function waitFinal(page, selectors, timeout = CHECK_TIMEOUT) {
  return waitFor(async () => {
    const bs = await Promise.all(selectors.map((s) => badgeOf(page, s)));
    return bs.every((b) => FINAL_STATES.includes(b?.state)) ? bs : null;
  }, { timeout, interval: 500, what: `final badges on ${selectors.join(', ')}` });
}

/** The badge shows what the daemon's RESULT means, with the score attribute iff there is a score. */
function assertBadgeMatches(b, result, what) {
  const d = describeResult(result, null);
  assert.equal(b.state, d.state, `${what}: badge ${b.state} but the daemon's result says ${d.state}`);
  if (typeof result.verdict.fake_prob === 'number') assert.equal(Number(b.score), Number(result.verdict.fake_prob.toFixed(3)));
  else assert.equal(b.score, null, `${what}: score without a probability`);
}

test('options: pairing with a code, test connection, settings persist', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${EXT_ORIGIN}/options.html`);
  await page.fill('#daemonUrl', daemon.url);
  await page.fill('#token', 'not-a-token');
  await page.click('#save');
  await waitFor(() => page.$eval('#saved', (e) => e.dataset.status === 'error'), { what: 'invalid token refused' });

  await page.fill('#token', '');
  await page.fill('#pairCode', 'ZZZZ-ZZZZ');
  await page.click('#pair');
  await waitFor(() => page.$eval('#connection', (e) => e.dataset.status === 'error'), { what: 'wrong code refused' });
  const wrong = await page.textContent('#connection');
  assert.match(wrong, /Run `deepsentry pair`/);
  assert.doesNotMatch(wrong, /in the options/, 'the user is in the options already');
  // A daemon on another port: the message says where to find the right address.
  await page.fill('#daemonUrl', `http://127.0.0.1:${await freePort()}`);
  await page.fill('#pairCode', pair.code);
  await page.click('#pair');
  await waitFor(() => page.$eval('#connection', (e) => e.dataset.status === 'error'), { what: 'no daemon on that port' });
  assert.match(await page.textContent('#connection'), /No deepsentry daemon answers at .*`deepsentry pair` prints its address/);
  await page.fill('#daemonUrl', daemon.url);
  await page.fill('#pairCode', ` ${pair.code.replace('-', ' ').toLowerCase()} `);   // typed with spaces, lower case
  await page.click('#pair');
  await waitFor(() => page.$eval('#connection', (e) => e.dataset.status === 'ok'), { what: 'paired' });
  const sw = await serviceWorker(browser.context);
  const stored = await sw.evaluate(() => chrome.storage.local.get(['daemonUrl', 'token']));
  assert.deepEqual(stored, { daemonUrl: daemon.url, token: pair.token });
  assert.equal(await page.inputValue('#token'), pair.token);

  await page.fill('#frameCount', '6');
  await page.fill('#denySites', 'example.org\nads.example.net');
  await page.fill('#threshold', '');
  await page.click('#save');
  await waitFor(() => page.$eval('#saved', (e) => e.dataset.status === 'ok'), { what: 'saved' });
  await page.reload();
  assert.equal(await page.inputValue('#frameCount'), '6');
  assert.equal(await page.inputValue('#denySites'), 'example.org\nads.example.net');
  assert.equal(await page.inputValue('#daemonUrl'), daemon.url);
  assert.equal(await page.isChecked('#autoMode'), true);

  await page.click('#test');
  await waitFor(() => page.$eval('#connection', (e) => e.dataset.status === 'ok'), { what: 'test connection' });
  assert.match(await page.textContent('#connection'), /Connected to deepsentry/);
  await shot(page, 'options');
  await page.close();
});

let sitePage;

test('auto mode: every qualifying medium ends in the daemon verdict; frames vs URL vs bytes', async () => {
  sitePage = await browser.context.newPage();
  await sitePage.goto(`${sites.a}/index.html`);
  const sels = ['#face-img', '#landscape', '#same-video', '#cross-video'];
  await waitFinal(sitePage, sels);
  assert.equal((await allBadges(sitePage)).length, 4);
  await shot(sitePage, 'verdicts');

  const face = await badgeOf(sitePage, '#face-img');
  const faceRec = await recordFor(face.id);
  assert.equal(faceRec.sent, 'bytes');
  const faceJob = await job(faceRec.jobId);
  assert.equal(faceJob.result.media.kind, 'image');
  assert.ok(faceJob.result.faces.length >= 1, 'no face found in the astronaut photo');
  assertBadgeMatches(face, faceJob.result, '#face-img');

  const land = await badgeOf(sitePage, '#landscape');
  assert.equal(land.state, 'no-face');
  assert.match(land.text, /NO FACE/);

  const same = await badgeOf(sitePage, '#same-video');
  const sameRec = await recordFor(same.id);
  assert.equal(sameRec.sent, 'frames', 'same-origin video must be sent as captured frames');
  const sameJob = await job(sameRec.jobId);
  assert.equal(sameJob.result.media.kind, 'frames');
  assert.equal(sameJob.result.media.width, 480);
  assertBadgeMatches(same, sameJob.result, '#same-video');

  const cross = await badgeOf(sitePage, '#cross-video');
  const crossRec = await recordFor(cross.id);
  assert.equal(crossRec.sent, 'url', 'cross-origin video without CORS must fall back to its URL');
  const crossJob = await job(crossRec.jobId);
  assert.equal(crossJob.result.media.kind, 'video');
  assert.equal(crossJob.result.media.source_url, `${sites.b}/media/two-faces.mp4`);
  assertBadgeMatches(cross, crossJob.result, '#cross-video');

  const sent = (await session(browser.context)).sent;
  const frames = sent.find((e) => e.badgeId === same.id);
  assert.equal(frames.kind, 'frames');
});

/** Click "Check again" in a details view and wait until it shows a finished result of a new job. */
async function checkAgain(details, oldJobId, what) {
  await details.click('#again');
  await waitFor(async () => {
    const id = await details.$eval('#main', (m) => m.dataset.jobId);
    const st = await details.$eval('#main', (m) => m.dataset.state);
    return id && id !== oldJobId && FINAL_STATES.includes(st);
  }, { timeout: CHECK_TIMEOUT, interval: 500, what });
}

async function openDetails(page, selector) {
  const b = await badgeOf(page, selector);
  const [details] = await Promise.all([
    browser.context.waitForEvent('page'),
    page.locator(`#${b.id} button`).click(),
  ]);
  await details.waitForLoadState();
  await waitFor(() => details.$eval('#main', (m) => !['loading', 'checking'].includes(m.dataset.state)), { what: 'details loaded' });
  return { details, badge: b };
}

/**
 * Boxes drawn in the details view: SVG attributes (media pixels), where they land on screen, the frame's
 * time, and the media size the overlay maps (its viewBox; the frame shown may be a smaller thumbnail).
 */
function drawnBoxes(details) {
  return details.evaluate(async () => {
    const media = document.getElementById('frame');
    if (!media.complete) await new Promise((r) => media.addEventListener('load', r, { once: true }));
    const m = media.getBoundingClientRect();
    const [, , nw, nh] = document.getElementById('boxes').getAttribute('viewBox').split(' ').map(Number);
    return {
      t: media.dataset.t === undefined || media.dataset.t === '' ? null : Number(media.dataset.t),
      natural: [nw, nh], shown: [m.left, m.top, m.width, m.height],
      rects: [...document.querySelectorAll('rect.face-box')].map((r) => {
        const b = r.getBoundingClientRect();
        return { track: Number(r.dataset.trackId), x: +r.getAttribute('x'), y: +r.getAttribute('y'), w: +r.getAttribute('width'),
          h: +r.getAttribute('height'), screen: [b.left, b.top, b.width, b.height] };
      }),
    };
  });
}

function assertBoxesMatch(drawn, expected, what) {
  assert.equal(drawn.rects.length, expected.length, `${what}: ${drawn.rects.length} boxes drawn, daemon has ${expected.length}`);
  const [nw, nh] = drawn.natural;
  const [sx, sy, sw, sh] = drawn.shown;
  for (const { face, box } of expected) {
    const r = drawn.rects.find((x) => x.track === face.track_id);
    assert.ok(r, `${what}: no box for track ${face.track_id}`);
    for (const k of ['x', 'y', 'w', 'h']) assert.ok(Math.abs(r[k] - box[k]) < 0.01, `${what}: ${k} ${r[k]} vs daemon ${box[k]}`);
    // On screen: the box sits over the same pixels of the displayed frame (stroke adds a little).
    const ex = [sx + (box.x * sw) / nw, sy + (box.y * sh) / nh, (box.w * sw) / nw, (box.h * sh) / nh];
    for (let i = 0; i < 4; i += 1) assert.ok(Math.abs(r.screen[i] - ex[i]) < 4, `${what}: screen ${r.screen} vs ${ex}`);
  }
}

function iou(a, b) {
  const ix = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  return (ix * iy) / (a[2] * a[3] + b[2] * b[3] - ix * iy);
}

test('details view: one box per face where the daemon found it, score, model, check again', async () => {
  // Same-origin video: drawn on the captured frame.
  const { details, badge } = await openDetails(sitePage, '#same-video');
  const rec = await recordFor(badge.id);
  const j = await job(rec.jobId);
  const drawn = await drawnBoxes(details);
  const expected = boxesAt(j.result.faces, drawn.t);
  assert.ok(expected.length >= 1);
  assert.deepEqual(drawn.natural, [480, 270]);
  assertBoxesMatch(drawn, expected, 'same-origin video');
  // Every captured frame is in the strip, and the heatmap of the face is shown.
  assert.equal(await details.$$eval('#strip button', (b) => b.length), j.result.media.frames_sampled);
  assert.match(await details.getAttribute('#heatmap', 'src'), /^data:image\/png;base64,/);
  assert.match(await details.textContent('#timeline .threshold-label'), /^threshold /);
  // The captured frame is the real one: the daemon's box overlaps the true face box at that time.
  const frameIndex = Math.min(truth.face_mp4.boxes.length - 1, Math.round(drawn.t * truth.face_mp4.fps));
  const tb = truth.face_mp4.boxes[frameIndex][0];
  const db = expected[0].box;
  assert.ok(iou([db.x, db.y, db.w, db.h], tb) > 0.4, `daemon box ${JSON.stringify(db)} vs truth ${tb}`);
  assert.equal(await details.$eval('#main', (m) => m.dataset.jobId), rec.jobId);
  assert.match(await details.textContent('#verdict'), new RegExp(badge.label, 'i'));
  assert.match(await details.textContent('#model'), /Model:/);
  await shot(details, 'details-frames');

  // Check again: a fresh daemon job (nocache) for the same badge, shown without reopening.
  await checkAgain(details, rec.jobId, 'check again');
  assert.ok(FINAL_STATES.includes((await badgeOf(sitePage, '#same-video')).state));
  await details.close();

  // Cross-origin video sent by URL: drawn over the daemon's own frame at the chosen time, two faces.
  const cross = await openDetails(sitePage, '#cross-video');
  const crec = await recordFor(cross.badge.id);
  const cj = await job(crec.jobId);
  const cd = await drawnBoxes(cross.details);
  assertBoxesMatch(cd, boxesAt(cj.result.faces, cd.t), 'cross-origin video');
  assert.equal(await cross.details.$$eval('#tracks li', (l) => l.length), cj.result.faces.length);
  assert.equal(cd.rects.length, 2, 'two faces in two-faces.mp4');
  await cross.details.waitForTimeout(500);
  await shot(cross.details, 'details-url-video');
  await cross.details.close();

  // Image sent as bytes.
  const img = await openDetails(sitePage, '#face-img');
  const irec = await recordFor(img.badge.id);
  const ij = await job(irec.jobId);
  assertBoxesMatch(await drawnBoxes(img.details), boxesAt(ij.result.faces, null), 'image');
  await shot(img.details, 'details-image');
  await img.details.close();
});

test('context menu: image and link checks end in the right badge state', async (t) => {
  await setSettings(browser.context, { paused: true });
  t.after(() => setSettings(browser.context, { paused: false }));
  const page = await browser.context.newPage();
  await page.goto(`${sites.a}/menu.html`);
  await page.waitForTimeout(800);
  assert.equal((await allBadges(page)).length, 0, 'paused: no automatic badges');
  const sw = await serviceWorker(browser.context);
  const tab = await sw.evaluate(async (url) => (await chrome.tabs.query({})).find((t) => t.url === url), page.url());
  assert.ok(tab, 'tab not found');
  const imgUrl = `${sites.a}/media/astronaut-small.png`;
  await sw.evaluate(([info, t]) => globalThis.deepsentry.onMenuClick(info, t), [
    { menuItemId: 'deepsentry-check', mediaType: 'image', srcUrl: imgUrl, pageUrl: page.url(), frameId: 0, editable: false }, tab]);
  const [img] = await waitFinal(page, ['#menu-img']);
  const rec = await recordFor(img.id);
  const j = await job(rec.jobId);
  assert.equal(rec.sent, 'bytes');
  assertBadgeMatches(img, j.result, 'context-menu image');

  const linkUrl = `${sites.a}/media/astronaut.jpg?via=link`;
  await sw.evaluate(([info, t]) => globalThis.deepsentry.onMenuClick(info, t), [
    { menuItemId: 'deepsentry-check', linkUrl, pageUrl: page.url(), frameId: 0, editable: false }, tab]);
  const [link] = await waitFinal(page, ['#menu-link']);
  const lrec = await recordFor(link.id);
  assert.equal(lrec.sent, 'url');
  const lj = await job(lrec.jobId);
  assert.equal(lj.result.media.source_url, linkUrl);
  assertBadgeMatches(link, lj.result, 'context-menu link');
  await shot(page, 'context-menu');
  await page.close();
});

test('a video the daemon may not fetch: ERROR with the reason; an explicit click also tries a tab screenshot', async (t) => {
  const page = await browser.context.newPage();
  await page.goto(`${sites.a}/refused.html`);
  const [b] = await waitFor(async () => {
    const x = await badgeOf(page, '#refused-video');
    return x?.state === 'error' ? [x] : null;
  }, { timeout: CHECK_TIMEOUT, what: 'error badge' });
  const rec = (await records()).find((r) => r.badgeId === b.id);
  assert.equal(rec.sent, 'url');
  assert.equal(rec.error.code, 'url_refused', JSON.stringify(rec.error));
  assert.equal(b.label, "CAN'T CHECK", 'a short word on the badge');
  assert.match(b.ariaLabel, /points to this computer or a private network/, 'the tooltip says why in plain words');
  assert.doesNotMatch(b.ariaLabel, /loopback|allow-list/);
  await shot(page, 'error-url-refused');

  // The same video through the context menu: frames unreadable, URL refused, so the worker tries a crop of
  // captureVisibleTab. A synthetic dispatch carries no user gesture, so Chromium grants no activeTab and the
  // badge must say both reasons (with a real right-click the crop is sent as one frame).
  await setSettings(browser.context, { paused: true });
  t.after(() => setSettings(browser.context, { paused: false }));
  const sw = await serviceWorker(browser.context);
  const tab = await sw.evaluate(async (url) => (await chrome.tabs.query({})).find((x) => x.url === url), page.url());
  const src = await page.$eval('#refused-video', (v) => v.currentSrc);
  await sw.evaluate(([info, tb]) => globalThis.deepsentry.onMenuClick(info, tb), [
    { menuItemId: 'deepsentry-check', mediaType: 'video', srcUrl: src, pageUrl: page.url(), frameId: 0, editable: false }, tab]);
  await waitFor(async () => {
    const x = await badgeOf(page, '#refused-video');
    const r = (await records()).find((y) => y.badgeId === x?.id);
    return x?.state === 'error' && /screenshot of the tab was not possible/.test(r?.error?.message || '');
  }, { timeout: 60000, what: 'explicit check tried the screenshot' });
  await page.close();
});

test('wrong or missing token: pairing prompt; the right token recovers without reload', async () => {
  const sw = await serviceWorker(browser.context);
  await sw.evaluate(() => chrome.storage.session.clear());     // a new browser session: no cached results
  await setSettings(browser.context, { token: 'b'.repeat(64) });
  const page = await browser.context.newPage();
  await page.goto(`${sites.a}/single.html?b=token`);
  await page.evaluate(() => { window.notReloaded = true; });
  await waitFor(async () => (await badgeOf(page, '#single'))?.state === 'unpaired', { what: 'unpaired with wrong token' });
  assert.match((await badgeOf(page, '#single')).text, /PAIR DEEPSENTRY/);
  await shot(page, 'unpaired-wrong-token');
  await setSettings(browser.context, { token: '' });
  await page.waitForTimeout(300);
  assert.equal((await badgeOf(page, '#single')).state, 'unpaired');
  await setSettings(browser.context, { token: pair.token });
  await waitFinal(page, ['#single']);
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  await page.close();
});

test('stopped daemon: DAEMON OFFLINE; restarted: recovers without reloading the page', async () => {
  const sw = await serviceWorker(browser.context);
  await sw.evaluate(() => chrome.storage.session.clear());
  await daemon.stop();
  const page = await browser.context.newPage();
  await page.goto(`${sites.a}/single.html?b=offline`);
  await page.evaluate(() => { window.notReloaded = true; });
  await waitFor(async () => (await badgeOf(page, '#single'))?.state === 'daemon-offline', { what: 'daemon-offline' });
  await shot(page, 'daemon-offline');
  await daemon.start();
  const [b] = await waitFinal(page, ['#single']);
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  const rec = await recordFor(b.id);
  assertBadgeMatches(b, (await job(rec.jobId)).result, 'after restart');
  await shot(page, 'daemon-recovered');
  await page.close();
});

test('popup: daemon status, model and recent results', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${EXT_ORIGIN}/popup.html`);
  await waitFor(() => page.$eval('#daemon', (e) => e.dataset.status === 'ok'), { what: 'popup status' });
  assert.match(await page.textContent('#model'), /Model:/);
  const pills = await page.$$eval('#recent li .state', (x) => x.map((e) => ({ text: e.textContent, h: e.getBoundingClientRect().height })));
  assert.ok(pills.length >= 1, 'no recent results');
  for (const p of pills) {
    assert.doesNotMatch(p.text, /PAIR|OFFLINE|CHECKING/, 'only results are listed');
    assert.ok(p.h < 24, `pill "${p.text}" wraps`);
  }
  const names = await page.$$eval('#recent li a', (x) => x.map((e) => e.textContent));
  for (const n of names) assert.match(n, /^[^/]+ · (127\.0\.0\.1|localhost):\d+$/, `"${n}" starts with the file name`);
  assert.match(await page.textContent('#model'), /threshold \d+%/);
  await shot(page, 'popup');
  await page.close();
});

test('a 100 px image keeps its verdict word; a signed face-less image shows CONTENT CREDENTIALS', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${sites.a}/small.html`);
  const [small, signed] = await waitFinal(page, ['#small', '#signed']);
  const sj = await job((await recordFor(small.id)).jobId);
  const d = describeResult(sj.result, null);
  assert.equal(small.state, d.state);
  assert.equal(small.label, d.compact, `the 100 px badge says ${small.label}`);
  assert.ok(['REAL', 'FAKE', 'UNSURE'].includes(small.label));
  const clipped = await page.evaluate((id) => {
    const t = document.getElementById(id).shadowRoot.querySelector('.text');
    return t.scrollWidth > t.clientWidth + 1;
  }, small.id);
  assert.equal(clipped, false, 'verdict word cut off');
  assert.equal(signed.state, 'content-credentials');
  assert.equal(signed.label, 'CONTENT CREDENTIALS');
  assert.match(signed.ariaLabel, /valid Content Credentials/);
  await shot(page, 'small-and-credentials');
  const { details } = await openDetails(page, '#signed');
  assert.match(await details.textContent('#provenance-summary'), /valid Content Credentials/);
  assert.match(await details.textContent('#provenance'), /Validation.*valid signature, but the signer is not one this computer trusts/);
  await shot(details, 'details-credentials');
  await details.close();
  await page.close();
});

test('progress names its stage: queued checks say QUEUED, working ones the stage', async (t) => {
  const sw = await serviceWorker(browser.context);
  await sw.evaluate(() => chrome.storage.session.clear());
  await setSettings(browser.context, { maxConcurrent: 1 });
  t.after(() => setSettings(browser.context, { maxConcurrent: 2 }));
  const page = await browser.context.newPage();
  await page.addInitScript(() => {
    window.stagesSeen = new Set();
    new MutationObserver((records) => {
      for (const r of records) {
        const v = r.target.getAttribute?.('data-deepsentry-stage');
        if (v) window.stagesSeen.add(v);
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-deepsentry-stage'] });
  });
  await page.goto(`${sites.a}/index.html?b=stages`);
  await waitFinal(page, ['#face-img', '#landscape', '#same-video', '#cross-video']);
  const seen = await page.evaluate(() => [...window.stagesSeen]);
  assert.ok(seen.includes('queued'), `stages seen: ${seen}`);
  assert.ok(seen.some((s) => ['decoding', 'finding faces', 'scoring', 'fetching'].includes(s)), `stages seen: ${seen}`);
  await page.close();
});

test('check again after the page was reloaded finishes; the report exports as HTML and PDF', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${sites.a}/single.html?b=again`);
  await waitFinal(page, ['#single']);
  const { details, badge } = await openDetails(page, '#single');
  const rec = await recordFor(badge.id);
  await page.reload();                       // the badge the record names is gone
  await checkAgain(details, rec.jobId, 'check again after reload');

  const sha = (await records()).find((r) => r.id === rec.id).result.media.sha256;
  const word = await details.textContent('#state');
  const [html] = await Promise.all([details.waitForEvent('download'), details.click('#export-html')]);
  assert.match(html.suggestedFilename(), /^deepsentry-report-[0-9a-f]{12}\.html$/);
  const saved = path.join(tmpDir('ds-report-'), html.suggestedFilename());
  await html.saveAs(saved);
  assert.ok(fs.readFileSync(saved, 'utf8').includes(sha), 'the report names the SHA-256');
  const opened = await browser.context.newPage();
  await opened.goto(`file://${saved}`);
  assert.equal(await opened.textContent('#verdict'), word);
  assert.match(await opened.textContent('body'), new RegExp(sha));
  await opened.setViewportSize({ width: 1280, height: 900 });
  await shot(opened, 'report');
  await opened.close();
  const [pdf] = await Promise.all([details.waitForEvent('download'), details.click('#export-pdf')]);
  const bytes = fs.readFileSync(await pdf.path());
  assert.equal(bytes.subarray(0, 5).toString(), '%PDF-');
  assert.ok(bytes.includes(Buffer.from(sha)), 'the PDF names the SHA-256');
  assert.ok(bytes.includes(Buffer.from(`deepsentry report: ${word}`)), 'the PDF states the verdict');
  await details.close();
  await page.close();
});
