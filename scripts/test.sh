#!/usr/bin/env bash
# Run the test suite (installs the project with its [dev] extras into .venv on first use).
# PYTHON=... NEUROSIM_VENV=... select another interpreter/venv (see scripts/env.sh).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" dev
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$ROOT/$VENV/numba-cache}"
exec python -m pytest "$@"
