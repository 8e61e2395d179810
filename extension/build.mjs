#!/usr/bin/env node
// Lint the extension with web-ext and package it: a Chromium zip and a Firefox XPI in extension/dist/.
//   node extension/build.mjs            lint + both packages
//   node extension/build.mjs --lint     lint only
// Lint errors fail the build (exit 1); warnings are printed. Runs from any directory.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');
const webExt = path.join(root, 'node_modules/.bin/web-ext');
const manifest = JSON.parse(fs.readFileSync(path.join(src, 'manifest.json'), 'utf8'));

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw r.error;
  return r;
}

function lint() {
  const r = run(webExt, ['lint', '--source-dir', src, '--output', 'json', '--no-input']);
  let report;
  try { report = JSON.parse(r.stdout); } catch { throw new Error(`web-ext lint gave no JSON report:\n${r.stdout}\n${r.stderr}`); }
  for (const m of [...report.errors, ...report.warnings]) {
    console.log(`${report.errors.includes(m) ? 'ERROR' : 'warning'} ${m.code}: ${m.message}${m.file ? ` (${m.file})` : ''}`);
  }
  console.log(`web-ext lint: ${report.summary.errors} errors, ${report.summary.warnings} warnings, ${report.summary.notices} notices`);
  return report.summary.errors;
}

function files(dir, base = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.name.startsWith('.')) return [];
    return e.isDirectory() ? files(p, base) : [path.relative(base, p)];
  });
}

/** A zip of src/ (sorted, fixed timestamps: reproducible) with the given manifest. */
function writeZip(out, manifestObj) {
  const entries = files(src).sort().map((name) => ({
    name, data: name === 'manifest.json' ? Buffer.from(JSON.stringify(manifestObj, null, 2) + '\n') : fs.readFileSync(path.join(src, name)),
  }));
  fs.writeFileSync(out, zip(entries));
}

// Minimal ZIP writer (deflate via zlib) so packaging needs nothing beyond Node.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function zip(entries) {
  const parts = [];
  const central = [];
  let offset = 0;
  const dosTime = 0;            // 1980-01-01 00:00: reproducible archives
  const dosDate = (0 << 9) | (1 << 5) | 1;
  for (const { name, data } of entries) {
    const nameBuf = Buffer.from(name.split(path.sep).join('/'));
    const comp = zlib.deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(8, 8); local.writeUInt16LE(dosTime, 10); local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14); local.writeUInt32LE(comp.length, 18); local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26); local.writeUInt16LE(0, 28);
    parts.push(local, nameBuf, comp);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(0x02014b50, 0); cen.writeUInt16LE(20, 4); cen.writeUInt16LE(20, 6); cen.writeUInt16LE(0x0800, 8);
    cen.writeUInt16LE(8, 10); cen.writeUInt16LE(dosTime, 12); cen.writeUInt16LE(dosDate, 14); cen.writeUInt32LE(crc, 16);
    cen.writeUInt32LE(comp.length, 20); cen.writeUInt32LE(data.length, 24); cen.writeUInt16LE(nameBuf.length, 28);
    cen.writeUInt32LE(offset, 42);
    central.push(cen, nameBuf);
    offset += local.length + nameBuf.length + comp.length;
  }
  const cenBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cenBuf.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cenBuf, end]);
}

const errors = lint();
if (errors) {
  console.error('lint failed: not packaging');
  process.exit(1);
}
if (process.argv.includes('--lint')) process.exit(0);

fs.mkdirSync(dist, { recursive: true });
const version = manifest.version;
// Chromium: the same manifest; `key` keeps the unpacked id stable (the Web Store strips it on upload).
const chromeOut = path.join(dist, `deepsentry-chromium-${version}.zip`);
writeZip(chromeOut, manifest);
// Firefox: background scripts only (Firefox ignores service_worker and warns), no Chromium `key`.
const ff = structuredClone(manifest);
delete ff.key;
delete ff.minimum_chrome_version;
ff.background = { scripts: manifest.background.scripts, type: manifest.background.type };
const ffOut = path.join(dist, `deepsentry-firefox-${version}.xpi`);
writeZip(ffOut, ff);
for (const f of [chromeOut, ffOut]) console.log(`wrote ${path.relative(root, f)} (${fs.statSync(f).size} bytes)`);
