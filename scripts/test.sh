#!/usr/bin/env bash
# One command: set up a virtualenv with the test extras and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP="${LITELLM_LOCAL_MODEL_COST_MAP:-True}"
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# .ci/run sets TRACEDESK_TYPECHECK=1: type-check src/tracedesk ([tool.mypy] in pyproject.toml) before the tests
if [[ "${TRACEDESK_TYPECHECK:-0}" == 1 ]]; then
  .venv/bin/python -m mypy
fi
exec .venv/bin/python -m pytest "$@"
