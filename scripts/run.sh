#!/usr/bin/env bash
# One command: set up a virtualenv in .venv, install tracedesk, open the workbench (`tracedesk app`) on
# $TRACEDESK_DB or ./tracedesk.db -- the bundled sample week is built there first when no database exists.
# Arguments: tracedesk app's own (--db FILE, --sample, --host ADDR, --port N, --no-browser); anything else is
# passed to Streamlit. The app listens on 127.0.0.1 only (it has no login); --host 0.0.0.0 exposes it.
# Afterwards `tracedesk` is in .venv/bin: run `source .venv/bin/activate` in your shell to use it.
# (TRACEDESK_RUN_SKIP_INSTALL=1 / TRACEDESK_PYTHON: reuse an existing environment instead, as tests do.)
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP="${LITELLM_LOCAL_MODEL_COST_MAP:-True}"
ours=()
theirs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --db|--host|--port) ours+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --db=*|--host=*|--port=*|--no-browser|--sample) ours+=("$1"); shift ;;
    --) shift; theirs+=("$@"); break ;;
    *) theirs+=("$1"); shift ;;
  esac
done
if [ "${TRACEDESK_RUN_SKIP_INSTALL:-}" != "1" ]; then
  echo "Installing tracedesk into .venv (first run: a minute or two)..." >&2
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
cat >&2 <<'MSG'
To use the `tracedesk` command in this shell (e.g. in a second terminal while the app runs):
    source .venv/bin/activate
Then: tracedesk ingest FILES --db my.db · tracedesk serve --db my.db · tracedesk app --db my.db
MSG
exec "${TRACEDESK_PYTHON:-.venv/bin/python}" -m tracedesk app ${ours[@]+"${ours[@]}"} -- ${theirs[@]+"${theirs[@]}"}
