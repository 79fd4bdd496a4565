"""The layout rules of docs/development.md, checked on the source so they stay true.

- SQL (statements and `.execute*` calls) appears only in `tracedesk/store/`.
- `streamlit` is imported only in `tracedesk/app/`.
- `litellm` is imported only on the judge path, and never at module level.
- Pages import only the public API: the standard library, streamlit, `tracedesk` (top level),
  `tracedesk.charts` and the app's own `tracedesk.app.ui`.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tracedesk"
MODULES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)
PAGES = sorted((SRC / "app" / "pages").glob("*.py")) + [SRC / "app" / "home.py"]

#: a string constant that is a SQL statement (keywords upper-case, as the project writes them)
SQL_RE = re.compile(r"\b(SELECT\b[\s\S]+\bFROM\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|"
                    r"CREATE\s+(TEMP\s+)?(TABLE|INDEX|VIEW|TRIGGER)\b|DROP\s+(TABLE|INDEX)\b|PRAGMA\s+\w+|"
                    r"BEGIN\s+IMMEDIATE\b|json_extract\()")
DB_CALLS = {"execute", "executemany", "executescript", "create_function"}
#: modules allowed to import litellm (inside functions): the judge and replay paths
LITELLM_MODULES = {"evals/judge.py", "replay/run.py"}

#: Known violations (none left since issue 11). The test fails on any violation not listed here AND on a
#: listed one that no longer occurs, so this set only shrinks.
KNOWN: set[tuple[str, str]] = set()


def rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(module: ast.Module, path: Path) -> list[tuple[str, bool]]:
    """(absolute module name, at module level?) for each import in the file."""
    package = ".".join(["tracedesk", *path.relative_to(SRC).with_suffix("").parts[:-1]])
    if path.name == "__init__.py":
        package = ".".join(["tracedesk", *path.relative_to(SRC).parts[:-1]])
    top_level = {id(node) for node in module.body}
    out = []
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            out += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.append((name, id(node) in top_level))
            out += [(f"{name}.{alias.name}", id(node) in top_level) for alias in node.names]
    return out


def page_imports(module: ast.Module) -> list[str]:
    """The tracedesk modules (or names) a page imports beyond the public API."""
    import tracedesk

    public = {*tracedesk.__all__, "charts"}
    bad = []
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name.startswith("tracedesk.")
                    and not a.name.startswith(("tracedesk.charts", "tracedesk.app.ui"))]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tracedesk":
            mod = node.module or ""
            if mod == "tracedesk":
                bad += [f"tracedesk.{a.name}" for a in node.names if a.name not in public]
            elif mod == "tracedesk.app":
                bad += [f"tracedesk.app.{a.name}" for a in node.names if a.name != "ui"]
            elif not (mod == "tracedesk.app.ui" or mod == "tracedesk.charts" or mod.startswith("tracedesk.charts.")):
                bad.append(mod)
    return bad


def violations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in MODULES:
        name = rel(path)
        module = tree(path)
        in_store = name.startswith("store/")
        for node in ast.walk(module):
            if not in_store and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and SQL_RE.search(node.value):
                found.add((name, "sql"))
            if not in_store and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in DB_CALLS:
                found.add((name, "sql"))
        for imported, top in imported_modules(module, path):
            root = imported.split(".")[0]
            if root == "streamlit" and not name.startswith("app/"):
                found.add((name, "streamlit"))
            if root == "litellm" and (top or name not in LITELLM_MODULES):
                found.add((name, "litellm"))
    for path in PAGES:
        for imported in page_imports(tree(path)):
            found.add((rel(path), f"page imports {imported}"))
    return found


def test_layout_rules_hold():
    found = violations()
    new = sorted(found - KNOWN)
    gone = sorted(KNOWN - found)
    assert not new, "layout rule broken (see docs/development.md):\n" + "\n".join(f"  {m}: {w}" for m, w in new)
    assert not gone, "fixed, so remove from KNOWN:\n" + "\n".join(f"  {m}: {w}" for m, w in gone)


def test_the_checks_catch_what_they_are_meant_to(tmp_path, monkeypatch):
    """Each rule fires on a module that breaks it (so the test above cannot pass vacuously)."""
    fake = tmp_path / "tracedesk"
    (fake / "analysis").mkdir(parents=True)
    (fake / "app" / "pages").mkdir(parents=True)
    (fake / "analysis" / "bad.py").write_text(
        "import streamlit\nimport litellm\n\ndef f(db):\n    return db.execute('SELECT 1 FROM spans')\n")
    (fake / "app" / "home.py").write_text("from tracedesk.store.query import Filters\n")
    (fake / "app" / "pages" / "p.py").write_text("from tracedesk.app import ui\nimport tracedesk\n")
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "SRC", fake)
    monkeypatch.setattr(module, "MODULES", sorted(fake.rglob("*.py")))
    monkeypatch.setattr(module, "PAGES", [fake / "app" / "pages" / "p.py", fake / "app" / "home.py"])
    assert violations() == {("analysis/bad.py", "sql"), ("analysis/bad.py", "streamlit"),
                            ("analysis/bad.py", "litellm"), ("app/home.py", "page imports tracedesk.store.query")}


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_stay_thin(path):
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(lines) <= 150, f"{rel(path)} has {len(lines)} lines: move logic into the library"
