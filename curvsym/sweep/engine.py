"""Running a sweep on Dask: an embedded ``LocalCluster`` by default, ``Client(address)`` for an existing one.

curvsym schedules nothing itself.  The client

1. plans the sweep (:func:`curvsym.sweep.plan.plan_sweep`) and opens the results folder
   (:class:`curvsym.sweep.store.ResultStore`), which tells it the points already stored;
2. builds the derived and generated code once per distinct architecture that still has points
   to compute, and pickles it (cloudpickle ships generated functions by value);
3. submits one Dask task per architecture holding (analysis, user modules, pickled build) —
   a task, not scattered data, so the scheduler can recompute it if the worker holding it
   dies — and tasks of points depending on it: one point per task for the first two points
   per worker, then as many points per task as take about 0.2 s (:func:`chunk_size`), so that
   Dask's per-task cost stays small for cheap points and nothing changes for dear ones;
4. commits the finished points to the store as they arrive (atomically, one part file per
   commit, at most ``commit_interval`` after arrival) and updates the progress bar.

A point whose analysis raises (``DivergenceError``, ``PrecisionError``, a bug …) becomes a
failure row, not a failed sweep.  A task that cannot run at all (its worker died too often:
``KilledWorker``; the cluster went away) is *not* stored; ``--resume`` computes it later.
Dask itself reschedules the tasks of a worker that dies.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import pickle
import signal
import socket
import statistics
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..version import __version__
from .catalogue import load_analyses
from .exceptions import SweepClusterError, SweepDependencyError, SweepSpecError
from .plan import SweepPlan, canonical_json, plan_sweep
from .point_process import run_isolated
from .quiet import quiet_dask, why_not_run
from .spec import SweepSpec
from .store import ResultStore, git_revision, read_results

__all__ = ["PointTask", "SweepSummary", "DryRun", "run_sweep", "dry_run", "run_point", "run_points", "build_blobs",
           "local_cluster", "chunk_size"]

MAX_TASKS_PER_COMMIT = 1000
CONSOLIDATE_EVERY = 512  # part files; merging them bounds the number of files in a long sweep
TARGET_TASK_S = 0.2
MAX_POINTS_PER_TASK = 256


@dataclass(frozen=True)
class PointTask:
    """What a worker needs of one point."""

    index: int
    id: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class SweepSummary:
    """The outcome of :func:`run_sweep`."""

    output: Path
    n_points: int
    n_stored_before: int
    n_computed: int
    n_failed: int
    n_not_run: int
    n_extra_rows: int
    n_workers: int
    wall_time_s: float
    build_time_s: float
    interrupted: bool = False
    first_not_run: str | None = None
    dropped_failures: int = 0
    points_per_task: int = 1

    @property
    def complete(self) -> bool:
        """Every point of the sweep is stored (as a result or a failure row)."""
        return self.n_stored_before + self.n_computed == self.n_points

    def __str__(self) -> str:
        lines = [f"{self.n_stored_before + self.n_computed} of {self.n_points} points stored in {self.output} "
                 f"({self.n_computed} computed now, {self.n_stored_before} before; {self.n_failed} failure rows "
                 f"written now) in {self.wall_time_s:.1f} s on {self.n_workers} worker(s), "
                 f"{self.points_per_task} point(s) per task"]
        if self.dropped_failures:
            lines.append(f"{self.dropped_failures} failure rows dropped for recomputation (--retry-failed)")
        if self.n_extra_rows:
            lines.append(f"{self.n_extra_rows} stored rows belong to points no longer in the sweep file (kept)")
        if self.n_not_run:
            lines.append(f"{self.n_not_run} points could not be run and are not stored (first: {self.first_not_run}); "
                         "run again with --resume")
        if self.interrupted:
            lines.append("interrupted: every committed point is stored (those received in the last "
                         "commit interval are recomputed); continue with --resume")
        return "\n".join(lines)


# --------------------------------------------------------------------------- worker side

@functools.lru_cache(maxsize=32)
def _loads(blob: bytes) -> Any:
    return pickle.loads(blob)


def _identity(x: Any) -> Any:
    return x


def run_points(tasks: tuple, context: tuple) -> list[dict]:
    """:func:`run_point` for each of ``tasks`` (one Dask task)."""
    return [run_point(t, context) for t in tasks]


def run_point(task: PointTask, context: tuple) -> dict:
    """Compute one point (on a worker): the row to store, never an exception from the analysis.

    ``context`` = (analysis name, :class:`ModuleSet`, pickled build).  The row holds the meta
    columns, the parameters and the record; an exception of the analysis becomes
    ``status = "error"`` with its type, message and traceback.
    """
    name, modules, blob = context
    an = load_analyses(modules)[name]
    built = _loads(blob)
    row = {"point_id": task.id, "point_index": task.index, "analysis": name,
           "worker": f"{socket.gethostname()}:{os.getpid()}", "curvsym_version": __version__,
           "parameters": canonical_json(dict(task.params)),
           **{k: (list(v) if isinstance(v, tuple) else v) for k, v in task.params.items()}}
    t0 = time.perf_counter()
    try:
        record = an.record(task.params, built)
        row.update(status="ok", **record)
    except Exception as exc:  # every failure of the analysis is a stored row
        row.update(status="error", error_type=type(exc).__name__, error_message=str(exc),
                   error_traceback="".join(traceback.format_exception(exc))[-4000:])
    row["wall_time_s"] = time.perf_counter() - t0
    row["finished_at"] = datetime.now(timezone.utc)
    return row


# --------------------------------------------------------------------------- client side

def build_blobs(plan: SweepPlan, architectures: Any) -> tuple[dict, float]:
    """{architecture: pickled build} for the given architectures (built here, once each), and the time taken.

    Raises:
        SweepDependencyError: cloudpickle (a dependency of dask.distributed) is not installed.
        Exception: whatever ``build`` raises — a build failure is a bug or a bad architecture for
            every point that shares it, so it stops the sweep before anything is submitted.
    """
    try:
        import cloudpickle
    except ModuleNotFoundError:
        raise SweepDependencyError("sweeps ship built code with cloudpickle: pip install 'dask[distributed]'") from None
    t0 = time.perf_counter()
    blobs = {arch: cloudpickle.dumps(plan.analysis.build_for(arch)) for arch in architectures}
    return blobs, time.perf_counter() - t0


def _need_dask():
    try:
        import distributed
    except ModuleNotFoundError:
        raise SweepDependencyError("sweeps run on Dask: pip install 'dask[distributed]'") from None
    return distributed


def local_cluster(workers: int | None = None) -> Any:
    """The embedded cluster: ``workers`` processes (default: the cores) of one thread each.

    Its scheduler does not queue tasks (``distributed.scheduler.worker-saturation = inf``): every
    point is an independent task with a small result, so sending them to the workers eagerly is
    safe, and it saves a scheduler round trip per point (4–5× the throughput of cheap points).

    Raises:
        SweepDependencyError: dask.distributed is not installed.
    """
    distributed = _need_dask()
    import dask
    with dask.config.set({"distributed.scheduler.worker-saturation": math.inf}), _children_ignore_sigint():
        return distributed.LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                        processes=True, dashboard_address=":0", silence_logs=logging.ERROR)


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Processes started in this block ignore SIGINT (an ignored signal stays ignored across fork and exec,
    and Python keeps it so): a terminal's Ctrl-C reaches the client only, which stops the sweep and closes
    the cluster, instead of every worker printing a KeyboardInterrupt traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None, connect_timeout: float = 30.0) -> Iterator[Any]:
    distributed = _need_dask()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=f"{connect_timeout}s")
        except (OSError, ValueError, TypeError) as exc:  # unreachable, refused, or not an address
            raise SweepClusterError(f"cannot connect to the Dask scheduler {scheduler!r}: "
                                    f"{why_not_run(exc)}") from None
        try:
            yield client
        finally:
            client.close()
        return
    cluster = local_cluster(workers)
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _stop_local_workers(client) -> None:
    """SIGKILL the worker processes of the embedded cluster (never those of a cluster given by address):
    after Ctrl-C, closing it gracefully would wait for every running point; their child processes follow
    within :data:`curvsym.sweep.point_process.WATCHDOG_S`."""
    cluster = getattr(client, "cluster", None)
    for nanny in getattr(cluster, "workers", {}).values() if cluster is not None else ():
        pid = getattr(nanny, "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _dashboard(client) -> str:
    try:
        import bokeh  # noqa: F401  (the dashboard needs it)
    except ModuleNotFoundError:
        return ""
    return f", dashboard {client.dashboard_link}"


def _progress(total: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, unit="pt", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def chunk_size(point_times: list[float], n_remaining: int, n_workers: int, target_s: float = TARGET_TASK_S) -> int:
    """Points per Dask task: enough that a task takes about ``target_s`` (median point time from
    the first points), so that Dask's per-task cost (about a millisecond, more on a busy machine)
    stays small against the work; never fewer than 4 tasks per worker (load balance); at most
    :data:`MAX_POINTS_PER_TASK`."""
    t = statistics.median(point_times) if point_times else target_s
    by_time = int(target_s / max(t, 1e-6))
    by_balance = n_remaining // (4 * max(1, n_workers))
    return max(1, min(MAX_POINTS_PER_TASK, by_time, by_balance))


class _Submitter:
    """Submits points as tasks of ``chunk`` points each (one architecture per task); remembers sizes."""

    def __init__(self, client, plan: SweepPlan, blobs: dict, timeout: float | None = None):
        self.client, self.plan = client, plan
        self.run = functools.partial(run_isolated, timeout=timeout)
        self.nonce = uuid.uuid4().hex[:8]
        self.contexts = {arch: client.submit(_identity, (plan.analysis.name, plan.modules, blobs[arch]),
                                             key=f"curvsym-build-{k}-{self.nonce}", pure=False)
                         for k, arch in enumerate(blobs)}
        self.sizes: dict = {}

    def submit(self, points: list, chunk: int) -> list:
        futures = []
        for arch, context in self.contexts.items():
            mine = [p for p in points if p.architecture == arch]
            chunks = [tuple(PointTask(p.index, p.id, dict(p.params)) for p in mine[i:i + chunk])
                      for i in range(0, len(mine), chunk)]
            if not chunks:
                continue
            keys = [f"curvsym-points-{c[0].id}-{len(c)}-{self.nonce}" for c in chunks]
            new = self.client.map(self.run, chunks, [context] * len(chunks), key=keys, pure=False)
            self.sizes.update({f.key: len(c) for f, c in zip(new, chunks)})
            futures += new
        return futures


def run_sweep(spec: SweepSpec, *, scheduler: str | None = None, workers: int | None = None, resume: bool = False,
              retry_failed: bool = False, progress: bool = True, points_per_task: int | None = None,
              commit_interval: float = 0.25, timeout: float | None = None, connect_timeout: float = 30.0,
              echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> SweepSummary:
    """Run (or resume) a sweep; return what happened.

    ``scheduler`` is the address of an existing Dask scheduler (``tcp://host:8786``); without
    it a :func:`local_cluster` of ``workers`` processes (default: the number of cores) is started
    and stopped here.  With ``resume`` only points missing from the results folder are
    computed; ``retry_failed`` also recomputes failure rows.

    Points travel in tasks of ``points_per_task`` points (default: one point per task for the
    first two per worker, then as many as take about 0.2 s — see :func:`chunk_size`).  Finished
    points are committed as they arrive, in one atomic part file per ``commit_interval`` seconds
    at most.  Ctrl-C stops the sweep with every committed point stored (``interrupted``).

    Every point runs in a child process of its worker (:mod:`curvsym.sweep.point_process`): one that runs
    past ``timeout`` seconds (default: the sweep file's ``timeout``; none: no limit) or crashes its
    process becomes a failure row of its own, and no other point is charged with it.  A row that
    reached this client is committed even if its worker or the scheduler dies afterwards.

    Raises:
        SweepSpecError: bad spec or parameters (before anything runs).
        ResultsExistError: a fresh run into a folder with results.
        ResultsCorruptError: a damaged results file (reported, never overwritten).
        SweepBusyError: another process is writing the same folder.
        SweepDependencyError: dask.distributed or pyarrow missing.
        SweepClusterError: ``scheduler`` is malformed or not reachable within ``connect_timeout`` seconds,
            or no worker joined it within that time.
        ResultsWriteError: the results folder cannot be created or written (disk full, read-only …).
    """
    if points_per_task is not None and points_per_task < 1:
        raise SweepSpecError(f"points per task must be ≥ 1, got {points_per_task}")
    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise SweepSpecError(f"workers must be an integer ≥ 1, got {workers!r}")  # 0 workers would wait forever
    if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise SweepSpecError(f"the point timeout must be a finite number of seconds > 0, got {timeout!r}")
    t_start = time.perf_counter()
    plan = plan_sweep(spec)
    with ResultStore.open(spec.output, plan.analysis.name, spec.name, __version__, resume) as store:
        ids = {p.id for p in plan.points}
        dropped = 0
        if retry_failed:
            failed = [pid for pid, st in store.stored_status().items() if st == "error" and pid in ids]
            dropped = store.drop(failed)
        status = store.stored_status()
        todo = [p for p in plan.points if p.id not in status]
        n_before = len(plan.points) - len(todo)
        summary = dict(output=spec.output, n_points=len(plan.points), n_stored_before=n_before,
                       n_extra_rows=len(set(status) - ids), dropped_failures=dropped)
        if not todo:
            return SweepSummary(**summary, n_computed=0, n_failed=0, n_not_run=0, n_workers=0,
                                wall_time_s=time.perf_counter() - t_start, build_time_s=0.0)
        archs = tuple(dict.fromkeys(p.architecture for p in todo))
        blobs, t_build = build_blobs(plan, archs)
        spec_meta = {"spec_sha256": spec.sha256,
                     "spec_git_revision": git_revision(spec.source) if spec.source is not None else None}
        counts = {"computed": 0, "failed": 0, "not_run": 0, "first": None, "chunk": points_per_task or 1}
        interrupted = False
        with quiet_dask(), _client(scheduler, workers, connect_timeout) as client:
            n_workers = len(client.scheduler_info().get("workers", {}))
            if not n_workers:  # a scheduler without workers would hold the sweep forever
                try:
                    client.wait_for_workers(1, timeout=connect_timeout)
                except (TimeoutError, OSError):
                    raise SweepClusterError(f"the Dask scheduler {client.scheduler.address} has no workers "
                                            f"(none joined within {connect_timeout:g} s); start some with "
                                            "`dask worker ADDRESS`") from None
                n_workers = len(client.scheduler_info().get("workers", {}))
            echo(f"sweep {spec.name!r}: analysis {plan.analysis.name}, {len(plan.points)} points "
                 f"({n_before} stored, {len(todo)} to compute), {len(archs)} architecture(s) built in {t_build:.2f} s; "
                 f"scheduler {client.scheduler.address}, {n_workers} worker(s)" + _dashboard(client))
            sub = _Submitter(client, plan, blobs, timeout if timeout is not None else spec.timeout)
            probe = len(todo) if points_per_task else min(len(todo), 2 * max(1, n_workers))
            remaining = todo[probe:]
            from distributed import as_completed
            ac = as_completed(sub.submit(todo[:probe], points_per_task or 1), with_results=True, raise_errors=False)
            bar = _progress(len(todo), progress)

            def on_ready(batch: list) -> None:  # the first results fix the chunk size of the rest
                nonlocal remaining
                if remaining:
                    times = [r["wall_time_s"] for f, res in batch if isinstance(res, list) for r in res]
                    counts["chunk"] = chunk_size(times, len(remaining), n_workers)
                    for f in sub.submit(remaining, counts["chunk"]):
                        ac.add(f)
                    remaining = []

            def commit(batch: list) -> None:
                rows = []
                for fut, res in batch:
                    # judged by what arrived, never by fut.status: that changes after arrival when the
                    # worker holding the result (or the scheduler) dies, and the row would be lost
                    if isinstance(res, list):
                        rows += [{**r, **spec_meta} for r in res]
                    else:
                        counts["not_run"] += sub.sizes[fut.key]
                        counts["first"] = counts["first"] or why_not_run(res)
                if rows:
                    store.commit(rows, plan.analysis.parameters)
                    counts["computed"] += len(rows)
                    counts["failed"] += sum(r["status"] == "error" for r in rows)
                for fut, _ in batch:
                    fut.release()
                bar.update(sum(sub.sizes[fut.key] for fut, _ in batch))
                if counts["failed"] or counts["not_run"]:
                    bar.set_postfix(failed=counts["failed"], not_run=counts["not_run"], refresh=False)
                if store.n_parts() >= CONSOLIDATE_EVERY:
                    store.consolidate()

            try:
                _collect(ac, on_ready, commit, commit_interval)
            except KeyboardInterrupt:
                interrupted = True
                _stop_local_workers(client)
            finally:
                bar.close()
        store.consolidate()
    return SweepSummary(**summary, n_computed=counts["computed"], n_failed=counts["failed"],
                        n_not_run=counts["not_run"], n_workers=n_workers, wall_time_s=time.perf_counter() - t_start,
                        build_time_s=t_build, interrupted=interrupted, first_not_run=counts["first"],
                        points_per_task=counts["chunk"])


def _collect(ac, on_ready: Callable[[list], None], commit: Callable[[list], None], interval: float) -> None:
    """Hand finished tasks to ``commit`` in batches: at once when the last commit is ``interval``
    seconds old, else as soon as it becomes so — a finished point waits at most ``interval`` to be
    committed, and commits stay few when thousands of cheap points finish per second."""
    pending: list = []
    last = -math.inf
    while True:
        ready = ac.next_batch(block=False) if ac.has_ready() else []
        if ready:
            on_ready(ready)
        pending += ready
        done = ac.is_empty() and not ac.has_ready()
        now = time.monotonic()
        if pending and (done or now - last >= interval or len(pending) >= MAX_TASKS_PER_COMMIT):
            commit(pending)  # atomic: interrupted, it stores the whole batch or none of it
            pending, last = [], now
        if done:
            return
        if not ready:
            time.sleep(0.005 if pending else 0.02)


# --------------------------------------------------------------------------- dry run

@dataclass(frozen=True)
class DryRun:
    """Grid size and a time estimate, from planning and (optionally) timing sample points here."""

    n_points: int
    n_stored: int
    n_todo: int
    n_architectures: int
    workers: int
    build_time_s: float | None = None
    point_times_s: tuple = ()
    sample_errors: tuple = ()
    axes: tuple = field(default_factory=tuple)

    @property
    def estimate_s(self) -> float | None:
        """n_architectures × build time + n_todo × mean point time / workers (None without a sample)."""
        if self.build_time_s is None or not self.point_times_s:
            return None
        mean = sum(self.point_times_s) / len(self.point_times_s)
        return self.n_architectures * self.build_time_s + self.n_todo * mean / max(1, self.workers)

    def __str__(self) -> str:
        axes = " × ".join(f"{n} ({k})" for n, k in self.axes) or "no grid"
        lines = [f"{self.n_points} points (grid: {axes}); {self.n_stored} already stored, {self.n_todo} to compute; "
                 f"{self.n_architectures} distinct architecture(s) to build"]
        if self.build_time_s is not None and self.point_times_s:
            mean = sum(self.point_times_s) / len(self.point_times_s)
            est = self.estimate_s
            lines.append(f"measured here: build {self.build_time_s:.2f} s per architecture, {mean:.3f} s per point "
                         f"({len(self.point_times_s)} sample point(s))")
            lines.append(f"estimate on {self.workers} worker(s): {_duration(est)} "
                         "(plus cluster start-up; a rough figure: points may differ in cost)")
        for e in self.sample_errors:
            lines.append(f"sample point failed (it would be stored as a failure row): {e}")
        return "\n".join(lines)


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def dry_run(spec: SweepSpec, *, workers: int | None = None, sample: int = 3) -> DryRun:
    """Plan the sweep (checking every point), count what is stored, time ``sample`` points here
    (spread evenly over the points to compute, so that cheap and dear corners both count).

    Nothing is written and no cluster is started.

    Raises:
        SweepSpecError, ResultsCorruptError: as for :func:`run_sweep`.
    """
    plan = plan_sweep(spec)
    stored: set = set()
    if spec.output.exists() and (spec.output / "manifest.json").exists():
        stored = set(read_results(spec.output).column("point_id").to_pylist())
    todo = [p for p in plan.points if p.id not in stored]
    archs = tuple(dict.fromkeys(p.architecture for p in todo))
    w = workers or os.cpu_count() or 1
    axes = tuple((n, len(v)) for n, v in spec.grid)
    base = dict(n_points=len(plan.points), n_stored=len(plan.points) - len(todo), n_todo=len(todo),
                n_architectures=len(archs), workers=w, axes=axes)
    if sample <= 0 or not todo:
        return DryRun(**base)
    picks = [todo[round(k * (len(todo) - 1) / max(1, sample - 1))] for k in range(min(sample, len(todo)))]
    picks = list({p.id: p for p in picks}.values())
    blobs, t_build = build_blobs(plan, tuple(dict.fromkeys(p.architecture for p in picks)))
    t_build /= len(blobs)
    times, errors = [], []
    for p in picks:
        row = run_point(PointTask(p.index, p.id, dict(p.params)), (plan.analysis.name, plan.modules,
                                                                    blobs[p.architecture]))
        times.append(row["wall_time_s"])
        if row["status"] == "error":
            errors.append(f"{row['error_type']}: {row['error_message']}")
    return DryRun(**base, build_time_s=t_build, point_times_s=tuple(times), sample_errors=tuple(errors))
