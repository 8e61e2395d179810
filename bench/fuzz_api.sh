#!/usr/bin/env bash
# Schemathesis against the daemon's own OpenAPI document (GET /v1/openapi.json), every check on, in a
# network namespace of its own that has only a loopback interface: whatever hostnames the fuzzer
# invents for the API's URL fields, nothing can leave the machine.
#
#   bash bench/fuzz_api.sh [--max-time SECONDS]      (default 300; needs root for `unshare -n`)
#
# Prints schemathesis' report; exits non-zero when it found a 5xx or a schema violation.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${DEEPSENTRY_FUZZ_NETNS:-}" ]]; then
  exec unshare --net env DEEPSENTRY_FUZZ_NETNS=1 bash "$0" "$@"
fi
max_time=300
[[ "${1:-}" == "--max-time" ]] && max_time=$2
ip link set lo up
[[ -x .venv/bin/schemathesis ]] || .venv/bin/python -m pip -q install 'schemathesis==4.32.5'
home=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DEEPSENTRY_HOME=$home DEEPSENTRY_LEDGER=0 .venv/bin/deepsentry serve --port "$port" >"$home/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$home"' EXIT
for _ in $(seq 600); do
  token=$(sed -n 's/^pairing token: //p' "$home/serve.log")
  [[ -n "$token" ]] && break
  sleep 0.2
done
[[ -n "$token" ]] || { cat "$home/serve.log"; exit 1; }
set +e
.venv/bin/schemathesis run "http://127.0.0.1:$port/v1/openapi.json" --checks all --max-time "$max_time" \
  --workers 1 --header "Authorization: Bearer $token" --suppress-health-check all --warnings off
rc=$?
set -e
if ! kill -0 $pid 2>/dev/null; then echo "the daemon died during the run"; tail -40 "$home/serve.log"; exit 1; fi
grep -c ' 500 \| Traceback' "$home/serve.log" | sed 's/^/server tracebacks in the daemon log: /' || true
exit $rc
