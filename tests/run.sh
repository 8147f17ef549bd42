#!/usr/bin/env bash
# The test command from the README: installs what is missing, then runs the whole suite.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not slow"` for the fast tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install
exec python3 -m pytest -ra "$@"
