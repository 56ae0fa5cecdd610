"""Sweep files: safe parsing (TOML by :mod:`tomllib`, YAML by ``yaml.safe_load``) and grid expansion.

A sweep file has four parts (every key is documented in ``docs/sweeps.md``)::

    [sweep]                 # what to run and where to store it
    analysis = "gd_threshold"
    name = "…"              # optional
    output = "x.results"    # optional, relative to this file; default "<file stem>.results"
    modules = ["mine.py"]   # optional: user modules that define analyses (imported = run, like a theorem file)
    description = "…"       # optional
    timeout = 600           # optional: seconds per point; a point past it is killed (a failure row)

    [parameters]            # one value per parameter, the same for every point
    [grid]                  # one list (or range) per parameter; the points are every combination
    [[points]]              # explicit points (tables); each is crossed with the grid

A range is a table ``{start, stop, num}`` (``num`` values from start to stop, both included;
``scale = "log"`` spaces them geometrically), ``{start, stop, step}`` (start, start + step, …
up to stop, stop included when it is hit) or ``{start, stop}`` with integers (step 1).

Nothing in the file is evaluated: values are TOML/YAML scalars and lists, checked here for
structure and later against the analysis' declared parameters (:mod:`curvsym.sweep.registry`).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from .exceptions import SweepDependencyError, SweepSpecError

__all__ = ["SweepSpec", "load_spec", "parse_spec", "expand_range", "MAX_POINTS"]

TOP_KEYS = ("sweep", "parameters", "grid", "points")
SWEEP_KEYS = ("analysis", "name", "output", "modules", "description", "timeout")
RANGE_KEYS = ("start", "stop", "num", "step", "scale")
MAX_POINTS = 1_000_000
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file.

    ``fixed`` maps parameters to single values, ``grid`` is an ordered tuple of
    (parameter, values) axes, ``points`` the explicit point tables; ``modules`` holds
    absolute paths of user ``.py`` files or dotted names of installed modules.
    ``sha256`` is the digest of the file's bytes (stored with every result row).
    """

    analysis: str
    name: str
    output: Path
    modules: tuple[str, ...]
    fixed: Mapping[str, Any]
    grid: tuple[tuple[str, tuple], ...]
    points: tuple[Mapping[str, Any], ...]
    source: Path | None
    sha256: str
    description: str = ""
    timeout: float | None = None

    @property
    def size(self) -> int:
        """Number of points: len(points or [{}]) × Π len(axis)."""
        return max(1, len(self.points)) * math.prod(len(v) for _, v in self.grid)

    def given_points(self) -> Iterator[dict]:
        """The points as given (before defaults): explicit points outermost, the last grid axis fastest."""
        names = [n for n, _ in self.grid]
        for extra in (self.points or ({},)):
            for combo in itertools.product(*(v for _, v in self.grid)):
                yield {**self.fixed, **extra, **dict(zip(names, combo))}


def _where(source: Path | None) -> str:
    return f"{source}: " if source is not None else ""


def _check_keys(table: Mapping, allowed: tuple, what: str, source: Path | None) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise SweepSpecError(f"{_where(source)}unknown key(s) {', '.join(map(repr, unknown))} in {what}; "
                             f"allowed: {', '.join(allowed)}")


def _check_value(name: str, value: Any, what: str, source: Path | None) -> Any:
    """A parameter value: bool, int, float, str, or a flat list of those (e.g. widths)."""
    if isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not math.isfinite(value):
            raise SweepSpecError(f"{_where(source)}{what}: parameter {name!r} is not finite ({value!r})")
        return value
    if isinstance(value, list) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return tuple(_check_value(name, v, what, source) for v in value)
    raise SweepSpecError(f"{_where(source)}{what}: parameter {name!r} has a value of unsupported type "
                         f"{type(value).__name__} ({value!r}); use numbers, strings, booleans or a flat list")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def expand_range(name: str, table: Mapping[str, Any], source: Path | None = None) -> tuple:
    """The values of a range table (see the module docstring).

    Raises:
        SweepSpecError: unknown keys, missing start/stop, non-finite bounds, ``num`` < 1 (or 1 with
            start ≠ stop), a zero step or one pointing away from stop, a log scale through zero,
            or more than :data:`MAX_POINTS` values.
    """
    what = f"range of grid parameter {name!r}"
    _check_keys(table, RANGE_KEYS, what, source)
    if "start" not in table or "stop" not in table:
        raise SweepSpecError(f"{_where(source)}{what} needs both 'start' and 'stop'")
    start, stop = table["start"], table["stop"]
    if not (_is_number(start) and _is_number(stop)):
        raise SweepSpecError(f"{_where(source)}{what}: start and stop must be finite numbers, "
                             f"got {start!r} and {stop!r}")
    scale = table.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise SweepSpecError(f"{_where(source)}{what}: scale must be 'linear' or 'log', got {scale!r}")
    if "num" in table and "step" in table:
        raise SweepSpecError(f"{_where(source)}{what}: give either 'num' or 'step', not both")
    if "num" in table:
        num = table["num"]
        if not isinstance(num, int) or isinstance(num, bool) or num < 1:
            raise SweepSpecError(f"{_where(source)}{what}: num must be an integer ≥ 1, got {num!r}")
        if num > MAX_POINTS:
            raise SweepSpecError(f"{_where(source)}{what}: num = {num} exceeds the limit {MAX_POINTS}")
        if num == 1 and start != stop:
            raise SweepSpecError(f"{_where(source)}{what}: num = 1 would drop stop = {stop!r}; "
                                 "give a single value instead")
        if scale == "log":
            if start <= 0 or stop <= 0:
                raise SweepSpecError(f"{_where(source)}{what}: a log scale needs start > 0 and stop > 0, "
                                     f"got {start!r} and {stop!r}")
            a, b = math.log(start), math.log(stop)
            vals = [math.exp(a + (b - a) * k / (num - 1)) if num > 1 else float(start) for k in range(num)]
            vals[0], vals[-1] = float(start), float(stop)
        else:
            vals = [start + (stop - start) * k / (num - 1) if num > 1 else float(start) for k in range(num)]
            vals[-1] = float(stop)
            vals = [float(v) for v in vals]
        return tuple(vals)
    if scale == "log":
        raise SweepSpecError(f"{_where(source)}{what}: scale = 'log' needs 'num'")
    if "step" in table:
        step = table["step"]
    elif isinstance(start, int) and isinstance(stop, int):
        step = 1 if stop >= start else -1
    else:
        raise SweepSpecError(f"{_where(source)}{what}: give 'num' or 'step' (only integer ranges default to step 1)")
    if not _is_number(step) or step == 0:
        raise SweepSpecError(f"{_where(source)}{what}: step must be a finite non-zero number, got {step!r}")
    span = (stop - start) / step
    if not math.isfinite(span) or span > MAX_POINTS:
        raise SweepSpecError(f"{_where(source)}{what}: step {step!r} is too small for the range "
                             f"[{start!r}, {stop!r}]: more than {MAX_POINTS} values")
    if span < 0:
        raise SweepSpecError(f"{_where(source)}{what}: step {step!r} points away from stop "
                             f"(start {start!r}, stop {stop!r}): the range never reaches stop")
    count = int(math.floor(span + 1e-9)) + 1
    if count > MAX_POINTS:
        raise SweepSpecError(f"{_where(source)}{what}: {count} values exceed the limit {MAX_POINTS}")
    if all(isinstance(x, int) for x in (start, stop, step)):
        return tuple(start + k * step for k in range(count))
    return tuple(float(start + k * step) for k in range(count))


def _grid_axis(name: str, value: Any, source: Path | None) -> tuple:
    if isinstance(value, dict):
        return expand_range(name, value, source)
    if not isinstance(value, list):
        raise SweepSpecError(f"{_where(source)}grid parameter {name!r} must be a list of values or a range "
                             f"table {{start, stop, num|step}}, got {value!r}")
    if not value:
        raise SweepSpecError(f"{_where(source)}grid parameter {name!r} has no values")
    return tuple(_check_value(name, v, f"grid parameter {name!r}", source) for v in value)


def _check_name(name: Any, what: str, source: Path | None) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise SweepSpecError(f"{_where(source)}{what}: parameter names must be identifiers, got {name!r}")


def parse_spec(data: Mapping[str, Any], base_dir: Path, source: Path | None = None, sha256: str = "") -> SweepSpec:
    """Check the structure of a parsed sweep document and build a :class:`SweepSpec`.

    Raises:
        SweepSpecError: unknown keys or tables, a missing ``analysis``, bad ranges or values, a
            parameter given in more than one of parameters/grid/points, too many points.
    """
    if not isinstance(data, dict):
        raise SweepSpecError(f"{_where(source)}a sweep file must be a table/mapping at the top level")
    _check_keys(data, TOP_KEYS, "the sweep file (top level)", source)
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        raise SweepSpecError(f"{_where(source)}missing [sweep] table (with at least analysis = \"…\")")
    _check_keys(sweep, SWEEP_KEYS, "[sweep]", source)
    analysis = sweep.get("analysis")
    if not isinstance(analysis, str) or not analysis:
        raise SweepSpecError(f"{_where(source)}[sweep] needs analysis = \"NAME\" (a registered analysis)")
    for key in ("name", "output", "description"):
        if key in sweep and not isinstance(sweep[key], str):
            raise SweepSpecError(f"{_where(source)}[sweep] {key} must be a string, got {sweep[key]!r}")
    stem = source.stem if source is not None else "sweep"
    output = Path(sweep.get("output", f"{stem}.results"))
    output = output if output.is_absolute() else (base_dir / output)
    modules = sweep.get("modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise SweepSpecError(f"{_where(source)}[sweep] modules must be a list of file paths or module names")
    resolved = []
    for mod in modules:
        if mod.endswith(".py") or "/" in mod or "\\" in mod:
            p = Path(mod)
            p = p if p.is_absolute() else (base_dir / p)
            if not p.is_file():
                raise SweepSpecError(f"{_where(source)}analysis module {mod!r} not found (looked for {p})")
            resolved.append(str(p.resolve()))
        elif _DOTTED.match(mod):
            resolved.append(mod)
        else:
            raise SweepSpecError(f"{_where(source)}analysis module {mod!r} is neither a .py path nor a module name")

    fixed = data.get("parameters", {})
    if not isinstance(fixed, dict):
        raise SweepSpecError(f"{_where(source)}[parameters] must be a table")
    for k, v in fixed.items():
        _check_name(k, "[parameters]", source)
    fixed = {k: _check_value(k, v, "[parameters]", source) for k, v in fixed.items()}

    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise SweepSpecError(f"{_where(source)}[grid] must be a table")
    if "grid" in data and not grid and not data.get("points"):
        raise SweepSpecError(f"{_where(source)}[grid] is empty: give a parameter a list of values there, "
                             "or delete [grid] to run the one point of [parameters]")
    for k in grid:
        _check_name(k, "[grid]", source)
    axes = tuple((k, _grid_axis(k, v, source)) for k, v in grid.items())

    points = data.get("points", [])
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise SweepSpecError(f"{_where(source)}points must be a list of tables ([[points]] in TOML)")
    checked = []
    for i, p in enumerate(points):
        for k in p:
            _check_name(k, f"points[{i}]", source)
        checked.append({k: _check_value(k, v, f"points[{i}]", source) for k, v in p.items()})

    grid_names = {k for k, _ in axes}
    point_names = set().union(*(p.keys() for p in checked)) if checked else set()
    for a, b, an, bn in ((set(fixed), grid_names, "[parameters]", "[grid]"),
                         (set(fixed), point_names, "[parameters]", "points"),
                         (grid_names, point_names, "[grid]", "points")):
        both = sorted(a & b)
        if both:
            raise SweepSpecError(f"{_where(source)}parameter(s) {', '.join(both)} given in both {an} and {bn}; "
                                 "give each parameter in one place")
    timeout = sweep.get("timeout")
    if timeout is not None and not (_is_number(timeout) and timeout > 0):
        raise SweepSpecError(f"{_where(source)}[sweep] timeout must be a number of seconds > 0, got {timeout!r}")
    spec = SweepSpec(analysis, sweep.get("name", stem), output, tuple(resolved), fixed, axes, tuple(checked),
                     source, sha256, sweep.get("description", ""), float(timeout) if timeout else None)
    if spec.size > MAX_POINTS:
        raise SweepSpecError(f"{_where(source)}the sweep has {spec.size} points, more than the limit {MAX_POINTS}")
    return spec


def _load_document(text: str, fmt: str, source: Path | None) -> Any:
    if fmt == "toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            try:
                import tomli as tomllib
            except ModuleNotFoundError:
                raise SweepDependencyError("TOML sweep files need Python ≥ 3.11 or the 'tomli' package "
                                           "(pip install tomli)") from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SweepSpecError(f"{_where(source)}not valid TOML: {exc}") from None
        except RecursionError:
            raise SweepSpecError(f"{_where(source)}the sweep file is nested too deeply") from None
    if fmt == "yaml":
        try:
            import yaml
        except ModuleNotFoundError:
            raise SweepDependencyError("YAML sweep files need PyYAML (pip install pyyaml); "
                                       "or write the sweep in TOML") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SweepSpecError(f"{_where(source)}not valid YAML: {exc}") from None
        except RecursionError:
            raise SweepSpecError(f"{_where(source)}the sweep file is nested too deeply") from None
    raise SweepSpecError(f"unknown sweep file format {fmt!r}; use .toml or .yaml")


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep file (``.toml``, or ``.yaml``/``.yml`` when PyYAML is installed).

    Raises:
        SweepSpecError: the file is missing, not valid TOML/YAML, or malformed (see :func:`parse_spec`).
        SweepDependencyError: a YAML file without PyYAML installed.
    """
    path = Path(path)
    if not path.is_file():
        raise SweepSpecError(f"no such sweep file: {path}")
    raw = path.read_bytes()
    fmt = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())
    if fmt is None:
        raise SweepSpecError(f"{path}: a sweep file must end in .toml, .yaml or .yml")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SweepSpecError(f"{path}: not UTF-8 text ({exc})") from None
    data = _load_document(text, fmt, path)
    return parse_spec(data, path.resolve().parent, path, hashlib.sha256(raw).hexdigest())
