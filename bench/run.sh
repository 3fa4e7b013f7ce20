#!/usr/bin/env bash
# Measures ChittyCharge on this machine, in one run, as ratios to baselines
# measured in the same run (absolute numbers across runs mean little on a
# shared 2-core box). Prints a table and writes bench/results.md.
#
#   (a) GET /api/holds/{id} at 64 connections vs a static endpoint in the
#       same binary on a middleware-free router (wrk);
#   (b) full hold flows/s (create + confirm + partial capture, simulated
#       processor) vs the store's raw durable single-row insert rate, on
#       SQLite and PostgreSQL;
#   (c) webhook ingest (verify + dedupe + apply) events/s;
#   (d) peak RSS after loading 1,000,000 holds, and list-query latency;
#   (e) creates one at a time against the Stripe emulator with a ChittyID
#       stand-in: the service's own share of each (Server-Timing), on SQLite
#       and PostgreSQL.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/scripts/pg.sh"
. "$root/scripts/tools.sh"

work="$(mktemp -d /tmp/chittycharge-bench.XXXXXX)"
server_pid=""
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; fi; }
cleanup() {
  local rc=$?; stop_server
  for p in "${first_pid:-}" "${emu_pid:-}" "${cid_pid:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi; done
  pg_stop; rm -rf "$work"; exit $rc
}
trap cleanup EXIT INT TERM

DURATION="${BENCH_SECONDS:-8}"
TOKEN="cc_bench_token_000000000000000000000001"

echo "== building the release binaries"
cargo build --release -q --bin chittycharge --bin cc-bench
BIN="$root/target/release/chittycharge"
CCB="$root/target/release/cc-bench"
command -v wrk >/dev/null 2>&1 || { echo "== installing wrk"; as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# pg_stat_statements counts the statements a flow sends (row (b)).
PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on" pg_start
psql "$PG_ADMIN_URL" -q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null

# start_server DATABASE_URL [KEY=VALUE ...]: starts the release binary, sets URL.
start_server() {
  local db="$1"; shift
  env -i PATH="$PATH" DATABASE_URL="$db" CHITTYCHARGE_LISTEN=127.0.0.1:0 CHITTYCHARGE_API_TOKEN="$TOKEN" \
    RATE_LIMIT_PER_MINUTE=60000000 RUST_LOG=error "$@" "$BIN" serve > "$work/banner" 2> "$work/server.log" &
  server_pid=$!
  # Up to 30 s: in Stripe mode the start waits for the emulator's first
  # answers, which a busy machine can make slow.
  for _ in $(seq 1 600); do
    if grep -q "listening on" "$work/banner" 2>/dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  grep -q "listening on" "$work/banner" || { echo "server did not start:"; cat "$work/banner" "$work/server.log"; return 1; }
  URL="http://$(sed -E 's/.*listening on http:\/\/([^ ]+).*/\1/' "$work/banner")"
}

wrk_run() { # URL [anon] -> "rps p50_ms p99_ms non2xx"; "anon" sends no token (the 401 path)
  if [ "${2:-}" = anon ]; then
    wrk -t2 -c64 -d"${DURATION}s" --latency "$1" > "$work/wrk.txt"
  else
    wrk -t2 -c64 -d"${DURATION}s" --latency -H "ChittyID-Token: $TOKEN" "$1" > "$work/wrk.txt"
  fi
  python3 - "$work/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p = {k: ms(v, u) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)", t, re.M)}
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(rps, p["50"], p["99"], errs.group(1) if errs else 0)
PY
}

json() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

echo "== (a) read path vs static floor"
start_server "sqlite://$work/a.db" CHITTYCHARGE_BENCH_FLOOR=1
HOLD=$(curl -s -X POST "$URL/api/holds" -H "ChittyID-Token: $TOKEN" -d '{"amount":25000,"description":"bench","payment_method":"pm_card_visa","confirm":true}' | json id)
read -r floor_rps floor_p50 floor_p99 floor_err < <(wrk_run "$URL/_bench/floor")
read -r get_rps get_p50 get_p99 get_err < <(wrk_run "$URL/api/holds/$HOLD")
read -r health_rps health_p50 health_p99 health_err < <(wrk_run "$URL/health" anon)
read -r readyz_rps readyz_p50 readyz_p99 readyz_err < <(wrk_run "$URL/readyz" anon)
read -r unauth_rps unauth_p50 unauth_p99 unauth_err < <(wrk_run "$URL/api/holds" anon)
stop_server

echo "== (b) hold flows vs raw durable inserts"
insert_sqlite=$("$CCB" inserts --database-url "sqlite://$work/raw.db" --seconds "$DURATION" | json inserts_per_sec)
start_server "sqlite://$work/b.db"
flows_sqlite=$("$CCB" flows --url "$URL" --token "$TOKEN" --seconds "$DURATION" | json flows_per_sec)
stop_server
psql "$PG_ADMIN_URL" -q -c "CREATE DATABASE bench_raw" -c "CREATE DATABASE bench_flows" -c "CREATE DATABASE bench_two" >/dev/null
insert_pg=$("$CCB" inserts --database-url "$PG_BASE_URL/bench_raw" --seconds "$DURATION" | json inserts_per_sec)
start_server "$PG_BASE_URL/bench_flows"
# What a flow costs PostgreSQL: transactions (its own statistics) and
# statements, BEGIN and COMMIT included (pg_stat_statements), per flow.
# WAL flushes (pg_stat_wal, the whole cluster: nothing else runs meanwhile).
# The time PostgreSQL's executor spent on the statements (pg_stat_statements,
# in ms), and the server's CPU (/proc, in clock ticks): what is left of the
# two cores is PostgreSQL's per-statement work around the executor, the
# kernel and the load generator.
pg_costs() {
  psql "$PG_ADMIN_URL" -Atc "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'bench_flows') \
    || ' ' || (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench_flows') \
    || ' ' || (SELECT wal_sync FROM pg_stat_wal) \
    || ' ' || (SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench_flows')"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
read -r xact0 stmt0 sync0 exec0 < <(pg_costs)
ticks0=$(cpu_ticks)
"$CCB" flows --url "$URL" --token "$TOKEN" --seconds "$DURATION" > "$work/flows_pg.json"
ticks1=$(cpu_ticks)
read -r xact1 stmt1 sync1 exec1 < <(pg_costs)
tick_hz=$(getconf CLK_TCK)
flows_pg=$(json flows_per_sec < "$work/flows_pg.json")
flows_pg_ok=$(json ok < "$work/flows_pg.json")
stop_server
# Two instances on one database; each flow's steps alternate between them.
start_server "$PG_BASE_URL/bench_two"
first_pid=$server_pid; first_url=$URL; server_pid=""
start_server "$PG_BASE_URL/bench_two"
"$CCB" flows --url "$first_url" --url "$URL" --token "$TOKEN" --seconds "$DURATION" > "$work/two.json"
flows_pg2=$(json flows_per_sec < "$work/two.json")
conflicts_pg2=$(json conflicts < "$work/two.json")
failed_pg2=$(json failed < "$work/two.json")
stop_server
kill "$first_pid" 2>/dev/null || true; wait "$first_pid" 2>/dev/null || true

echo "== (c) webhook ingest"
start_server "sqlite://$work/c.db" STRIPE_WEBHOOK_SECRET=whsec_bench
events=$("$CCB" webhooks --url "$URL" --token "$TOKEN" --secret whsec_bench --seconds "$DURATION" | json events_per_sec)
stop_server

echo "== (d) 1,000,000 holds: peak RSS and list latency"
"$CCB" load --database-url "sqlite://$work/d.db" --count "${BENCH_HOLDS:-1000000}" > "$work/load.json"
start_server "sqlite://$work/d.db"
"$CCB" lists --url "$URL" --token "$TOKEN" --rounds 60 > "$work/lists.json"
list_p50=$(json list_p50_ms < "$work/lists.json")
list_p99=$(json list_p99_ms < "$work/lists.json")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
stop_server
# A CSV report streamed by a fresh server, of a tenth of the holds and then
# of all of them: if memory is flat, both peaks are the same. (The loaded
# holds are one a millisecond from 1,760,000,000 s.)
report() { # TO -> "bytes seconds peak_kb"
  start_server "sqlite://$work/d.db"
  local t0; t0=$(date +%s.%N)
  local bytes; bytes=$(curl -sS --fail -H "ChittyID-Token: $TOKEN" "$URL/api/reports/holds?from=2000-01-01&to=$1&format=csv" | wc -c)
  echo "$bytes $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }') $(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")"
  stop_server
}
read -r report_small_bytes _ rss_report_small_kb < <(report "2025-10-09T08:55:00Z")
read -r report_bytes report_secs rss_report_kb < <(report "2099-12-31")

echo "== (e) what a create adds: one connection, Stripe emulator and ChittyID stand-in"
emulator_venv "$root/target/stripe-emu-venv"
# A fresh emulator and stand-in for each store: the emulator keeps every
# object in memory and slows as they pile up (its create measured 5.6 ms
# fresh and 22 ms three runs later), so the second store would otherwise be
# measured against a slower processor.
fresh_processor() {
  for p in "${emu_pid:-}" "${cid_pid:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi; done
  emu_port=$(free_port)
  "$root/target/stripe-emu-venv/bin/python" "$root/tests/stripe-emulator/localstripe_patched.py" --port "$emu_port" > "$work/emu.out" 2> "$work/emu.log" &
  emu_pid=$!
  python3 "$root/bench/chittyid_standin.py" > "$work/cid.out" &
  cid_pid=$!
  for _ in $(seq 1 200); do grep -q READY "$work/emu.out" 2>/dev/null && [ -s "$work/cid.out" ] && break; sleep 0.1; done
  grep -q READY "$work/emu.out" || { echo "the Stripe emulator did not start:"; cat "$work/emu.log"; exit 1; }
  stripe=(CHITTYCHARGE_PROCESSOR=stripe STRIPE_SECRET_KEY=sk_test_chittycharge "STRIPE_API_BASE=http://127.0.0.1:$emu_port"
    "CHITTY_ID_URL=http://127.0.0.1:$(head -1 "$work/cid.out")" CHITTY_ID_TOKEN=bench CHITTYCHARGE_SERVER_TIMING=1)
}
fresh_processor
start_server "sqlite://$work/e.db" "${stripe[@]}"
"$CCB" creates --url "$URL" --token "$TOKEN" --seconds "$DURATION" > "$work/e_sqlite.json"
stop_server
fresh_processor
psql "$PG_ADMIN_URL" -q -c "CREATE DATABASE bench_creates" >/dev/null
start_server "$PG_BASE_URL/bench_creates" "${stripe[@]}"
"$CCB" creates --url "$URL" --token "$TOKEN" --seconds "$DURATION" > "$work/e_pg.json"
stop_server
for k in app_p50_ms app_p99_ms total_p50_ms processor_p50_ms chittyid_p50_ms creates; do
  export "e_sqlite_$k=$(json "$k" < "$work/e_sqlite.json")" "e_pg_$k=$(json "$k" < "$work/e_pg.json")"
done

cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)
export health_rps health_p50 health_p99 health_err readyz_rps readyz_p50 readyz_p99 readyz_err unauth_rps unauth_p50 unauth_p99 unauth_err
export flows_pg2 conflicts_pg2 failed_pg2 xact0 xact1 stmt0 stmt1 sync0 sync1 exec0 exec1 ticks0 ticks1 tick_hz flows_pg_ok
export report_bytes report_secs rss_report_kb report_small_bytes rss_report_small_kb
export floor_rps floor_p50 floor_p99 floor_err get_rps get_p50 get_p99 get_err insert_sqlite flows_sqlite insert_pg flows_pg events rss_kb list_p50 list_p99 cpu DURATION
export holds_loaded="${BENCH_HOLDS:-1000000}" today="$(date -u +%Y-%m-%d)"
# A quoted heredoc: nothing in the report text is expanded by the shell.
python3 - > "$root/bench/results.md" <<'PY'
import os
e = {k: os.environ[k] for k in os.environ}
f = lambda k: float(e[k])
floor, get = f("floor_rps"), f("get_rps")
rows = [
    ("(a) GET /api/holds/{id}, 64 connections", f"{get:,.0f} req/s (p50 {f('get_p50'):.2f} ms, p99 {f('get_p99'):.2f} ms)",
     f"static floor {floor:,.0f} req/s (p50 {f('floor_p50'):.2f} ms, p99 {f('floor_p99'):.2f} ms)", get / floor, "≥ 0.5, p99 < 5 ms"),
    ("(a) GET /health, no token", f"{f('health_rps'):,.0f} req/s (p50 {f('health_p50'):.2f} ms, p99 {f('health_p99'):.2f} ms)",
     "static floor", f("health_rps") / floor, "≥ 0.5"),
    ("(a) GET /readyz, no token", f"{f('readyz_rps'):,.0f} req/s (p50 {f('readyz_p50'):.2f} ms, p99 {f('readyz_p99'):.2f} ms)",
     "static floor", f("readyz_rps") / floor, "≥ 0.5"),
    ("(a) GET /api/holds without a token (401)", f"{f('unauth_rps'):,.0f} req/s (p50 {f('unauth_p50'):.2f} ms, p99 {f('unauth_p99'):.2f} ms)",
     "static floor", f("unauth_rps") / floor, "≥ 0.8"),
    ("(b) hold flows, SQLite", f"{f('flows_sqlite'):,.1f} flows/s", f"raw durable inserts {f('insert_sqlite'):,.1f}/s", f("flows_sqlite") / f("insert_sqlite"), "≥ 0.3"),
    ("(b) hold flows, PostgreSQL", f"{f('flows_pg'):,.1f} flows/s; per flow {(f('xact1') - f('xact0')) / f('flows_pg_ok'):.1f} transactions, "
     f"{(f('stmt1') - f('stmt0')) / f('flows_pg_ok'):.1f} statements (each a round trip), {(f('sync1') - f('sync0')) / f('flows_pg_ok'):.1f} WAL flushes, "
     f"{(f('exec1') - f('exec0')) / f('flows_pg_ok'):.2f} ms in PostgreSQL's executor, {(f('ticks1') - f('ticks0')) / f('tick_hz') * 1000 / f('flows_pg_ok'):.2f} ms of server CPU", f"raw durable inserts {f('insert_pg'):,.1f}/s", f("flows_pg") / f("insert_pg"), "≥ 0.12"),
    ("(b) hold flows, PostgreSQL, two instances (steps alternate)", f"{f('flows_pg2'):,.1f} flows/s; {int(f('conflicts_pg2'))} 409s, {int(f('failed_pg2'))} failed flows",
     f"one instance {f('flows_pg'):,.1f} flows/s", f("flows_pg2") / f("flows_pg"), "-"),
    ("(c) webhook ingest", f"{f('events'):,.0f} events/s", "-", None, "≥ 5,000 events/s"),
    *[(f"(e) a create's own share, {name} (1 connection, Stripe emulator, ChittyID stand-in)",
       f"app p50 {f(f'e_{k}_app_p50_ms'):.2f} ms, p99 {f(f'e_{k}_app_p99_ms'):.2f} ms ({int(f(f'e_{k}_creates'))} creates)",
       f"whole request p50 {f(f'e_{k}_total_p50_ms'):.2f} ms, of it processor {f(f'e_{k}_processor_p50_ms'):.2f} ms, ChittyID {f(f'e_{k}_chittyid_p50_ms'):.2f} ms",
       None, target) for name, k, target in (("SQLite", "sqlite", "p50 ≤ 1.5 ms"), ("PostgreSQL", "pg", "p50 ≤ 3 ms"))],
    (f"(d) {int(e['holds_loaded']):,} holds", f"peak RSS {f('rss_kb') / 1024:,.1f} MB; list p50 {f('list_p50'):.2f} ms, p99 {f('list_p99'):.2f} ms", "-", None, "< 150 MB, list < 20 ms"),
    (f"(d) a CSV report of all {int(e['holds_loaded']):,} holds, streamed by a fresh server", f"{f('report_bytes') / 1e6:,.1f} MB in {f('report_secs'):.1f} s; peak RSS {f('rss_report_kb') / 1024:,.1f} MB",
     f"a tenth of them ({f('report_small_bytes') / 1e6:,.1f} MB): peak RSS {f('rss_report_small_kb') / 1024:,.1f} MB", f("rss_report_kb") / f("rss_report_small_kb"), "flat: ≈ 1.0"),
]
print("# Benchmark results\n")
print(f"Measured by `bench/run.sh` on {e['today']}: {os.cpu_count()} cores ({e['cpu'].strip()}), loopback, release build, "
      f"simulated processor; wrk -t2 -c64 for {e['DURATION']} s per run. Non-2xx responses: floor {e['floor_err']}, read {e['get_err']}, health {e['health_err']}, readyz {e['readyz_err']} "
      f"(the 401 row is all non-2xx by design).\n")
print("| measurement | result | baseline in the same run | ratio | target |")
print("|---|---|---|---|---|")
for name, res, base, ratio, target in rows:
    print(f"| {name} | {res} | {base} | {'-' if ratio is None else f'{ratio:.2f}'} | {target} |")
PY
cat "$root/bench/findings.md" >> "$root/bench/results.md"
cat "$root/bench/results.md"
