"""ReLU kinks as events of the Taylor stepper; Taylor rules of tanh, softplus, softmax (about 15 s)."""

import mpmath
import numpy as np
import pytest
from scipy.optimize import brentq

import curvsym as cs
from curvsym import nonlinear as nl
from curvsym.codegen import generate_expressions
from curvsym.integrate.events import first_exit, taylor_shift


def _relu_problem(seed=0, widths=(2, 3, 2), m=4, act="relu", loss="mse"):
    model = nl.data_model(cs.chain(list(widths), activation=act, bias=True), m, loss=loss)
    rng = np.random.default_rng(seed)
    params = tuple(rng.standard_normal(s) for s in nl.shapes(model))
    Yraw = rng.standard_normal((widths[-1], m)) if loss == "mse" else rng.integers(0, widths[-1], m)
    X, Y = nl.data_arrays(model, rng.standard_normal((widths[0], m)), Yraw)
    return model, params, X, Y


# --------------------------------------------------------------------------- root finding

def test_first_exit_finds_the_first_root_and_ignores_grazes():
    with mpmath.workdps(40):
        q = [2, -3, 1]  # (1 − s)(2 − s): leaves at s = 1
        assert abs(first_exit(q, 3) - 1) < mpmath.mpf(10) ** -35
        assert first_exit(q, mpmath.mpf("0.999")) is None
        # dips below 0 and comes back inside the step: no sign change at the ends, still found
        dip = [mpmath.mpf("0.01"), -1, 10]  # 10s² − s + 0.01, roots 0.0113, 0.0887
        root = first_exit(dip, 1)
        assert abs(root - (1 - mpmath.sqrt(1 - mpmath.mpf("0.4"))) / 20) < mpmath.mpf(10) ** -35
        assert first_exit([0, 1, -1], 2, boundary=True) == 1  # starts on the kink, moves in, leaves at 1
        assert first_exit([mpmath.mpf(1) / 4, -1, 1], 1) is None  # (s − ½)² grazes 0: not a crossing
        assert first_exit([0, 0, 0, 0], 1, boundary=True) is None  # a dead unit sitting on its kink stays
        assert first_exit([0, 0, 2, -1], 3, boundary=True) == 2  # leading order 2 moves in, leaves at s = 2
        shifted = taylor_shift([1, 2, 3], mpmath.mpf(2))  # 1 + 2(u+2) + 3(u+2)² = 17 + 14u + 3u²
        assert shifted == [17, 14, 3]


# --------------------------------------------------------------------------- events on a ReLU flow

def test_event_lands_on_the_kink_found_independently():
    """The first crossing time agrees with a root of z(t) on an independent DOP853 trajectory (brentq)."""
    model, params, X, Y = _relu_problem(seed=9)
    flow = nl.gradient_flow(model)
    traj = cs.integrate(cs.generate_flow(flow, "mpmath"), params, (X, Y), [0, 2], dps=30)
    assert traj.info["crossings"] >= 1 and traj.info["switches"] == 1
    ev = traj.info["events"][0]
    fw = nl.forward(model)
    Zf = generate_expressions(model, "Z1", [fw.Z[1]])
    # independent route: double-precision DOP853 with dense output, root by brentq
    t_star = float(ev.t)
    dbl = cs.integrate_double(cs.generate_flow(flow), params, (X, Y), np.linspace(0, t_star + 0.05, 2),
                              rtol=1e-13, atol=1e-14)
    assert dbl.ok

    def z(t):
        s = cs.integrate_double(cs.generate_flow(flow), params, (X, Y), [0, t], rtol=1e-13, atol=1e-14).final
        return float(Zf(list(s), X, Y)[0][ev.row, ev.column])

    root = brentq(z, t_star - 0.02, t_star + 0.02, xtol=1e-14)
    assert abs(root - t_star) < 1e-9
    # the Taylor state at the event time sits on the kink to the working precision
    at = cs.integrate(cs.generate_flow(flow, "mpmath"), params, (X, Y), [0, ev.t], dps=30)
    with mpmath.workdps(40):
        Zm = generate_expressions(model, "Z1", [fw.Z[1]], backend="mpmath")
        value = Zm(list(at.final), *cs.to_mp((X, Y), 40))[0][ev.row, ev.column]
    assert abs(value) < mpmath.mpf(10) ** -25


def test_crossings_match_the_sign_changes_of_an_independent_trajectory():
    model, params, X, Y = _relu_problem(seed=9)
    flow = nl.gradient_flow(model)
    traj = cs.integrate(cs.generate_flow(flow, "mpmath"), params, (X, Y), [0, 1, 2], dps=25)
    ts = np.linspace(0, 2, 401)
    dbl = cs.integrate_double(cs.generate_flow(flow), params, (X, Y), ts, rtol=1e-12, atol=1e-13)
    Zf = generate_expressions(model, "Z1", [nl.forward(model).Z[1]])
    signs = np.array([np.sign(Zf(list(s), X, Y)[0]) for s in dbl.states])
    changes = int(np.sum(signs[1:] != signs[:-1]))
    assert traj.info["crossings"] == changes == 5
    for a, b in zip(traj.final, dbl.final):
        np.testing.assert_allclose(np.asarray(a, dtype=float), b, atol=1e-10)


def test_relu_flow_converges_with_precision():
    """30 and 40 digits agree to the 30-digit error estimate across the kinks (never a series across one)."""
    model, params, X, Y = _relu_problem(seed=11)
    rhs = cs.generate_flow(nl.gradient_flow(model), "mpmath")
    a = cs.integrate(rhs, params, (X, Y), [0, 2], dps=30)
    b = cs.integrate(rhs, params, (X, Y), [0, 2], dps=40)
    assert a.info["crossings"] == b.info["crossings"] == 2
    with mpmath.workdps(45):
        diff = max(abs(x - y) for u, v in zip(a.final, b.final) for x, y in zip(u.flat, v.flat))
    assert diff < mpmath.mpf(10) ** -27 and diff < 100 * a.error_estimate + mpmath.mpf(10) ** -29


def test_sliding_mode_is_refused_with_a_named_error():
    model, params, X, Y = _relu_problem(seed=1)
    rhs = cs.generate_flow(nl.gradient_flow(model), "mpmath")
    with pytest.raises(cs.NonSmoothError, match="sliding mode"):
        cs.integrate(rhs, params, (X, Y), [0, 1], dps=20)
    traj = cs.integrate(rhs, params, (X, Y), [0, 1], dps=20, throw=False)
    assert traj.status is cs.Status.NON_SMOOTH and "Filippov" in traj.message


def test_gbs_refuses_a_piecewise_flow():
    model, params, X, Y = _relu_problem(seed=9)
    rhs = cs.generate_flow(nl.gradient_flow(model), "mpmath")
    with pytest.raises(cs.OptionError, match="kinks"):
        cs.integrate_extrapolation(rhs, params, (X, Y), [0, 1], dps=20)


# --------------------------------------------------------------------------- analytic Taylor rules

@pytest.mark.parametrize("act,loss", [("tanh", "mse"), ("softplus(2)", "mse"), ("tanh", "cross_entropy"),
                                      ("relu", "cross_entropy"), ("leaky_relu(1/10)", "mse")])
def test_taylor_rules_agree_with_dop853(act, loss):
    model, params, X, Y = _relu_problem(seed=0, widths=(2, 3, 3), act=act, loss=loss)
    flow = nl.gradient_flow(model)
    hp = cs.integrate(cs.generate_flow(flow, "mpmath"), params, (X, Y), [0, 1], dps=20)
    assert hp.method.startswith("Taylor")
    dbl = cs.integrate_double(cs.generate_flow(flow), params, (X, Y), [0, 1], rtol=1e-13, atol=1e-14)
    for a, b in zip(hp.final, dbl.final):
        np.testing.assert_allclose(np.asarray(a, dtype=float), b, atol=1e-11)


def test_tanh_taylor_is_consistent_across_precisions_and_engines():
    model, params, X, Y = _relu_problem(seed=2, widths=(2, 2, 2), act="tanh")
    rhs = cs.generate_flow(nl.gradient_flow(model), "mpmath")
    a = cs.integrate(rhs, params, (X, Y), [0, 1], dps=25, engine="flint")
    b = cs.integrate(rhs, params, (X, Y), [0, 1], dps=25, engine="mpmath")
    c = cs.integrate(rhs, params, (X, Y), [0, 1], dps=35)
    with mpmath.workdps(40):
        d_ab = max(abs(x - y) for u, v in zip(a.final, b.final) for x, y in zip(u.flat, v.flat))
        d_ac = max(abs(x - y) for u, v in zip(a.final, c.final) for x, y in zip(u.flat, v.flat))
    assert d_ab < mpmath.mpf(10) ** -22 and d_ac < mpmath.mpf(10) ** -22


def test_per_neuron_balance_is_conserved_across_the_kinks_only_for_homogeneous_activations():
    """25 digits along a trajectory with 5 kink crossings (ReLU); tanh from the same start drifts at O(1e-2)."""
    results = {}
    for act in ("relu", "tanh"):
        model, params, X, Y = _relu_problem(seed=9, act=act)
        traj = cs.integrate(cs.generate_flow(nl.gradient_flow(model), "mpmath"), params, (X, Y), [0, 1, 2], dps=25)
        q = generate_expressions(model, "q", list(nl.neuron_balance(model)), backend="mpmath")
        results[act] = cs.check_conservation(act, traj, q, (X, Y))
        if act == "relu":
            assert traj.info["crossings"] == 5
    assert results["relu"].passed and results["relu"].residual < 1e-24
    assert not results["tanh"].passed and results["tanh"].residual > 1e-3
