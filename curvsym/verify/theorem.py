"""Theorem files: discovery and execution.

A theorem file is a Python module (one theorem per file, by convention) that
defines one or more functions decorated with :func:`theorem`.  Each returns an
:class:`Evidence`: the symbolic verdict, a high-precision numerical
:class:`~curvsym.checks.CheckResult`, and the check of a *negative control* — a
rule or setting where the claim is false, which the same check must reject.

A theorem passes iff its symbolic part is not refuted, its numerical check
passes, and its negative control is rejected.  Theorem files are code written
by the user and are imported as such; rule *text* is never evaluated (see
:mod:`curvsym.symbolic.rules.text`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..errors import TheoremFileError
from . import seeds as _seeds
from .checks import CheckResult

__all__ = ["Evidence", "Theorem", "TheoremReport", "theorem", "discover", "run_theorem", "prove"]


@dataclass(frozen=True)
class Evidence:
    """What a theorem function returns.

    symbolic : ``"proved"``, ``"refuted"`` or ``"n/a"`` (with detail in ``notes``);
    numeric : the high-precision check of the claim;
    negative : the same check applied to the negative control (must fail).
    """

    symbolic: str
    numeric: CheckResult
    negative: CheckResult | None
    notes: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Theorem:
    """A theorem function with its name, statement and working digits.

    ``cost``: the expected seconds on one core, a scheduling hint only (:func:`prove` starts the
    costliest theorems first); it never changes what is run or checked.

    ``kind``: ``"exact"`` (must pass on every seed) or ``"statistical"`` (passes on a fresh seed with
    probability at least ``rate``, the claim's own stated rate); see :mod:`curvsym.verify.seeds`.
    ``section``: the section of docs/mathematics.md that states the claim, e.g. ``"§5.5"``.
    """

    name: str
    statement: str
    func: Callable[..., Evidence]
    digits: int = 50
    source: str = ""
    cost: float = 0.0
    kind: str = "exact"
    rate: float = 1.0
    section: str = ""

    def __call__(self, digits: int | None = None, seed: int | None = None) -> Evidence:
        with _seeds.using(seed):
            return self.func(digits=digits or self.digits)


def theorem(name: str, statement: str, digits: int = 50, cost: float = 0.0, *, kind: str = "exact",
            rate: float | None = None, section: str = "") -> Callable[[Callable[..., Evidence]], Theorem]:
    """Decorator: ``@theorem("name", "statement")`` over ``def check(digits) -> Evidence``.

    ``cost`` (seconds on one core, optional) is a scheduling hint for :func:`prove` with several
    jobs: the costliest theorems start first, so that a long one does not start last.
    ``kind="statistical"`` with ``rate`` (0 < rate < 1): the claimed probability that a fresh seed passes.

    Raises:
        TheoremFileError: an unknown kind, or a statistical theorem without a rate in (0, 1).
    """
    if kind not in ("exact", "statistical"):
        raise TheoremFileError(f"theorem {name!r}: kind must be 'exact' or 'statistical', got {kind!r}")
    if kind == "statistical" and not (rate is not None and 0 < rate < 1):
        raise TheoremFileError(f"theorem {name!r}: a statistical theorem states its rate in (0, 1), got {rate!r}")
    if kind == "exact" and rate not in (None, 1, 1.0):
        raise TheoremFileError(f"theorem {name!r}: an exact theorem passes on every seed (rate 1), got {rate!r}")

    def wrap(func: Callable[..., Evidence]) -> Theorem:
        return Theorem(name, statement, func, digits, getattr(func, "__module__", ""), float(cost), kind,
                       1.0 if rate is None else float(rate), section)
    return wrap


@dataclass(frozen=True)
class TheoremReport:
    name: str
    statement: str
    evidence: Evidence | None
    seconds: float
    digits: int
    error: str | None = None
    timed_out: bool = False
    crashed: bool = False
    seed: int | None = None

    @property
    def verdict(self) -> str:
        """PASS, FAIL, ERROR (it raised), TIMEOUT or CRASHED (its process died)."""
        if self.crashed:
            return "CRASHED"
        if self.timed_out:
            return "TIMEOUT"
        if self.evidence is None:
            return "ERROR"
        return "PASS" if self.passed else "FAIL"

    @property
    def negative_rejected(self) -> bool | None:
        if self.evidence is None or self.evidence.negative is None:
            return None
        return not self.evidence.negative.passed

    @property
    def passed(self) -> bool:
        e = self.evidence
        return (self.error is None and e is not None and not e.symbolic.startswith("refuted")
                and e.numeric.passed and self.negative_rejected is True)

    def as_dict(self) -> dict:
        e = self.evidence
        out = {"theorem": self.name, "statement": self.statement, "passed": self.passed, "verdict": self.verdict,
               "digits_requested": self.digits, "seed": self.seed, "seconds": round(self.seconds, 3), "error": self.error}
        if e is not None:
            out.update({
                "symbolic": e.symbolic,
                "numeric": _check_dict(e.numeric),
                "negative_control": _check_dict(e.negative) if e.negative else None,
                "negative_control_rejected": self.negative_rejected,
                "notes": e.notes,
            })
        return out


def _check_dict(c: CheckResult) -> dict:
    return {"name": c.name, "residual": c.residual, "tolerance": c.tolerance, "digits": c.digits,
            "passed": c.passed, "verdict": c.verdict,
            "details": {k: (v if isinstance(v, (int, float, str, type(None))) else str(v)) for k, v in c.details.items()}}


def _broken(path: Path, exc: BaseException) -> Theorem:
    """A stand-in for a theorem file that cannot be imported: running it reports the error."""
    where = f"{path}:{exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else str(path)
    message = f"{type(exc).__name__} in {where}: {getattr(exc, 'msg', None) or exc}"

    def fail(digits: int, **_) -> Evidence:
        raise TheoremFileError(message)
    return Theorem(f"{path.name} (not importable)", "the file could not be imported", fail, 0, str(path))


def discover(paths: Iterable[str | Path]) -> list[Theorem]:
    """Import every ``*.py`` file (not starting with ``_``) under ``paths``, sub-folders included.

    A file that cannot be imported (a syntax error, an exception at import) is not
    fatal: it yields one stand-in theorem whose run reports the error as an ERROR
    row, and the other files still run.  Theorem files are ordinary Python and run
    with the user's rights: trust them like any script.

    Raises:
        TheoremFileError: a path does not exist.
    """
    found: list[Theorem] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise TheoremFileError(f"no such theorem file or folder: {p}")
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.name.startswith("_") or any(part.startswith((".", "_")) for part in f.relative_to(p).parts[:-1]
                                             if p.is_dir()):
                continue
            found.extend(_load(f))
    return found


def _load(f: Path) -> list[Theorem]:
    mod_name = f"curvsym_theorem_{f.stem}_{abs(hash(str(f.resolve())))}"
    try:
        spec = importlib.util.spec_from_file_location(mod_name, f)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # reported as a row, the other files still run
        sys.modules.pop(mod_name, None)
        return [_broken(f, exc)]
    ths = [v for v in vars(module).values() if isinstance(v, Theorem)]
    return [dataclasses.replace(t, source=str(f)) for t in ths]


class TheoremTimeout(Exception):
    """Raised inside a theorem whose wall-clock time ran out (becomes a TIMEOUT row)."""


@contextlib.contextmanager
def _alarm(seconds: float | None):
    """Raise :class:`TheoremTimeout` in this thread after ``seconds`` (main thread, POSIX; else no limit)."""
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise TheoremTimeout(f"stopped after the timeout of {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_theorem(th: Theorem, digits: int | None = None, timeout: float | None = None,
                seed: int | None = None) -> TheoremReport:
    """Run one theorem, timing it; an exception or a timeout becomes a failed report naming it.

    ``seed``: None runs the shipped instances; an integer redraws every instance from it
    (:mod:`curvsym.verify.seeds`).

    Raises:
        TheoremFileError: never: a theorem that returns something other than Evidence, or raises,
            becomes a failed report with the error named.
    """
    d = digits or th.digits
    start = time.perf_counter()
    try:
        with _alarm(timeout):
            ev = th(d, seed)
        if not isinstance(ev, Evidence):
            raise TheoremFileError(f"theorem {th.name!r} returned {type(ev).__name__}, not Evidence")
        return TheoremReport(th.name, th.statement, ev, time.perf_counter() - start, d, seed=seed)
    except TheoremTimeout as exc:
        return TheoremReport(th.name, th.statement, None, time.perf_counter() - start, d, str(exc), timed_out=True,
                             seed=seed)
    except Exception as exc:  # reported, never swallowed silently
        msg = f"{type(exc).__name__}: {exc}"
        tb = "" if isinstance(exc, TheoremFileError) else "\n" + traceback.format_exc(limit=3)
        return TheoremReport(th.name, th.statement, None, time.perf_counter() - start, d, msg + tb, seed=seed)


def _run_in_worker(source: str, index: int, digits: int | None, timeout: float | None,
                   seed: int | None = None) -> TheoremReport:
    """Worker side of :func:`prove`: import the file again, run its ``index``-th theorem.

    Workers run BLAS on one thread each: several processes each starting as many BLAS threads as
    there are cores made small products up to 150× slower on a 2-core machine.
    """
    th = _load(Path(source))[index]
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn installs it
        return run_theorem(th, digits, timeout, seed)
    with threadpool_limits(limits=1):
        return run_theorem(th, digits, timeout, seed)


def prove(theorems: Sequence[Theorem], digits: int | None = None, timeout: float | None = None, jobs: int = 1,
          on_start: Callable[[Theorem], None] | None = None, seed: int | None = None) -> list[TheoremReport]:
    """Run ``theorems`` (``jobs`` processes at once) and return their reports in the given order.

    ``seed``: None runs the shipped instances; an integer redraws every random instance from it.

    Each theorem gets its own wall-clock ``timeout`` (seconds); one that runs out
    is reported as TIMEOUT and the others go on.  With ``jobs > 1`` the theorem
    files are imported again in worker processes (``concurrent.futures``, forked
    after the parent imported them, so heavy modules are not imported again), and
    the theorems start in decreasing order of their ``cost`` hint (longest
    processing time first; ties keep the given order): the run then ends at most
    about one short theorem after the total work divided by ``jobs``, instead of
    one long theorem after it when that one happens to start last.  ``on_start``
    is called as each is handed to the pool, in that order.
    """
    if jobs <= 1 or len(theorems) <= 1:
        out = []
        for th in theorems:
            if on_start is not None:
                on_start(th)
            out.append(run_theorem(th, digits, timeout, seed))
        return out
    import concurrent.futures as cf
    import multiprocessing as mp
    index = {}
    for th in theorems:  # the position of each theorem inside its own file
        same = [t for t in theorems if t.source == th.source]
        index[id(th)] = [t.name for t in same].index(th.name)
    context = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    start_order = sorted(range(len(theorems)), key=lambda i: -theorems[i].cost)  # stable: ties keep the order
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict = {}
        for i in start_order:
            th = theorems[i]
            if on_start is not None:
                on_start(th)
            if th.source and Path(th.source).exists() and not th.name.endswith("(not importable)"):
                futures[i] = pool.submit(_run_in_worker, th.source, index[id(th)], digits, timeout, seed)
        return [futures[i].result() if i in futures else run_theorem(th, digits, timeout, seed)
                for i, th in enumerate(theorems)]
