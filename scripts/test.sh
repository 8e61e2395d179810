#!/usr/bin/env bash
# Run every test: the Python suite (daemon, media, detector, watermark, ledger on a real anvil node,
# provenance with real C2PA, generator), then the extension's end-to-end suite in a real headless
# Chromium against the real daemon. Expects `bash scripts/setup.sh --test` to have run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
mkdir -p artifacts

status=0
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
if [[ $# -eq 0 ]]; then
  node --test --test-concurrency=1 --test-force-exit extension/tests/ || status=$?
fi
exit $status
