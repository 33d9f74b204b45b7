#!/usr/bin/env bash
# Set up (first run only) and run the server on the embedded store; prints the URL.
# Extra arguments go to `credshare serve`, e.g. --port 9000 --workers 4.
source "$(dirname "$0")/setup.sh" ""
exec .venv/bin/credshare serve "$@"
