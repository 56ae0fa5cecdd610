"""One front door, one runner (issue 23): the choice reads the solvers' declarations; batched runs keep the
single runner's rules per member (statuses, step limits, timeouts; no raise for one member with throw=False)."""

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
import sympy as sp
from curvsym.derive import Flow
from curvsym.problems import random_instance
from scipy.linalg import expm

import curvsym as cs
from curvsym import ensemble
from curvsym.integrate import (
    AbstractStepper,
    DOP853Solver,
    Dopri5Solver,
    GBSSolver,
    RK4Solver,
    Solver,
    Status,
    Step,
    StepMapSolver,
    TaylorSolver,
    choose,
    iterate_precise,
    solvers,
)

NET = cs.chain([2, 2])
INST = random_instance(NET, seed=5, scale=0.7)
S, T = INST.Sigma, INST.T
W0 = INST.weights[0]


def _exact(t):
    return T + (W0 - T) @ expm(-S * t)


def _gd(backend="numpy"):
    return cs.generate_flow(cs.gradient_flow(cs.model(NET)), backend)


def _ngd(backend="numpy"):
    return cs.generate_flow(cs.rules.natural_gradient().flow(cs.model(cs.chain([2, 2, 2]))), backend)


def _blowup():
    """dw/dt = w²: w(t) = w0/(1 − w0 t), which blows up at t = 1/w0."""
    m = cs.model(cs.chain([1, 1]), whitened=True)
    W = m.weights[0]
    return cs.generate_flow(Flow(m, (sp.MatMul(W, W),), "w' = w^2"))


# --------------------------------------------------------------------------- a solver declared here

class _HeunStepper(AbstractStepper):
    """Heun's method (explicit trapezoid), order 2, fixed step ``dt``."""

    name: ClassVar[str] = "Heun"
    adaptive: ClassVar[bool] = False

    def __init__(self, dt):
        self.dt = dt

    @property
    def order(self):
        return 2

    def step(self, field, t, y, t_max, state):
        h = min(self.dt, t_max - t)
        k1 = field(y)
        k2 = field(y + h * k1)
        return Step(t_max if h == t_max - t else t + h, y + (h / 2) * (k1 + k2), 0.0, True, state)


class Heun(Solver):
    """Declares a float64, one-trajectory, fixed-step solver that (for this test) only takes polynomial flows
    and ranks before DOP853; the base class's run() does the rest."""

    name: ClassVar[str] = "heun-test"
    polynomial_only: ClassVar[bool] = True
    adaptive: ClassVar[bool] = False
    priority: ClassVar[int] = -1

    def __init__(self, dt=0.01):
        self.dt = dt

    def stepper(self):
        return _HeunStepper(self.dt)


@pytest.fixture
def heun_registered():
    solvers.register(Heun)
    try:
        yield
    finally:
        solvers.unregister(Heun)
    assert "heun-test" not in solvers


def test_a_new_solver_is_chosen_and_refused_by_its_declarations(heun_registered):
    gd, ngd = _gd(), _ngd()
    assert choose(gd, dps=None) is Heun           # polynomial, float64: it ranks first
    assert choose(ngd, dps=None) is DOP853Solver  # refused (polynomial_only): the next in rank
    assert choose(_gd("mpmath"), dps=20) is TaylorSolver  # not arbitrary precision: refused at dps=20
    traj = cs.integrate(gd, [W0], [S, T], [0, 0.5, 1])  # no solver given: the registered declaration wins
    assert traj.method == "heun-test" and traj.n_steps == 100
    assert np.max(np.abs(traj.final[0] - _exact(1.0))) < 1e-4
    inst = random_instance(cs.chain([2, 2, 2]), seed=1)
    assert cs.integrate(ngd, inst.weights, inst.data(), [0, 0.1]).method.startswith("DOP853")


def test_a_solver_object_runs_through_the_front_door_and_the_runner():
    gd = _gd()
    errs = [np.max(np.abs(cs.integrate(gd, [W0], [S, T], [0, 1], solver=Heun(dt)).final[0] - _exact(1.0)))
            for dt in (0.02, 0.01)]
    assert 3.7 < errs[0] / errs[1] < 4.3  # order 2, measured
    assert "heun-test" not in solvers  # an object needs no registration
    with pytest.raises(cs.NotPolynomialError, match="heun-test"):
        cs.integrate(_ngd(), [W0, W0], [S, T], [0, 1], solver=Heun())
    with pytest.raises(cs.OptionError, match="double precision"):
        cs.integrate(_gd("mpmath"), [W0], [S, T], [0, 1], dps=30, solver=Heun())
    with pytest.raises(cs.StepLimitError, match="raise max_steps"):
        cs.integrate(gd, [W0], [S, T], [0, 1], solver=Heun(0.01), max_steps=10)
    traj = cs.integrate(gd, [W0], [S, T], [0, 0.05, 1], solver=Heun(0.01), max_steps=10, throw=False)
    assert traj.status is Status.STEP_LIMIT and "raise max_steps" in traj.message and traj.t == (0.0, 0.05)


def _stub(backend="mpmath", polynomial=True, piecewise=False):
    return SimpleNamespace(name="stub", backend=backend, polynomial=polynomial, piecewise=piecewise)


@pytest.mark.parametrize("rhs,dps,batched,expected", [
    (_stub("numpy"), None, False, DOP853Solver),
    (_stub("numpy", piecewise=True), None, False, DOP853Solver),  # double precision steps across kinks
    (_stub("numpy"), None, True, Dopri5Solver),
    (_stub(), 30, False, TaylorSolver),
    (_stub(piecewise=True), 30, False, TaylorSolver),  # lands on kinks
    (_stub(polynomial=False), 30, False, GBSSolver),
])
def test_the_choice_table(rhs, dps, batched, expected):
    assert choose(rhs, dps=dps, batched=batched) is expected


def test_the_choice_refuses_what_no_declaration_accepts():
    with pytest.raises(cs.OptionError, match="kinks") as info:
        choose(_stub(polynomial=False, piecewise=True), dps=30)  # Taylor needs a polynomial, GBS a smooth flow
    assert "taylor:" in str(info.value) and "gbs:" in str(info.value)
    with pytest.raises(cs.OptionError, match="backend='mpmath'"):
        choose(_stub("numpy"), dps=30)
    with pytest.raises(cs.OptionError, match="no solver"):
        choose(_stub(), dps=30, batched=True)  # ensembles are float64 only
    assert not RK4Solver.automatic and not StepMapSolver.automatic  # they need a step size


def test_names_options_and_errors_of_the_front_door():
    gd = _gd("mpmath")
    a = cs.integrate(gd, [W0], [S, T], [0, 0.5], dps=20, solver="gbs", columns=6)
    b = cs.integrate(gd, [W0], [S, T], [0, 0.5], dps=20, solver=GBSSolver(columns=6))
    assert a.method == b.method and a.method.startswith("GBS") and a.final[0][0, 0] == b.final[0][0, 0]
    assert cs.integrate(gd, [W0], [S, T], [0, 0.5], dps=20, order=12).info["order"] == 12  # options to the choice
    with pytest.raises(cs.UnknownNameError, match="registered: dop853"):
        cs.integrate(gd, [W0], [S, T], [0, 1], dps=20, solver="euler")
    with pytest.raises(cs.OptionError, match="go to the solver object"):
        cs.integrate(gd, [W0], [S, T], [0, 1], dps=20, solver=TaylorSolver(), order=12)
    with pytest.raises(cs.OptionError, match="takes the options"):
        cs.integrate(gd, [W0], [S, T], [0, 1], dps=20, solver="gbs", order=12)
    with pytest.raises(cs.ShapeError, match="batch axis"):
        cs.integrate(_gd(), [W0], [S, T], [0, 1], solver=Dopri5Solver())


# --------------------------------------------------------------------------- one runner, per member

W_BLOW = [np.array([[[0.5]], [[2.0]], [[0.25]]])]  # member 1 blows up at t = 1/2
DATA_BLOW = [np.array([[0.0]])]


def test_a_diverging_member_gets_its_status_and_the_others_finish():
    rhs = _blowup()
    traj = cs.integrate(rhs, W_BLOW, DATA_BLOW, [0, 0.25, 1], throw=False)  # chosen: Dopri5, per member
    assert traj.method.startswith("Dormand–Prince")
    assert traj.status == (Status.SUCCESS, Status.DIVERGED, Status.SUCCESS)
    assert traj.ok == (True, False, True) and traj.messages[0] == "" and "member 1" in traj.messages[1]
    assert abs(traj.t_stopped[1] - 0.5) < 1e-6 and traj.t_stopped[0] is None and "blow up" in traj.messages[1]
    w = traj.final[0][:, 0, 0]
    assert np.all(np.isfinite(w))  # member 1 is frozen at its last finite state
    np.testing.assert_allclose(w[[0, 2]], [0.5 / (1 - 0.5), 0.25 / (1 - 0.25)], rtol=1e-7)
    np.testing.assert_allclose(traj.states[1][0][1, 0, 0], 2.0 / (1 - 0.5), rtol=1e-7)  # t = 0.25 was reached
    with pytest.raises(cs.DivergenceError):
        cs.integrate(rhs, W_BLOW, DATA_BLOW, [0, 0.25, 1])


def test_a_step_limited_member_gets_its_status_and_the_others_finish():
    rhs = _blowup()
    W = [np.array([[[0.1]], [[1.99]]])]  # member 1 nears its blow-up at 0.5025: many more steps
    alone = [ensemble.dopri5(rhs, [W[0][b:b + 1]], DATA_BLOW, [0, 0.5]) for b in range(2)]
    steps = [a.n_steps for a in alone]
    assert steps[0] < steps[1]
    limit = (steps[0] + steps[1]) // 2
    traj = ensemble.dopri5(rhs, W, DATA_BLOW, [0, 0.5], max_steps=limit, throw=False)
    assert traj.status == (Status.SUCCESS, Status.STEP_LIMIT) and "raise max_steps" in traj.messages[1]
    assert traj.final[0][0, 0, 0] == alone[0].final[0][0, 0, 0]  # the same steps as alone, to the bit
    assert np.isfinite(traj.final[0][1, 0, 0]) and traj.t_stopped[1] < 0.5
    with pytest.raises(cs.StepLimitError, match="more than"):
        ensemble.dopri5(rhs, W, DATA_BLOW, [0, 0.5], max_steps=limit)


def test_max_norm_bounds_each_member():
    traj = cs.integrate(_blowup(), W_BLOW, DATA_BLOW, [0, 0.25, 1], solver=RK4Solver(0.01), max_norm=10.0,
                        throw=False)
    assert traj.status == (Status.SUCCESS, Status.DIVERGED, Status.SUCCESS) and "10" in traj.messages[1]
    assert traj.final[0][1, 0, 0] <= 10.0


def test_a_timeout_stops_an_ensemble_with_statuses_or_raises():
    m = cs.model(cs.deep_chain(2, 2))
    rhs = cs.generate_flow(cs.gradient_flow(m))
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((3, 2, 2)) * 0.3 for _ in range(2)]
    data = [np.eye(2), rng.standard_normal((2, 2))]
    n = 10 ** 8  # hours of steps: only the timeout ends it
    start = time.perf_counter()
    traj = ensemble.iterate(rhs, W, data, eta=1e-3, n_steps=n, record_every=n // 4, timeout=0.3)
    assert time.perf_counter() - start < 30
    assert traj.status == (Status.TIMEOUT,) * 3 and all("raise timeout" in msg for msg in traj.messages)
    assert all(0 < t < n for t in traj.t_stopped) and all(np.all(np.isfinite(w)) for w in traj.final)
    with pytest.raises(cs.IntegrationTimeout, match="timeout"):
        cs.integrate(rhs, W, data, [0, 1e6], solver=Dopri5Solver(), timeout=0.3)
    traj = cs.integrate(rhs, W, data, [0, 1e6], solver=Dopri5Solver(), timeout=0.3, throw=False)
    assert traj.status == (Status.TIMEOUT,) * 3


def test_throw_false_gives_the_same_statuses_single_and_batched():
    rhs = _blowup()
    single = cs.integrate(rhs, [np.array([[2.0]])], DATA_BLOW, [0, 0.25, 1], throw=False)
    batched = cs.integrate(rhs, W_BLOW, DATA_BLOW, [0, 0.25, 1], throw=False)
    assert single.status is batched.status[1] is Status.DIVERGED


def test_the_new_names_are_lazy():
    code = ("import sys, curvsym as cs; assert 'curvsym.integrate' not in sys.modules; registry = cs.solvers; "
            "assert 'curvsym.integrate' in sys.modules; "
            "assert issubclass(registry['taylor'], cs.Solver) and callable(cs.choose) and cs.EnsembleTrajectory")
    root = str(Path(cs.__file__).parent.parent)
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": root})


def test_step_maps_are_solvers_too():
    rmp = _gd("mpmath")
    a = cs.integrate(rmp, [W0], [S, T], [0, 2, 5], dps=20, solver="stepmap-mp", eta=0.1)
    assert not solvers["stepmap-mp"].automatic  # never chosen: the map needs η
    ref = iterate_precise(rmp, [W0], [S, T], 0.1, [0, 2, 5], dps=20)
    assert a.info["steps"] == ref.info["steps"] == (0, 2, 5) and a.final[0][1, 1] == ref.final[0][1, 1]
    x = W0.copy()
    for _ in range(5):
        x = x - 0.1 * (x - T) @ S  # GD on the one-layer flow dW/dt = −(W − T)Σx
    assert abs(float(a.final[0][0, 0]) - x[0, 0]) < 1e-14
    batched = cs.integrate(_gd(), [W0[None]], [S, T], [0, 2, 5], solver=StepMapSolver(0.1))
    assert abs(batched.final[0][0, 0, 0] - x[0, 0]) < 1e-14
