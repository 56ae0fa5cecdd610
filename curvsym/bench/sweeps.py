"""Benchmark of the sweep engine (part f of ``curvsym bench``; run alone: ``python -m curvsym.bench.sweeps``).

f1. throughput of one sweep of 2,000 cheap points (``gf_loss``: gradient flow of a 2-2-2 chain to
    t = 0.25, a few ms each) on a 2-worker against a 1-worker ``LocalCluster``, interleaved in the
    same run.  What 2 processes can gain depends on the machine at that moment (other jobs share
    its cores), so the reference is measured alongside: the same points as a plain loop in 2
    processes against 1 process (a ``ProcessPoolExecutor``, warm).  Target: the sweep's speed-up
    is at least 80% of that (parallel efficiency ≥ 0.8);
f2. per-point overhead of the engine: the 1-worker sweep against a plain Python loop over the same
    points in one process (same built code, no cluster, no storage); target ≤ 2 ms per point
    (Dask documents about 1 ms of scheduling overhead per task; the engine packs cheap points
    into tasks of ~0.2 s, so what remains is shipping rows, commits and the fixed start).

Both sweeps include planning, building, submission, the Parquet commits and the consolidation;
the clusters (:func:`curvsym.sweep.engine.local_cluster`, as ``curvsym sweep run`` starts them) are
started before the timing (their start-up is reported in the note).
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import tempfile
import time
from pathlib import Path

from .timing import BenchRow, interleaved

__all__ = ["run_sweep_bench"]


def _spec_text(n: int) -> str:
    return ('[sweep]\nanalysis = "gf_loss"\n[parameters]\ndepth = 2\nwidth = 2\nt = 0.25\n'
            f"[grid]\nseed = {{start = 0, stop = {n - 1}}}\n")


def _loop(name: str, blob: bytes, params: list) -> int:
    """The plain loop: the analysis over ``params`` with the given build (also run in pool processes)."""
    from ..sweep.catalogue import load_analyses
    an, built = load_analyses()[name], pickle.loads(blob)
    for p in params:
        an.record(p, built)
    return len(params)


def run_sweep_bench(quick: bool = False) -> list[BenchRow]:
    """Rows f1 (2 vs 1 workers, against the machine's own 2-vs-1-process speed-up) and f2 (engine vs
    plain loop); see the module docstring."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ..sweep.engine import build_blobs, local_cluster, run_sweep
    from ..sweep.plan import plan_sweep
    from ..sweep.spec import load_spec
    n = 200 if quick else 2000
    repeats = 1 if quick else 2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    with tempfile.TemporaryDirectory(prefix="curvsym-sweep-bench-") as tmp:
        tmp = Path(tmp)
        spec_path = tmp / "cheap.toml"
        spec_path.write_text(_spec_text(n))
        plan = plan_sweep(load_spec(spec_path))
        blob = build_blobs(plan, plan.architectures)[0][plan.architectures[0]]
        params = [dict(p.params) for p in plan.points]
        name = plan.analysis.name
        starts, clusters = {}, {}
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
        try:
            for w in (1, 2):
                t0 = time.perf_counter()
                clusters[w] = local_cluster(w)
                starts[w] = time.perf_counter() - t0
            counter = [0]

            def sweep(w: int):
                def run():
                    counter[0] += 1
                    spec = dataclasses.replace(load_spec(spec_path), output=tmp / f"run{counter[0]}")
                    s = run_sweep(spec, scheduler=clusters[w].scheduler_address, progress=False, echo=lambda _: None)
                    assert s.complete and s.n_computed == n and s.n_failed == 0, s
                return run

            def pooled(k: int):
                def run():
                    parts = [params[i::k] for i in range(k)]
                    assert sum(pool.map(_loop, [name] * k, [blob] * k, parts)) == n
                return run

            list(pool.map(_loop, [name] * 2, [blob] * 2, [params[:5], params[5:10]]))  # warm the pool
            sweep(1)(), sweep(2)()  # warm-up: workers import curvsym and load the analyses once
            t1, t2, t_loop, p1, p2 = interleaved([sweep(1), sweep(2), lambda: _loop(name, blob, params),
                                                   pooled(1), pooled(2)], repeats)
        finally:
            pool.shutdown()
            for c in clusters.values():
                c.close()
    overhead = (t1 - t_loop) / n
    speedup, machine = t1 / t2, p1 / p2
    return [
        BenchRow(f"f1. sweep of {n} cheap points, 2 workers vs 1", t2, t1, "the same sweep on 1 worker",
                 "speed-up ≥ 0.8 × the machine's", speedup >= 0.8 * machine,
                 f"speed-up {speedup:.2f}×; plain loop in 2 vs 1 processes (same run): {machine:.2f}× "
                 f"(efficiency {speedup / machine:.2f}); {n / t2:,.0f} points/s on 2 workers, {n / t1:,.0f} on 1; "
                 f"cluster start-up {starts[2]:.1f} s / {starts[1]:.1f} s, not timed; load average at start "
                 f"{load:.1f} on {os.cpu_count()} cores"),
        BenchRow(f"f2. sweep engine overhead, {n} points on 1 worker vs plain loop", t1, t_loop,
                 "plain Python loop, same built code", "≤ 2 ms per point", overhead <= 2e-3,
                 f"per-point overhead {overhead * 1e3:.2f} ms (point itself {t_loop / n * 1e3:.2f} ms)"),
    ]


if __name__ == "__main__":  # pragma: no cover
    import argparse

    from .timing import table
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 points, one repeat")
    print(table(run_sweep_bench(quick=ap.parse_args().quick)))
