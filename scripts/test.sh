#!/usr/bin/env bash
# Set up (first run only), run the quality gates (ruff, mypy), then the whole test suite.
# Extra arguments go to pytest. A gate's finding fails the run before any test starts.
source "$(dirname "$0")/setup.sh" "test"
echo "test.sh: ruff check" >&2
.venv/bin/ruff check . || exit 1
echo "test.sh: mypy" >&2
.venv/bin/python scripts/typecheck.py || exit 1
# ganache 7 (a real Ethereum JSON-RPC node) for the chain-anchoring tests
if [ ! -x node_modules/.bin/ganache ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# Debian's chromium for the real-browser tests (tests/e2e). Playwright drives it and never downloads
# a browser of its own. Setting CREDSHARE_CHROMIUM to another chromium binary skips this step.
if [ -z "${CREDSHARE_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0)
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    apt=(sudo "${apt[@]}")
  fi
  if [ "$(id -u)" -ne 0 ] && [ "${apt[0]}" != sudo ]; then
    echo "test.sh: /usr/bin/chromium is missing and there is no sudo to install it;" \
      "the browser tests will fail (apt-get install chromium, or set CREDSHARE_CHROMIUM)" >&2
  else
    echo "test.sh: installing Debian's chromium with apt-get" >&2
    "${apt[@]}" update -qq >/dev/null
    "${apt[@]}" install -qq --no-install-recommends chromium >/dev/null 2> >(grep -v '^debconf: delaying' >&2)
  fi
fi
# compiled bytecode is kept (in __pycache__, ignored by git) even where the environment asks
# Python not to write it: without it every run, and every server a test starts, compiles
# Flask, web3 and the rest again (collection alone takes twice as long)
unset PYTHONDONTWRITEBYTECODE
# the fast loop (-m "not slow") spreads over every core (pytest-xdist; each test has its own temp
# dir, store and ports) unless -n is given; the whole suite, with its timing-sensitive process
# tests, runs in one process
case " $* " in
  *" not slow "*) case " $* " in *" -n "*|*" -n"[0-9a]*) ;; *) set -- -n auto "$@" ;; esac ;;
esac
exec .venv/bin/python -m pytest "$@"
