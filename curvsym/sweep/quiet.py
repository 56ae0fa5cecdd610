"""One line instead of Dask's tracebacks: quiet Dask loggers during a sweep, short reasons for lost tasks.

The sweep reports every outcome itself (its summary says how many points are stored and why others
are not), so Dask's own log records — reconnection tracebacks after the scheduler dies, worker
restarts — would only repeat it at length.  :func:`quiet_dask` raises the level of the
``distributed`` loggers for the duration of a sweep and restores them after.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

__all__ = ["quiet_dask", "quiet_dask_until_exit", "why_not_run", "MAX_REASON"]

MAX_REASON = 160
_LOGGERS = ("distributed", "tornado", "asyncio")


def _raise_levels(level: int) -> dict[str, int]:
    """Set Dask's, Tornado's and asyncio's loggers to ``level``; their previous levels by name."""
    with contextlib.suppress(ImportError):  # deferred: an optional, heavy dependency; importing it
        import distributed  # noqa: F401  creates its loggers (with their own levels) first
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in _LOGGERS] + list(_LOGGERS)
    saved = {name: logging.getLogger(name).level for name in names}  # Dask sets levels on sub-loggers too
    for name in saved:
        logging.getLogger(name).setLevel(level)
    return saved


@contextlib.contextmanager
def quiet_dask(level: int = logging.CRITICAL + 1) -> Iterator[None]:
    """Dask's and asyncio's loggers above ``level`` while the block runs (restored after)."""
    saved = _raise_levels(level)
    try:
        yield
    finally:
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)


def quiet_dask_until_exit() -> None:
    """Quiet Dask's loggers for the rest of this process — for the command line only, which exits after
    the sweep: a client that lost its scheduler logs the cancellation of its reconnection task (a
    traceback) when Dask's event-loop thread is stopped at interpreter exit, after any ``with`` block.
    (Entering :func:`quiet_dask` and dropping the context manager would restore the levels at once, when
    the generator is collected.)"""
    _raise_levels(logging.CRITICAL + 1)


def why_not_run(exc: object) -> str:
    """One short line saying why a task did not run (at most :data:`MAX_REASON` characters)."""
    text = str(exc)
    if "scheduler-connection-lost" in text or "lost the connection to the scheduler" in text:
        return "the connection to the scheduler was lost (it died or the network failed)"
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    reason = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"
