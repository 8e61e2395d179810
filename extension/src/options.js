import './shared/messages.js';
import { DEFAULTS, loadSettings, validateSettings } from './shared/settings.js';

const { UI_TO_SW } = globalThis.DeepsentryMessages;
const $ = (id) => document.getElementById(id);
const FIELDS = ['daemonUrl', 'token', 'autoMode', 'paused', 'maxConcurrent', 'frameCount', 'minMediaSize', 'threshold',
  'allowSites', 'denySites'];

function fill(s) {
  for (const k of FIELDS) {
    const el = $(k);
    if (el.type === 'checkbox') el.checked = Boolean(s[k]);
    else if (Array.isArray(s[k])) el.value = s[k].join('\n');
    else el.value = s[k] ?? '';
  }
}

function read() {
  const out = {};
  for (const k of FIELDS) {
    const el = $(k);
    out[k] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

function show(el, status, text) {
  el.hidden = false;
  el.dataset.status = status;
  el.textContent = text;
}

$('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const values = validateSettings(read());
    await chrome.storage.local.set(values);
    fill({ ...DEFAULTS, ...values });
    show($('saved'), 'ok', 'Saved.');
  } catch (err) {
    show($('saved'), 'error', err.message);
  }
});

$('test').addEventListener('click', async () => {
  show($('connection'), 'pending', 'Testing…');
  const r = await chrome.runtime.sendMessage({ type: UI_TO_SW.TEST_CONNECTION, daemonUrl: $('daemonUrl').value, token: $('token').value });
  let text = r.message;
  if (r.ok && r.info) {
    const model = r.info.model ? `${r.info.model.name} ${r.info.model.version || ''}`.trim() : 'no model weights installed';
    text = `Connected to deepsentry ${r.info.version || ''} on ${r.info.device || 'unknown device'}; model: ${model}.`;
  }
  show($('connection'), r.ok ? 'ok' : (r.state || 'error'), text);
});

$('pair').addEventListener('click', async () => {
  show($('connection'), 'pending', 'Pairing…');
  const r = await chrome.runtime.sendMessage({ type: UI_TO_SW.PAIR, daemonUrl: $('daemonUrl').value, code: $('pairCode').value });
  if (r.ok) {
    fill(await loadSettings());
    $('pairCode').value = '';
  }
  show($('connection'), r.ok ? 'ok' : 'error', r.message);
});

chrome.storage.onChanged.addListener(async (changes, area) => {
  if (area === 'local' && ('paused' in changes || 'token' in changes)) {
    const s = await loadSettings();
    $('paused').checked = s.paused;
    if ('token' in changes && document.activeElement !== $('token')) $('token').value = s.token;
  }
});

loadSettings().then(fill);
