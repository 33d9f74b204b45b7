# Sourced by serve.sh and test.sh: make ./.venv and install credshare into it (editable).
# Usage: source scripts/setup.sh [EXTRAS]   e.g. "test"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
stamp=".venv/.credshare-installed"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1) $extras"
if [ ! -f "$stamp" ] || ! grep -qxF "$want" "$stamp"; then
  echo "setup: installing credshare${extras:+ with [$extras]} into .venv" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" 2> >(grep -v '^WARNING: Location' >&2)
  echo "$want" >> "$stamp"
fi
