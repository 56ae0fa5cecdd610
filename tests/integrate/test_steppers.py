"""Every stepper's order, measured: the slope of log(error) against log(h) at fixed step sizes.

The problem is the single-layer flow dW/dt = −(W − T)Σx, whose solution is
W(t) = T + (W0 − T) expm(−Σx t); one list of drivers covers ``STEPPERS``, so a
stepper added without an order test fails here.
"""

import mpmath
import numpy as np
import pytest
from curvsym.problems import random_instance
from scipy.linalg import expm

import curvsym as cs
from curvsym.integrate import (
    DOP853,
    GBS,
    RK4,
    STEPPERS,
    Dopri5,
    IteratedMap,
    PreciseStepMap,
    StepMap,
    SweepStepMap,
    Taylor,
    solve,
)
from curvsym.integrate.runner import all_finite
from curvsym.integrate.series_engines import make_engine
from curvsym.integrate.ensemble import solve_batched
from curvsym.integrate.tape import trace_polynomial

NET = cs.chain([2, 2])
INST = random_instance(NET, seed=5, scale=0.7)
S, T = INST.Sigma, INST.T
W0 = INST.weights[0]
T_END = 1.0
EXACT = T + (W0 - T) @ expm(-S * T_END)


def _flow(backend):
    return cs.generate_flow(cs.gradient_flow(cs.model(NET)), backend)


def _error_mp(traj_final, dps):
    with mpmath.workdps(dps + 10):
        Sm = mpmath.matrix(S.tolist())
        exact = mpmath.matrix(T.tolist()) + (mpmath.matrix(W0.tolist()) - mpmath.matrix(T.tolist())) * \
            mpmath.expm(-Sm * T_END)
        return float(max(abs(traj_final[0][i, j] - exact[i, j]) for i in range(2) for j in range(2)))


def _taylor(h):
    dps = 30
    rhs = _flow("mpmath")
    with mpmath.workdps(dps + 10):
        eng = make_engine("mpmath", dps + 10)
        y0 = cs.to_mp([W0], dps + 10)
        data = rhs.validate(y0, cs.to_mp([S, T], dps + 10))
        st = Taylor(trace_polynomial(rhs, data), eng, 3, mpmath.mpf("1e-30"), dps + 10, step_size=h)
        sol = solve(st, None, st.load(y0), [mpmath.mpf(0), mpmath.mpf(T_END)], zero=mpmath.mpf(0))
        return _error_mp(sol.states[-1], dps)


def _gbs(h):
    dps = 30
    rhs = _flow("mpmath")
    with mpmath.workdps(dps + 10):
        y0 = cs.to_mp([W0], dps + 10)
        data = rhs.validate(y0, cs.to_mp([S, T], dps + 10))
        field = lambda y: rhs.raw(*y, *data)
        sol = solve(GBS(2, mpmath.mpf("1e-30"), dps + 10, step_size=h), field, y0,
                    [mpmath.mpf(0), mpmath.mpf(T_END)], zero=mpmath.mpf(0))
        return _error_mp(sol.states[-1], dps)


def _dop853(h):
    rhs = _flow("numpy")
    field = lambda y: rhs.raw(y.reshape(2, 2), S, T)[0].ravel()
    sol = solve(DOP853(step_size=h), field, W0.ravel(), [0.0, T_END], zero=0.0)
    return float(np.max(np.abs(sol.states[-1].reshape(2, 2) - EXACT)))


def _batched(stepper):
    rhs = _flow("numpy")
    field = lambda y: rhs.raw(*y, S, T)
    traj = solve_batched(stepper, field, (W0[None].copy(),), [0.0, T_END], np, 1)
    return float(np.max(np.abs(traj.final[0][0] - EXACT)))


def _step_map(h):
    rhs = _flow("numpy")
    field = lambda y: rhs.raw(*y, S, T)
    n = round(T_END / h)
    traj = solve_batched(StepMap(h), field, (W0[None].copy(),), [0, n], np, 1)
    return float(np.max(np.abs(traj.final[0][0] - EXACT)))


def _iterated_map(h):
    """Φ(W) = W + h·(−∇L): the step map given as the new state, iterated in checked blocks."""
    rhs = _flow("numpy")
    field = lambda y, k: tuple(a + h * v for a, v in zip(y, rhs.raw(*y, S, T)))
    n = round(T_END / h)
    traj = solve_batched(IteratedMap(all_finite, 16), field, (W0[None].copy(),), [0.0, float(n)], np, 1)
    assert traj.n_steps == n
    return float(np.max(np.abs(traj.final[0][0] - EXACT)))


def _sweep_step_map(h):
    rhs = _flow("numpy")
    field = lambda y: rhs.raw(*y, S, T)
    traj = solve_batched(SweepStepMap([h]), field, (W0[None].copy(),), [0.0, T_END], np, 1)
    return float(np.max(np.abs(traj.final[0][0] - EXACT)))


def _precise_step_map(h):
    dps = 30
    rhs = _flow("mpmath")
    with mpmath.workdps(dps + 10):
        y0 = cs.to_mp([W0], dps + 10)
        data = rhs.validate(y0, cs.to_mp([S, T], dps + 10))
        n = round(T_END / h)
        sol = solve(PreciseStepMap(mpmath.mpf(h)), lambda y: rhs.raw(*y, *data), y0, [mpmath.mpf(0), mpmath.mpf(n)],
                    zero=mpmath.mpf(0))
        return _error_mp(sol.states[-1], dps)


DRIVERS = {  # stepper class: (error for step h, step sizes, expected order)
    Taylor: (_taylor, (0.25, 0.125, 0.0625), 3),
    GBS: (_gbs, (0.5, 0.25, 0.125), 4),
    DOP853: (_dop853, (0.5, 0.25, 0.125), 8),
    RK4: (lambda h: _batched(RK4(h)), (0.1, 0.05, 0.025), 4),
    Dopri5: (lambda h: _batched(Dopri5(step_size=h)), (0.2, 0.1, 0.05), 5),
    StepMap: (_step_map, (0.02, 0.01, 0.005), 1),
    IteratedMap: (_iterated_map, (0.02, 0.01, 0.005), 1),
    SweepStepMap: (_sweep_step_map, (0.02, 0.01, 0.005), 1),
    PreciseStepMap: (_precise_step_map, (0.02, 0.01, 0.005), 1),
}


@pytest.mark.parametrize("cls", STEPPERS, ids=lambda c: c.__name__)
def test_measured_order(cls):
    assert cls in DRIVERS, f"{cls.__name__} has no order test"
    error, hs, order = DRIVERS[cls]
    errs = [error(h) for h in hs]
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.35, (cls.__name__, slope, errs)


def test_capabilities_choose_the_stepper():
    """integrate() picks Taylor for polynomial flows and GBS otherwise (no exception-driven fallback)."""
    m = cs.model(cs.chain([2, 2, 2]))
    gd = cs.generate_flow(cs.gradient_flow(m), "mpmath")
    ngd = cs.generate_flow(cs.rules.natural_gradient().flow(m), "mpmath")
    assert gd.polynomial and not ngd.polynomial
    assert Taylor.polynomial_only and not GBS.polynomial_only and RK4.batched and not DOP853.batched
    inst = random_instance(cs.chain([2, 2, 2]), seed=1)
    assert cs.integrate(gd, inst.weights, inst.data(), [0, 0.1], dps=20).method.startswith("Taylor")
    assert cs.integrate(ngd, inst.weights, inst.data(), [0, 0.1], dps=20).method.startswith("GBS")
