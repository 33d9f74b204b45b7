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
# The verification report's PDF (WeasyPrint) needs Pango and a font: Debian's packages, installed
# with apt-get when missing (the server's /s/<token>/receipt.pdf answers 503 without them).
pdf_libs=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
if command -v dpkg-query >/dev/null 2>&1 \
    && ! dpkg-query -W -f='${Status}\n' "${pdf_libs[@]}" 2>/dev/null | grep -c "ok installed" | grep -qx "${#pdf_libs[@]}"; then
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0)
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    apt=(sudo "${apt[@]}")
  fi
  if [ "$(id -u)" -ne 0 ] && [ "${apt[0]}" != sudo ]; then
    echo "setup: ${pdf_libs[*]} are missing and there is no sudo to install them; the report PDF will answer 503" >&2
  else
    echo "setup: installing ${pdf_libs[*]} with apt-get (for the report PDF)" >&2
    "${apt[@]}" update -qq >/dev/null
    "${apt[@]}" install -qq --no-install-recommends "${pdf_libs[@]}" >/dev/null 2> >(grep -v '^debconf: delaying' >&2)
  fi
fi
