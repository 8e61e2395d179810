// Badges with no daemon running: placement over qualifying media (none on icons), following scroll,
// layout change and late insertion, surviving hostile page CSS, keyboard focus, 200% zoom, and the
// daemon-offline / pairing-prompt states. Needs only Chromium (no daemon).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { allBadges, badgeOf, freePort, launch, makeMedia, setSettings, shot, startSites, tmpDir, waitFor } from './harness.mjs';

const QUALIFYING = ['#face-img', '#landscape', '#same-video', '#cross-video'];
let sites;
let browser;
let page;

/** The badge sits INSET px inside the media's top-left corner. */
function assertAligned(b, what) {
  assert.ok(b && b.id, `${what}: no badge`);
  assert.ok(Math.abs(b.host.x - (b.media.x + 6)) <= 1.5, `${what}: badge x ${b.host.x} vs media x ${b.media.x}`);
  assert.ok(Math.abs(b.host.y - (b.media.y + 6)) <= 1.5, `${what}: badge y ${b.host.y} vs media y ${b.media.y}`);
}

before(async () => {
  const media = tmpDir('ds-media-');
  makeMedia(media);
  sites = await startSites(media);
  browser = await launch();
  const deadPort = await freePort();   // nothing listens here
  await setSettings(browser.context, { daemonUrl: `http://127.0.0.1:${deadPort}`, token: 'a'.repeat(64) });
  page = await browser.context.newPage();
  await page.goto(`${sites.a}/index.html`);
});

after(async () => {
  await browser?.context.close();
  await sites?.close();
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

test('readable at 200% zoom', async () => {
  const zoomed = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(zoomed);
  // Browser zoom at 200% is a device-scale change: half the CSS viewport, twice the pixels.
  await cdp.send('Emulation.setDeviceMetricsOverride', { width: 640, height: 400, deviceScaleFactor: 2, mobile: false });
  await zoomed.goto(`${sites.a}/index.html`);
  await waitFor(async () => (await badgeOf(zoomed, '#face-img'))?.state === 'unpaired', { what: 'zoomed badge' });
  const b = await badgeOf(zoomed, '#face-img');
  assertAligned(b, 'zoomed #face-img');
  assert.ok(b.button.w <= b.media.w, 'badge wider than its media at 200%');
  await shot(zoomed, 'zoom-200');
  await zoomed.close();
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
