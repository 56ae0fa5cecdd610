"""From a sweep file to the list of points: resolved parameters, stable ids, architectures.

A point's id is the first 20 hex digits of sha256 of the canonical JSON of
``{"analysis": name, "parameters": resolved parameters}`` (sorted keys, exact float repr).
It does not depend on the order of the grid or on the other points, so a grid can be
extended and resumed: points already stored keep their ids.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from .catalogue import load_analyses
from .exceptions import SweepSpecError
from .registry import Analysis, ModuleSet
from .spec import SweepSpec

__all__ = ["Point", "SweepPlan", "plan_sweep", "point_id", "canonical_json"]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces, tuples as lists; NaN/inf refused (they never reach here)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_id(analysis: str, params: Mapping[str, Any]) -> str:
    """sha256(canonical JSON of analysis and parameters), first 20 hex digits (80 bits)."""
    text = canonical_json({"analysis": analysis, "parameters": dict(params)})
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Point:
    """One point: its position in the sweep file, id, resolved parameters and architecture."""

    index: int
    id: str
    params: Mapping[str, Any]
    architecture: tuple


@dataclass(frozen=True)
class SweepPlan:
    spec: SweepSpec
    analysis: Analysis
    modules: ModuleSet
    points: tuple[Point, ...]

    @property
    def architectures(self) -> tuple:
        """Distinct architectures, in order of first appearance."""
        return tuple(dict.fromkeys(p.architecture for p in self.points))


def plan_sweep(spec: SweepSpec) -> SweepPlan:
    """Load the analyses (running the user modules), resolve every point, check for duplicates.

    Raises:
        SweepSpecError: an unknown analysis (the message lists the known ones), unknown or bad
            parameters at some point (named by its index and values), or two points that resolve
            to the same parameters.
        AnalysisError: two analyses with one name in the loaded modules.
    """
    modules = ModuleSet.from_spec(spec.modules)
    registry = load_analyses(modules)
    if spec.analysis not in registry:
        raise SweepSpecError(f"{spec.source or 'sweep'}: unknown analysis {spec.analysis!r}; known: "
                             f"{', '.join(sorted(registry))} (user analyses come from [sweep] modules)")
    an = registry[spec.analysis]
    points, seen = [], {}
    for i, given in enumerate(spec.given_points()):
        where = f"{spec.source or 'sweep'}: point {i} {canonical_json(given)}: "
        params = an.resolve(given, where)
        pid = point_id(an.name, params)
        if pid in seen:
            raise SweepSpecError(f"{where}the same point as point {seen[pid]} (parameters "
                                 f"{canonical_json(params)}); every point must be listed once")
        seen[pid] = i
        points.append(Point(i, pid, params, an.architecture_of(params)))
    return SweepPlan(spec, an, modules, tuple(points))
