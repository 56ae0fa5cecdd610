"""The child process of :class:`curvsym.sweep.isolation.PointRunner`: ``python -m curvsym.sweep.child FD``.

It reads requests from stdin — ``("context", key, context)`` then ``("point", key, task)`` — and
writes each point's row (:func:`curvsym.sweep.engine.run_point`) to the file descriptor ``FD``,
length-prefixed and pickled.  It exits when stdin closes, and within
:data:`~curvsym.sweep.isolation.WATCHDOG_S` of its parent's death (it polls its parent id), so a
killed worker leaves no child computing behind it.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time

from .engine import run_point
from .isolation import _HEADER, WATCHDOG_S

__all__ = ["main"]


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_S)
        if os.getppid() != parent:
            os._exit(70)


def _read_exact(stream, n: int) -> bytes | None:
    data = stream.read(n)
    return data if data is not None and len(data) == n else None


def main(argv: list[str]) -> int:
    """Serve points until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when a point stops
    out = int(argv[0])
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    contexts: dict = {}
    stdin = sys.stdin.buffer
    while True:
        header = _read_exact(stdin, _HEADER.size)
        if header is None:
            return 0
        body = _read_exact(stdin, _HEADER.unpack(header)[0])
        if body is None:
            return 0
        kind, key, payload = pickle.loads(body)
        if kind == "context":
            contexts = {key: payload}  # one architecture at a time: keep memory flat
            continue
        row = run_point(payload, contexts[key])
        data = pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL)
        os.write(out, _HEADER.pack(len(data)))
        view = memoryview(data)
        while view:
            view = view[os.write(out, view):]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
