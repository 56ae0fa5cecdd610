"""``curvsym sweep plot``: heat maps and line plots of a results table (matplotlib, mathtext labels).

* heat map — ``x``, ``y`` and ``z`` columns: z aggregated over the other parameters (mean by
  default) on the grid of distinct (x, y), with a colour bar; cells are annotated with their
  values when the grid is small;
* line plot — ``x`` and ``z`` (no ``y``): one line per value of ``hue``, markers at the
  aggregate and bars spanning min…max over the aggregated rows (e.g. seeds); ``overlay``
  draws another column (e.g. a formula) dashed in the same colour.

Only rows with ``status == "ok"`` are drawn; labels come from the analysis' declared mathtext
labels (e.g. ``$\\|T\\|_2$``), overridable per column.  The figure is built on an Agg canvas
(no pyplot state).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .exceptions import SweepDependencyError, SweepSpecError

__all__ = ["plot_results", "save_figure", "AGGREGATES"]

AGGREGATES = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}


def _column(table, name: str) -> list:
    if name not in table.column_names:
        numeric = [n for n in table.column_names if _is_numeric(table, n)]
        raise SweepSpecError(f"no column {name!r} in the results; numeric columns: {', '.join(numeric)}")
    return table.column(name).to_pylist()


def _is_numeric(table, name: str) -> bool:
    import pyarrow as pa
    t = table.schema.field(name).type
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _numeric(table, name: str) -> np.ndarray:
    values = _column(table, name)
    if not _is_numeric(table, name):
        raise SweepSpecError(f"column {name!r} is not numeric (type {table.schema.field(name).type}); "
                             "plot a numeric parameter or record entry")
    return np.array([np.nan if v is None else float(v) for v in values])


def _filter(table, where: Mapping[str, Any]):
    import pyarrow as pa
    keep = np.array([s == "ok" for s in table.column("status").to_pylist()], dtype=bool)
    for name, value in where.items():
        col = _column(table, name)
        keep &= np.array([_equal(v, value) for v in col], dtype=bool)
    return table.filter(pa.array(keep)), int((~np.array([s == "ok" for s in table.column("status").to_pylist()])).sum())


def _equal(v: Any, value: Any) -> bool:
    if isinstance(v, (int, float)) and isinstance(value, (int, float)) and not isinstance(v, bool):
        return math.isclose(v, value, rel_tol=1e-12, abs_tol=0.0)
    return v == value


def _aggregate(keys: Sequence[tuple], values: np.ndarray, agg: str) -> dict:
    groups: dict = {}
    for k, v in zip(keys, values):
        if not any(isinstance(x, float) and math.isnan(x) for x in k) and np.isfinite(v):
            groups.setdefault(k, []).append(v)
    f = AGGREGATES[agg]
    return {k: (float(f(v)), float(np.min(v)), float(np.max(v)), len(v)) for k, v in groups.items()}


def _edges(centres: np.ndarray, log: bool) -> np.ndarray:
    c = np.log(centres) if log else centres
    if len(c) == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5]) if not log else np.array([c[0] - 0.1, c[0] + 0.1])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.exp(e) if log else e


def plot_results(table: Any, *, x: str, z: str, y: str | None = None, hue: str | None = None, overlay: str | None = None,
                 agg: str = "mean", where: Mapping[str, Any] | None = None, logx: bool = False, logy: bool = False,
                 labels: Mapping[str, str] | None = None, title: str | None = None, ax: Any=None) -> Any:
    """A matplotlib ``Figure`` (heat map with ``y``, else line plot); see the module docstring.

    With ``ax`` (a matplotlib Axes) the plot is drawn there and its figure is returned, so that
    several panels can share one figure.

    Raises:
        SweepSpecError: a column that does not exist or is not numeric, an unknown aggregate,
            ``hue``/``overlay`` given with a heat map, or nothing left to plot.
        SweepDependencyError: matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise SweepDependencyError("plots need matplotlib: pip install matplotlib") from None
    if agg not in AGGREGATES:
        raise SweepSpecError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {agg!r}")
    if y is not None and (hue or overlay):
        raise SweepSpecError("a heat map (--y) takes no --hue or --overlay")
    labels = dict(labels or {})
    lab = lambda n: labels.get(n, n.replace("_", " "))
    table, n_failed = _filter(table, dict(where or {}))
    if table.num_rows == 0:
        raise SweepSpecError("no successful rows to plot" + (f" ({n_failed} failure rows skipped)" if n_failed else "")
                             + (" after the --where filters" if where else ""))
    if ax is None:
        fig = Figure(figsize=(6.4, 4.4), dpi=110, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    xs, zs = _numeric(table, x), _numeric(table, z)
    if y is not None:
        ys = _numeric(table, y)
        cells = _aggregate(list(zip(xs, ys)), zs, agg)
        ux, uy = np.unique([k[0] for k in cells]), np.unique([k[1] for k in cells])
        grid = np.full((len(uy), len(ux)), np.nan)
        for (a, b), (v, *_rest) in cells.items():
            grid[np.searchsorted(uy, b), np.searchsorted(ux, a)] = v
        mesh = ax.pcolormesh(_edges(ux, logx), _edges(uy, logy), np.ma.masked_invalid(grid), cmap="viridis",
                             shading="flat")
        fig.colorbar(mesh, ax=ax, label=lab(z) + ("" if agg == "mean" else f" ({agg})"))
        if grid.size <= 144:
            lo, hi = np.nanmin(grid), np.nanmax(grid)
            for i, b in enumerate(uy):
                for j, a in enumerate(ux):
                    if np.isfinite(grid[i, j]):
                        light = (grid[i, j] - lo) / (hi - lo) < 0.55 if hi > lo else True
                        ax.text(a, b, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=7,
                                color="white" if light else "black")
        ax.set_ylabel(lab(y))
    else:
        hues = _numeric(table, hue) if hue else np.zeros(len(xs))
        series = _aggregate(list(zip(hues, xs)), zs, agg)
        over = _aggregate(list(zip(hues, xs)), _numeric(table, overlay), agg) if overlay else {}
        for k, h in enumerate(np.unique([key[0] for key in series])):
            pts = sorted((key[1], val) for key, val in series.items() if key[0] == h)
            px = np.array([p[0] for p in pts])
            mid = np.array([p[1][0] for p in pts])
            lo = mid - np.array([p[1][1] for p in pts])
            hi = np.array([p[1][2] for p in pts]) - mid
            colour = f"C{k % 10}"
            name = f"{lab(hue)} = {h:g}" if hue else lab(z)
            ax.errorbar(px, mid, yerr=[lo, hi] if np.any(lo + hi > 0) else None, fmt="o" if overlay else "o-",
                        ms=4, lw=1.2,
                        color=colour, capsize=2, label=name)
            if overlay:
                opts = sorted((key[1], val[0]) for key, val in over.items() if key[0] == h)
                ax.plot([p[0] for p in opts], [p[1] for p in opts], "--", color=colour, lw=1, alpha=0.8)
        if overlay:
            ax.plot([], [], "--", color="grey", lw=1, label=lab(overlay))
        ax.legend(fontsize=8, frameon=False)
        ax.set_ylabel(lab(z) + ("" if agg == "mean" else f" ({agg})"))
    if logx:
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
    if logy:
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
    ax.set_xlabel(lab(x))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _plain_log_ticks(axis) -> None:
    """Log-axis ticks at 1, 2, 5 × 10^k written as plain numbers (0.5, 1, 2) rather than 5×10⁻¹."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write the figure (format from the suffix: .png, .pdf, .svg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
