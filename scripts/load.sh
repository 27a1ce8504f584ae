#!/usr/bin/env bash
# Load test against a release build on loopback. Two scenarios:
#   hot    wrk on discovery, JWKS, the token endpoint (client_credentials, ES256) and
#          introspection; for each, req/s, latency and the server's own CPU time per
#          request (read from /proc/PID/stat before and after, so the load generator's
#          CPU does not count).
#   storm  whole browser-less sign-in flows (authorize, login page, login form with its
#          CSRF token, consent, code, token) from N concurrent browsers, with an open-loop
#          client_credentials load beside them whose p99 is reported, and the argon2id
#          ceiling of this machine at the same parameters measured just before (the
#          reference C implementation through argon2-cffi when installed, and the
#          argon2 crate Gatehouse uses).
# Usage: scripts/load.sh [hot|storm|all] [seconds] [connections]   (STORM_USERS=8)
# Backend: SQLite in a temporary directory by default; set LOAD_DATABASE_URL and
# LOAD_REDIS_URL for PostgreSQL + Redis (the database is used as given: use a scratch one,
# e.g. LOAD_DATABASE_URL=postgres://postgres@127.0.0.1:5432/gatehouse_load).
# Needs wrk (apt-get install wrk). Every request goes to 127.0.0.1; the run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
secs=${2:-10}
conns=${3:-64}
users=${STORM_USERS:-8}
# LOAD_BIN runs another build (an older one, to compare) instead of building this tree.
bin=${LOAD_BIN:-target/release/gatehouse}
storm=${LOAD_STORM_BIN:-target/release/examples/login_storm}
[ -n "${LOAD_BIN:-}" ] || cargo build --release --quiet
[ -n "${LOAD_STORM_BIN:-}" ] || cargo build --release --quiet --example login_storm
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export GATEHOUSE_DATABASE_URL="${LOAD_DATABASE_URL:-sqlite://$work/gatehouse.db?mode=rwc}"
[ -n "${LOAD_REDIS_URL:-}" ] && export GATEHOUSE_REDIS_URL="$LOAD_REDIS_URL" GATEHOUSE_REDIS_KEY_PREFIX="load$port:"
export GATEHOUSE_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
export GATEHOUSE_BIND="127.0.0.1:$port"
export GATEHOUSE_ISSUER="$base"
export GATEHOUSE_LOG_LEVEL=warn
export GATEHOUSE_MAIL_FILE_DIR="$work/mail"
# The storm signs in far more often than a real network would: lift the per-IP budget
# for loopback, which is what the scenario measures around.
export GATEHOUSE_ACCOUNTS__LOGIN_IP_LIMIT=1000000
"$bin" serve & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
backend=SQLite
[ -n "${LOAD_DATABASE_URL:-}" ] && backend="PostgreSQL${LOAD_REDIS_URL:+ + Redis}"
sleep 2
echo "backend: $backend; idle RSS $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"

json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

creds=$("$bin" client create --name load --grant-types client_credentials --json)
id=$(json_field "$creds" client_id)
secret=$(json_field "$creds" client_secret)
basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
token=$(curl -fsS -u "$id:$secret" -d grant_type=client_credentials "$base/oauth2/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

summary=()
run() {
  local name=$1
  shift
  local before after out n
  before=$(cpu_ticks)
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$@")
  after=$(cpu_ticks)
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "== $name"
  echo "$out" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
  summary+=("$(awk -v n="$n" -v t=$((after - before)) -v hz="$hz" -v name="$name" \
    'BEGIN { printf "%-40s %8.1f µs CPU/request", name, t / hz * 1e6 / n }')")
}

if [ "$what" = hot ] || [ "$what" = all ]; then
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
  run "discovery" "$base/.well-known/openid-configuration"
  run "jwks" "$base/oauth2/jwks"
  run "token (client_credentials, ES256)" -s "$work/token.lua" "$base/oauth2/token"
  run "introspection" -s "$work/introspect.lua" "$base/oauth2/introspect"
  echo "loaded RSS $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
fi

if [ "$what" = storm ] || [ "$what" = all ]; then
  rp=$("$bin" client create --name storm --first-party --redirect-uri https://rp.example/cb \
    --grant-types authorization_code --json)
  password="storm horse battery staple"
  for n in $(seq 1 "$users"); do
    echo "$password" | "$bin" user create --email "storm$n@example.com" --verified --password-stdin >/dev/null
  done
  # The ceiling: argon2id at Gatehouse's default parameters (m = 19456 KiB, t = 2, p = 1)
  # on every core, with the reference C implementation (libargon2 from argon2-cffi:
  # pip install argon2-cffi) and with the crate Gatehouse uses.
  if python3 -c 'import argon2.low_level' 2>/dev/null; then
    python3 - <<'PY'
import os, time
from concurrent.futures import ProcessPoolExecutor
import argon2.low_level as l
def run(_):
    t, n = time.time(), 0
    while time.time() - t < 5:
        l.hash_secret_raw(b"storm horse battery staple", b"somesaltsomesalt", time_cost=2,
                          memory_cost=19456, parallelism=1, hash_len=32, type=l.Type.ID)
        n += 1
    return n / (time.time() - t)
with ProcessPoolExecutor(os.cpu_count()) as p:
    print(f"argon2id ceiling (reference C libargon2, {os.cpu_count()} processes, m=19456 t=2 p=1): "
          f"{sum(p.map(run, range(os.cpu_count()))):.1f} hashes/s")
PY
  fi
  "$storm" --base x --client-id x --client-secret x --redirect-uri x --email x --password x --argon2-ceiling 5
  before=$(cpu_ticks)
  "$storm" --base "$base" \
    --client-id "$(json_field "$rp" client_id)" --client-secret "$(json_field "$rp" client_secret)" \
    --redirect-uri https://rp.example/cb --users "$users" --email 'storm{}@example.com' \
    --password "$password" --secs "$((secs * 2))" --cc-id "$id" --cc-secret "$secret" --cc-rate 50
  after=$(cpu_ticks)
  echo "server CPU during the storm: $(awk -v t=$((after - before)) -v hz="$hz" -v s=$((secs * 2)) 'BEGIN { printf "%.0f %%", t / hz / s * 100 }') of one core"
fi

[ ${#summary[@]} -gt 0 ] && { echo "== summary (server CPU per request)"; printf '%s\n' "${summary[@]}"; }
exit 0
