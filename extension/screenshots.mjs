// Screenshots for extension/README.md, made with the real daemon and Chromium at 1280x900:
// badges on a page, the details view of a video, and an exported report.
//   node extension/screenshots.mjs          (writes extension/docs/*.png)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  badgeOf, Daemon, EXT_ORIGIN, FINAL_STATES, freePort, launch, makeMedia, removeTmpDirs, setSettings, startSites, tmpDir, waitFor,
} from './tests/harness.mjs';

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'docs');
const VIEW = { width: 1280, height: 900 };

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const media = tmpDir('ds-shots-');
  makeMedia(media);
  const sites = await startSites(media);
  const daemon = new Daemon({ home: tmpDir('ds-shots-home-'), port: await freePort(), allow: [`127.0.0.1:${sites.aPort}`] });
  await daemon.start();
  const browser = await launch();
  try {
    await setSettings(browser.context, { daemonUrl: daemon.url, token: daemon.pairInfo().token });
    const page = await browser.context.newPage();
    await page.setViewportSize(VIEW);
    await page.goto(`${sites.a}/showcase.html`);
    const sels = ['#face', '#video', '#small', '#signed', '#landscape'];
    await waitFor(async () => (await Promise.all(sels.map((s) => badgeOf(page, s)))).every((b) => FINAL_STATES.includes(b?.state)),
      { timeout: 300000, interval: 500, what: 'final badges' });
    await page.screenshot({ path: path.join(OUT, 'badges.png') });
    const b = await badgeOf(page, '#video');
    const [details] = await Promise.all([browser.context.waitForEvent('page'), page.locator(`#${b.id} button`).click()]);
    await details.setViewportSize(VIEW);
    await waitFor(() => details.$eval('#main', (m, fin) => fin.includes(m.dataset.state), FINAL_STATES), { what: 'details' });
    await details.waitForTimeout(300);
    await details.screenshot({ path: path.join(OUT, 'details.png') });
    const [download] = await Promise.all([details.waitForEvent('download'), details.click('#export-html')]);
    const report = await browser.context.newPage();
    await report.setViewportSize(VIEW);
    const saved = path.join(tmpDir('ds-shots-report-'), download.suggestedFilename());
    await download.saveAs(saved);
    await report.goto(`file://${saved}`);
    await report.screenshot({ path: path.join(OUT, 'report.png') });
    console.log(`wrote ${['badges', 'details', 'report'].map((n) => path.join(OUT, `${n}.png`)).join(', ')}`);
    console.log(`details page: ${EXT_ORIGIN}/details.html`);
  } finally {
    await browser.context.close();
    await daemon.stop();
    await sites.close();
    removeTmpDirs();
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
