#!/usr/bin/env bash
# Dependency floors: install the LOWEST versions pyproject.toml declares (a constraints file generated from
# its `>=` floors) into a separate virtualenv and run a smoke subset: ingest, store, query, an app page.
# A floor that does not install or does not pass is a floor the metadata must raise.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FLOORS_VENV:-.venv-floors}"
python3 -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
python3 scripts/floors.py > "$VENV/constraints.txt"
echo "dependency floors: $(tr '\n' ' ' < "$VENV/constraints.txt")"
# pytest and hypothesis at their own floors too; everything else (transitive) resolves as pip chooses.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$VENV/constraints.txt" \
  -e . "pytest==$(python3 scripts/floors.py test | sed -n 's/^pytest==//p')" \
  "hypothesis==$(python3 scripts/floors.py test | sed -n 's/^hypothesis==//p')"
"$VENV/bin/python" -m pip check
# The installed versions must BE the floors (a silently newer one would test nothing).
"$VENV/bin/python" scripts/floors.py --check
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not browser and not slow" \
  tests/test_cli_ingest.py tests/test_store.py tests/test_workbench_query.py \
  "tests/test_app_pages.py::test_traces_table" "tests/test_app_pages.py::test_overview" "$@"
