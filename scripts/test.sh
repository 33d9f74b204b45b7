#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite. Extra arguments go to pytest.
source "$(dirname "$0")/setup.sh" "test"
# ganache 7 (a real Ethereum JSON-RPC node) for the chain-anchoring tests
if [ ! -x node_modules/.bin/ganache ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec .venv/bin/python -m pytest "$@"
