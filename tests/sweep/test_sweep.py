"""curvsym sweep: spec parsing, analyses (mathematics), the Parquet store, and the Dask engine with real parts.

The engine tests run a real ``LocalCluster`` of 2 worker processes (module fixture), kill a worker
process mid-sweep, and kill a client (a ``curvsym sweep run`` subprocess with its own cluster) mid-sweep
and resume it.  Cost: about 30–40 s on 2 cores, most of it cluster start-up and the subprocess.
"""

from __future__ import annotations

import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import curvsym as cs
from curvsym.cli import main
from curvsym.sweep import (
    ResultsCorruptError,
    ResultsExistError,
    SweepBusyError,
    SweepSpecError,
    load_analyses,
    load_spec,
)
from curvsym.sweep.spec import expand_range


@pytest.fixture
def store_deps():
    """The results store needs pyarrow and building needs cloudpickle (optional dependencies, with dask;
    the spec and analysis tests need neither)."""
    pytest.importorskip("cloudpickle")
    return pytest.importorskip("pyarrow")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sweeps" / "gd_threshold.toml"

# A user analysis module, shipped to the workers as source.  L = ½‖W − 0‖_F² with W = x·I_width, so the
# record has the closed form loss = ½ x² width; x < 0 raises DivergenceError (a failure row).
USER_MODULE = '''
import os, time
import numpy as np
import curvsym as cs
from curvsym.sweep import analysis, param

BUILD_LOG = {log!r}


def build(width):
    with open(BUILD_LOG, "a") as f:
        f.write(f"{{width}} {{os.getpid()}}\\n")
    m = cs.model(cs.chain([width, width]), whitened=True)
    return cs.generate_expressions(m, "loss", [cs.loss(m)])


@analysis("slow_loss", [param("x", "float"), param("width", "int", 2, min=1), param("delay", "float", 0.0, min=0),
                        param("gate", "float", 1e300)], architecture=("width",), build=build)
def slow_loss(p, loss):
    time.sleep(p["delay"])
    while p["x"] >= p["gate"] and not os.path.exists(BUILD_LOG + ".go"):  # held until the test opens the gate
        time.sleep(0.01)
    if p["x"] < 0:
        raise cs.DivergenceError(f"x = {{p['x']}} < 0 diverges", 1.0)
    W = p["x"] * np.eye(p["width"])
    return {{"loss": loss.raw(W, np.zeros_like(W))[0], "pid": os.getpid(), "worker_pid": os.getppid()}}


@analysis("not_flat", [param("x", "float")])
def not_flat(p, built):
    return {{"label": "a string is not a number"}}
'''


def write_sweep(tmp_path: Path, xs, widths=(2,), delay=0.0, analysis="slow_loss", gate=None) -> Path:
    (tmp_path / "mine.py").write_text(USER_MODULE.format(log=str(tmp_path / "builds.log")))
    spec = tmp_path / "sweep.toml"
    params = f"delay = {delay}\n" if analysis == "slow_loss" else ""
    params += f"gate = {float(gate)}\n" if gate is not None else ""
    grid = f"width = {list(widths)}\n" if analysis == "slow_loss" else ""
    spec.write_text(f'[sweep]\nanalysis = "{analysis}"\nmodules = ["mine.py"]\noutput = "out"\n'
                    f"[parameters]\n{params}[grid]\n{grid}x = {list(map(float, xs))}\n")
    return spec


def rows_of(folder: Path) -> dict:
    return read_table(folder).to_pydict()


def read_table(folder: Path):
    from curvsym.sweep import read_results
    return read_results(folder)


def assert_exactly_once_and_correct(spec_path: Path) -> dict:
    """Every point of the sweep stored exactly once, each record equal to its closed form."""
    from curvsym.sweep import plan_sweep
    plan = plan_sweep(load_spec(spec_path))
    rows = rows_of(load_spec(spec_path).output)
    assert sorted(rows["point_id"]) == sorted(p.id for p in plan.points)
    for x, w, st, loss, et in zip(rows["x"], rows["width"], rows["status"], rows["loss"], rows["error_type"]):
        if x < 0:
            assert st == "error" and et == "DivergenceError" and loss is None
        else:
            assert st == "ok" and loss == pytest.approx(0.5 * x * x * w, rel=1e-15, abs=1e-300)
    return rows


# --------------------------------------------------------------------------- spec


BAD_SPECS = [
    ('[sweep]\nanalysis = "gf_loss"\n[grdi]\nx = [1]\n', r"unknown key\(s\) 'grdi' in the sweep file"),
    ('[sweep]\nanalysis = "gf_loss"\nworkers = 3\n', r"unknown key\(s\) 'workers' in \[sweep\]"),
    ('[sweep]\nname = "no analysis"\n', r"needs analysis"),
    ('[sweep]\nanalysis = "gf_los"\n[parameters]\ndepth = 2\nwidth = 2\n', r"unknown analysis 'gf_los'.*gf_loss"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\ndeepth = 2\nwidth = 2\n',
     r"unknown parameter\(s\) 'deepth' for analysis 'gf_loss'; its parameters are: widths, depth"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\ndepth = {start = 1, stop = 3, num = 0}\n',
     r"num must be an integer ≥ 1"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\nt = {start = 0.0, stop = 1.0, step = 0.0}\n',
     r"step must be a finite non-zero number"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\ndepth = {start = 4, stop = 1, step = 1}\n',
     r"points away from stop"),
    ('[sweep]\nanalysis = "gf_loss"\n[grid]\ntarget_norm = {start = 0.0, stop = 2.0, num = 3, scale = "log"}\n',
     r"log scale needs start > 0"),
    ('[sweep]\nanalysis = "gf_loss"\n[grid]\nt = {start = 0.0, num = 3}\n', r"needs both 'start' and 'stop'"),
    ('[sweep]\nanalysis = "gf_loss"\n[grid]\nt = {start = 0.0, stop = 1.0, num = 3, stride = 2}\n',
     r"unknown key\(s\) 'stride' in range of grid parameter 't'"),
    ('[sweep]\nanalysis = "gf_loss"\n[grid]\nt = {start = 0.0, stop = 1.0}\n', r"give 'num' or 'step'"),
    ('[sweep]\nanalysis = "gf_loss"\n[grid]\nt = {start = 0.0, stop = 1.0, num = 1}\n', r"num = 1 would drop stop"),
    ('[sweep]\nanalysis = "gf_loss"\n[grid]\nt = []\n', r"grid parameter 't' has no values"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\ndepth = [0, 1]\n', r"'depth' must be ≥ 1, got 0"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\ndepth = 2\n[grid]\ntarget_norm = [1.0, -1.0]\n',
     r"'target_norm' must be > 0, got -1.0"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\ndepth = [1.5]\n', r"must be an integer, got 1.5"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\ndepth = true\n', r"'depth' must be a number, got True"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\ndepth = 2\ntarget = "orthogonal"\n',
     r"'target' must be one of 'isometry', 'gaussian'"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\ndepth = 2\n[grid]\nseed = [0, 0]\n',
     r"the same point as point 0"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\ndepth = 2\n[grid]\ndepth = [1, 2]\n',
     r"depth given in both \[parameters\] and \[grid\]"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\ndepth = 2\n', r"give widths = \[n_0, …, n_N\], or both depth and width"),
    ('[sweep]\nanalysis = "gd_threshold"\n[parameters]\nwidths = [3, 1, 3]\n', r"bottleneck"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidths = [2, 2, 2]\ndepth = 3\n', r"depth = 3 contradicts widths"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\ndepth = 2\nt = 2021-01-01\n', r"unsupported type date"),
    ('[sweep]\nanalysis = "gf_loss"\n[parameters\nwidth = 2\n', r"not valid TOML"),
    ('[sweep]\nanalysis = "gf_loss"\nmodules = ["missing.py"]\n', r"analysis module 'missing.py' not found"),
]


@pytest.mark.parametrize("text, message", BAD_SPECS)
def test_bad_specs_get_a_named_error(tmp_path, text, message):
    from curvsym.sweep import plan_sweep
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SweepSpecError, match=message):
        plan_sweep(load_spec(path))


def test_bad_spec_through_the_cli_exits_2_with_the_message(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\ndepth = {start = 1, stop = 3, num = 0}\n')
    assert main(["sweep", "run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "curvsym: error:" in err and "num must be an integer ≥ 1" in err and str(path) in err


def test_ranges_and_grid_expansion(tmp_path):
    assert expand_range("a", {"start": 0.5, "stop": 2.0, "num": 4}) == (0.5, 1.0, 1.5, 2.0)
    geo = expand_range("a", {"start": 0.5, "stop": 2.0, "num": 5, "scale": "log"})
    assert geo[0] == 0.5 and geo[-1] == 2.0 and np.allclose(np.diff(np.log(geo)), math.log(4) / 4, rtol=1e-13)
    assert expand_range("a", {"start": 2, "stop": 6, "step": 2}) == (2, 4, 6)
    assert expand_range("a", {"start": 0, "stop": 3}) == (0, 1, 2, 3)
    assert expand_range("a", {"start": 0.0, "stop": 1.0, "step": 0.25})[-1] == 1.0
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\ndepth = [1, 2, 3]\n'
                    'seed = {start = 0, stop = 1}\n[[points]]\nt = 0.5\n[[points]]\nt = 1.0\n')
    spec = load_spec(path)
    assert spec.size == 12 and len(list(spec.given_points())) == 12
    from curvsym.sweep import plan_sweep
    plan = plan_sweep(spec)
    # ids depend on the resolved parameters only: the same points listed in another order keep them
    path2 = tmp_path / "s2.toml"
    path2.write_text('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\nseed = [1, 0]\n'
                     'depth = [3, 2, 1]\nt = [1.0, 0.5]\n')
    plan2 = plan_sweep(load_spec(path2))
    assert {p.id for p in plan.points} == {p.id for p in plan2.points} and len(plan.architectures) == 3
    assert plan.points[0].params["widths"] == (2, 2) and plan.points[0].params["whitened"] is True


def test_yaml_spec_is_parsed_safely(tmp_path):
    pytest.importorskip("yaml")
    from curvsym.sweep import plan_sweep
    toml, yml = tmp_path / "a.toml", tmp_path / "a.yaml"
    toml.write_text('[sweep]\nanalysis = "gf_loss"\n[parameters]\nwidth = 2\n[grid]\ndepth = [1, 2]\n')
    yml.write_text("sweep: {analysis: gf_loss}\nparameters: {width: 2}\ngrid: {depth: [1, 2]}\n")
    assert [p.id for p in plan_sweep(load_spec(toml)).points] == [p.id for p in plan_sweep(load_spec(yml)).points]
    yml.write_text("sweep: !!python/object/apply:os.system ['echo unsafe']\n")
    with pytest.raises(SweepSpecError, match="not valid YAML"):
        load_spec(yml)


def test_record_must_be_flat_numbers(tmp_path):
    from curvsym.sweep import AnalysisError, param
    from curvsym.sweep.engine import PointTask, run_point
    from curvsym.sweep.registry import ModuleSet
    write_sweep(tmp_path, [1.0])
    mods = ModuleSet.from_spec([str(tmp_path / "mine.py")])
    row = run_point(PointTask(0, "id", {"x": 1.0}), ("not_flat", mods, pickle.dumps(None)))
    assert row["status"] == "error" and row["error_type"] == "AnalysisError" and "'label'" in row["error_message"]
    with pytest.raises(AnalysisError, match="stored columns"):
        param("status", "float")


def test_generated_functions_ship_by_value():
    """What the engine ships: cloudpickle of a GeneratedFunction (its exec'd code by value) computes the same."""
    cloudpickle = pytest.importorskip("cloudpickle")
    m = cs.model(cs.deep_chain(3, 2), whitened=True)
    rhs = cs.generate_flow(cs.gradient_flow(m))
    with pytest.raises(Exception):  # the plain pickle cannot: the function lives in no importable module
        pickle.dumps(rhs)
    copy = pickle.loads(cloudpickle.dumps(rhs))
    rng = np.random.default_rng(0)
    W, T = [rng.standard_normal((2, 2)) for _ in range(3)], rng.standard_normal((2, 2))
    for a, b in zip(rhs.raw(*W, T), copy.raw(*W, T)):
        assert np.array_equal(a, b)
    assert copy.source == rhs.source and copy.n_products == rhs.n_products


# --------------------------------------------------------------------------- analyses (mathematics)

def _record(name: str, **given) -> dict:
    an = load_analyses()[name]
    p = an.resolve(given)
    return an.record(p, an.build_for(an.architecture_of(p)))


def test_gd_threshold_sits_just_below_the_formula():
    """η* = 2/(N‖T‖^{2−2/N}); no η above it converges, the measured one is within the finite-step shortfall,
    and the GD limit at that η has λ_max ≈ 2/η (it sits at the edge of stability).  Negative control: the
    depth-(N+1) formula, the nearest wrong law, misses the measurement by far more than the bracket."""
    s, N = 1.3, 2
    r = _record("gd_threshold", depth=N, width=2, target_norm=s, n_steps=3000, rounds=2, n_eta=12)
    assert r["eta_formula"] == pytest.approx(2 / (N * s ** (2 - 2 / N)), rel=1e-14)
    assert r["eta_star_low"] < r["eta_star_high"] <= r["eta_formula"] * (1 + 1e-12)
    assert 0 < 1 - r["ratio"] < 3 * r["finite_steps_bias"]
    assert r["limit_sharpness_x_eta"] == pytest.approx(2, abs=0.01)
    wrong = 2 / ((N + 1) * s ** (2 - 2 / (N + 1)))
    assert abs(r["eta_star"] / wrong - 1) > 0.1


def test_gf_limit_is_the_flattest_minimum_from_a_small_start():
    """Whitened, no bottleneck, small start: GF ends at a minimum with λ_max = N‖T‖^{2−2/N} (Mulayoff &
    Michaeli), coupled along the top singular path, balance conserved.  Negative control: the same from a
    large (unbalanced) start is a sharper minimum."""
    base = dict(widths=[3, 4, 2], target_norm=1.5, target="gaussian", seed=3, t_end=100.0)
    r = _record("gf_limit", init_scale=0.01, **base)
    assert r["loss_T"] < 1e-15 * r["loss_0"]
    assert r["flat_bound"] == pytest.approx(2 * 1.5, rel=1e-14)
    assert abs(r["sharpness_ratio"] - 1) < 1e-4 and r["coupling_residual"] < 1e-3 and r["balance_drift"] < 1e-10
    sharp = _record("gf_limit", init_scale=1.5, **base)
    assert sharp["loss_T"] < 1e-15 * sharp["loss_0"] and sharp["sharpness_ratio"] > 1.1


def test_lambda_max_against_the_balanced_minimum_and_the_dense_fisher():
    """λ_max from the shipped Hessian–vector product equals N‖T‖^{2−2/N} at a balanced minimum and the top
    eigenvalue of JᵀJ (an independent dense route; H = JᵀJ at a global minimum)."""
    from curvsym import fisher
    from curvsym import sharpness
    from curvsym.papers import mulayoff2020 as sh
    from curvsym.sweep.analyses import lambda_max
    rng = np.random.default_rng(5)
    T = rng.standard_normal((3, 3))
    m = cs.model(cs.deep_chain(3, 3), whitened=True)
    W = sh.balanced_minimum(T, [3, 3, 3, 3], rng)
    lam = lambda_max(sharpness.hvp_function(m), W, (T,))
    assert lam == pytest.approx(sh.flat_bound(T, 3), rel=1e-10)
    assert lam == pytest.approx(np.linalg.eigvalsh(fisher.fisher(m, W, (T,)))[-1], rel=1e-10)


def test_gf_loss_at_time_zero_is_the_initial_loss():
    r = _record("gf_loss", widths=[2, 3, 2], t=0.0, whitened=False, seed=4)
    from curvsym.sweep.analyses import _instance
    an = load_analyses()["gf_loss"]
    W, (S, T), _ = _instance(an.resolve(dict(widths=[2, 3, 2], whitened=False, seed=4)), whitened=False)
    E = W[1] @ W[0] - T
    assert r["loss_0"] == r["loss_t"] == pytest.approx(0.5 * np.trace(E @ S @ E.T), rel=1e-14)


# --------------------------------------------------------------------------- store

def _local_commit(spec_path: Path, resume=False):
    """Compute every point here (the engine's worker function, no cluster) and commit each as its own part."""
    import curvsym
    from curvsym.sweep import plan_sweep
    from curvsym.sweep.engine import PointTask, build_blobs, run_point
    from curvsym.sweep.store import ResultStore
    spec = load_spec(spec_path)
    plan = plan_sweep(spec)
    blobs, _ = build_blobs(plan, plan.architectures)
    with ResultStore.open(spec.output, plan.analysis.name, spec.name, curvsym.__version__, resume) as store:
        for p in plan.points:
            row = run_point(PointTask(p.index, p.id, dict(p.params)), (plan.analysis.name, plan.modules,
                                                                        blobs[p.architecture]))
            store.commit([row], plan.analysis.parameters)
        store.consolidate()
    return spec


def test_store_detects_corrupt_and_truncated_files_and_never_overwrites_them(tmp_path, capsys, store_deps):
    spec_path = write_sweep(tmp_path, [0.5, 1.0, -1.0, 2.0])
    spec = _local_commit(spec_path)
    out = spec.output
    assert not list((out / "parts").glob("*")) and (out / "results.parquet").exists()  # consolidated
    assert_exactly_once_and_correct(spec_path)

    # a fresh run into existing results is refused
    with pytest.raises(ResultsExistError, match="pass --resume"):
        _local_commit(spec_path)
    # a second writer is refused while the first holds the folder
    from curvsym.sweep.store import ResultStore
    with ResultStore.open(out, "slow_loss", "s", "0", resume=True):
        with pytest.raises(SweepBusyError, match="in use by pid"):
            ResultStore.open(out, "slow_loss", "s", "0", resume=True)

    # truncated results.parquet: detected, reported by name, untouched by --resume
    results = out / "results.parquet"
    good = results.read_bytes()
    results.write_bytes(good[: len(good) // 2])
    damaged = results.read_bytes()
    with pytest.raises(ResultsCorruptError, match="results.parquet: not a readable Parquet file"):
        read_table(out)
    assert main(["sweep", "run", str(spec_path), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "results.parquet" in err and "truncated" in err
    assert results.read_bytes() == damaged
    assert main(["sweep", "run", str(spec_path), "--dry-run", "--sample", "0"]) == 2
    assert results.read_bytes() == damaged

    # restore; then a truncated part file (a commit not yet consolidated) is detected the same way
    results.write_bytes(good)
    from curvsym.sweep import plan_sweep
    plan = plan_sweep(spec)
    row = dict(read_table(out).to_pylist()[0], point_id="f" * 20)
    with ResultStore.open(out, "slow_loss", "s", "0", resume=True) as store:
        part = store.commit([row], plan.analysis.parameters)
    assert len(read_table(out)) == 5
    part.write_bytes(part.read_bytes()[:-9])
    with pytest.raises(ResultsCorruptError, match=f"{part.name}: not a readable Parquet file"):
        read_table(out)
    assert main(["sweep", "run", str(spec_path), "--resume", "--no-progress"]) == 2
    assert part.name in capsys.readouterr().err and results.read_bytes() == good


def test_consolidation_never_counts_a_point_twice(tmp_path, store_deps):
    """A writer killed between writing results.parquet and deleting the parts it absorbed leaves those
    parts behind: they are recognised (recorded in the new file) and skipped, then removed."""
    spec_path = write_sweep(tmp_path, [0.5, 1.0])
    spec = load_spec(spec_path)
    out = spec.output
    import curvsym
    from curvsym.sweep import plan_sweep
    from curvsym.sweep.engine import PointTask, build_blobs, run_point
    from curvsym.sweep.store import ResultStore
    plan = plan_sweep(spec)
    blobs, _ = build_blobs(plan, plan.architectures)
    with ResultStore.open(out, "slow_loss", spec.name, curvsym.__version__, resume=False) as store:
        parts = []
        for p in plan.points:
            row = run_point(PointTask(p.index, p.id, dict(p.params)), ("slow_loss", plan.modules, blobs[p.architecture]))
            parts.append(store.commit([row], plan.analysis.parameters))
        saved = [(q, q.read_bytes()) for q in parts]
        store.consolidate()
    for q, data in saved:  # the parts "survive" the consolidation
        q.write_bytes(data)
    assert sorted(rows_of(out)["point_id"]) == sorted(p.id for p in plan.points)
    with ResultStore.open(out, "slow_loss", spec.name, curvsym.__version__, resume=True):
        pass
    assert not list((out / "parts").glob("part-*"))
    # a part that was NOT absorbed but repeats a stored point is a contradiction, reported
    (out / "parts" / "part-99999999999999999999-1-000001.parquet").write_bytes(saved[0][1])
    with pytest.raises(ResultsCorruptError, match="is stored twice"):
        read_table(out)


# --------------------------------------------------------------------------- engine on a real cluster

def test_sweep_on_a_cluster_stores_every_point_once_and_failures_as_rows(tmp_path, cluster):
    from curvsym.sweep import run_sweep
    xs = [-1.0, 0.0, 0.5, 1.0, 1.5, -2.0, 2.0, 3.0]
    spec_path = write_sweep(tmp_path, xs, widths=(2, 3))
    s = run_sweep(load_spec(spec_path), scheduler=cluster.scheduler_address, progress=False)
    assert s.complete and s.n_computed == 16 and s.n_failed == 4 and s.n_not_run == 0
    rows = assert_exactly_once_and_correct(spec_path)
    assert os.getpid() not in set(rows["pid"]) - {None}  # computed on the workers
    builds = (tmp_path / "builds.log").read_text().split()
    assert sorted(builds[0::2]) == ["2", "3"] and set(builds[1::2]) == {str(os.getpid())}  # once per width, here
    assert set(rows["spec_sha256"]) == {load_spec(spec_path).sha256}
    assert set(rows["curvsym_version"]) == {cs.__version__}
    again = run_sweep(load_spec(spec_path), scheduler=cluster.scheduler_address, resume=True, progress=False)
    assert again.n_computed == 0 and again.complete and len(rows_of(tmp_path / "out")["point_id"]) == 16
    retry = run_sweep(load_spec(spec_path), scheduler=cluster.scheduler_address, resume=True, retry_failed=True,
                      progress=False, points_per_task=3)  # 4 failed points per width → tasks of 3 + 1
    assert retry.dropped_failures == 4 and retry.n_computed == 4 and retry.n_failed == 4
    assert_exactly_once_and_correct(spec_path)
    # the sweep file changes: one x dropped, two added → only the new points run; the old row is kept
    spec_path = write_sweep(tmp_path, xs[1:] + [4.0, 5.0], widths=(2, 3))
    grown = run_sweep(load_spec(spec_path), scheduler=cluster.scheduler_address, resume=True, progress=False)
    assert grown.n_computed == 4 and grown.n_stored_before == 14 and grown.n_extra_rows == 2 and grown.complete
    assert len(rows_of(tmp_path / "out")["point_id"]) == 20


def test_points_per_task_follows_the_cost_of_a_point():
    from curvsym.sweep.engine import MAX_POINTS_PER_TASK, chunk_size
    assert chunk_size([0.002] * 4, 2000, 2) == 100  # 0.2 s / 2 ms
    assert chunk_size([0.002] * 4, 400, 2) == 50  # at least 4 tasks per worker
    assert chunk_size([1.5, 2.0], 10_000, 2) == 1  # dear points: one per task
    assert chunk_size([1e-9], 10 ** 6, 1) == MAX_POINTS_PER_TASK and chunk_size([], 100, 4) == 1


def test_killing_a_worker_mid_sweep_loses_and_duplicates_nothing(tmp_path, cluster):
    """A worker that has computed stored points is SIGKILLed while the sweep cannot finish (points x ≥ 2 are
    held at a gate the test opens after the kill): nothing is lost or stored twice.  Deterministic: the
    victim is a worker known from the stored rows to have computed points, and the kill cannot come after
    the end.  (It used to fail under load: rows that had reached the client were dropped when the worker
    holding their results died before the commit — see test_sweep_faults.py.)"""
    from curvsym.sweep import run_sweep
    xs = np.round(np.linspace(0, 3, 30), 6).tolist()
    spec_path = write_sweep(tmp_path, xs, delay=0.05, gate=2.0)
    out = tmp_path / "out"
    result = {}
    runner = threading.Thread(target=lambda: result.update(
        s=run_sweep(load_spec(spec_path), scheduler=cluster.scheduler_address, progress=False)))
    runner.start()
    try:
        deadline = time.monotonic() + 120  # guards against a hang only
        stored: list = []
        while not stored and time.monotonic() < deadline:
            if (out / "parts").is_dir() and list((out / "parts").glob("part-*")):
                stored = [w for w in read_table(out).column("worker_pid").to_pylist() if w is not None]
            time.sleep(0.05)
        assert stored and runner.is_alive()  # held at the gate: the sweep cannot have ended
        victim = int(stored[0])
        os.kill(victim, signal.SIGKILL)
    finally:
        Path(str(tmp_path / "builds.log") + ".go").touch()
        runner.join(timeout=120)
    assert not runner.is_alive()
    s = result["s"]
    assert s.complete and s.n_not_run == 0 and s.n_computed == 30
    rows = assert_exactly_once_and_correct(spec_path)
    assert victim in set(rows["worker_pid"])  # the killed worker had computed points before it died


def test_killing_the_client_mid_sweep_then_resuming(tmp_path, cluster):
    """The client (a `curvsym sweep run` process with its own local cluster) is SIGKILLed with its
    whole process group mid-sweep (points x ≥ 2 are held at a gate, so the kill always comes mid-sweep);
    --resume computes exactly the points that were not stored."""
    from curvsym.sweep import run_sweep
    xs = np.round(np.linspace(0, 3, 24), 6).tolist()
    spec_path = write_sweep(tmp_path, xs, delay=0.05, gate=2.0)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "curvsym", "sweep", "run", str(spec_path), "--workers", "2",
                             "--no-progress"], cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and not (
                (out / "parts").is_dir() and list((out / "parts").glob("part-*"))):
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
        Path(str(tmp_path / "builds.log") + ".go").touch()
    before = read_table(out).to_pylist()
    assert 1 <= len(before) < 24
    (out / "parts" / ".tmp-part-left-by-a-dead-writer").write_bytes(b"PAR1 half a file")
    s = run_sweep(load_spec(spec_path), scheduler=cluster.scheduler_address, resume=True, progress=False)
    assert s.complete and s.n_stored_before == len(before) and s.n_computed == 24 - len(before)
    assert_exactly_once_and_correct(spec_path)
    after = {r["point_id"]: r for r in read_table(out).to_pylist()}
    for r in before:  # what was stored before the kill is kept as it was
        assert after[r["point_id"]] == r
    assert not list((out / "parts").iterdir())


# --------------------------------------------------------------------------- CLI: dry run and plots

def test_dry_run_of_the_shipped_example(tmp_path, capsys):
    spec = tmp_path / EXAMPLE.name  # a copy: its output folder (relative to the file) is then empty
    spec.write_bytes(EXAMPLE.read_bytes())
    assert main(["sweep", "run", str(spec), "--dry-run", "--sample", "0"]) == 0
    text = capsys.readouterr().out
    assert "70 points (grid: depth (5) × target_norm (7) × seed (2))" in text and "5 distinct architecture" in text


def test_dry_run_estimates_from_sample_points(tmp_path, capsys):
    pytest.importorskip("cloudpickle")
    spec_path = write_sweep(tmp_path, [0.5, 1.0, 2.0, -1.0])
    assert main(["sweep", "run", str(spec_path), "--dry-run", "--workers", "2", "--sample", "4"]) == 0
    text = capsys.readouterr().out
    assert "4 points" in text and "estimate on 2 worker(s)" in text and "DivergenceError" in text
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_plots_heat_map_and_lines(tmp_path, capsys, store_deps):
    pytest.importorskip("matplotlib")
    spec_path = tmp_path / "s.toml"
    spec_path.write_text('[sweep]\nanalysis = "gf_loss"\noutput = "out"\n[parameters]\nwidth = 2\n'
                         '[grid]\ndepth = [1, 2]\nt = [0.0, 0.5, 1.0]\nseed = [0, 1]\n')
    _local_commit(spec_path)
    heat, lines = tmp_path / "heat.png", tmp_path / "lines.png"
    assert main(["sweep", "plot", str(spec_path), "--x", "t", "--y", "depth", "--z", "loss_t", "-o", str(heat)]) == 0
    assert main(["sweep", "plot", str(tmp_path / "out"), "--x", "t", "--z", "loss_t", "--hue", "depth",
                 "--overlay", "loss_0", "--where", "seed=0", "-o", str(lines)]) == 0
    for f in (heat, lines):
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from curvsym.sweep.plot import plot_results
    fig = plot_results(read_table(tmp_path / "out"), x="t", y="depth", z="loss_t",
                       labels=load_analyses()["gf_loss"].labels)
    ax, cbar = fig.axes
    assert ax.get_xlabel() == "t" and ax.get_ylabel() == r"depth $N$" and cbar.get_ylabel() == r"$L(t)$"
    assert main(["sweep", "plot", str(spec_path), "--x", "widths", "--z", "loss_t"]) == 2
    assert "not numeric" in capsys.readouterr().err
