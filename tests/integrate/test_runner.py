"""The runner's contract: results instead of raises (throw=False), timeouts, per-member ensemble status."""

import numpy as np
import pytest
import sympy as sp
from curvsym.derive import Flow

import curvsym as cs
from curvsym import ensemble
from curvsym.integrate import Status


def _blowup():
    """dw/dt = w² from w0 = 2: blows up at t = 1/2."""
    m = cs.model(cs.chain([1, 1]), whitened=True)
    W = m.weights[0]
    return Flow(m, (sp.MatMul(W, W),), "w' = w^2")


@pytest.mark.parametrize("path", ["double", "taylor", "gbs"])
def test_throw_false_returns_what_was_reached(path):
    flow = _blowup()
    w0, T = [np.array([[2.0]])], [np.array([[0.0]])]
    run = {"double": lambda: cs.integrate_double(cs.generate_flow(flow), w0, T, [0, 0.25, 1], throw=False),
           "taylor": lambda: cs.integrate_taylor(cs.generate_flow(flow, "mpmath"), w0, T, [0, 0.25, 1], dps=20,
                                                 throw=False),
           "gbs": lambda: cs.integrate_extrapolation(cs.generate_flow(flow, "mpmath"), w0, T, [0, 0.25, 1], dps=20,
                                                     throw=False)}[path]
    traj = run()
    assert traj.status is Status.DIVERGED and not traj.ok and "t =" in traj.message
    assert len(traj.t) == 2  # t = 0 and 0.25 were reached: w(0.25) = 2/(1 − 0.5) = 4
    assert abs(float(traj.final[0][0, 0]) - 4.0) < 1e-8


def test_timeout_is_reported_and_can_be_returned():
    net = cs.chain([2, 2])
    inst = cs.problems.random_instance(net)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    with pytest.raises(cs.IntegrationTimeout, match="timeout"):
        cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 50], dps=30, timeout=0.0)
    traj = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 50], dps=30, timeout=0.0, throw=False)
    assert traj.status is Status.TIMEOUT and len(traj.t) == 1


def test_one_diverging_member_does_not_discard_the_others():
    net = cs.deep_chain(2, 2)
    m = cs.model(net)
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((3, 2, 2)) * 0.3 for _ in range(2)]
    W[0][1] *= 200  # member 1 diverges under a large step
    S, T = np.eye(2), rng.standard_normal((2, 2))
    rhs = cs.generate_flow(cs.gradient_flow(m))
    with np.errstate(all="ignore"):
        traj = ensemble.rk4(rhs, W, [S, T], [0, 0.5, 1], dt=0.25, throw=False)
    assert traj.status == (Status.SUCCESS, Status.DIVERGED, Status.SUCCESS)
    assert all(np.all(np.isfinite(w)) for w in traj.final)  # the diverged member is frozen at its last finite state
    single = ensemble.rk4(rhs, [w[:1] for w in W], [S, T], [0, 0.5, 1], dt=0.25)
    np.testing.assert_allclose(traj.final[0][0], single.final[0][0], rtol=1e-13)
    with np.errstate(all="ignore"), pytest.raises(cs.DivergenceError):
        ensemble.rk4(rhs, W, [S, T], [0, 0.5, 1], dt=0.25)


def test_step_map_validates_eta():
    m = cs.model(cs.deep_chain(2, 2))
    rhs = cs.generate_flow(cs.gradient_flow(m))
    W = [np.ones((1, 2, 2)), np.ones((1, 2, 2))]
    for bad in (0.0, -1e-2, float("nan")):
        with pytest.raises(cs.OptionError, match="η"):
            ensemble.iterate(rhs, W, [np.eye(2), np.eye(2)], eta=bad, n_steps=3)
