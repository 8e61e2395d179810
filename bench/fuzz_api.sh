#!/usr/bin/env bash
# Schemathesis against the daemon's own OpenAPI document (GET /v1/openapi.json), in a network
# namespace of its own that has only a loopback interface, so nothing can leave the machine.
#
#   bash bench/fuzz_api.sh [--max-time SECONDS]      (default 300; needs root for `unshare -n`)
#
# URL fields are pinned to two files on a loopback web server the daemon is allowed to fetch, so a
# schema-valid URL is one that works; everything else the fuzzer invents there is refused by the
# SSRF guard with a 400. Every check runs except positive_data_acceptance: a schema-valid `file` is
# random bytes, which the API rightly refuses as unsupported media (415).
# Prints schemathesis' report; exits non-zero when it found a failure or the daemon died.
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
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); site_port=$(free_port)
mkdir -p "$home/site"
ffmpeg -v error -f lavfi -i testsrc=s=160x120:r=10:d=1 -c:v libx264 -pix_fmt yuv420p "$home/site/clip.mp4"
ffmpeg -v error -f lavfi -i testsrc=s=64x64 -frames:v 1 "$home/site/still.png"
.venv/bin/python -m http.server "$site_port" --bind 127.0.0.1 --directory "$home/site" >/dev/null 2>&1 &
site_pid=$!
DEEPSENTRY_HOME=$home/home DEEPSENTRY_LEDGER=0 DEEPSENTRY_URL_ALLOWLIST="127.0.0.1:$site_port" \
  .venv/bin/deepsentry serve --port "$port" >"$home/serve.log" 2>&1 &
pid=$!
trap 'kill $pid $site_pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$home"' EXIT
for _ in $(seq 600); do
  token=$(sed -n 's/^pairing token: //p' "$home/serve.log")
  [[ -n "$token" ]] && break
  sleep 0.2
done
[[ -n "$token" ]] || { cat "$home/serve.log"; exit 1; }
base="http://127.0.0.1:$port"
.venv/bin/python - "$base" "$site_port" "$home/openapi.json" "$token" <<'PY'
import json, sys, urllib.request
base, site, out, token = sys.argv[1:5]
req = urllib.request.Request(base + "/v1/openapi.json", headers={"Authorization": f"Bearer {token}"})
spec = json.load(urllib.request.urlopen(req))
pinned = {"enum": [f"http://127.0.0.1:{site}/clip.mp4", f"http://127.0.0.1:{site}/still.png"]}
def pin(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                for name in ("url", "page_url", "media_url"):
                    if name in value:
                        value[name] = dict(pinned)
            pin(value)
    elif isinstance(node, list):
        for value in node:
            pin(value)
pin(spec)
json.dump(spec, open(out, "w"))
PY
set +e
.venv/bin/schemathesis run "$home/openapi.json" --url "$base" --checks all --exclude-checks positive_data_acceptance \
  --max-time "$max_time" --workers 1 --header "Authorization: Bearer $token" --suppress-health-check all \
  --warnings off --request-timeout 300 --max-response-time 120
rc=$?
set -e
if ! kill -0 $pid 2>/dev/null; then echo "the daemon died during the run"; tail -40 "$home/serve.log"; exit 1; fi
echo "server tracebacks in the daemon log: $(grep -c 'Traceback' "$home/serve.log" || true)"
grep -B3 -A25 'Traceback' "$home/serve.log" | head -80 || true
exit $rc
