"""Step maps of rules: one batched float64 sweep, arbitrary precision, divergence reports, bad input.

About 4 s.
"""

import mpmath
import numpy as np
import pytest
from curvsym.problems import random_instance

import curvsym as cs
from curvsym import ensemble
from curvsym.integrate.iteration import Divergence, common_times, iterate_precise, iterate_sweep, step_sizes
from curvsym.papers import elkabetz2021 as ec

NET = cs.chain([3, 3, 3])
M = cs.model(NET)
INST = random_instance(NET, seed=0)
RHS = cs.generate_flow(cs.gradient_flow(M))
RMP = cs.generate_flow(cs.gradient_flow(M), "mpmath")
LOSS = cs.generate_expressions(M, "loss", [cs.loss(M)])


def _loss(state):
    return LOSS.raw(*state, *INST.data())[0]


def test_a_sweep_is_every_eta_run_alone():
    etas, times = [1e-2, 5e-3, 2.5e-3], [0.0, 0.5, 1.0]
    runs = iterate_sweep(RHS, INST.weights, INST.data(), etas, times)
    for e, run in zip(etas, runs):
        n = round(1.0 / e)
        alone = ensemble.iterate(RHS, [w[None] for w in INST.weights], INST.data(), e, n, record_every=n // 2)
        assert run.info["steps"] == (0, n // 2, n) and run.t == tuple(times) and run.ok
        for a, b in zip(run.states[-1], alone.final):
            np.testing.assert_allclose(a, b[0], rtol=1e-14, atol=1e-15)


def test_precise_iterates_agree_with_float64_and_with_the_closed_form():
    tp = iterate_precise(RMP, INST.weights, INST.data(), 1e-2, [0, 50, 100], dps=40)
    (run,) = iterate_sweep(RHS, INST.weights, INST.data(), [1e-2], [0.0, 0.5, 1.0])
    assert tp.info["steps"] == (0, 50, 100) and tp.dps == 40 and float(tp.error_estimate) < 1e-45
    for a, b in zip(tp.states[-1], run.states[-1]):
        np.testing.assert_allclose(np.asarray(a, dtype=float), b, rtol=1e-12, atol=1e-14)
    # GD on f(x) = −(m/2)x² is x₀(1 + ηm)^k exactly
    flow = ec.concave_rule(2.0).flow(cs.model(cs.chain([1, 1])))
    traj = iterate_precise(cs.generate_flow(flow, "mpmath"), [np.array([[0.75]])], [np.eye(1), np.zeros((1, 1))],
                           "0.01", [0, 37], dps=50)
    with mpmath.workdps(60):
        exact = mpmath.mpf("0.75") * (1 + mpmath.mpf("0.01") * 2) ** 37
        assert abs(traj.states[-1][0][0, 0] - exact) < mpmath.mpf(10) ** -55
        assert traj.t[-1] == 37 * mpmath.mpf("0.01")


def test_a_diverging_member_is_reported_and_the_others_go_on():
    runs = iterate_sweep(RHS, INST.weights, INST.data(), [0.5, 1.5, 3.0], [0.0, 30.0, 60.0], loss=_loss)
    assert runs[0].ok and runs[0].t == (0.0, 30.0, 60.0)
    for run in runs[1:]:
        div = run.info["divergence"]
        assert isinstance(div, Divergence) and run.status is cs.Status.DIVERGED
        assert div.step >= 1 and div.t == pytest.approx(div.step * div.eta) and np.isfinite(div.loss)
        assert "left the finite range at step" in run.message and "loss at step" in run.message
        assert all(np.all(np.isfinite(w)) for s in run.states for w in s)  # never a state of NaNs
    with pytest.raises(cs.DivergenceError, match="step"):
        iterate_sweep(RHS, INST.weights, INST.data(), [0.5, 3.0], [0.0, 30.0], throw=True)


def test_precise_divergence_names_step_and_loss():
    loss = lambda s: _loss(cs.to_float(s))
    tr = iterate_precise(RMP, INST.weights, INST.data(), 3.0, [0, 10, 20], dps=20, loss=loss)
    div = tr.info["divergence"]
    assert tr.status is cs.Status.DIVERGED and div.step < 10 and np.isfinite(div.loss) and "‖W‖_max" in div.reason
    with pytest.raises(cs.DivergenceError, match="left the finite range at step"):
        iterate_precise(RMP, INST.weights, INST.data(), 3.0, [0, 10], dps=20, throw=True)


@pytest.mark.parametrize("eta", [0, -1e-3, float("nan"), float("inf"), True, None, "abc", []])
def test_bad_step_sizes_are_refused_before_any_work(eta):
    with pytest.raises(cs.OptionError):
        step_sizes(eta)
    with pytest.raises(cs.OptionError):
        iterate_precise(RMP, INST.weights, INST.data(), eta, [0, 1], dps=20)


def test_other_bad_input():
    with pytest.raises(cs.OptionError, match="whole number of steps"):
        iterate_sweep(RHS, INST.weights, INST.data(), [0.03], [0.0, 0.1])
    with pytest.raises(cs.OptionError, match="floating point"):
        iterate_sweep(RMP, INST.weights, INST.data(), [0.1], [0.0, 0.1])
    with pytest.raises(cs.ShapeError):
        iterate_sweep(RHS, [w[None] for w in INST.weights], INST.data(), [0.1], [0.0, 0.1])
    with pytest.raises(cs.OptionError, match="mpmath"):
        iterate_precise(RHS, INST.weights, INST.data(), 0.1, [0, 1])
    with pytest.raises(cs.OptionError, match="steps"):
        iterate_precise(RMP, INST.weights, INST.data(), 0.1, [3, 1], dps=20)
    with pytest.raises(cs.PrecisionError):
        iterate_precise(RMP, INST.weights, INST.data(), 0.1, [0, 1], dps=10)


def test_common_times():
    assert common_times([0.01, 0.005, 0.0025], 0.05) == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04, 0.05])
    assert common_times([0.02, 0.05], 0.2) == pytest.approx([0.0, 0.1, 0.2])  # the lcm of the two steps
    assert len(common_times([0.01], 10.0, max_points=7)) <= 9
    with pytest.raises(cs.OptionError, match="whole multiple"):
        common_times([0.02], 0.05)


def test_the_sweep_runs_on_another_array_library():
    xp = pytest.importorskip("array_api_strict")
    W = [xp.asarray(w) for w in INST.weights]
    D = [xp.asarray(a) for a in INST.data()]
    rhs = cs.generate_flow(cs.gradient_flow(M), "array_api")
    runs = iterate_sweep(rhs, W, D, [0.02, 0.01], [0.0, 0.2])
    ref = iterate_sweep(RHS, INST.weights, INST.data(), [0.02, 0.01], [0.0, 0.2])
    for a, b in zip(runs, ref):
        for x, y in zip(a.states[-1], b.states[-1]):
            np.testing.assert_allclose(np.asarray(x), y, rtol=1e-13, atol=1e-14)


# --------------------------------------------------------------------------- the map solver (y ← Φ(y; k))

def _gd_map():
    """Φ_η(W) = W − η∇L(W) as generated code: GD's step map written as the new state."""
    from curvsym.symbolic.step_maps import ETA, step_map
    flow = cs.gradient_flow(M)
    return cs.generate_flow(cs.Flow(M, step_map(flow), "gd step map", (ETA,)))


def test_the_map_solver_gives_the_step_map_iterates_and_counts_steps():
    phi = _gd_map()
    W = [np.stack([w, 0.5 * w]) for w in INST.weights]
    got = ensemble.iterate_map(phi, W, INST.data(), 300, record_every=70, params={"eta": 0.05})
    ref = ensemble.iterate(RHS, W, INST.data(), 0.05, 300, record_every=70)
    assert list(got.t) == list(ref.t) == [0, 70, 140, 210, 280, 300] and got.n_steps == 300
    for a, b in zip(got.states, ref.states):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("block", [1, 7, 64])
def test_the_map_solver_stops_a_diverging_member_where_a_check_per_step_stops_it(block):
    """Checked once per block, replayed on a non-finite block end: the same statuses, times and frozen states
    as the Euler-form driver checking after every step."""
    phi = _gd_map()
    W = [np.stack([w, 40 * w]) for w in INST.weights]  # member 1 diverges at this η
    with np.errstate(all="ignore"):
        got = ensemble.iterate_map(phi, W, INST.data(), 200, record_every=50, params={"eta": 0.3}, block=block)
        ref = ensemble.iterate(RHS, W, INST.data(), 0.3, 200, record_every=50)
    assert [s.value for s in got.status] == [s.value for s in ref.status] == ["success", "diverged"]
    assert got.t_stopped == ref.t_stopped and got.t_stopped[1] is not None and got.t_stopped[1] > 0
    assert got.messages[1].split(": ", 2)[-1] == ref.messages[1].split(": ", 2)[-1]
    for a, b in zip(got.states, ref.states):
        for x, y in zip(a, b):
            assert np.all(np.isfinite(x[1]))
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15)
    with np.errstate(all="ignore"), pytest.raises(cs.DivergenceError):
        ensemble.iterate_map(phi, W, INST.data(), 200, params={"eta": 0.3}, block=block, throw=True)


def test_the_map_solver_refuses_bad_counts():
    phi = _gd_map()
    for kw, match in (({"n_steps": 0}, "n_steps"), ({"n_steps": 5, "block": 0}, "block"),
                      ({"n_steps": 5, "start": -1}, "start")):
        with pytest.raises(cs.OptionError, match=match):
            ensemble.iterate_map(phi, [w[None] for w in INST.weights], INST.data(), params={"eta": 0.1}, **kw)
