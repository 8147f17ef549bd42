#!/usr/bin/env bash
# Set up (once) and run the gateway with its embedded defaults; flags go to the gateway,
# e.g. `bash scripts/gateway.sh --port 9000`. See docs/configuration.md.
set -euo pipefail
source "$(dirname "$0")/venv.sh" ""
exec python -m gateway "$@"
