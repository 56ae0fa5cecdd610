"""Theorem files: discovery and execution.

A theorem file is a Python module (one theorem per file, by convention) that
defines one or more functions decorated with :func:`theorem`.  Each returns an
:class:`Evidence`: the symbolic verdict, a high-precision numerical
:class:`~curvsym.checks.CheckResult`, and the check of a *negative control* — a
rule or setting where the claim is false, which the same check must reject.

A theorem passes iff its symbolic part is not refuted, its numerical check
passes, and its negative control is rejected.  Theorem files are code written
by the user and are imported as such; rule *text* is never evaluated (see
:mod:`curvsym.rules_text`).
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..errors import TheoremFileError
from .checks import CheckResult

__all__ = ["Evidence", "Theorem", "TheoremReport", "theorem", "discover", "run_theorem"]


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
    name: str
    statement: str
    func: Callable[..., Evidence]
    digits: int = 50
    source: str = ""

    def __call__(self, digits: int | None = None) -> Evidence:
        return self.func(digits=digits or self.digits)


def theorem(name: str, statement: str, digits: int = 50) -> Callable[[Callable[..., Evidence]], Theorem]:
    """Decorator: ``@theorem("name", "statement")`` over ``def check(digits) -> Evidence``."""
    def wrap(func: Callable[..., Evidence]) -> Theorem:
        return Theorem(name, statement, func, digits, getattr(func, "__module__", ""))
    return wrap


@dataclass(frozen=True)
class TheoremReport:
    name: str
    statement: str
    evidence: Evidence | None
    seconds: float
    digits: int
    error: str | None = None

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
        out = {"theorem": self.name, "statement": self.statement, "passed": self.passed,
               "digits_requested": self.digits, "seconds": round(self.seconds, 3), "error": self.error}
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


def discover(paths: Iterable[str | Path]) -> list[Theorem]:
    """Import every ``*.py`` file (not starting with ``_``) under ``paths`` and collect its theorems.

    Raises:
        TheoremFileError: a path does not exist.
    """
    found: list[Theorem] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise TheoremFileError(f"no such theorem file or folder: {p}")
        files = sorted(p.glob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.name.startswith("_"):
                continue
            mod_name = f"curvsym_theorem_{f.stem}_{abs(hash(str(f.resolve())))}"
            spec = importlib.util.spec_from_file_location(mod_name, f)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
            ths = [v for v in vars(module).values() if isinstance(v, Theorem)]
            found.extend(Theorem(t.name, t.statement, t.func, t.digits, str(f)) for t in ths)
    return found


def run_theorem(th: Theorem, digits: int | None = None) -> TheoremReport:
    """Run one theorem, timing it; an exception becomes a failed report naming the error.

    Raises:
        TheoremFileError: never: a theorem that returns something other than Evidence, or raises,
            becomes a failed report with the error named.
    """
    d = digits or th.digits
    start = time.perf_counter()
    try:
        ev = th(d)
        if not isinstance(ev, Evidence):
            raise TheoremFileError(f"theorem {th.name!r} returned {type(ev).__name__}, not Evidence")
        return TheoremReport(th.name, th.statement, ev, time.perf_counter() - start, d)
    except Exception as exc:  # reported, never swallowed silently
        msg = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc(limit=3)
        return TheoremReport(th.name, th.statement, None, time.perf_counter() - start, d, msg + "\n" + tb)
