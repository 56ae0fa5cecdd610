"""Parameter sweeps on Dask with results that are never lost (``curvsym sweep``).

A sweep file (TOML, or YAML with PyYAML) names an analysis and a grid of parameters
(:mod:`.spec`); each point runs the analysis (:mod:`.analyses`, or your own, declared with
:func:`analysis` in a module the sweep file names — :mod:`.registry`) on a Dask cluster
(:mod:`.engine`: an embedded ``LocalCluster`` by default, any scheduler by address), and
every finished point is committed atomically to a Parquet results folder (:mod:`.store`)
that ``--resume`` completes and ``curvsym sweep plot`` draws (:mod:`.plot`).

================  ==================================================================
module            holds
================  ==================================================================
``spec``          sweep files (TOML/YAML): the analysis, the grid, the output folder
``registry``      :func:`analysis` and :func:`param`: what an analysis is
``catalogue``     the analyses a sweep can run: curvsym's own and those of user modules
``analyses``      curvsym's own analyses (GD threshold, balance drift, flat minima, …)
``plan``          the plan: grid points, their keys and the tasks they are grouped into
``engine``        running a plan on Dask and committing every finished point
``point_process`` each point in a child process of its worker: timeouts and crashes charged to the point
``child``         the child process's side: load the analysis once, run the points it is sent
``quiet``         Dask's logs kept out of curvsym's output; why a point was not run, in one line
``store``         the Parquet results folder: atomic commits, resume, locking
``plot``          ``curvsym sweep plot``: figures from a results folder
``commands``      the ``curvsym sweep`` subcommands
``exceptions``    the sweep's own errors
================  ==================================================================

>>> from curvsym.sweep import analysis, param
>>> @analysis("square", [param("x", "float")])
... def square(p, built):
...     return {"x_squared": p["x"] ** 2}
>>> square.record({"x": 3.0}, None)
{'x_squared': 9.0}
"""

import importlib

from .exceptions import (
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

__all__ = ["analysis", "param", "Analysis", "Param", "load_analyses", "SweepSpec", "load_spec", "parse_spec",
           "run_sweep", "dry_run", "plan_sweep", "read_results",
           "SweepSpecError", "AnalysisError", "ResultsCorruptError", "ResultsExistError", "ScanError",
           "SweepBusyError", "SweepDependencyError", "SweepClusterError", "ResultsWriteError"]


_LAZY = {"run_sweep": "engine", "dry_run": "engine", "plan_sweep": "plan", "read_results": "store",
         "load_analyses": "catalogue", "analysis": "registry", "param": "registry", "Analysis": "registry",
         "Param": "registry", "SweepSpec": "spec", "load_spec": "spec", "parse_spec": "spec"}


def __getattr__(name: str):
    """Every name on first use (PEP 562): the engine, the store and the catalogue load dask, pyarrow and the
    library; the registry and the spec parser are light, but ``curvsym --help`` (which imports
    :mod:`curvsym.sweep.commands`, and so this package) needs neither."""
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'curvsym.sweep' has no attribute {name!r}")
