"""The two-panel figure of docs/figures/gd_threshold.png from the results of gd_threshold.toml.

    python -m curvsym sweep run examples/sweeps/gd_threshold.toml
    python examples/sweeps/gd_threshold_figure.py [OUT.png]

Left: the measured threshold η* (markers: mean over seeds, bars: min…max) against
2/(N‖T‖₂^{2−2/N}) (dashed), log–log.  Right: their ratio on the (‖T‖, N) grid.  The same panels
come one at a time from ``curvsym sweep plot`` (see docs/sweeps.md).
"""

import sys
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from curvsym.sweep import load_analyses, load_spec, read_results
from curvsym.sweep.plot import plot_results, save_figure

here = Path(__file__).resolve().parent
spec = load_spec(here / "gd_threshold.toml")
table = read_results(spec.output)
labels = dict(load_analyses()[spec.analysis].labels)
fig = Figure(figsize=(10.5, 3.9), dpi=100, layout="constrained")
FigureCanvasAgg(fig)
left, right = fig.subplots(1, 2, width_ratios=(1.0, 1.1))
plot_results(table, x="target_norm", z="eta_star", hue="depth", overlay="eta_formula", logx=True, logy=True,
             labels=labels, ax=left, title=r"measured $\eta^*$ (markers) and $2/(N\|T\|_2^{2-2/N})$ (dashed)")
plot_results(table, x="target_norm", y="depth", z="ratio", logx=True, labels=labels, ax=right,
             title=r"$\eta^*_{\mathrm{measured}}/\eta^*_{\mathrm{formula}}$, mean over 2 seeds")
out = save_figure(fig, sys.argv[1] if len(sys.argv) > 1 else here.parents[1] / "docs/figures/gd_threshold.png")
print(f"wrote {out}")
