"""The `streamlit run` command line for the workbench: private (loopback) unless the user names a host.

The app shows prompts, outputs and user ids and has no login, so it listens on 127.0.0.1 by default;
`--host` exposes it on purpose, with a warning. Used by `tracedesk demo`; scripts/run.sh mirrors it.
"""
from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it resolves beyond this machine


def exposure_warning(host: str) -> str | None:
    """The warning printed when the app will listen beyond this machine, or None."""
    if is_loopback(host):
        return None
    where = "every network interface" if host in ("0.0.0.0", "::", "") else f"{host}"
    return (f"WARNING: the workbench will listen on {where}. It has no login: anyone who can reach this "
            f"port can read every trace (prompts, outputs, user ids). Put it behind an authenticating "
            f"proxy, or drop --host to keep it on {LOOPBACK}.")


def streamlit_command(app: str, *, host: str | None = None, port: int | None = None, headless: bool = False,
                      extra: Sequence[str] = ()) -> list[str]:
    """`python -m streamlit run APP` with the address pinned (an `--server.address` in `extra` wins),
    through tracedesk.app.serve (which imports the app's modules while the server starts)."""
    cmd = [sys.executable, "-m", "tracedesk.app.serve", "run", app, "--browser.gatherUsageStats", "false",
           "--server.showEmailPrompt", "false"]
    if not any(a == "--server.address" or a.startswith("--server.address=") for a in extra):
        cmd += ["--server.address", host or LOOPBACK]
    if headless:
        cmd += ["--server.headless", "true"]
    if port:
        cmd += ["--server.port", str(port)]
    return cmd + list(extra)


def requested_host(host: str | None, extra: Sequence[str]) -> str:
    """The address the app will listen on, from --host or a --server.address passed through."""
    for i, arg in enumerate(extra):
        if arg.startswith("--server.address="):
            return arg.split("=", 1)[1]
        if arg == "--server.address" and i + 1 < len(extra):
            return extra[i + 1]
    return host or LOOPBACK


def become_streamlit(cmd: list[str], env: dict[str, str]) -> int:
    """Run the Streamlit server: on POSIX this process becomes it (signals such as Ctrl+C or kill reach
    it directly and no orphan is left); elsewhere it runs as a child until it exits."""
    import os
    import subprocess

    sys.stderr.flush()
    sys.stdout.flush()
    if os.name == "posix":
        os.execve(sys.executable, cmd, env)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
