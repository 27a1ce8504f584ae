#!/usr/bin/env bash
# Load test of the hot paths with wrk, against a release build on loopback:
# discovery, JWKS, the token endpoint (client_credentials) and introspection.
# Usage: scripts/load.sh [seconds] [connections]     (needs: wrk, a release build)
# Every request goes to 127.0.0.1 only; the run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
bin=target/release/gatehouse
[ -x "$bin" ] || cargo build --release
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export GATEHOUSE_DATABASE_URL="sqlite://$work/gatehouse.db?mode=rwc"
export GATEHOUSE_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
export GATEHOUSE_BIND="127.0.0.1:$port"
export GATEHOUSE_LOG_LEVEL=warn
"$bin" serve & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

creds=$("$bin" client create --name load --grant-types client_credentials --json)
id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$creds")
secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$creds")
basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
token=$(curl -fsS -u "$id:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/oauth2/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

cat > "$work/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
cat > "$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.body = "token=$token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA

run() {
  echo "== $1"
  shift
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
}
run "discovery" "http://127.0.0.1:$port/.well-known/openid-configuration"
run "jwks" "http://127.0.0.1:$port/oauth2/jwks"
run "token (client_credentials, ES256)" -s "$work/token.lua" "http://127.0.0.1:$port/oauth2/token"
run "introspection" -s "$work/introspect.lua" "http://127.0.0.1:$port/oauth2/introspect"
