"""The database file ingest writes is the same byte for byte whichever process parses and however Python
hashes strings: the serial path and the parse worker, run in processes with different hash seeds, store
identical rows in every table (compressed values and their dictionary ids included)."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

CAPTURES = Path(__file__).parent / "captures"
SRC = Path(__file__).resolve().parent.parent / "src"

_RUN = """
import sys
from tracedesk.ingest import ingest_paths
report = ingest_paths(sys.argv[1], sys.argv[3:], workers=int(sys.argv[2]), batch_size=60)
print(report.spans_inserted)
"""


def _ingest(db: Path, files: list[str], workers: int, hash_seed: str) -> int:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed,
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _RUN, str(db), str(workers), *files], env=env, check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def _tables(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    finally:
        conn.close()


def test_serial_and_worker_ingest_store_the_same_bytes_under_different_hash_seeds(tmp_path):
    from tracedesk.cli import main

    assert main(["sample", "generate", str(tmp_path / "otlp"), "--days", "1", "--traces-per-hour", "6",
                 "--seed", "5"]) == 0
    files = sorted(str(p) for p in (tmp_path / "otlp").glob("traces-*.json.gz"))
    files += sorted(str(p) for p in CAPTURES.rglob("*") if p.is_file() and p.name != "manifest.json")
    serial = _ingest(tmp_path / "serial.db", files, 0, "1")
    worker = _ingest(tmp_path / "worker.db", files, 1, "2")
    assert serial == worker > 500
    a, b = _tables(tmp_path / "serial.db"), _tables(tmp_path / "worker.db")
    assert a.keys() == b.keys()
    assert len(a["blob_dicts"]) > 3  # per-scope dictionaries were trained: their ids are compared too
    for name in a:
        if name == "_migrations":
            continue  # (when each migration ran)
        assert a[name] == b[name], name
