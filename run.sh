#!/usr/bin/env bash
# Launchpad's two commands:
#   ./run.sh up     set up (venv, install, migrate, demo) and start every service
#   ./run.sh test   the same set-up, then the whole test suite (extra args go to pytest)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.launchpad-installed"

usage() {
    echo "usage: ./run.sh up | ./run.sh test [pytest arguments]" >&2
    exit 2
}

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3 python; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        if ! python="$(find_python)"; then
            echo "Launchpad needs Python 3.11 or newer, and none was found on PATH." >&2
            echo "Install Python 3.11 (e.g. 'apt-get install python3.11 python3.11-venv') or set PYTHON=/path/to/python3.11." >&2
            exit 1
        fi
        echo "==> Creating .venv with $("$python" --version 2>&1)"
        if ! "$python" -m venv "$VENV"; then
            echo "Could not create a virtual environment: install the venv module (e.g. 'apt-get install python3-venv')." >&2
            exit 1
        fi
    fi
    local wanted
    wanted="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$wanted" ]; then
        echo "==> Installing Launchpad and its dependencies into .venv (first time: a few minutes)"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
        echo "$wanted" > "$STAMP"
    fi
}

[ $# -ge 1 ] || usage
command="$1"
shift
case "$command" in
    up)
        ensure_venv
        exec "$VENV/bin/python" -m backend.launcher up
        ;;
    test)
        ensure_venv
        exec "$VENV/bin/python" -m backend.launcher test "$@"
        ;;
    *)
        usage
        ;;
esac
