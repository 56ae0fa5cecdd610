"""Integrators against closed forms, each other, and a run at twice the precision."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from curvsym.derive import Flow
from curvsym.problems import random_instance

import curvsym as cs


def _scalar_net(N):
    return cs.model(cs.chain([1] * (N + 1)), whitened=True)


def test_saxe_two_layer_sigmoid_to_25_digits():
    """Balanced N = 2, whitened: σ(t) = s e^{2st} / (e^{2st} − 1 + s/σ0)  (Saxe et al. 2014)."""
    m = _scalar_net(2)
    rhs = cs.generate_flow(cs.gradient_flow(m), "mpmath")
    a0, s = mpmath.mpf("0.1"), mpmath.mpf(3)
    w = np.array([[a0]], dtype=object)
    traj = cs.integrate_taylor(rhs, [w, w], [np.array([[s]], dtype=object)], [0, 1, 2], dps=30)
    with mpmath.workdps(40):
        s0 = a0 * a0
        for t, (W1, W2) in zip(traj.t, traj.states):
            exact = s * mpmath.exp(2 * s * t) / (mpmath.exp(2 * s * t) - 1 + s / s0)
            assert abs(W2[0, 0] * W1[0, 0] - exact) < mpmath.mpf(10) ** -25


def test_single_layer_linear_ode_matches_matrix_exponential():
    """N = 1: dW/dt = −(W − T)Σx ⇒ W(t) = T + (W0 − T) expm(−Σx t)."""
    net = cs.chain([3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=4)
    rhs = cs.generate_flow(cs.gradient_flow(m), "mpmath")
    traj = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 1.5], dps=40)
    with mpmath.workdps(60):
        S = mpmath.matrix(inst.Sigma.tolist()); T = mpmath.matrix(inst.T.tolist())
        W0 = mpmath.matrix(inst.weights[0].tolist())
        exact = T + (W0 - T) * mpmath.expm(-S * mpmath.mpf(1.5))
        err = max(abs(traj.final[0][i, j] - exact[i, j]) for i in range(2) for j in range(3))
    assert err < mpmath.mpf(10) ** -35


@pytest.mark.parametrize("engine", ["flint", "mpmath"])
def test_error_estimate_is_honest_against_twice_the_precision(engine):
    net = cs.chain([2, 3, 2])
    inst = random_instance(net, seed=11, scale=0.9)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    lo = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 1.0], dps=20, engine=engine)
    hi = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 1.0], dps=40, engine="flint")
    with mpmath.workdps(50):
        err = max(abs(v) for a, b in zip(lo.final, hi.final) for v in (a - b).flat)
    assert err <= lo.error_estimate
    assert lo.error_estimate < mpmath.mpf(10) ** -18  # and it is not vacuous


def test_flint_and_mpmath_engines_agree():
    net = cs.resnet(2, 2)
    inst = random_instance(net, seed=2, scale=0.2)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    a = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 0.5], dps=25, engine="flint")
    b = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 0.5], dps=25, engine="mpmath")
    with mpmath.workdps(30):
        assert max(abs(v) for x, y in zip(a.final, b.final) for v in (x - y).flat) < mpmath.mpf(10) ** -23


def test_double_and_high_precision_paths_agree():
    net = cs.chain([3, 4, 3])
    m = cs.model(net)
    inst = random_instance(net, seed=6)
    flow = cs.gradient_flow(m)
    d = cs.integrate_double(cs.generate_flow(flow), inst.weights, inst.data(), [0, 1, 3])
    h = cs.integrate_taylor(cs.generate_flow(flow, "mpmath"), inst.weights, inst.data(), [0, 1, 3], dps=20)
    for sd, sh in zip(d.states, h.states):
        for a, b in zip(sd, cs.to_float(sh)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-11)


def _blowup_flow():
    """dw/dt = w² (a 1×1 'network'): blows up at t = 1/w0."""
    m = _scalar_net(1)
    W = m.weights[0]
    return Flow(m, (sp.MatMul(W, W),), "w' = w^2")


def test_taylor_reports_finite_time_blowup_with_time_reached():
    rhs = cs.generate_flow(_blowup_flow(), "mpmath")
    with pytest.raises(cs.DivergenceError) as info:
        cs.integrate_taylor(rhs, [np.array([[2.0]])], [np.array([[0.0]])], [0, 1], dps=20)
    assert 0.3 < info.value.t_reached <= 0.5  # blow-up at t = 1/2


def test_double_path_reports_divergence():
    rhs = cs.generate_flow(_blowup_flow())
    with pytest.raises(cs.DivergenceError) as info:
        cs.integrate_double(rhs, [np.array([[2.0]])], [np.array([[0.0]])], [0, 1])
    assert info.value.t_reached <= 0.5


def test_step_limit_and_precision_errors():
    net = cs.chain([2, 2])
    inst = random_instance(net)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    with pytest.raises(cs.StepLimitError, match="more than 2 steps"):
        cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 50], dps=30, max_steps=2)
    with pytest.raises(cs.PrecisionError, match="dps"):
        cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 1], dps=10)
    with pytest.raises(cs.PrecisionError, match="tolerance"):
        cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 1], dps=20, tol="1e-80")


def test_non_polynomial_rhs_is_refused_by_taylor():
    from curvsym.integrate import NotPolynomialError
    m = _scalar_net(1)
    W = m.weights[0]
    flow = Flow(m, (sp.Inverse(W),), "inverse")
    rhs = cs.generate_flow(flow, "mpmath")
    with pytest.raises(NotPolynomialError):
        cs.integrate_taylor(rhs, [np.array([[2.0]])], [np.array([[0.0]])], [0, 1], dps=20)


# --------------------------------------------------------------------------- GBS extrapolation

def _ngd_setting():
    from curvsym.problems import conditioned_instance

    from curvsym import rules
    net = cs.chain([2, 2, 2])
    m = cs.model(net)
    inst = conditioned_instance(net, seed=1)
    return m, inst, cs.generate_flow(rules.natural_gradient().flow(m), "mpmath")


def test_gbs_follows_the_ngd_exponential_to_requested_digits():
    """W(t) = T + (W0 − T)e^{−t} (exact for min-norm NGD without bottleneck)."""
    m, inst, rhs = _ngd_setting()
    traj = cs.integrate(rhs, inst.weights, inst.data(), [0, 0.7], dps=25)
    assert traj.method.startswith("GBS")
    r = cs.check_exponential_law("ngd", m, traj, inst.data(), rate=1, tolerance=1e-22)
    assert r.passed, r


def test_gbs_error_estimate_is_honest_against_twice_the_precision():
    m, inst, rhs = _ngd_setting()
    lo = cs.integrate_extrapolation(rhs, inst.weights, inst.data(), [0, 0.5], dps=20)
    hi = cs.integrate_extrapolation(rhs, inst.weights, inst.data(), [0, 0.5], dps=40)
    with mpmath.workdps(50):
        err = max(abs(v) for a, b in zip(lo.final, hi.final) for v in (a - b).flat)
    assert err <= lo.error_estimate < mpmath.mpf(10) ** -18


def test_gbs_agrees_with_taylor_on_a_polynomial_flow():
    net = cs.chain([2, 3, 2])
    inst = random_instance(net, seed=12)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    a = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 0.5], dps=25)
    b = cs.integrate_extrapolation(rhs, inst.weights, inst.data(), [0, 0.5], dps=25)
    with mpmath.workdps(35):
        assert max(abs(v) for x, y in zip(a.final, b.final) for v in (x - y).flat) < mpmath.mpf(10) ** -23


def test_gbs_reports_blowup():
    rhs = cs.generate_flow(_blowup_flow(), "mpmath")
    with pytest.raises(cs.DivergenceError) as info:
        cs.integrate_extrapolation(rhs, [np.array([[2.0]])], [np.array([[0.0]])], [0, 1], dps=20)
    assert info.value.t_reached <= 0.5


def test_integrate_refuses_a_float_rhs_for_high_precision():
    net = cs.chain([2, 2])
    inst = random_instance(net)
    with pytest.raises(ValueError, match="backend='mpmath'"):
        cs.integrate(cs.generate_flow(cs.gradient_flow(cs.model(net))), inst.weights, inst.data(), [0, 1], dps=30)


def test_sigma_must_be_a_covariance():
    net = cs.chain([2, 2])
    inst = random_instance(net)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)))
    with pytest.raises(cs.ShapeError, match="symmetric"):
        rhs(inst.weights, np.array([[1.0, 0.5], [0.0, 1.0]]), inst.T)
    with pytest.raises(cs.ShapeError, match="positive definite"):
        rhs(inst.weights, np.array([[1.0, 0.0], [0.0, -1.0]]), inst.T)


def test_progress_bar_can_be_forced_and_silenced(capsys):
    net = cs.chain([2, 2])
    inst = random_instance(net)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    a = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 1], dps=20, progress=True)
    b = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 1], dps=20, progress=False)
    assert "Taylor" in capsys.readouterr().err
    assert all((x == y).all() for x, y in zip(a.final, b.final))
