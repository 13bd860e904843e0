#!/usr/bin/env bash
# Sets up the environment and runs the bot: every platform whose token is set, else the console.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/yinshi run "$@"
