"""tracedesk.connections: a CLI command closes the databases it opened, and holds only the open ones."""
from __future__ import annotations

from tracedesk import connections
from tracedesk.store import connect


def test_handles_opened_inside_are_closed_at_the_end_and_closed_ones_are_not_held(tmp_path):
    path = str(tmp_path / "x.db")
    before = connect(path)  # opened outside: left alone
    with connections.closed_at_end():
        for _ in range(50):
            connect(path).close()  # a long command's short-lived handles
        kept = connect(path)
        assert connections._tracked is not None and len(connections._tracked) <= 2
    assert not connections._is_open(kept)
    assert connections._is_open(before)
    assert connections._tracked is None
    before.close()


def test_the_receiver_command_is_not_tracked():
    from tracedesk.cli import build_parser

    args = build_parser().parse_args(["serve", "--db", "x.db"])
    assert args.long_running is True
    assert getattr(build_parser().parse_args(["stats", "--db", "x.db"]), "long_running", False) is False
