#!/usr/bin/env bash
# Run the test suite (installs the project with its [dev] extras into .venv on first use).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" dev
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$ROOT/.venv/numba-cache}"
exec python -m pytest "$@"
