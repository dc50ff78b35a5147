#!/usr/bin/env bash
# Installs Newsdesk, then runs the linters and the default test suite. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m newsdesk_app.layers  # fails on an import of a layer above the importing one
status=0
.venv/bin/python -m pytest -m "" "$@" || status=$?  # -m "": every test, not the quick default
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
