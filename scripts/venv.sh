# Sourced by scripts/gateway.sh and tests/run.sh: make sure ./.venv exists and holds the
# project (with the extras named in $1, e.g. "test"), then put it first on PATH.
#
# Debian and Ubuntu mark their own python3 "externally managed" (pip refuses to install
# into it), so the project always lives in a virtual environment; where the venv module is
# missing (python3-venv is not installed by default) it is installed with apt-get.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GATEWAY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" -V 2>&1))" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    version="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    echo "installing python${version}-venv (Debian/Ubuntu ship Python without it)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "python${version}-venv" >/dev/null
  fi
  echo "creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
extras="${1:-}"
spec="$ROOT"
[ -n "$extras" ] && spec="$ROOT[$extras]"
stamp="$VENV/.installed-$(echo "$extras" | tr -c 'a-z0-9' '_')"
# Reinstall only when the project's dependencies changed since the last install.
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -qq --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -qq --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
