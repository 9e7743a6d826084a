#!/usr/bin/env bash
# Load test of the api-server (issue: GET /api/availability at >= 50 % of a
# trivial handler's requests per second). Starts a release api-server on a
# throwaway database, seeds one employee with 1,000 bookings over 30 days,
# then runs wrk against GET /healthz (the trivial actix handler: the ceiling),
# GET /api/availability (1 employee, 30 days) twice — the same URL every time
# (answered from the in-process cache after the first request of each second)
# and a different `from` instant on every request (same slots, never a cache
# hit: the cold path) — and POST /api/bookings.
#
#   bash scripts/load-test.sh [sqlite|postgres]     (postgres needs TEST_POSTGRES_URL)
#   SLOTWISE_AVAILABILITY_CACHE_MS=0 bash scripts/load-test.sh   (the cache off)
#
# Needs wrk (Debian package) and python3. Sends traffic to 127.0.0.1 only,
# for a bounded time, and stops the server at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
duration=${LOAD_SECONDS:-10}
connections=${LOAD_CONNECTIONS:-32}
command -v wrk >/dev/null || { apt-get install -y -q --no-install-recommends wrk >&2; }

work=$(mktemp -d)
# Never `kill 0` (the whole process group) when the server was not started yet.
trap 'if [ -n "${server_pid:-}" ]; then kill "$server_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
case "$backend" in
    sqlite) export DATABASE_URL="sqlite://$work/load.db" ;;
    postgres)
        : "${TEST_POSTGRES_URL:?set TEST_POSTGRES_URL (bash .ci/start-postgres.sh)}"
        db="slotwise_load_$$"
        psql "$TEST_POSTGRES_URL" -qc "CREATE DATABASE $db" >/dev/null
        export DATABASE_URL="${TEST_POSTGRES_URL%/*}/$db" ;;
    *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SLOTWISE_BIND="127.0.0.1:$port" SLOTWISE_OPERATOR_TOKEN="load-test-operator-token" SLOTWISE_RATE_LIMIT_PER_KEY=10000000
export RUST_LOG=warn
cargo build --release -q -p api-server
"${CARGO_TARGET_DIR:-target}/release/api-server" >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

# Seed: one employee, every day 06-23 UTC, 30-minute service every 15, 1,000 bookings.
read -r key service from to < <(python3 - "$base" <<'PY'
import json, sys, urllib.request, datetime
base = sys.argv[1]
def call(method, path, body, key):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r: return json.load(r)
    except urllib.error.HTTPError as e: return json.load(e)
t = call("POST", "/api/tenants", {"name": "Load", "timezone": "UTC"}, "load-test-operator-token")
key = t["api_key"]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
call("PUT", "/api/business-hours", {"timezone": "UTC", "weekly": {d: [["06:00", "23:00"]] for d in days}}, key)
s = call("POST", "/api/services", {"name": "Cut", "duration_min": 30, "slot_step_min": 15, "horizon_days": 90}, key)
e = call("POST", "/api/employees", {"name": "E", "email": "e@example.com", "timezone": "UTC", "service_ids": [s["id"]]}, key)
start = datetime.date.today() + datetime.timedelta(days=2)
made = 0
day = 0
while made < 1000:
    d = start + datetime.timedelta(days=day % 30)
    slot = (day // 30) * 30
    t0 = datetime.datetime(d.year, d.month, d.day, 6, 0) + datetime.timedelta(minutes=slot)
    if slot >= 1020: break
    r = call("POST", "/api/bookings", {"service_id": s["id"], "employee_id": e["id"], "start": t0.strftime("%Y-%m-%dT%H:%M:00Z"),
                                         "customer": {"name": "c", "email": "c@example.com"}}, key)
    made += 1 if "id" in r else 0
    day += 1
print(key, s["id"], start.isoformat(), (start + datetime.timedelta(days=29)).isoformat())
PY
)
echo "seeded; backend $backend"
cat > "$work/post.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  local day = 40 + (counter % 40)
  local minute = math.floor(counter / 40) % 48 * 15
  local body = string.format('{"service_id":"$service","start":"%s","customer":{"name":"w","email":"w@example.com"}}',
    os.date("!%Y-%m-%dT", os.time() + day * 86400) .. string.format("%02d:%02d:00Z", 7 + math.floor(minute / 60), minute % 60))
  return wrk.format("POST", "/api/bookings", {["Authorization"]="Bearer $key", ["Content-Type"]="application/json"}, body)
end
LUA
# Every request a new `from` (00:00:00-05:59:59 UTC of the first day; the hours
# open at 06:00, so the answer's slots are the same): a new cache key each time.
# The counter is interleaved by wrk thread so two threads never repeat each other.
cat > "$work/cold.lua" <<LUA
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
counter = 0
request = function()
  counter = counter + 1
  local s = (counter * 2 + tid) % 21600
  local from = string.format("${from}T%02d:%02d:%02dZ", math.floor(s / 3600), math.floor(s / 60) % 60, s % 60)
  return wrk.format("GET", "/api/availability?service_id=$service&from=" .. from .. "&to=$to",
    {["Authorization"]="Bearer $key"})
end
LUA
run() { echo "== $1"; shift; wrk --latency -t2 -c"$connections" -d"${duration}s" "$@" | grep -E "Requests/sec|50%|99%|Non-2xx|requests in"; }
run "trivial handler (GET /healthz)" "$base/healthz"
run "GET /api/availability (1 employee, 30 days, 1,000 bookings; same URL: cached)" -H "Authorization: Bearer $key" \
    "$base/api/availability?service_id=$service&from=$from&to=$to"
run "GET /api/availability (same, a new from on every request: uncached)" -s "$work/cold.lua" "$base/api/availability"
run "POST /api/bookings (409s once slots fill)" -s "$work/post.lua" "$base/api/bookings"
