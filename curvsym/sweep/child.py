"""The child process of :class:`curvsym.sweep.point_process.PointRunner`: ``python -m curvsym.sweep.child FD``.

It reads requests from stdin — ``("context", key, context)`` then ``("point", key, task)`` — and
writes each point's row (:func:`curvsym.sweep.engine.run_point`) to the file descriptor ``FD``,
length-prefixed and pickled.  It exits when stdin closes, and within
:data:`~curvsym.sweep.point_process.WATCHDOG_S` of its parent's death (it polls its parent id), so a
killed worker leaves no child computing behind it.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time

from .catalogue import load_analyses
from .engine import _loads, run_point
from .point_process import _HEADER, WATCHDOG_S

__all__ = ["main"]


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_S)
        if os.getppid() != parent:
            os._exit(70)


def _read_exact(stream, n: int) -> bytes | None:
    data = stream.read(n)
    return data if data is not None and len(data) == n else None


def _send(out: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(out, view):]


def main(argv: list[str]) -> int:
    """Serve points until stdin closes.  Says "ready" once imported, and acknowledges each context once its
    analysis modules and build are loaded, so that a point's timeout counts the point alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when a point stops
    out = int(argv[0])
    _send(out, "ready")
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
            try:  # warm the caches run_point uses; a failure is reported by run_point, as a row
                load_analyses(payload[1])
                _loads(payload[2])
            except Exception:  # noqa: BLE001
                pass
            _send(out, "loaded")
            continue
        _send(out, run_point(payload, contexts[key]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
