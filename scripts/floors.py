#!/usr/bin/env python3
"""Print a pip constraints file pinning every `>=` floor in pyproject.toml (dependencies + the given extras).

    python3 scripts/floors.py [EXTRA ...] > constraints.txt

scripts/test-floors.sh installs with it, so CI runs on the oldest versions the metadata promises.
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;#]*)")


def floors(extras: list[str]) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    out: dict[str, str] = {}
    for req in reqs:
        m = _REQ.match(req)
        if not m or m.group(1).lower() == project["name"]:
            continue  # self-references such as tracedesk[judges]
        low = re.search(r">=\s*([0-9][^,\s]*)", m.group(3))
        if low:
            out[m.group(1).lower()] = low.group(1)
    return out


def check(extras: list[str]) -> int:
    """Exit 1 unless the running environment has exactly the floor versions installed."""
    from importlib.metadata import PackageNotFoundError, version

    bad = []
    for name, floor in sorted(floors(extras).items()):
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "missing"
        if _norm(have) != _norm(floor):
            bad.append(f"{name}: floor {floor}, installed {have}")
    print("\n".join(bad) or f"all {len(floors(extras))} floors installed exactly", file=sys.stderr)
    return 1 if bad else 0


def _norm(v: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", v.split("+")[0])]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        return check(argv[1:])
    for name, version in sorted(floors(argv).items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
