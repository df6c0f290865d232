#!/bin/sh
# Install facesmith for Krita and GIMP on Linux and macOS: finds Python 3.10+ and runs
# install.py with the same arguments (see `sh installers/install.sh --help`).
#   sh installers/install.sh [--with-server] [--dry-run] [--uninstall [--remove-runtime]] ...
# PYTHON=/path/to/python3 names the interpreter that creates the runtime environment.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"

is_recent() {
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1
}

if [ -n "${PYTHON:-}" ]; then
    is_recent "$PYTHON" || { echo "error: PYTHON=$PYTHON is not Python 3.10 or newer" >&2; exit 2; }
    exec "$PYTHON" "$here/install.py" "$@"
fi
# python3 first; the versioned names cover a python3 that is too old (macOS ships 3.9).
for candidate in python3 python3.13 python3.12 python3.11 python3.10 python; do
    if is_recent "$candidate"; then
        exec "$candidate" "$here/install.py" "$@"
    fi
done
echo "error: facesmith needs Python 3.10 or newer and found none on PATH." >&2
echo "Install one (Debian/Ubuntu: sudo apt install python3 python3-venv; macOS: python.org)," >&2
echo "or name it: PYTHON=/path/to/python3 sh $0" >&2
exit 2
