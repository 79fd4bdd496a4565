"""`tracedesk --help` must stay cheap: building the parser imports no heavy library."""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "litellm", "sqlite_utils", "streamlit", "altair", "networkx", "numpy")


def test_help_parser_imports_no_heavy_module():
    code = (
        "import sys, json, tracedesk.cli as c; c.build_parser().format_help();"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_help_lists_every_command_group():
    out = subprocess.run([sys.executable, "-m", "tracedesk", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("ingest", "stats", "sample", "demo", "eval", "alerts", "serve", "drift"):
        assert command in out.stdout


def test_counts_refuse_negative_numbers(capsys):
    """`--top -1` listed every row but the last (a Python slice); counts are 0 or more."""
    import pytest

    from tracedesk.cli import main

    for argv in (["changes", "--top", "-1"], ["drift", "--top", "-1"],
                 ["explain", "--signal", "cost_per_trace", "--since", "1", "--until", "2", "--top", "-3"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "argument --top: must be 0 or more, got -" in err, argv
    with pytest.raises(SystemExit):
        main(["changes", "--top", "x"])
    assert "argument --top: expected a whole number, got 'x'" in capsys.readouterr().err
