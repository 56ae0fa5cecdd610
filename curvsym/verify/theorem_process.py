"""``curvsym prove`` with every theorem file imported, and every theorem run, in a process of its own.

A theorem is the user's code: it may loop inside C code (no exception stops ``sum(range(10**13))``),
loop at import time, catch the timeout exception, or be killed by the out-of-memory killer.  None of
that may cost the table.  Here

* each file is imported (to list its theorems) in a forked child, and each theorem runs in another,
  each in its own process group;
* a child past its deadline — the timeout plus :data:`GRACE_S`, so that a theorem stopped by the
  in-process alarm of :func:`~curvsym.verify.theorem.run_theorem` still reports itself — is killed
  with its whole group (``SIGKILL``, from outside) and gets a TIMEOUT row;
* a child that dies (a signal, ``os._exit``, a segfault) gets a CRASHED row naming how it died;
* Ctrl-C kills every running child and re-raises :class:`KeyboardInterrupt` within a fraction of a
  second; the children ignore the terminal's SIGINT (the parent decides) and die with the parent
  (``PR_SET_PDEATHSIG`` on Linux), so none outlives a killed ``curvsym prove``.

So every theorem gets exactly one row: PASS, FAIL, ERROR, TIMEOUT or CRASHED.  POSIX only (``fork``).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import pickle
import select
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import TheoremFileError
from .theorem import Theorem, TheoremReport, _load, run_theorem

__all__ = ["TheoremRef", "discover_isolated", "prove_isolated", "GRACE_S", "PRELOAD"]

GRACE_S = 1.0
POLL_S = 0.1
PRELOAD = ("curvsym", "sympy", "mpmath", "numpy", "scipy", "flint")  # imported once here, shared by the forks
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class TheoremRef:
    """A theorem known by its file and position there (the function itself lives in a child process).

    ``report`` is set for a file that could not be imported (or hung or crashed while importing): the row
    is then known without running anything."""

    source: str
    index: int
    name: str
    statement: str
    digits: int
    cost: float = 0.0
    report: TheoremReport | None = None
    kind: str = "exact"
    rate: float = 1.0


@dataclass
class _Child:
    pid: int
    fd: int
    deadline: float
    started: float
    key: Any
    data: bytearray = dataclasses.field(default_factory=bytearray)


def _die_with_parent(parent: int) -> None:
    """In a child: be killed when the parent dies (Linux), and exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(70)


def _fork(work: Callable[[], Any], timeout: float | None, key: Any) -> _Child:
    """Run ``work()`` in a forked child (own process group); its pickled result comes back on a pipe."""
    parent = os.getpid()
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(r)
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _die_with_parent(parent)
            try:
                data = pickle.dumps(("ok", work()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - whatever it is, it goes back as text
                data = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001 - the parent sees a child that died
            code = 71
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(w)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also here: no race with a kill before the child got to it
    now = time.monotonic()
    return _Child(pid, r, now + timeout + GRACE_S if timeout else float("inf"), now, key)


def _kill(child: _Child) -> int:
    """SIGKILL the child's process group; reap it; return its wait status."""
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(child.pid, signal.SIGKILL)
    return _reap(child)


def _reap(child: _Child) -> int:
    os.close(child.fd)
    try:
        return os.waitpid(child.pid, 0)[1]
    except ChildProcessError:
        return 0


def _how_it_died(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = " — e.g. the out-of-memory killer" if sig == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"it exited with status {os.waitstatus_to_exitcode(status)} before reporting"


def _run_all(jobs: Sequence[tuple[Any, Callable[[], Any], float | None]], parallel: int,
             on_start: Callable[[Any], None] | None = None, on_done: Callable[[Any, tuple], None] | None = None
             ) -> dict:
    """Run ``(key, work, timeout)`` jobs, ``parallel`` at a time; {key: ("ok", value) | ("error", text) |
    ("timeout", seconds) | ("crashed", text, seconds)}, each also passed to ``on_done(key, outcome)`` as it
    arrives.  Ctrl-C kills every child and re-raises."""
    waiting, running, done = list(jobs), {}, {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, parallel):
                key, work, timeout = waiting.pop(0)
                if on_start is not None:
                    on_start(key)
                child = _fork(work, timeout, key)
                running[child.fd] = child
            now = time.monotonic()
            wait = min([c.deadline for c in running.values()] + [now + POLL_S]) - now
            ready, _, _ = select.select(list(running), [], [], max(0.0, wait))
            for fd in ready:
                child = running[fd]
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    child.data += chunk
                    continue
                del running[fd]
                status = _reap(child)
                seconds = time.monotonic() - child.started
                try:
                    done[child.key] = pickle.loads(bytes(child.data)) if child.data else None
                except Exception:  # noqa: BLE001 - a child that died mid-write
                    done[child.key] = None
                if done[child.key] is None:
                    done[child.key] = ("crashed", _how_it_died(status), seconds)
                if on_done is not None:
                    on_done(child.key, done[child.key])
            now = time.monotonic()
            for fd, child in list(running.items()):
                if now >= child.deadline:
                    del running[fd]
                    _kill(child)
                    done[child.key] = ("timeout", now - child.started)
                    if on_done is not None:
                        on_done(child.key, done[child.key])
    finally:  # Ctrl-C (or anything else): no child outlives this call
        for child in running.values():
            _kill(child)
    return done


def _preload(names: Iterable[str]) -> None:
    """Import library modules that the theorem files imported (never the files themselves) here, before
    forking, so that each child does not import them again."""
    for name in sorted(set(names)):
        if name.split(".")[0] in PRELOAD and name not in sys.modules:
            with contextlib.suppress(Exception):
                __import__(name)


def _list_file(path: Path) -> tuple[list, list]:
    """In a child: the theorems of ``path`` as (name, statement, digits, cost, report | None), and the
    library modules importing it loaded."""
    before = set(sys.modules)
    out = []
    for th in _load(path):
        broken = th.name.endswith("(not importable)")
        out.append((th.name, th.statement, th.digits, th.cost, run_theorem(th) if broken else None, th.kind, th.rate))
    return out, [m for m in set(sys.modules) - before if m.split(".")[0] in PRELOAD]


def _files(paths: Iterable[str | Path]) -> list[Path]:
    found = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise TheoremFileError(f"no such theorem file or folder: {p}")
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        found += [f for f in files if not (f.name.startswith("_") or (p.is_dir() and any(
            part.startswith((".", "_")) for part in f.relative_to(p).parts[:-1])))]
    return found


def _stand_in(path: Path, verdict: str, detail: str, seconds: float) -> TheoremRef:
    name = f"{path.name} (not importable)"
    report = TheoremReport(name, "the file could not be imported", None, seconds, 0,
                           f"{path}: {detail}", timed_out=verdict == "timeout", crashed=verdict == "crashed")
    return TheoremRef(str(path), 0, name, report.statement, 0, report=report)


def discover_isolated(paths: Iterable[str | Path], timeout: float | None = None, parallel: int = 1) -> list[TheoremRef]:
    """The theorems under ``paths`` (as :func:`~curvsym.verify.theorem.discover` finds them), each file
    imported in a child process that is killed after ``timeout`` seconds.

    A file that cannot be imported, or whose import runs past the timeout or kills its process, yields
    one stand-in whose row (ERROR, TIMEOUT or CRASHED) says so; the other files are unaffected.

    Raises:
        TheoremFileError: a path does not exist.
        KeyboardInterrupt: Ctrl-C (every child is killed first).
    """
    files = _files(paths)
    done = _run_all([(f, (lambda f=f: _list_file(f)), timeout) for f in files], parallel)
    refs: list[TheoremRef] = []
    modules: list[str] = []
    for f in files:
        outcome = done[f]
        if outcome[0] == "ok":
            listed, loaded = outcome[1]
            modules += loaded
            refs += [TheoremRef(str(f), i, n, s, d, c, rep, k, r) for i, (n, s, d, c, rep, k, r) in enumerate(listed)]
        elif outcome[0] == "timeout":
            refs.append(_stand_in(f, "timeout", f"importing it did not finish within {timeout:g} s (killed)",
                                  outcome[1]))
        elif outcome[0] == "crashed":
            refs.append(_stand_in(f, "crashed", f"its import killed the process: {outcome[1]}", outcome[2]))
        else:
            refs.append(_stand_in(f, "error", outcome[1], 0.0))
    _preload(modules)
    return refs


def _run_one(ref: TheoremRef, digits: int | None, timeout: float | None, limit_threads: bool,
             seed: int | None = None) -> TheoremReport:
    """In a child: import the file again and run its ``ref.index``-th theorem."""
    ths: list[Theorem] = _load(Path(ref.source))
    if ref.index >= len(ths) or ths[ref.index].name != ref.name:
        raise TheoremFileError(f"{ref.source} defined other theorems when imported again")
    if limit_threads:  # several processes each starting BLAS threads on every core slow each other down
        with contextlib.suppress(ImportError):
            from threadpoolctl import threadpool_limits  # deferred: optional
            with threadpool_limits(limits=1):
                return run_theorem(ths[ref.index], digits, timeout, seed)
    return run_theorem(ths[ref.index], digits, timeout, seed)


def _report(ref: TheoremRef, outcome: tuple, digits: int | None, timeout: float | None) -> TheoremReport:
    """The report of one child's outcome (see :func:`_run_all`)."""
    d = digits or ref.digits
    if outcome[0] == "ok" and isinstance(outcome[1], TheoremReport):
        return outcome[1]
    if outcome[0] == "timeout":
        return TheoremReport(ref.name, ref.statement, None, outcome[1], d,
                             f"killed after the timeout of {timeout:g} s", timed_out=True)
    if outcome[0] == "crashed":
        return TheoremReport(ref.name, ref.statement, None, outcome[2], d,
                             f"the theorem's process died: {outcome[1]}", crashed=True)
    return TheoremReport(ref.name, ref.statement, None, 0.0, d, str(outcome[1]))


def prove_isolated(refs: Sequence[TheoremRef], digits: int | None = None, timeout: float | None = None,
                   jobs: int = 1, on_start: Callable[[TheoremRef], None] | None = None,
                   seed: int | None = None, on_done: Callable[[TheoremReport], None] | None = None
                   ) -> list[TheoremReport]:
    """One report per ref, in the given order; ``jobs`` children at once, costliest first.

    ``seed``: None runs the shipped instances; an integer redraws every random instance from it.
    ``on_done`` receives each report as soon as its theorem finishes (in finishing order).

    Raises:
        KeyboardInterrupt: Ctrl-C (every running theorem's process group is killed first).
    """
    order = sorted(range(len(refs)), key=lambda i: -refs[i].cost)
    work = [(i, (lambda r=refs[i]: _run_one(r, digits, timeout, jobs > 1, seed)), timeout) for i in order
            if refs[i].report is None]
    started = (lambda i: on_start(refs[i])) if on_start is not None else None
    finished = (lambda i, outcome: on_done(_report(refs[i], outcome, digits, timeout))) if on_done else None
    for ref in refs:
        if ref.report is not None and on_done is not None:
            on_done(ref.report)
    done = _run_all(work, jobs, started, finished)
    return [ref.report if ref.report is not None else _report(ref, done[i], digits, timeout)
            for i, ref in enumerate(refs)]
