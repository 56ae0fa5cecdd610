"""Helpers of the fault-injection tests: real processes, polled, never timed against a verdict."""

import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def env() -> dict:
    """The environment of a child that imports this checkout's curvsym."""
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie is dead)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (ProcessLookupError, FileNotFoundError, IndexError):
        return False


def wait_for(predicate, what: str, limit: float = 120.0) -> None:
    """Poll ``predicate`` until true; the limit only guards against a hang (it decides no verdict)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)
