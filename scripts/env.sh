# Sourced by run_example.sh and test.sh: create/refresh the local environment .venv.
# Usage: source scripts/env.sh [EXTRAS]   (EXTRAS e.g. "dev")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.10 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if (3,10) <= sys.version_info[:2] <= (3,11) else 1)' 2>/dev/null; then
      PY="$cand"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "neurosim needs Python 3.10 or 3.11 (brian2 2.9.0 and numba); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
EXTRAS="${1:-}"
SPEC="."
[ -n "$EXTRAS" ] && SPEC=".[$EXTRAS]"
STAMP=".venv/.installed-$(cat pyproject.toml | cksum | cut -d' ' -f1)-${EXTRAS:-core}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$STAMP" ]; then
  echo "installing neurosim and its dependencies into .venv (first run only) ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
  .venv/bin/python -m pip install --quiet -e "$SPEC"
  touch "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
export MPLBACKEND=Agg
