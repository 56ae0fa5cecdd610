"""Errors of the sweep subpackage (all :class:`curvsym.errors.CurvsymError` subclasses)."""

from __future__ import annotations

from ..errors import CurvsymError

__all__ = ["SweepSpecError", "AnalysisError", "ResultsCorruptError", "ResultsExistError", "ScanError",
           "SweepDependencyError", "SweepBusyError", "SweepClusterError",
           "ResultsWriteError"]


class SweepSpecError(CurvsymError):
    """A sweep file is malformed: unknown keys, bad ranges, bad parameter values, duplicate points."""


class AnalysisError(CurvsymError):
    """An analysis is ill-defined (bad declaration) or returned something other than a flat record of numbers."""


class ResultsCorruptError(CurvsymError):
    """A stored results file cannot be read or contradicts the others; it is reported, never overwritten."""


class ResultsExistError(CurvsymError):
    """A fresh sweep would write into a folder that already holds results (use ``--resume``)."""


class ScanError(CurvsymError):
    """A step-size scan did not bracket the threshold (nothing converged, or everything did)."""


class SweepDependencyError(CurvsymError):
    """An optional library the sweep needs (dask.distributed, pyarrow, matplotlib, PyYAML) is not installed."""


class SweepBusyError(CurvsymError):
    """Another sweep process holds the results folder (its lock)."""


class SweepClusterError(CurvsymError):
    """The Dask scheduler given by address is malformed or cannot be reached."""


class ResultsWriteError(CurvsymError):
    """The results folder cannot be created or written (not a directory, read-only, disk full …); what was
    committed before stays stored."""
