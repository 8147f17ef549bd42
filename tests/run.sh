#!/usr/bin/env bash
# The test command from the README: installs what is missing (Debian packages, and the
# project with its test extras in ./.venv), checks style and types, then runs the whole
# suite. Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install
source scripts/venv.sh test
# One clear line instead of a failure per test when no model can be had (the tests use the
# real model: VOSK_MODEL, or the product's own one-time download into the cache).
if ! python -c 'import os, sys; from gateway.model import resolve_model, ModelUnavailableError
try:
    resolve_model(os.environ.get("VOSK_MODEL") or None)
except ModelUnavailableError as exc:
    sys.exit(f"error: the tests need a Vosk model: {exc}")'; then
  exit 2
fi
echo "== ruff"; python -m ruff check .
echo "== mypy"; python -m mypy
echo "== pytest"
exec python -m pytest -ra "$@"
