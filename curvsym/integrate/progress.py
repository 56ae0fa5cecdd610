"""Progress over simulated time: a tqdm bar that a daemon thread keeps alive through long steps."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(progress: bool | None, total: float, desc: str) -> Any:
    """A tqdm bar over simulated time (unit: time units of the flow), or None.

    ``progress=None`` (the default of every integrator) shows one for runs that
    last longer than 2 s — on a terminal, in a notebook and in a log alike (a log
    gets a line every 10 s at most); ``True`` shows it at once; ``False`` never.
    A daemon thread refreshes the bar, so a single long step (thousands of digits)
    still shows its elapsed time instead of nothing.
    """
    if progress is False:
        return None
    tty = sys.stderr.isatty()
    bar = tqdm(total=total, unit="t", unit_scale=False, desc=desc, leave=False, delay=0 if progress else 2.0,
               mininterval=0.1 if tty else 10.0, bar_format="{desc}: {percentage:3.0f}%|{bar}| t = {n:.4g} of "
               "{total:.4g} [{elapsed}<{remaining}]")
    _refresh_in_background(bar, 1.0 if tty else 10.0)
    return bar


def _refresh_in_background(bar: Any, every: float) -> None:
    """Refresh ``bar`` every ``every`` seconds (after its delay) until it is closed."""
    def tick():
        start = time.monotonic()
        while not bar.disable and getattr(bar, "n", None) is not None and not getattr(bar, "_closed", False):
            time.sleep(every)
            if getattr(bar, "_closed", False):
                return
            if time.monotonic() - start >= max(bar.delay, every):
                try:
                    bar.refresh()
                except Exception:  # the bar was closed between the test and the refresh
                    return

    close = bar.close

    def closing():
        bar._closed = True
        close()
    bar.close = closing
    threading.Thread(target=tick, daemon=True, name="curvsym-progress").start()
