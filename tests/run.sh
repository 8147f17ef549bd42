#!/usr/bin/env bash
# The test command from the README: installs what is missing, checks style and types, then
# runs the whole suite. Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install
echo "== ruff"; python3 -m ruff check .
echo "== mypy"; python3 -m mypy
echo "== pytest"
exec python3 -m pytest -ra "$@"
