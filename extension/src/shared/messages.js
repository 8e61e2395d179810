// Message types, one frozen table per direction (content script, service worker, extension UI pages).
//
// This file is loaded two ways: as a classic content script (listed before content.js in the
// manifest) and as a side-effect ES module import in the service worker and UI pages. It therefore
// has no `export`; it defines `globalThis.DeepsentryMessages` and nothing else.
//
// Payloads (JSDoc, informative):
//   CS_TO_SW.CHECK        {badgeId, mediaType: 'image'|'video'|'link'|'page', mediaUrl, pageUrl,
//                          frames?: [{t, jpeg}], frameSize?: {width, height}, bytes?: base64,
//                          mime?, force?: bool, explicit?: bool, rect?: {x,y,w,h,dpr}}
//                         -> {accepted: true} ; progress and result arrive as SW_TO_CS.UPDATE
//   CS_TO_SW.GET_CONFIG   {} -> {autoMode, paused, siteAllowed, frameCount, minMediaSize, maxConcurrent}
//   CS_TO_SW.OPEN_DETAILS {recordId} ; CS_TO_SW.OPEN_OPTIONS {} ; CS_TO_SW.PING_DAEMON {} -> {online, paired}
//   SW_TO_CS.UPDATE       {badgeId, state, progress?, stage?, score?, reason?, recordId?, word?, compact?,
//                          sentence?, credentials?: 'valid'|'invalid', frames?: string}
//                         (word/compact/sentence: the graded wording of shared/wording.js; reason: plain words)
//   SW_TO_CS.CONFIG_CHANGED {config} ; SW_TO_CS.DAEMON_BACK {}
//   SW_TO_CS.CHECK_TARGET {menuItemId, mediaType, srcUrl?, linkUrl?, pageUrl}
//   SW_TO_CS.RECHECK      {badgeId} -> {ok: false} when the page no longer has that badge (reloaded)
//   UI_TO_SW.STATUS       {} -> {online, paired, info?, error?}
//   UI_TO_SW.TEST_CONNECTION {daemonUrl?, token?} -> {ok, state, message, info?}
//   UI_TO_SW.PAIR         {daemonUrl, code} -> {ok, message}
//   UI_TO_SW.GET_RESULT   {recordId} -> record | null
//   UI_TO_SW.CHECK_AGAIN  {recordId} -> {ok}
//   UI_TO_SW.RECENT       {} -> [record summaries]
//   UI_TO_SW.EXPORT_REPORT {recordId, format: 'html'|'pdf'} -> {ok, name?, mime?, base64?, message?}
(function define(root) {
  const freeze = Object.freeze;
  root.DeepsentryMessages = {
    CS_TO_SW: freeze({
      CHECK: 'cs-sw-check',
      GET_CONFIG: 'cs-sw-get-config',
      OPEN_DETAILS: 'cs-sw-open-details',
      OPEN_OPTIONS: 'cs-sw-open-options',
      PING_DAEMON: 'cs-sw-ping-daemon',
    }),
    SW_TO_CS: freeze({
      UPDATE: 'sw-cs-update',
      CONFIG_CHANGED: 'sw-cs-config-changed',
      DAEMON_BACK: 'sw-cs-daemon-back',
      CHECK_TARGET: 'sw-cs-check-target',
      RECHECK: 'sw-cs-recheck',
    }),
    UI_TO_SW: freeze({
      STATUS: 'ui-sw-status',
      TEST_CONNECTION: 'ui-sw-test-connection',
      PAIR: 'ui-sw-pair',
      GET_RESULT: 'ui-sw-get-result',
      CHECK_AGAIN: 'ui-sw-check-again',
      RECENT: 'ui-sw-recent',
      EXPORT_REPORT: 'ui-sw-export-report',
    }),
    // Badge states: the exact lower-case values of the badge host's data-deepsentry-state attribute.
    STATES: freeze({
      IDLE: 'idle',                       // auto mode off: click to check
      CHECKING: 'checking',
      REAL: 'real',
      FAKE: 'fake',
      UNCERTAIN: 'uncertain',
      NO_FACE: 'no-face',
      REGISTERED_SYNTHETIC: 'registered-synthetic',
      CONTENT_CREDENTIALS: 'content-credentials',   // no face, but a valid C2PA manifest
      DAEMON_OFFLINE: 'daemon-offline',
      UNPAIRED: 'unpaired',
      ERROR: 'error',
    }),
  };
  const S = root.DeepsentryMessages.STATES;
  // What a badge says in each state (colour is never the only signal: text and icon too).
  root.DeepsentryMessages.STATE_TEXT = freeze({
    [S.IDLE]: freeze({ text: 'CHECK', icon: '\u25B6' }),
    [S.CHECKING]: freeze({ text: 'CHECKING', icon: '\u21BB' }),
    [S.REAL]: freeze({ text: 'REAL', icon: '\u2714' }),
    [S.FAKE]: freeze({ text: 'FAKE', icon: '\u2716' }),
    [S.UNCERTAIN]: freeze({ text: 'UNCERTAIN', icon: '?' }),
    [S.NO_FACE]: freeze({ text: 'NO FACE', icon: '\u2205' }),
    [S.REGISTERED_SYNTHETIC]: freeze({ text: 'REGISTERED SYNTHETIC', icon: '\u2699', compact: 'SYNTHETIC' }),
    [S.CONTENT_CREDENTIALS]: freeze({ text: 'CONTENT CREDENTIALS', icon: '\u2611', compact: 'CREDENTIALS' }),
    [S.DAEMON_OFFLINE]: freeze({ text: 'DAEMON OFFLINE', icon: '\u26A0', compact: 'OFFLINE' }),
    [S.UNPAIRED]: freeze({ text: 'PAIR DEEPSENTRY', icon: '\u21C6', compact: 'PAIR' }),
    [S.ERROR]: freeze({ text: "CAN'T CHECK", icon: '!' }),
  });
  // What each checking stage (data-deepsentry-stage; the daemon's job stages and the browser's own) means.
  root.DeepsentryMessages.STAGE_WORDS = freeze({
    queued: 'waiting for its turn', waiting: 'will check when it scrolls into view', starting: 'starting',
    fetching: 'downloading', decoding: 'reading frames', 'finding faces': 'finding faces', scoring: 'scoring faces',
    capturing: 'reading frames in the browser', done: 'done',
  });
  freeze(root.DeepsentryMessages);
})(globalThis);
