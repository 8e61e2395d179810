// Content script: finds <img>/<video> on the page, places a badge over each qualifying one, collects
// what the daemon needs (frames, URL) and asks the service worker to check it. It never talks to the
// daemon and never sees the token. Badges are repositioned on scroll, resize, layout change and DOM
// insertion (MutationObserver, ResizeObserver, IntersectionObserver, scroll/resize events; no polling).
(() => {
  if (globalThis.deepsentryContentLoaded) return;
  globalThis.deepsentryContentLoaded = true;

  const { CS_TO_SW, SW_TO_CS, STATES, STATE_TEXT, STAGE_WORDS } = globalThis.DeepsentryMessages;
  const FINAL = new Set([STATES.REAL, STATES.FAKE, STATES.UNCERTAIN, STATES.NO_FACE, STATES.REGISTERED_SYNTHETIC,
    STATES.CONTENT_CREDENTIALS]);
  const RETRYABLE = new Set([STATES.DAEMON_OFFLINE, STATES.UNPAIRED, STATES.ERROR]);
  const MAX_FRAME_SIDE = 960;
  const INSET = 6;
  const COMPACT_BELOW = 150;          // media narrower than this (CSS px) get the one-word badge
  const COMPACT_MAX_W = 200;          // a compact badge is as wide as its one word needs, never cut

  let config = { autoMode: false, paused: true, siteAllowed: false, frameCount: 8, minMediaSize: 96, paired: false };
  let nextId = 1;
  // Unique across pages and frames: a record names its badge, and the ids share the page's id space.
  const idPrefix = `deepsentry-badge-${Math.random().toString(36).slice(2, 8)}`;
  const tracked = new Map();          // media element -> {badge: Badge|null, visible: bool}
  const badgesById = new Map();       // badge id -> Badge
  let layer = null;
  let layoutQueued = false;

  // ------------------------------------------------------------ messaging

  function send(msg) {
    try {
      return chrome.runtime.sendMessage(msg);
    } catch (err) {
      return Promise.reject(err);     // extension reloaded: this script is orphaned
    }
  }

  // ------------------------------------------------------------ badge

  const BADGE_CSS = `
    :host { line-height: normal !important; font-size: 12px !important; }
    button {
      all: initial; box-sizing: border-box; display: inline-flex; align-items: center; gap: 4px;
      max-width: var(--max-w, 320px); padding: 3px 8px; border-radius: 12px; cursor: pointer;
      font: 600 12px/1.3 system-ui, -apple-system, "Segoe UI", sans-serif; letter-spacing: .02em;
      color: #fff; background: #37474f; border: 2px solid #fff; box-shadow: 0 1px 4px rgba(0,0,0,.45);
      white-space: nowrap; overflow: hidden; text-overflow: ellipsis; pointer-events: auto;
    }
    button:focus-visible { outline: 3px solid #ffeb3b; outline-offset: 2px; }
    .icon { font-size: 13px; flex: none; }
    .text { overflow: hidden; text-overflow: ellipsis; }
    .score { font-weight: 400; opacity: .95; }
    .bar { display: none; width: 36px; height: 5px; background: rgba(255,255,255,.35); border-radius: 3px; flex: none; }
    .bar > i { display: block; height: 100%; width: 0; background: #fff; border-radius: 3px; }
    :host([data-deepsentry-state="checking"]) .bar { display: block; }
    .cr { display: none; font-size: 10px; font-weight: 700; padding: 0 4px; border-radius: 6px; background: #fff; color: #4a148c; flex: none; }
    :host([data-deepsentry-credentials="valid"]) .cr { display: inline-block; }
    :host([data-deepsentry-compact]) button { padding: 2px 5px; gap: 3px; font-size: 10.5px; }
    :host([data-deepsentry-compact]) .icon { font-size: 11px; }
    :host([data-deepsentry-compact]) .bar, :host([data-deepsentry-compact]) .cr { display: none; }
    :host([data-deepsentry-state="idle"]) button { background: #455a64; }
    :host([data-deepsentry-state="real"]) button { background: #1b5e20; }
    :host([data-deepsentry-state="fake"]) button { background: #b71c1c; }
    :host([data-deepsentry-state="uncertain"]) button { background: #8d5b00; }
    :host([data-deepsentry-state="no-face"]) button { background: #546e7a; }
    :host([data-deepsentry-state="registered-synthetic"]) button { background: #4a148c; }
    :host([data-deepsentry-state="content-credentials"]) button { background: #1a237e; }
    :host([data-deepsentry-state="daemon-offline"]) button { background: #424242; border-style: dashed; }
    :host([data-deepsentry-state="unpaired"]) button { background: #0d47a1; }
    :host([data-deepsentry-state="error"]) button { background: #6d1b1b; border-style: dotted; }
  `;

  class Badge {
    constructor(el, { explicit = false, kind = null } = {}) {
      this.el = el;
      this.kind = kind || el.localName;   // img | video | link | page
      this.explicit = explicit;
      this.id = `${idPrefix}-${nextId++}`;
      this.state = null;
      this.recordId = null;
      this.reason = null;
      this.score = null;
      this.mediaSrc = currentSource(el);
      this.host = document.createElement('deepsentry-badge');
      this.host.id = this.id;
      this.host.setAttribute('style', hostStyle(this.kind === 'page'));
      const shadow = this.host.attachShadow({ mode: 'open' });
      const style = document.createElement('style');
      style.textContent = BADGE_CSS;
      this.button = document.createElement('button');
      this.button.type = 'button';
      this.iconEl = span('icon');
      this.iconEl.setAttribute('aria-hidden', 'true');
      this.textEl = span('text');
      this.scoreEl = span('score');
      this.bar = span('bar');
      this.barFill = document.createElement('i');
      this.bar.append(this.barFill);
      this.crEl = span('cr');
      this.crEl.title = 'Content Credentials';
      this.button.append(this.iconEl, this.textEl, this.scoreEl, this.crEl, this.bar);
      this.button.addEventListener('click', (e) => { e.preventDefault(); e.stopPropagation(); this.activate(); });
      this.button.addEventListener('keydown', (e) => { if (e.key === 'Tab') leaveBadge(this, e); });
      shadow.append(style, this.button);
      ensureLayer().append(this.host);
      this.compact = false;
      this.view = {};
      this.corner = null;
      this.sentinel = null;
      if (this.kind !== 'page') {
        el.setAttribute('data-deepsentry-badge', this.id);
        // Keyboard order: the badge is reached right after its media, not after the whole page. It
        // lives in the layer at the end of <html>, so a focusable stand-in after the media hands focus
        // to the badge, and Tab from the badge goes on from there.
        this.button.tabIndex = -1;
        this.sentinel = document.createElement('deepsentry-focus');
        this.sentinel.tabIndex = 0;
        this.sentinel.setAttribute('style', 'position: absolute !important; width: 1px !important; height: 1px !important; '
          + 'overflow: hidden !important; clip-path: inset(50%) !important; margin: 0 !important; padding: 0 !important;');
        this.sentinel.setAttribute('aria-hidden', 'true');
        this.sentinel.addEventListener('focus', () => this.button.focus());
        el.after(this.sentinel);
      }
      badgesById.set(this.id, this);
    }

    set(update) {
      const { state, progress = null, score = null, reason = null, recordId = null, stage = null } = update;
      this.state = state;
      if (recordId) this.recordId = recordId;
      this.reason = reason;
      this.score = typeof score === 'number' ? score : null;
      this.view = { ...update, progress, stage };
      this.host.setAttribute('data-deepsentry-state', state);
      if (this.score !== null && FINAL.has(state)) this.host.setAttribute('data-deepsentry-score', this.score.toFixed(3));
      else this.host.removeAttribute('data-deepsentry-score');
      if (update.credentials && FINAL.has(state)) this.host.setAttribute('data-deepsentry-credentials', update.credentials);
      else this.host.removeAttribute('data-deepsentry-credentials');
      if (state === STATES.CHECKING && stage) this.host.setAttribute('data-deepsentry-stage', stage);
      else this.host.removeAttribute('data-deepsentry-stage');
      this.render();
      scheduleLayout();     // the text changed width: a right-aligned or page badge is placed again
    }

    /** Text, tooltip and accessible name from the last update; compact or full by the media's width. */
    render() {
      const { state, progress, stage } = this.view;
      const t = STATE_TEXT[state] || STATE_TEXT[STATES.ERROR];
      let word = this.view.word || t.text;
      let compactWord = this.view.compact || t.compact || word;
      let extra = '';
      if (state === STATES.CHECKING) {
        if (stage === 'queued') word = compactWord = 'QUEUED';
        else if (stage === 'waiting') word = compactWord = 'WAITING';
        else if (typeof progress === 'number' && progress > 0) extra = ` ${Math.round(progress * 100)}%`;
      }
      this.iconEl.textContent = t.icon;
      const shown = this.compact ? compactWord : word;
      this.textEl.textContent = shown;
      this.scoreEl.textContent = this.compact ? '' : extra;
      this.crEl.textContent = this.view.credentials === 'valid' && FINAL.has(state) && state !== STATES.CONTENT_CREDENTIALS && !this.compact ? 'CR' : '';
      this.barFill.style.width = `${Math.round((progress || 0) * 100)}%`;
      const action = {
        [STATES.IDLE]: 'Check this media',
        [STATES.UNPAIRED]: 'Open deepsentry options to pair',
        [STATES.DAEMON_OFFLINE]: 'Retry now',
        [STATES.CHECKING]: 'Checking',
      }[state] || (this.recordId ? 'Open details' : 'Try again');
      const parts = [`deepsentry: ${word}${extra}`];
      const sentence = this.view.sentence || this.reason;
      if (state === STATES.CHECKING && stage && STAGE_WORDS[stage]) parts.push(STAGE_WORDS[stage]);
      else if (sentence) parts.push(sentence);
      if (this.view.scoreText && FINAL.has(state)) {
        parts.push(`fake score ${this.view.scoreText}${this.view.branches ? ` (per branch: ${this.view.branches})` : ''}`);
      }
      if (this.view.frames && FINAL.has(state)) parts.push(this.view.frames);
      if (this.view.caution && FINAL.has(state)) parts.push(this.view.caution);
      if (this.view.credentials === 'valid' && state !== STATES.CONTENT_CREDENTIALS) parts.push('has Content Credentials');
      const label = `${parts.join('. ').replace(/\.\./g, '.')}. ${action}`;
      this.button.setAttribute('aria-label', label);
      this.button.title = label;
      this.host.setAttribute('data-deepsentry-label', `${shown}${this.compact ? '' : extra}`.trim());
    }

    setCompact(on) {
      if (on === this.compact) return;
      this.compact = on;
      if (on) this.host.setAttribute('data-deepsentry-compact', '');
      else this.host.removeAttribute('data-deepsentry-compact');
      this.render();
    }

    activate() {
      if (this.state === STATES.IDLE || this.state === STATES.DAEMON_OFFLINE) { check(this, { explicit: true }); return; }
      if (this.state === STATES.UNPAIRED) { send({ type: CS_TO_SW.OPEN_OPTIONS }).catch(() => {}); return; }
      if (this.recordId) { send({ type: CS_TO_SW.OPEN_DETAILS, recordId: this.recordId }).catch(() => {}); return; }
      if (this.state === STATES.ERROR) check(this, { explicit: true, force: true });
    }

    remove() {
      this.host.remove();
      this.sentinel?.remove();
      if (this.el.getAttribute('data-deepsentry-badge') === this.id) this.el.removeAttribute('data-deepsentry-badge');
      badgesById.delete(this.id);
    }
  }

  function span(cls) { const s = document.createElement('span'); s.className = cls; return s; }

  function hostStyle(fixed) {
    return [
      `position: ${fixed ? 'fixed' : 'absolute'} !important`, 'top: 0 !important', 'left: 0 !important',
      'display: block !important', 'margin: 0 !important', 'padding: 0 !important', 'border: 0 !important',
      'z-index: 2147483646 !important', 'pointer-events: none !important', 'visibility: visible !important',
       'opacity: 1 !important', 'width: auto !important', 'height: auto !important', 'filter: none !important',
      'clip-path: none !important', 'mask: none !important',
    ].join(';');
  }

  function ensureLayer() {
    if (layer && layer.isConnected) return layer;
    layer = document.createElement('deepsentry-layer');
    layer.setAttribute('style', ['position: absolute !important', 'top: 0 !important', 'left: 0 !important',
      'width: 0 !important', 'height: 0 !important', 'overflow: visible !important', 'display: block !important',
      'z-index: 2147483646 !important', 'margin: 0 !important', 'padding: 0 !important', 'border: 0 !important',
      'transform: none !important', 'contain: none !important', 'opacity: 1 !important', 'visibility: visible !important',
      'filter: none !important', 'clip-path: none !important', 'mask: none !important'].join(';'));
    document.documentElement.append(layer);
    return layer;
  }

  // ------------------------------------------------------------ layout

  function scheduleLayout() {
    if (layoutQueued) return;
    layoutQueued = true;
    requestAnimationFrame(() => { layoutQueued = false; layoutAll(); });
  }

  function layoutAll() {
    ensureLayer();
    for (const [el, info] of tracked) {
      if (!el.isConnected) { untrack(el); continue; }
      reconcile(el, info);
    }
    for (const badge of badgesById.values()) {
      if (badge.kind === 'page') { place(badge, null); continue; }
      if (!tracked.has(badge.el)) {
        if (!badge.el.isConnected) { badge.remove(); continue; }
      }
      place(badge, badge.el.getBoundingClientRect());
    }
  }

  function place(badge, rect) {
    const h = badge.host.style;
    const vw = document.documentElement.clientWidth;
    const vh = document.documentElement.clientHeight;
    if (!rect) {     // page-level badge: top right of the viewport, never past its edge
      const w = badge.button.getBoundingClientRect().width || 240;
      badge.button.style.setProperty('--max-w', `${Math.max(120, vw - 16)}px`);
      h.setProperty('transform', `translate(${Math.max(4, Math.round(vw - w - 12))}px, 8px)`, 'important');
      return;
    }
    const hidden = rect.width < 1 || rect.height < 1 || (tracked.get(badge.el)?.visible === false && !badge.explicit);
    h.setProperty('visibility', hidden ? 'hidden' : 'visible', 'important');
    const link = badge.kind === 'link';
    badge.setCompact(!link && rect.width < COMPACT_BELOW);
    let maxW = link ? 320 : Math.max(60, Math.round(rect.width - 2 * INSET));
    if (badge.compact) maxW = COMPACT_MAX_W;
    badge.button.style.setProperty('--max-w', `${maxW}px`);
    if (hidden) return;
    // Links: just below the link text, which stays readable. Media: inside a corner the page does not
    // cover with its own overlay (a custom player's title bar or LIVE tag), top left when all are free.
    const size = badge.button.getBoundingClientRect();
    let x;
    let y;
    if (link) {
      x = rect.left;
      y = rect.bottom + 2;
    } else {
      const corner = chooseCorner(badge, rect, size);
      x = corner === 'tr' || corner === 'br' ? rect.right - INSET - size.width : rect.left + INSET;
      y = corner === 'bl' || corner === 'br' ? rect.bottom - INSET - size.height - (badge.el.controls ? 44 : 0) : rect.top + INSET;
      // Keep it on screen while any part of the media is: it slides along the media's visible edge.
      x = Math.min(Math.max(x, Math.max(rect.left, 0) + 2), Math.min(rect.right, vw) - size.width - 2);
      y = Math.min(Math.max(y, Math.max(rect.top, 0) + 2), Math.min(rect.bottom, vh) - size.height - 2);
    }
    h.setProperty('transform', `translate(${Math.round(x + window.scrollX)}px, ${Math.round(y + window.scrollY)}px)`, 'important');
  }

  /** The first corner (tl, tr, bl, br) where the page shows the media itself, not an element of its own on top. */
  function chooseCorner(badge, rect, size) {
    const key = `${Math.round(rect.width)}x${Math.round(rect.height)}`;
    if (badge.corner && badge.cornerKey === key) return badge.corner;
    const vw = document.documentElement.clientWidth;
    const vh = document.documentElement.clientHeight;
    const inView = rect.top >= 0 && rect.left >= 0 && rect.bottom <= vh && rect.right <= vw;
    if (!inView) return badge.corner || 'tl';     // elementsFromPoint sees only the viewport: decide when it is visible
    const w = size.width || 80;
    const hgt = size.height || 22;
    const xs = { l: rect.left + INSET, r: rect.right - INSET - w };
    const ys = { t: rect.top + INSET, b: rect.bottom - INSET - hgt - (badge.el.controls ? 44 : 0) };
    const free = (x0, y0) => [[x0 + 2, y0 + 2], [x0 + w - 2, y0 + 2], [x0 + 2, y0 + hgt - 2], [x0 + w - 2, y0 + hgt - 2],
      [x0 + w / 2, y0 + hgt / 2]].every(([px, py]) => {
      const top = document.elementsFromPoint(px, py).find((e) => e.localName !== 'deepsentry-layer' && e.localName !== 'deepsentry-badge');
      return !top || top === badge.el || top.contains(badge.el);
    });
    let pick = 'tl';
    for (const c of ['tl', 'tr', 'bl', 'br']) {
      if (free(xs[c[1]], ys[c[0]])) { pick = c; break; }
    }
    badge.corner = pick;
    badge.cornerKey = key;
    return pick;
  }

  const FOCUSABLE = 'a[href], button, input, select, textarea, summary, iframe, [tabindex], audio[controls], video[controls], [contenteditable=""], [contenteditable="true"]';

  /** Tab from a badge: on to what follows its media in the page (Shift+Tab: what precedes it). */
  function leaveBadge(badge, e) {
    const anchor = badge.sentinel;
    if (!anchor || !anchor.isConnected) return;
    const all = [...document.querySelectorAll(FOCUSABLE)].filter((x) => x !== anchor && x.tabIndex >= 0 && !x.disabled
      && !(layer && layer.contains(x)) && x.getClientRects().length > 0);
    const after = (x) => Boolean(anchor.compareDocumentPosition(x) & Node.DOCUMENT_POSITION_FOLLOWING);
    const target = e.shiftKey ? all.filter((x) => !after(x)).pop() : all.find(after);
    if (target) {
      e.preventDefault();
      target.focus();
    }
  }

  // ------------------------------------------------------------ tracking media

  const resizeObserver = new ResizeObserver(() => scheduleLayout());
  const intersectionObserver = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const info = tracked.get(e.target);
      if (!info) continue;
      info.visible = e.isIntersecting;
      if (e.isIntersecting) reconcile(e.target, info);
    }
    scheduleLayout();
  }, { threshold: [0, 0.25] });

  function track(el) {
    if (tracked.has(el) || !(el instanceof HTMLImageElement || el instanceof HTMLVideoElement)) return;
    tracked.set(el, { badge: null, visible: false });
    resizeObserver.observe(el);
    intersectionObserver.observe(el);
    if (el instanceof HTMLVideoElement) el.addEventListener('loadedmetadata', scheduleLayout);
  }

  function untrack(el) {
    const info = tracked.get(el);
    if (!info) return;
    resizeObserver.unobserve(el);
    intersectionObserver.unobserve(el);
    info.badge?.remove();
    tracked.delete(el);
  }

  function scan(root) {
    if (root.nodeType !== Node.ELEMENT_NODE) return;
    if (root.localName === 'img' || root.localName === 'video') track(root);
    for (const el of root.querySelectorAll('img, video')) track(el);
  }

  function qualifies(el) {
    const r = el.getBoundingClientRect();
    return r.width >= config.minMediaSize && r.height >= config.minMediaSize && Boolean(currentSource(el));
  }

  function autoEnabled() { return config.siteAllowed && !config.paused; }

  /** Decide whether a tracked element should have a badge, and start its check when due. */
  function reconcile(el, info) {
    const src = currentSource(el);
    if (info.badge && info.badge.mediaSrc !== src && !info.badge.explicit) {   // new media in the same element
      info.badge.remove();
      info.badge = null;
    }
    const wanted = info.badge?.explicit || (autoEnabled() && qualifies(el));
    if (!wanted) {
      if (info.badge && !FINAL.has(info.badge.state) && info.badge.state !== STATES.CHECKING) {
        info.badge.remove();
        info.badge = null;
      }
      return;
    }
    if (!info.badge) {
      info.badge = new Badge(el);
      info.badge.set({ state: config.autoMode ? STATES.CHECKING : STATES.IDLE, progress: 0,
        stage: config.autoMode ? 'waiting' : null });
      info.pending = config.autoMode;
    }
    if (info.pending && info.visible && config.autoMode) {
      info.pending = false;
      check(info.badge, {});
    }
  }

  function currentSource(el) {
    if (el instanceof HTMLVideoElement) {
      if (el.srcObject) return 'mediastream:';
      return el.currentSrc || el.src || el.querySelector('source[src]')?.src || '';
    }
    if (el instanceof HTMLImageElement) return el.currentSrc || el.src || '';
    if (el instanceof HTMLAnchorElement) return el.href;
    return location.href;
  }

  // ------------------------------------------------------------ checking

  async function check(badge, { force = false, explicit = false } = {}) {
    badge.set({ state: STATES.CHECKING, progress: 0, stage: badge.kind === 'video' ? 'capturing' : 'queued' });
    const el = badge.el;
    const src = currentSource(el);
    badge.mediaSrc = src;
    const msg = {
      type: CS_TO_SW.CHECK, badgeId: badge.id, mediaType: badge.kind === 'img' ? 'image' : badge.kind,
      mediaUrl: src, pageUrl: location.href, force, explicit,
    };
    if (badge.kind === 'page') {
      msg.mediaUrl = badge.mediaOverride || location.href;
      msg.mediaType = badge.mediaOverride ? 'link' : 'page';
    }
    if (explicit && badge.kind !== 'page') {
      const r = el.getBoundingClientRect();
      msg.rect = { x: r.left, y: r.top, w: r.width, h: r.height, dpr: window.devicePixelRatio || 1 };
    }
    try {
      if (badge.kind === 'video' && /^https?:/i.test(src)) {
        const got = await withCaptureSlot(() => captureFrames(src, el.crossOrigin, config.frameCount));
        if (got) Object.assign(msg, got);
      } else if (badge.kind === 'img' && src.startsWith('blob:')) {
        const blob = await (await fetch(src)).blob();
        msg.bytes = await blobToBase64(blob);
        msg.mime = blob.type;
      }
      await send(msg);
    } catch (err) {
      badge.set({ state: STATES.ERROR, word: "CAN'T CHECK", sentence: 'The browser could not read this media. Reload the page and try again',
        reason: String(err?.message || err) });
    }
  }

  // At most maxConcurrent videos are being read at once (each loads a hidden copy of its video).
  let capturing = 0;
  const captureWaiters = [];
  async function withCaptureSlot(fn) {
    while (capturing >= Math.max(1, config.maxConcurrent || 1)) await new Promise((r) => captureWaiters.push(r));
    capturing += 1;
    try { return await fn(); } finally {
      capturing -= 1;
      captureWaiters.shift()?.();
    }
  }

  function once(target, ok, bad, ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error('timeout')); }, ms);
      const onOk = () => { cleanup(); resolve(); };
      const onBad = () => { cleanup(); reject(new Error(bad)); };
      function cleanup() {
        clearTimeout(timer);
        target.removeEventListener(ok, onOk);
        if (bad) target.removeEventListener(bad, onBad);
      }
      target.addEventListener(ok, onOk);
      if (bad) target.addEventListener(bad, onBad);
    });
  }

  /**
   * Read `count` frames at spread timestamps from a hidden copy of the video (the visible one keeps
   * playing undisturbed). Returns null when the frames cannot be read: a cross-origin source without
   * CORS (tainted canvas) or a stream without a finite duration.
   */
  async function captureFrames(src, crossOrigin, count) {
    const url = new URL(src, location.href);
    const v = document.createElement('video');
    v.muted = true;
    v.preload = 'auto';
    v.playsInline = true;
    if (url.origin !== location.origin || crossOrigin) v.crossOrigin = crossOrigin || 'anonymous';
    try {
      v.src = url.href;
      await once(v, 'loadeddata', 'error', 20000);
      const duration = v.duration;
      if (!Number.isFinite(duration) || duration <= 0 || !v.videoWidth) return null;
      const scale = Math.min(1, MAX_FRAME_SIDE / Math.max(v.videoWidth, v.videoHeight));
      const width = Math.round(v.videoWidth * scale);
      const height = Math.round(v.videoHeight * scale);
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext('2d');
      const n = Math.max(1, count);
      const frames = [];
      for (let i = 0; i < n; i += 1) {
        const t = n === 1 ? duration / 2 : duration * (0.05 + (0.9 * i) / (n - 1));
        v.currentTime = Math.min(t, Math.max(0, duration - 0.05));
        try { await once(v, 'seeked', 'error', 8000); } catch { break; }
        ctx.drawImage(v, 0, 0, width, height);
        const dataUrl = canvas.toDataURL('image/jpeg', 0.85);   // throws SecurityError when tainted
        frames.push({ t: Math.round(v.currentTime * 1000) / 1000, jpeg: dataUrl.slice(dataUrl.indexOf(',') + 1) });
      }
      return frames.length ? { frames, frameSize: { width, height }, duration } : null;
    } catch {
      return null;
    } finally {
      v.removeAttribute('src');
      v.load();
    }
  }

  function blobToBase64(blob) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).split(',')[1] || '');
      r.onerror = () => reject(r.error);
      r.readAsDataURL(blob);
    });
  }

  // ------------------------------------------------------------ daemon offline / unpaired recovery

  let retryTimer = null;
  let retryDelay = 1000;

  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = setTimeout(async () => {
      retryTimer = null;
      const waiting = [...badgesById.values()].filter((b) => b.state === STATES.DAEMON_OFFLINE);
      if (!waiting.length) { retryDelay = 1000; return; }
      let st = { online: false };
      try { st = await send({ type: CS_TO_SW.PING_DAEMON }); } catch { /* orphaned */ }
      if (st?.online) {
        retryDelay = 1000;
        for (const b of waiting) check(b, {});
      } else {
        retryDelay = Math.min(retryDelay * 2, 5000);
        scheduleRetry();
      }
    }, retryDelay);
  }

  function recheckWhere(states) {
    for (const b of badgesById.values()) if (states.has(b.state)) check(b, {});
  }

  // ------------------------------------------------------------ messages from the service worker

  function findMediaBySrc(tag, srcUrl) {
    for (const el of document.querySelectorAll(tag)) {
      if (currentSource(el) === srcUrl || el.src === srcUrl) return el;
      if (tag === 'video' && [...el.querySelectorAll('source')].some((s) => s.src === srcUrl)) return el;
    }
    return null;
  }

  function explicitBadgeFor(el, kind) {
    const info = tracked.get(el);
    if (info?.badge) { info.badge.explicit = true; return info.badge; }
    const badge = new Badge(el, { explicit: true, kind });
    if (info) info.badge = badge;
    return badge;
  }

  let pageBadge = null;

  async function onCheckTarget(msg) {
    let badge;
    if (msg.mediaType === 'image' || msg.mediaType === 'video') {
      const tag = msg.mediaType === 'image' ? 'img' : 'video';
      const el = findMediaBySrc(tag, msg.srcUrl);
      if (el) {
        track(el);
        badge = explicitBadgeFor(el, tag);
      }
    } else if (msg.mediaType === 'link') {
      const a = [...document.querySelectorAll('a[href]')].find((x) => x.href === msg.linkUrl);
      if (a) badge = explicitBadgeFor(a, 'link');
    }
    if (!badge) {
      if (!pageBadge) pageBadge = new Badge(document.documentElement, { explicit: true, kind: 'page' });
      badge = pageBadge;
      if (msg.mediaType !== 'page') badge.mediaOverride = msg.srcUrl || msg.linkUrl;
    }
    scheduleLayout();
    await check(badge, { explicit: true });
  }

  chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
    if (sender.id !== chrome.runtime.id || !msg) return false;
    switch (msg.type) {
      case SW_TO_CS.UPDATE: {
        const badge = badgesById.get(msg.badgeId);
        if (badge) {
          badge.set(msg);
          if (msg.state === STATES.DAEMON_OFFLINE) scheduleRetry();
        }
        break;
      }
      case SW_TO_CS.CONFIG_CHANGED:
        refreshConfig(msg.changed || []);
        break;
      case SW_TO_CS.CHECK_TARGET:
        onCheckTarget(msg);
        break;
      case SW_TO_CS.RECHECK: {
        const badge = badgesById.get(msg.badgeId);
        if (!badge) { sendResponse({ ok: false }); return false; }   // the page was reloaded: the worker checks by URL
        check(badge, { force: true, explicit: true });
        break;
      }
      case SW_TO_CS.DAEMON_BACK:
        recheckWhere(new Set([STATES.DAEMON_OFFLINE]));
        break;
      default:
        return false;
    }
    sendResponse({ ok: true });
    return false;
  });

  async function refreshConfig(changed) {
    try { config = await send({ type: CS_TO_SW.GET_CONFIG, pageUrl: location.href }); } catch { return; }
    if (changed.includes('token') || changed.includes('daemonUrl')) recheckWhere(RETRYABLE);
    for (const [el, info] of tracked) {
      if (info.badge?.state === STATES.IDLE && config.autoMode) { info.badge.remove(); info.badge = null; }
      if (info.badge?.state === STATES.CHECKING && !config.autoMode && info.pending) { info.badge.remove(); info.badge = null; }
      reconcile(el, info);
    }
    scheduleLayout();
  }

  // ------------------------------------------------------------ start

  const mutationObserver = new MutationObserver((records) => {
    for (const r of records) {
      if (r.target === layer || layer?.contains(r.target)) continue;
      if (r.type === 'childList') {
        for (const n of r.addedNodes) if (n !== layer) scan(n);
        for (const n of r.removedNodes) {
          if (n.nodeType !== Node.ELEMENT_NODE) continue;
          if (tracked.has(n)) untrack(n);
          if (n.querySelectorAll) for (const el of n.querySelectorAll('img, video')) if (tracked.has(el)) untrack(el);
        }
      }
    }
    scheduleLayout();
  });

  async function start() {
    try { config = await send({ type: CS_TO_SW.GET_CONFIG, pageUrl: location.href }); } catch { return; }
    scan(document.documentElement);
    mutationObserver.observe(document.documentElement, {
      childList: true, subtree: true, attributes: true,
      attributeFilter: ['src', 'srcset', 'style', 'class', 'width', 'height', 'hidden', 'poster'],
    });
    if (document.body) resizeObserver.observe(document.body);
    window.addEventListener('scroll', scheduleLayout, { capture: true, passive: true });
    window.addEventListener('resize', scheduleLayout, { passive: true });
    document.addEventListener('load', scheduleLayout, { capture: true });   // images finishing load
    scheduleLayout();
  }

  start();
})();
