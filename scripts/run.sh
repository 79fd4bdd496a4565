#!/usr/bin/env bash
# One command: set up a virtualenv and open the workbench (on the bundled sample week if no database exists).
# The app listens on 127.0.0.1 only (it has no login); `scripts/run.sh --host 0.0.0.0` exposes it on purpose.
# Other arguments go to `streamlit run`. (TRACEDESK_RUN_SKIP_INSTALL=1 / TRACEDESK_PYTHON: reuse an existing
# environment instead of creating .venv, as the tests do.)
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP="${LITELLM_LOCAL_MODEL_COST_MAP:-True}"
host="127.0.0.1"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --host) host="${2:?--host needs an address}"; shift 2 ;;
    --host=*) host="${1#--host=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$host" in
  127.*|localhost|::1) ;;
  *) echo "WARNING: the workbench will listen on $host. It has no login: anyone who can reach this port can" \
          "read every trace (prompts, outputs, user ids). Put it behind an authenticating proxy, or drop" \
          "--host to keep it on 127.0.0.1." >&2 ;;
esac
if [ "${TRACEDESK_RUN_SKIP_INSTALL:-}" != "1" ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
exec "${TRACEDESK_PYTHON:-.venv/bin/python}" -m streamlit run app.py --server.address "$host" \
  --browser.gatherUsageStats false --server.showEmailPrompt false ${args[@]+"${args[@]}"}
