"""Distances, fitted orders, envelopes and the GD–GF gap study (curvsym.verify.step_size).

Closed forms (the envelope of constant rate and source; the concave objective of Elkabetz &
Cohen's Proposition 1, where GD and GF are known exactly), agreement between routes (dense
against Lanczos λ_min, the sharpness module's λ_min, double against high-precision references
and iterates) and the orders 1, 2, 3 of the modified equations.  About 15 s.
"""

import math

import mpmath
import numpy as np
import pytest
from curvsym.problems import conditioned_instance, random_instance

import curvsym as cs
from curvsym import sharpness
from curvsym.papers import elkabetz2021 as ec
from curvsym.verify.step_size import (
    CurvatureAlong,
    check_below_envelope,
    check_order,
    distance,
    envelope,
    fitted_order,
    settled_orders,
    gap_study,
    modified_equation_orders,
)

NET = cs.chain([3, 3, 3])
M = cs.model(NET)
INST = random_instance(NET, seed=0)


def test_fitted_order_recovers_power_laws_and_refuses_too_little_data():
    etas = [0.1, 0.05, 0.025, 0.0125]
    fo = fitted_order(etas, [3.0 * e ** 2 for e in etas])
    assert fo.slope == pytest.approx(2.0, abs=1e-12) and math.exp(fo.intercept) == pytest.approx(3.0)
    assert check_order("order", fo, 2, 0.01).passed and not check_order("order", fo, 1, 0.01).passed
    with pytest.raises(cs.OptionError):
        fitted_order([0.1, 0.05], [1e-3, float("nan")])
    with pytest.raises(cs.OptionError):
        fitted_order([0.1, 0.1], [1e-3, 2e-3])


def test_settled_orders_refine_past_the_pre_asymptotic_range_and_reject_a_wrong_order():
    # e = h²(1 + 40h): order 2 with a large O(h³) term.  A fixed sweep of four step sizes from 0.01 reads
    # about 2.2; refining reaches the range where the order is 2 to the settle spread.
    def smooth(h):
        return {"claim": h * h * (1 + 40 * h)}
    fixed = fitted_order([0.01 / 2 ** j for j in range(4)], [smooth(0.01 / 2 ** j)["claim"] for j in range(4)])
    assert fixed.slope - 2 > 0.1
    sweep = settled_orders(smooth, 0.01, max_steps=12)
    assert sweep.settled and len(sweep.steps) > 4
    assert abs(sweep.order("claim").slope - 2) < 0.05
    assert sweep.local("claim")[0] == pytest.approx(math.log2(4 * 1.4 / 1.2))
    # e = 1e-3 h + h²: looks like order 2 at h = 0.1, is order 1; a claim of order 2 must not survive.
    def masked(h):
        return {"claim": 1e-3 * h + h * h, "control": h}
    sweep = settled_orders(masked, 0.1, max_steps=12)
    assert sweep.local("claim")[0] > 1.9
    assert not (sweep.settled and abs(sweep.order("claim").slope - 2) <= 0.1)
    assert sweep.order("control").slope == pytest.approx(1.0, abs=1e-12)
    # an order that never settles (its local orders oscillate): refinement stops, unsettled
    def wobbly(h):
        return {"claim": h * h * (2 + math.sin(3 * math.log2(h)))}
    sweep = settled_orders(wobbly, 0.1, max_steps=7)
    assert not sweep.settled and len(sweep.steps) == 7
    with pytest.raises(cs.OptionError):
        settled_orders(lambda h: {"claim": 0.0}, 0.1)
    with pytest.raises(cs.OptionError):
        settled_orders(smooth, -0.1)


def test_envelope_closed_forms():
    t = np.linspace(0, 2, 2001)
    rho, s, eta = 1.5, 0.7, 1e-2
    got = envelope(t, np.full_like(t, rho), np.full_like(t, s), eta)
    np.testing.assert_allclose(got[1:], (eta / 2) * s * np.expm1(rho * t[1:]) / rho, rtol=1e-6)
    np.testing.assert_allclose(envelope(t, 0 * t, np.full_like(t, s), eta), (eta / 2) * s * t, rtol=1e-12)
    with pytest.raises(cs.OptionError):
        envelope([0, 1, 1], [0, 0, 0], [1, 1, 1], 0.1)
    with pytest.raises(cs.OptionError):
        envelope([0, 1], [0, float("nan")], [1, 1], 0.1)


def test_lam_min_routes_agree_with_the_sharpness_module():
    flow = cs.gradient_flow(M)
    dense = CurvatureAlong(flow, "dense")
    lam, route = dense.lam_min(INST.weights, INST.data())
    assert route == "dense"
    assert lam == pytest.approx(sharpness.min_curvature(M, INST.weights, INST.data()), abs=1e-10)
    lanczos, route = CurvatureAlong(flow, "lanczos").lam_min(INST.weights, INST.data())
    assert route == "lanczos" and lanczos == pytest.approx(lam, abs=1e-7)
    # the source ‖f′f‖ is ‖∇²L∇L‖: a Hessian–vector product with the gradient
    g = cs.generate_expressions(M, "g", list(cs.gradient(M)))(INST.weights, *INST.data())
    hv = sharpness.hvp_function(M)(INST.weights, *g, *INST.data())
    assert dense.source(INST.weights, INST.data()) == pytest.approx(math.sqrt(sum(np.sum(x ** 2) for x in hv)))
    kfac = CurvatureAlong(cs.rules.kfac().flow(cs.model(cs.chain([2, 2, 2]))), "lanczos")
    inst = conditioned_instance(cs.chain([2, 2, 2]), seed=4)
    with pytest.raises(cs.OptionError, match="symmetric"):
        kfac.lam_min(inst.weights, inst.data())
    with pytest.raises(cs.OptionError):
        CurvatureAlong(cs.gradient_flow(M), "qr")


def test_gd_tracks_gf_at_order_one_below_the_envelope_on_every_route():
    flow = cs.gradient_flow(M)
    etas = [1e-2, 5e-3, 2.5e-3]
    st = gap_study(flow, INST.weights, INST.data(), etas, 1.0, dps=30)
    assert abs(st.order_max.slope - 1) < 0.01 and all(abs(o.slope - 1) < 0.02 for o in st.orders[1:])
    assert st.envelope_ratio_limit() <= 1.0 and check_below_envelope(st).passed
    assert not check_below_envelope(st, scale=0.5).passed  # a bound half as large is violated
    assert "dense output" in st.reference
    double = gap_study(flow, INST.weights, INST.data(), etas, 1.0, dps=None, curvature=False)
    precise = gap_study(flow, INST.weights, INST.data(), etas, 1.0, dps=30, iterates="precise", max_points=10,
                        curvature=False)
    for a, b in zip(st.runs, double.runs):
        np.testing.assert_allclose(a.distance, b.distance, rtol=1e-8, atol=1e-14)
    for a, b in zip(precise.runs, st.runs):
        idx = [st.times.index(t) for t in precise.times]
        np.testing.assert_allclose(a.distance, [b.distance[j] for j in idx], rtol=1e-10, atol=1e-16)
    out = st.as_dict()
    assert out["order_max"]["order"] == pytest.approx(st.order_max.slope) and len(out["runs"]) == 3


def test_a_diverging_member_leaves_no_nan_and_is_excluded_from_the_orders():
    st = gap_study(cs.gradient_flow(M), INST.weights, INST.data(), [0.25, 0.5, 3.0], 30.0, dps=None,
                   max_points=20)
    bad = st.runs[-1]
    assert bad.status is cs.Status.DIVERGED and bad.divergence.step >= 1
    assert all(math.isfinite(x) for r in st.runs for x in r.distance)
    assert st.order_max is not None and st.order_max.etas == (0.25, 0.5)
    assert any(n.startswith("diverged") for n in st.notes)


def test_proposition_one_closed_forms_through_the_pipeline():
    m, x0 = 2.0, 0.5
    flow = ec.concave_rule(m).flow(cs.model(cs.chain([1, 1])))
    st = gap_study(flow, [np.array([[x0]])], [np.eye(1), np.zeros((1, 1))], [1e-3], 2.0, dps=30, max_points=20)
    run = st.runs[0]
    for t, dist, env in zip(run.t, run.distance, run.envelope):
        k = round(t / 1e-3)
        assert dist == pytest.approx(float(ec.concave_gap(m, x0, 1e-3, k)), rel=1e-7, abs=1e-300)  # float64 GD
        assert env == pytest.approx(ec.concave_first_order_gap(m, x0, 1e-3, t), rel=1e-5)
        assert dist <= env
    assert set(st.curvature.lam_min) == {-m}
    with pytest.raises(cs.OptionError):
        ec.concave_rule(-1.0)


def test_modified_equations_track_the_iterates_at_orders_one_two_three():
    net = cs.chain([1, 2, 1])
    m = cs.model(net)
    inst = random_instance(net, seed=2, scale=0.9)
    res = modified_equation_orders(cs.gradient_flow(m), inst.weights, inst.data(), [0.04, 0.02, 0.01], 0.2, dps=25)
    for r in (0, 1, 2):
        assert abs(res.orders[r].slope - (r + 1)) < 0.1, (r, res.orders[r])
    assert res.methods[2].startswith("Taylor")
    with pytest.raises(cs.OptionError, match="whole number"):
        modified_equation_orders(cs.gradient_flow(m), inst.weights, inst.data(), [0.03], 0.1, dps=20)


def test_modified_equations_of_k_fac_by_extrapolation():
    net = cs.chain([2, 2, 2])
    inst = conditioned_instance(net, seed=4)
    flow = cs.rules.kfac().flow(cs.model(net))
    res = modified_equation_orders(flow, inst.weights, inst.data(), [0.04, 0.02], 0.08, orders=(0, 1), dps=16)
    assert abs(res.orders[0].slope - 1) < 0.1 and abs(res.orders[1].slope - 2) < 0.1
    assert res.methods[1].startswith("GBS")


def test_distance_is_taken_in_the_arithmetic_of_its_arguments():
    a = [np.array([[1.0, 2.0]])]
    with mpmath.workdps(40):
        b = [np.array([[mpmath.mpf(1) + mpmath.mpf(10) ** -30, mpmath.mpf(2)]], dtype=object)]
        assert distance(a, b) == pytest.approx(1e-30, rel=1e-9)
    assert distance(a, [np.array([[4.0, 6.0]])]) == pytest.approx(5.0)
