"""Parameter sweeps on Dask with results that are never lost (``curvsym sweep``).

A sweep file (TOML, or YAML with PyYAML) names an analysis and a grid of parameters
(:mod:`.spec`); each point runs the analysis (:mod:`.analyses`, or your own, declared with
:func:`analysis` in a module the sweep file names — :mod:`.registry`) on a Dask cluster
(:mod:`.engine`: an embedded ``LocalCluster`` by default, any scheduler by address), and
every finished point is committed atomically to a Parquet results folder (:mod:`.store`)
that ``--resume`` completes and ``curvsym sweep plot`` draws (:mod:`.plot`).

>>> from curvsym.sweep import analysis, param
>>> @analysis("square", [param("x", "float")])
... def square(p, built):
...     return {"x_squared": p["x"] ** 2}
>>> square.record({"x": 3.0}, None)
{'x_squared': 9.0}
"""

from .errors import (
    AnalysisError,
    ResultsCorruptError,
    ResultsExistError,
    ResultsWriteError,
    ScanError,
    SweepBusyError,
    SweepClusterError,
    SweepDependencyError,
    SweepSpecError,
)
from .registry import Analysis, Param, analysis, load_analyses, param
from .spec import SweepSpec, load_spec, parse_spec

__all__ = ["analysis", "param", "Analysis", "Param", "load_analyses", "SweepSpec", "load_spec", "parse_spec",
           "run_sweep", "dry_run", "plan_sweep", "read_results",
           "SweepSpecError", "AnalysisError", "ResultsCorruptError", "ResultsExistError", "ScanError",
           "SweepBusyError", "SweepDependencyError", "SweepClusterError", "ResultsWriteError"]


def __getattr__(name: str):
    # the engine and the store import dask/pyarrow lazily; keep `import curvsym.sweep` light
    if name in ("run_sweep", "dry_run"):
        from . import engine
        return getattr(engine, name)
    if name == "plan_sweep":
        from .plan import plan_sweep
        return plan_sweep
    if name == "read_results":
        from .store import read_results
        return read_results
    raise AttributeError(f"module 'curvsym.sweep' has no attribute {name!r}")
