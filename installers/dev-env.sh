#!/usr/bin/env bash
# Create .venv in the repository with facesmith (server, client runtime, scoring, Ray, dev tools) installed
# editable. CPU torch; facenet-pytorch goes in with --no-deps because its metadata pins an old
# torch and torchvision — facesmith only reads the MTCNN weight files it ships.
#   bash installers/dev-env.sh [VENV_DIR [REQUIREMENT]]
# REQUIREMENT replaces the editable checkout, e.g. a built wheel: "dist/facesmith-X.whl[server,client]".
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$repo/.venv}"
python="${PYTHON:-python3}"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "torch==2.13.0"
if [ -n "${2:-}" ]; then
  "${pip[@]}" "$2"
else
  "${pip[@]}" -e "$repo[server,client,score,scale,dev]"
fi
"${pip[@]}" --no-deps "facenet-pytorch==2.6.0"
echo "facesmith installed in $venv"
