# Sourced by run_example.sh and test.sh: create/refresh a local virtual environment.
# Usage: source scripts/env.sh [EXTRAS]   (EXTRAS e.g. "dev")
# Environment: PYTHON  interpreter to build the venv from (default: the first of
#                      python3.11, python3.12, python3.13, python3 that is 3.11-3.13)
#              NEUROSIM_VENV  venv folder (default .venv; CI uses .venv313 for 3.13)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
_ok='import sys; sys.exit(0 if (3,11) <= sys.version_info[:2] <= (3,13) else 1)'
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "$_ok" 2>/dev/null; then
      PY="$cand"; break
    fi
  done
fi
if [ -z "$PY" ] || ! "$PY" -c "$_ok" 2>/dev/null; then
  echo "neurosim needs Python 3.11, 3.12 or 3.13; set PYTHON=/path/to/python3.11 (got '${PY:-none}')" >&2
  exit 2
fi
VENV="${NEUROSIM_VENV:-.venv}"
EXTRAS="${1:-}"
SPEC="."
[ -n "$EXTRAS" ] && SPEC=".[$EXTRAS]"
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
STAMP="$VENV/.installed-$(cat pyproject.toml | cksum | cut -d' ' -f1)-py$PYVER-${EXTRAS:-core}"
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$PYVER" ]; then
  echo "$VENV was made with another Python; rebuilding it with Python $PYVER ..." >&2
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ]; then
  echo "installing neurosim and its dependencies into $VENV with Python $PYVER (first run only) ..." >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install --quiet -e "$SPEC"
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
export PATH="$ROOT/$VENV/bin:$PATH"
export VIRTUAL_ENV="$ROOT/$VENV"
export MPLBACKEND=Agg
