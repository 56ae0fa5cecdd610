"""``curvsym sweep run|plot|analyses``: argument parsing only; the work is in the library.

``add_parser(subparsers)`` registers the ``sweep`` command on the ``curvsym`` parser.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _key_value(text: str) -> tuple[str, object]:
    """``name=value`` with value read as an int, a float, true/false, or else a string (never evaluated)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, raw = text.split("=", 1)
    value: object = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        for conv in (int, float):
            try:
                value = conv(raw)
                break
            except ValueError:
                pass
    return name.strip(), value


def _positive(kind: type, what: str):
    """The type of option ``what``: a finite number of type ``kind`` that is > 0."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a positive number, got {text!r}") from None
        if not (0 < v < float("inf")):
            raise argparse.ArgumentTypeError(f"{what} must be positive and finite, got {text!r}")
        return v
    return parse


def _at_least_zero(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sample must be an integer ≥ 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"--sample must be an integer ≥ 0, got {text!r}")
    return v


def cmd_run(args: Any) -> int:
    from .engine import dry_run, run_sweep
    from .quiet import quiet_dask_until_exit
    from .spec import load_spec
    spec = load_spec(args.file)
    if args.dry_run:
        print(dry_run(spec, workers=args.workers, sample=args.sample))
        return 0
    if args.scheduler and args.workers:
        print("curvsym: note: --workers is ignored with --scheduler (the cluster has the workers it has)",
              file=sys.stderr)
    quiet_dask_until_exit()  # the summary says what happened; Dask would repeat it as tracebacks
    try:
        summary = run_sweep(spec, scheduler=args.scheduler, workers=None if args.scheduler else args.workers,
                            resume=args.resume, retry_failed=args.retry_failed, progress=not args.no_progress,
                            points_per_task=args.points_per_task, timeout=args.timeout)
    except KeyboardInterrupt:  # outside the collection loop (start-up, shutdown): nothing half-written
        print("interrupted: every committed point is stored; continue with --resume", file=sys.stderr)
        return 130
    print(summary)
    if summary.interrupted:
        return 130
    return 0 if summary.complete else 1


def _labels_and_table(source: Path):
    from .catalogue import load_analyses
    from .registry import ModuleSet
    from .store import read_results
    if source.is_file():
        from .spec import load_spec
        spec = load_spec(source)
        registry = load_analyses(ModuleSet.from_spec(spec.modules))
        an = registry.get(spec.analysis)
        return (dict(an.labels) if an else {}), read_results(spec.output), spec.output
    table = read_results(source)
    names = set(table.column("analysis").to_pylist()) if table.num_rows else set()
    registry = load_analyses()
    labels = {}
    for n in names:
        if n in registry:
            labels.update(registry[n].labels)
    return labels, table, source


def cmd_plot(args: Any) -> int:
    from .plot import plot_results, save_figure
    labels, table, folder = _labels_and_table(Path(args.source))
    labels.update(dict(args.label or []))
    fig = plot_results(table, x=args.x, y=args.y, z=args.z, hue=args.hue, overlay=args.overlay, agg=args.agg,
                       where=dict(args.where or []), logx=args.logx, logy=args.logy, labels=labels, title=args.title)
    out = Path(args.output) if args.output else folder / f"plot-{args.z}.png"
    save_figure(fig, out)
    n_failed = sum(s != "ok" for s in table.column("status").to_pylist())
    print(f"wrote {out}" + (f" ({n_failed} failure rows not drawn)" if n_failed else ""))
    return 0


def cmd_analyses(args: Any) -> int:
    from .catalogue import load_analyses
    from .registry import ModuleSet
    modules = [str(Path(m).resolve()) if m.endswith(".py") else m for m in (args.module or [])]
    for name, an in sorted(load_analyses(ModuleSet.from_spec(modules)).items()):
        print(f"{name}\n  {an.doc.splitlines()[0] if an.doc else ''}")
        for p in an.parameters:
            print(f"    {p.describe()}")
        if an.architecture:
            print(f"  built once per distinct ({', '.join(an.architecture)})")
        print()
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sweep`` (with ``run``, ``plot``, ``analyses``) on the ``curvsym`` sub-command parsers."""
    sw = subparsers.add_parser("sweep", help="parameter sweeps on Dask (run, resume, plot)",
                               description="Parameter sweeps on Dask with results that are never lost "
                                           "(docs/sweeps.md).")
    sub = sw.add_subparsers(dest="sweep_command", required=True)

    run = sub.add_parser("run", help="run or resume a sweep file")
    run.add_argument("file", help="sweep file (.toml, or .yaml with PyYAML)")
    run.add_argument("--resume", action="store_true", help="continue: compute only points missing from the results")
    run.add_argument("--retry-failed", action="store_true", help="with --resume: also recompute failure rows")
    run.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786 "
                     "(default: a local cluster started for this run)")
    run.add_argument("--workers", type=_positive(int, "--workers"), metavar="N",
                     help="worker processes of the local cluster (default: cores)")
    run.add_argument("--dry-run", action="store_true", help="print the grid size and a time estimate; run nothing")
    run.add_argument("--sample", type=_at_least_zero, default=3, metavar="K",
                     help="with --dry-run: time K points (spread over the grid) here for the estimate "
                          "(0: none; default 3)")
    run.add_argument("--points-per-task", type=int, metavar="K",
                     help="points per Dask task (default: chosen from the first points' cost, ~0.2 s per task)")
    run.add_argument("--timeout", type=_positive(float, "--timeout"), metavar="SECONDS",
                     help="wall-clock limit per point: a point past it is killed and stored as a failure row "
                          "(default: the sweep file's [sweep] timeout, else none)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    pl = sub.add_parser("plot", help="heat map (--y) or line plot of a results table")
    pl.add_argument("source", help="a results folder, or the sweep file (its output folder and labels)")
    pl.add_argument("--x", required=True, help="column on the horizontal axis")
    pl.add_argument("--z", required=True, help="column to show (colour of a heat map, height of a line plot)")
    pl.add_argument("--y", help="column on the vertical axis: makes a heat map")
    pl.add_argument("--hue", help="line plot: one line per value of this column")
    pl.add_argument("--overlay", help="line plot: also draw this column dashed (e.g. a formula)")
    pl.add_argument("--agg", default="mean", choices=("mean", "median", "min", "max"),
                    help="how to combine rows that share the plotted coordinates (default mean)")
    pl.add_argument("--where", type=_key_value, action="append", metavar="NAME=VALUE", help="keep rows with this value")
    pl.add_argument("--label", type=_key_value, action="append", metavar="NAME=TEXT",
                    help="axis label for a column (mathtext, e.g. 'eta_star=$\\eta^*$')")
    pl.add_argument("--logx", action="store_true", help="logarithmic horizontal axis")
    pl.add_argument("--logy", action="store_true", help="logarithmic vertical axis")
    pl.add_argument("--title")
    pl.add_argument("-o", "--output", help="image file (default: RESULTS/plot-Z.png)")
    pl.set_defaults(func=cmd_plot)

    an = sub.add_parser("analyses", help="list the analyses and their parameters")
    an.add_argument("--module", action="append", help="also a user module (.py path or module name)")
    an.set_defaults(func=cmd_analyses)
    return sw
