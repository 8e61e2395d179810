#!/usr/bin/env bash
# Set up everything deepsentry needs on a fresh Debian machine (idempotent, offline-safe once cached):
#   system packages (ffmpeg; chromium with --test), a virtualenv in .venv/ with the package installed
#   editable, and the pinned node tools (anvil, solc, playwright-core, web-ext) in node_modules/.
# Usage: bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. system packages
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
if (( want_test )); then
  command -v chromium >/dev/null || need+=(chromium)
fi
if (( ${#need[@]} )); then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    log "installing ${need[*]} with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    log "missing ${need[*]}: install them with your package manager (continuing)"
  fi
fi

# 2. python virtualenv
PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
VPIP=(.venv/bin/python -m pip -q --disable-pip-version-check)
stamp=.venv/.deepsentry-setup-$want_test     # the test setup installs more: its own stamp
if [[ ! -f $stamp || pyproject.toml -nt $stamp || scripts/setup.sh -nt $stamp ]]; then
  log "installing python packages (torch from this machine's disk)"
  "${VPIP[@]}" install torch==2.14.1 torchvision==0.29.1
  # These two pin an old torch / declare opencv-python; install without their declared deps.
  "${VPIP[@]}" install --no-deps facenet-pytorch==2.5.3 invisible-watermark==0.2.0
  # the tests also need pytest and the 'scale' extra (Ray, pyarrow) for `deepsentry scan`
  if (( want_test )); then extras='.[test,scale]'; else extras='.'; fi
  "${VPIP[@]}" install -e "$extras"
  touch "$stamp"
fi

# 3. node tools
if command -v npm >/dev/null; then
  if [[ ! -x node_modules/.bin/anvil || package-lock.json -nt node_modules ]]; then
    log "installing node tools"
    # `npm install` rather than `npm ci`: npm leaves anvil's other-platform optional packages out of the
    # lock file, which `npm ci` then refuses. Versions are pinned exactly in package.json and the lock.
    npm install --no-audit --no-fund --loglevel=error >/dev/null
    touch node_modules
  fi
else
  log "npm not found: the embedded ledger node and extension tests need Node.js"
fi
log "ready"
