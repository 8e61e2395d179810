import './shared/messages.js';
import { loadSettings } from './shared/settings.js';
import { percent, STATE_TEXT } from './shared/verdict.js';

const RESULT_STATES = new Set(['real', 'fake', 'uncertain', 'no-face', 'registered-synthetic', 'content-credentials', 'error']);

/** "clip.mp4 · example.org": the file name first, so results from one site can be told apart. */
function shortName(url) {
  try {
    const u = new URL(url);
    const file = decodeURIComponent(u.pathname.split('/').filter(Boolean).pop() || '') || u.pathname;
    return `${file} · ${u.host}`;
  } catch {
    return String(url || '').slice(0, 60);
  }
}

const { UI_TO_SW } = globalThis.DeepsentryMessages;
const $ = (id) => document.getElementById(id);

async function refresh() {
  const st = await chrome.runtime.sendMessage({ type: UI_TO_SW.STATUS });
  const box = $('daemon');
  box.dataset.status = st.state;
  if (st.state === 'ok') {
    box.textContent = `Daemon online (${st.info.version || 'unknown version'}, ${st.info.device || 'unknown device'})`;
    const m = st.info.model;
    $('model').textContent = m ? `Model: ${m.name} ${m.version || ''} · threshold ${percent(m.threshold)}`
      : `Model: none (${st.info.model_status || 'no weights'}); results are "uncertain"`;
  } else {
    box.textContent = st.message;
    $('model').textContent = '';
  }
  // Results only: a check that ended in "not paired" or "daemon offline" is not a result about the media.
  const list = (await chrome.runtime.sendMessage({ type: UI_TO_SW.RECENT }) || []).filter((r) => RESULT_STATES.has(r.state));
  const ul = $('recent');
  if (list.length) ul.replaceChildren();
  for (const r of list) {
    const li = document.createElement('li');
    const tag = document.createElement('span');
    tag.className = 'state';
    tag.dataset.state = r.state;
    tag.textContent = r.view?.word || STATE_TEXT[r.state]?.text || r.state;
    const a = document.createElement('a');
    a.href = chrome.runtime.getURL(`details.html?id=${r.id}`);
    a.target = '_blank';
    a.textContent = shortName(r.mediaUrl || r.pageUrl || '');
    a.title = `${r.mediaUrl || r.pageUrl || ''}${typeof r.score === 'number' ? ` (fake score ${percent(r.score)})` : ''}`;
    li.append(tag, a);
    ul.append(li);
  }
}

$('paused').addEventListener('change', (e) => chrome.storage.local.set({ paused: e.target.checked }));
$('options').addEventListener('click', () => chrome.runtime.openOptionsPage());
loadSettings().then((s) => { $('paused').checked = s.paused; });
refresh();
