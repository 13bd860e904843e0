#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs Yinshi with its test tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned in pyproject.toml (a CPU wheel here; see README for CUDA hosts).
.venv/bin/python -m pip install -q -e ".[test]"
