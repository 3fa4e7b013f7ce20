# Sourced by scripts/test.sh and bench/run.sh: the Stripe emulator's venv.

# emulator_venv DIR: a venv with localstripe, Stripe's SDK and aiosmtpd in
# DIR (made once, kept under target/).
emulator_venv() {
  local venv="$1"
  if ! "$venv/bin/python" -c 'import localstripe, stripe, aiohttp, aiosmtpd' >/dev/null 2>&1; then
    echo "== creating the emulator venv (localstripe, stripe, aiosmtpd) in $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'localstripe==1.15.10' 'stripe==16.1.0' 'aiosmtpd==1.4.6'
  fi
}
