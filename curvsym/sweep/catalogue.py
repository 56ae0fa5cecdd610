"""The catalogue of analyses a sweep can run: curvsym's own and those of user modules.

The registry (:mod:`curvsym.sweep.registry`) defines what an analysis is; this module
collects them, so that the registry never imports the analyses that use it.
"""

from __future__ import annotations

import functools
import importlib

from . import analyses as builtin
from .exceptions import SweepSpecError
from .registry import Analysis, ModuleSet, _collect, _exec_source

__all__ = ["load_analyses"]


@functools.lru_cache(maxsize=16)
def load_analyses(modules: ModuleSet = ModuleSet()) -> dict[str, Analysis]:
    """Every analysis in :mod:`curvsym.sweep.analyses` and in ``modules`` (name → Analysis).

    Cached per ModuleSet (a worker loads each user module once).  Running a user module is
    running the user's code.

    Raises:
        AnalysisError: two analyses with one name.
        SweepSpecError: a dotted module name that cannot be imported.
        Exception: whatever the user module raises while it is imported.
    """
    found: dict[str, tuple[Analysis, str]] = {}
    _collect(builtin, found)
    for label, dotted, text in modules.entries:
        if dotted is not None:
            try:
                module = importlib.import_module(dotted)
            except ImportError as exc:
                raise SweepSpecError(f"cannot import analysis module {dotted!r}: {exc}") from None
        else:
            module = _exec_source(label, text)
        _collect(module, found)
    return {k: v for k, (v, _) in found.items()}
