#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs Yinshi with its test tools. Safe to re-run.
# pip's output goes to .venv/install.log and is shown only when the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
log=.venv/install.log
# torch is pinned in pyproject.toml (a CPU wheel here; see README for CUDA hosts).
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[test]"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup failed (the full pip output is above and in $log)" >&2
  exit 1
fi
echo "Yinshi is installed in .venv (commands: .venv/bin/yinshi --help)"
