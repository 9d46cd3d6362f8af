#!/usr/bin/env bash
# The /health benchmark; same as `.venv/bin/python -m bench`. Extra arguments pass through
# (see `.venv/bin/python -m bench --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec .venv/bin/python -m bench "$@"
