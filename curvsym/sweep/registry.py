"""Analyses: declared parameters, the ``@analysis`` decorator, and loading them from modules.

An analysis is a function ``f(params, built) -> {name: number}`` over one point of a sweep.
``params`` is a dict of the declared parameters (defaults filled in, values checked); ``built``
is what the analysis' ``build`` function returned for the point's *architecture* — the
parameters named in ``architecture`` — computed once per distinct architecture on the client
and shipped to the workers, so that symbolic derivation and code generation are never
repeated per point.  The record must be flat: identifier keys, numeric values (stored as
float64; NaN and ±inf are allowed and stored as such).

There is no global registry.  The decorator turns a function into an :class:`Analysis`
object; :func:`load_analyses` collects every such object from the built-in module
:mod:`curvsym.sweep.analyses` and from the user modules a sweep file names.  Importing a
user module *runs* it — it is the user's own code, like a theorem file — on the client and
on every worker (a ``.py`` file is shipped to the workers as its source text).
"""

from __future__ import annotations

import enum
import hashlib
import math
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .exceptions import AnalysisError, SweepSpecError

__all__ = ["Param", "param", "Analysis", "analysis", "ModuleSet", "flat_record", "REQUIRED",
           "KINDS", "RESERVED"]

KINDS = ("int", "float", "bool", "str", "ints", "floats")

# columns of every stored row (see curvsym.sweep.store); parameters and record keys may not use them
RESERVED = ("point_id", "point_index", "analysis", "status", "error_type", "error_message", "error_traceback",
            "wall_time_s", "worker", "finished_at", "curvsym_version", "spec_sha256", "spec_git_revision",
            "parameters")


class _Required(enum.Enum):
    REQUIRED = "required"

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required.REQUIRED


@dataclass(frozen=True)
class Param:
    """A declared parameter: ``kind`` ∈ :data:`KINDS`; bounds ``low ≤ x``, ``above < x``, ``x ≤ high``
    (for lists, on every element); ``choices`` for strings; ``default`` (None = optional)."""

    name: str
    kind: str
    default: Any = REQUIRED
    low: float | None = None
    above: float | None = None
    high: float | None = None
    choices: tuple | None = None
    doc: str = ""

    def coerce(self, value: Any, where: str = "") -> Any:
        """The checked value (ints for ``int``, floats for ``float``, tuples for lists).

        Raises:
            SweepSpecError: wrong type, a non-integral number for an int, out of bounds, not a choice.
        """
        if value is None and self.default is None:
            return None
        pre = f"{where}parameter {self.name!r}"
        if self.kind in ("ints", "floats"):
            if not isinstance(value, (list, tuple)) or not value:
                raise SweepSpecError(f"{pre} must be a non-empty list of {self.kind[:-1]}s, got {value!r}")
            return tuple(self._scalar(v, self.kind[:-1], pre) for v in value)
        return self._scalar(value, self.kind, pre)

    def _scalar(self, v: Any, kind: str, pre: str) -> Any:
        if kind == "bool":
            if not isinstance(v, bool):
                raise SweepSpecError(f"{pre} must be true or false, got {v!r}")
            return v
        if kind == "str":
            if not isinstance(v, str):
                raise SweepSpecError(f"{pre} must be a string, got {v!r}")
            if self.choices is not None and v not in self.choices:
                raise SweepSpecError(f"{pre} must be one of {', '.join(map(repr, self.choices))}, got {v!r}")
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SweepSpecError(f"{pre} must be a number, got {v!r}")
        if not math.isfinite(v):
            raise SweepSpecError(f"{pre} must be finite, got {v!r}")
        if kind == "int":
            if v != int(v):
                raise SweepSpecError(f"{pre} must be an integer, got {v!r}")
            v = int(v)
        else:
            v = float(v)
        if self.low is not None and v < self.low:
            raise SweepSpecError(f"{pre} must be ≥ {self.low:g}, got {v!r}")
        if self.above is not None and v <= self.above:
            raise SweepSpecError(f"{pre} must be > {self.above:g}, got {v!r}")
        if self.high is not None and v > self.high:
            raise SweepSpecError(f"{pre} must be ≤ {self.high:g}, got {v!r}")
        return v

    def describe(self) -> str:
        bounds = []
        if self.low is not None:
            bounds.append(f"≥ {self.low:g}")
        if self.above is not None:
            bounds.append(f"> {self.above:g}")
        if self.high is not None:
            bounds.append(f"≤ {self.high:g}")
        if self.choices:
            bounds.append("one of " + ", ".join(self.choices))
        default = "required" if self.default is REQUIRED else f"default {self.default!r}"
        return f"{self.name} ({self.kind}{', ' + ', '.join(bounds) if bounds else ''}; {default})" + (
            f": {self.doc}" if self.doc else "")


def param(name: str, kind: str, default: Any = REQUIRED, *, min: float | None = None, above: float | None = None,
          max: float | None = None, choices: Sequence[str] | None = None, doc: str = "") -> Param:
    """Declare a parameter (``min``/``max`` inclusive, ``above`` exclusive lower bound).

    Raises:
        AnalysisError: an unknown kind, or a name that is not an identifier or is reserved.
    """
    if kind not in KINDS:
        raise AnalysisError(f"parameter {name!r}: kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(name, str) or not name.isidentifier() or name in RESERVED:
        raise AnalysisError(f"parameter name {name!r} must be an identifier and not one of the stored "
                            f"columns {RESERVED}")
    p = Param(name, kind, default, min, above, max, tuple(choices) if choices else None, doc)
    if default is not REQUIRED and default is not None:
        p.coerce(default, "default of ")
    return p


@dataclass(frozen=True)
class Analysis:
    """One analysis (see the module docstring); build it with :func:`analysis`."""

    name: str
    func: Callable[[dict, Any], Mapping[str, Any]]
    parameters: tuple[Param, ...]
    architecture: tuple[str, ...] = ()
    build: Callable[..., Any] | None = None
    check: Callable[[dict], dict] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    doc: str = ""

    def resolve(self, given: Mapping[str, Any], where: str = "") -> dict:
        """Declared parameters with defaults filled in and values checked (then ``check``, if any).

        Raises:
            SweepSpecError: an unknown parameter (the message lists the declared ones), a missing
                required one, or a value the declaration or ``check`` rejects.
        """
        names = [p.name for p in self.parameters]
        unknown = [k for k in given if k not in names]
        if unknown:
            raise SweepSpecError(f"{where}unknown parameter(s) {', '.join(map(repr, unknown))} for analysis "
                                 f"{self.name!r}; its parameters are: {', '.join(names)}")
        out = {}
        for p in self.parameters:
            if p.name in given:
                out[p.name] = p.coerce(given[p.name], where)
            elif p.default is REQUIRED:
                raise SweepSpecError(f"{where}analysis {self.name!r} needs parameter {p.name!r} ({p.describe()})")
            else:
                out[p.name] = p.default
        if self.check is not None:
            out = self.check(out)
        return out

    def architecture_of(self, params: Mapping[str, Any]) -> tuple:
        """The (name, value) pairs that determine what ``build`` returns (hashable)."""
        return tuple((n, params[n]) for n in self.architecture)

    def build_for(self, arch: tuple) -> Any:
        """``build(**arch)``, or None for an analysis without a build step."""
        return None if self.build is None else self.build(**dict(arch))

    def record(self, params: Mapping[str, Any], built: Any) -> dict[str, float]:
        """Run the analysis on one point and check that it returned a flat record of numbers.

        Raises:
            AnalysisError: the result is not a flat mapping of identifier → number, or a key
                collides with a parameter or a stored column.
            Exception: whatever the analysis itself raises (the engine stores it as a failure row).
        """
        return flat_record(self.func(dict(params), built), self.name,
                           reserved=set(RESERVED) | {p.name for p in self.parameters})


def flat_record(rec: Any, name: str = "analysis", reserved: set | frozenset = frozenset()) -> dict[str, float]:
    """``rec`` as {identifier: float}.

    Raises:
        AnalysisError: not a mapping, a non-identifier or reserved key, or a non-numeric value.
    """
    if not isinstance(rec, Mapping):
        raise AnalysisError(f"analysis {name!r} returned {type(rec).__name__}, not a mapping of named numbers")
    out = {}
    for k, v in rec.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise AnalysisError(f"analysis {name!r}: record key {k!r} is not an identifier")
        if k in reserved:
            raise AnalysisError(f"analysis {name!r}: record key {k!r} collides with a parameter or a stored column")
        try:
            number = None if isinstance(v, (str, bytes)) or getattr(v, "ndim", 0) != 0 else float(v)
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise AnalysisError(f"analysis {name!r}: record value {k!r} = {v!r} is not a number "
                                "(a record is flat: one number per name)")
        out[k] = number
    return out


def analysis(name: str, parameters: Sequence[Param], *, architecture: Sequence[str] = (),
             build: Callable[..., Any] | None = None, check: Callable[[dict], dict] | None = None,
             labels: Mapping[str, str] | None = None) -> Callable[[Callable], Analysis]:
    """Decorator: ``@analysis("name", [param(...), …], architecture=(…), build=f)`` over ``def f(params, built)``.

    ``build(**{n: params[n] for n in architecture})`` runs once per distinct architecture on the
    client; its result (anything cloudpickle can ship: generated functions, arrays, dicts) is
    passed as ``built``.  ``labels`` maps parameter/record names to mathtext for plots.

    Raises:
        AnalysisError: duplicate parameter names, or ``architecture`` naming undeclared parameters.
    """
    params = tuple(parameters)
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise AnalysisError(f"analysis {name!r} declares a parameter twice: {names}")
    missing = [a for a in architecture if a not in names]
    if missing:
        raise AnalysisError(f"analysis {name!r}: architecture names undeclared parameter(s) {missing}")
    if architecture and build is None:
        raise AnalysisError(f"analysis {name!r}: an architecture without a build function has nothing to build")

    def wrap(func: Callable) -> Analysis:
        import inspect
        return Analysis(name, func, params, tuple(architecture), build, check, dict(labels or {}),
                        inspect.getdoc(func) or "")
    return wrap


# --------------------------------------------------------------------------- modules

@dataclass(frozen=True)
class ModuleSet:
    """The user modules of a sweep, as shipped to workers: (label, dotted name or None, source text or None).

    A ``.py`` file travels as its source (the workers need not share a file system); a dotted
    name must be importable on every worker (installed like curvsym itself).
    """

    entries: tuple[tuple[str, str | None, str | None], ...] = ()

    @classmethod
    def from_spec(cls, modules: Sequence[str]) -> "ModuleSet":
        """Read the sources of ``.py`` paths now (absolute paths, as :class:`SweepSpec` stores them).

        Raises:
            SweepSpecError: a file that cannot be read as UTF-8.
        """
        entries = []
        for m in modules:
            if m.endswith(".py") or "/" in m or "\\" in m:
                try:
                    entries.append((m, None, Path(m).read_text(encoding="utf-8")))
                except (OSError, UnicodeDecodeError) as exc:
                    raise SweepSpecError(f"cannot read analysis module {m}: {exc}") from None
            else:
                entries.append((m, m, None))
        return cls(tuple(entries))

    def sha256(self) -> str:
        h = hashlib.sha256()
        for label, dotted, text in self.entries:
            h.update(f"{label}\0{dotted}\0{text}\0".encode())
        return h.hexdigest()


def _where_failed(exc: BaseException, label: str) -> str:
    """``Type at line N: message`` for an exception raised by (or compiling) the module ``label``."""
    line = exc.lineno if isinstance(exc, SyntaxError) else None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == label:
            line = tb.tb_lineno
        tb = tb.tb_next
    msg = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"{type(exc).__name__}" + (f" at line {line}" if line else "") + (f": {msg}" if msg else "")


def _exec_source(label: str, text: str) -> types.ModuleType:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    mod_name = f"curvsym_sweep_user_{''.join(c if c.isalnum() else '_' for c in Path(label).stem)}_{digest}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    module = types.ModuleType(mod_name)
    module.__file__ = label
    sys.modules[mod_name] = module  # like an import: dataclasses, pickling and tracebacks need it
    try:
        exec(compile(text, label, "exec"), module.__dict__)
    except (Exception, SystemExit) as exc:  # the user's code: one line naming the file and line
        del sys.modules[mod_name]
        raise SweepSpecError(f"analysis module {label} cannot be imported: {_where_failed(exc, label)}") from None
    except BaseException:
        del sys.modules[mod_name]
        raise
    try:  # ship what the module defines (classes, functions in built objects) by value
        import cloudpickle
        cloudpickle.register_pickle_by_value(module)
    except (ImportError, ValueError):
        pass
    return module


def _collect(module: types.ModuleType, found: dict[str, tuple[Analysis, str]]) -> None:
    for value in vars(module).values():
        if isinstance(value, Analysis):
            where = getattr(module, "__file__", None) or module.__name__
            if value.name in found and found[value.name][0] is not value:
                raise AnalysisError(f"analysis {value.name!r} is defined twice: in {found[value.name][1]} "
                                    f"and in {where}")
            found[value.name] = (value, where)
