"""Points computed in a child process of the worker: a hang or a crash is charged to its own point.

A Dask worker that runs an analysis in its own process cannot stop a point that hangs (a loop
in C code ignores every exception) and dies with a point that crashes (a segfault, ``os._exit``,
the out-of-memory killer): Dask then reschedules *every* task that was on the worker, and after
three deaths reports all of them as ``KilledWorker`` — innocent points included, on every
``--resume``.  Here each worker thread keeps one child process (:class:`PointRunner`) and hands
it one point at a time:

* a point that runs longer than its timeout has the child's whole process group killed
  (``SIGKILL``, from outside: nothing inside the point can refuse it) and becomes a failure row
  ``error_type = "PointTimeout"``;
* a point whose child dies becomes a failure row ``error_type = "PointCrashed"`` naming the
  signal or exit status;
* the next point starts a fresh child.  The worker itself never dies of a point, so no other
  point is ever charged with its crash.

Guarantees: a point's row is the row :func:`curvsym.sweep.engine.run_point` computed in the
child, or a failure row for that point alone; the child never outlives its worker by more than
:data:`WATCHDOG_S` (it polls its parent) and is killed with its process group on timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..version import __version__
from .plan import canonical_json

__all__ = ["PointRunner", "run_isolated", "failure_row", "WATCHDOG_S", "STARTUP_S", "CHILD_MODULE"]

WATCHDOG_S = 0.5
STARTUP_S = 600.0  # for the child to import curvsym and load a context; not counted in a point's timeout
CHILD_MODULE = "curvsym.sweep.child"
_HEADER = struct.Struct("<Q")


class _Timeout(Exception):
    """The child did not answer before the deadline (internal)."""


class _Died(Exception):
    """The child closed its pipe: it died (internal)."""


def failure_row(task: Any, context: tuple, error_type: str, message: str, seconds: float,
                worker: str | None = None) -> dict:
    """The stored row of a point that did not return (timeout, crash): the same meta columns as a
    row of :func:`curvsym.sweep.engine.run_point`, ``status = "error"`` (so ``--retry-failed``
    recomputes it)."""
    return {"point_id": task.id, "point_index": task.index, "analysis": context[0],
            "worker": worker or f"{socket.gethostname()}:{os.getpid()}", "curvsym_version": __version__,
            "parameters": canonical_json(dict(task.params)),
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in task.params.items()},
            "status": "error", "error_type": error_type, "error_message": message, "error_traceback": "",
            "wall_time_s": seconds, "finished_at": datetime.now(timezone.utc)}


def _death(returncode: int | None) -> str:
    if returncode is None:
        return "it closed its pipe"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " — e.g. the out-of-memory killer" if -returncode == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"it exited with status {returncode}"


def _child_env() -> dict:
    """The worker's environment with its ``sys.path`` in ``PYTHONPATH`` (the child imports what it imports)."""
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)))


class PointRunner:
    """One child process (``python -m curvsym.sweep.child``) that computes points sent to it one at a time.

    Requests go to the child's stdin, rows come back on a pipe of their own (a point may print to
    stdout).  The child runs in its own session: a terminal's Ctrl-C does not reach it, and a timeout
    kills its whole process group.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.result_fd: int | None = None
        self.context_key: Any = None  # the child keeps one context (architecture) at a time
        self.ready = False

    def _start(self) -> None:
        r, w = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-m", CHILD_MODULE, str(w)], stdin=subprocess.PIPE,
                                     pass_fds=(w,), env=_child_env(), start_new_session=True)
        os.close(w)
        self.result_fd, self.context_key, self.ready = r, None, False

    def close(self) -> None:
        """Kill the child (and its process group) and reap it; idempotent."""
        if self.proc is not None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.proc.kill()
            self.proc.wait()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.proc.stdin.close()
        if self.result_fd is not None:
            os.close(self.result_fd)
        self.proc, self.result_fd = None, None

    def _send(self, message: tuple) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(_HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()

    def _receive(self, deadline: float) -> Any:
        """The next message of the child, or raise _Timeout / _Died."""
        header = self._read(_HEADER.size, deadline)
        return pickle.loads(self._read(_HEADER.unpack(header)[0], deadline))

    def _read(self, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            wait = max(0.0, deadline - time.monotonic()) if deadline != float("inf") else None
            ready, _, _ = select.select([self.result_fd], [], [], wait)
            if not ready:
                raise _Timeout
            data = os.read(self.result_fd, min(n - got, 1 << 20))
            if not data:
                raise _Died
            chunks.append(data)
            got += len(data)
        return b"".join(chunks)

    def run(self, task: Any, context: tuple, timeout: float | None) -> dict:
        """The row of ``task``: computed by the child, or a failure row if it ran past ``timeout``
        seconds (the child is killed) or the child died."""
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._start()
        key = hash(context[2]), context[0], context[1]
        t0 = time.monotonic()
        try:
            if not self.ready:  # the child's start-up (importing curvsym) is not the point's time
                self._receive(t0 + STARTUP_S)
                self.ready = True
            if key != self.context_key:  # nor is loading the analysis modules and the build
                self._send(("context", key, context))
                self._receive(time.monotonic() + STARTUP_S)
                self.context_key = key
            t0 = time.monotonic()
            self._send(("point", key, task))
            return self._receive(t0 + timeout if timeout else float("inf"))
        except _Timeout:
            pid = self.proc.pid
            self.close()
            return failure_row(task, context, "PointTimeout",
                               f"stopped after the point timeout of {timeout:g} s (its process was killed)"
                               if self.ready and self.context_key == key else
                               f"its process did not start within {STARTUP_S:g} s (killed)",
                               time.monotonic() - t0, f"{socket.gethostname()}:{pid}")
        except (_Died, OSError):  # OSError: a broken pipe to a child that died
            pid = self.proc.pid
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            why = _death(self.proc.poll())
            self.close()
            return failure_row(task, context, "PointCrashed", f"the process computing this point died: {why}",
                               time.monotonic() - t0, f"{socket.gethostname()}:{pid}")


_RUNNERS: dict[int, PointRunner] = {}  # one child per worker thread of this process (a process-local cache)
_LOCK = threading.Lock()


def _runner() -> PointRunner:
    ident = threading.get_ident()
    with _LOCK:
        if not _RUNNERS:
            atexit.register(_close_all)
        return _RUNNERS.setdefault(ident, PointRunner())


def _close_all() -> None:
    for r in list(_RUNNERS.values()):
        r.close()


def run_isolated(tasks: tuple, context: tuple, timeout: float | None = None) -> list[dict]:
    """The rows of ``tasks`` (one Dask task), each computed in this worker thread's child process with its
    own ``timeout`` (seconds; None: no limit).  Never raises for what a point does."""
    runner = _runner()
    return [runner.run(t, context, timeout) for t in tasks]
