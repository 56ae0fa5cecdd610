"""Integration of generated flows: one front door, solvers that declare capabilities, one runner.

``integrate(rhs, weights, data, t_eval, *, solver=None | name | object, dps=None, throw=True,
timeout=None, …)`` is the front door (``cs.integrate``).  With no solver it reads the
declarations of the registered :class:`Solver` classes (:data:`solvers`; see
:mod:`~curvsym.integrate.solver` for the declarations and the choice table): DOP853 for
``dps=None``, Taylor for a polynomial flow at ``dps`` digits, GBS otherwise (a piecewise
non-polynomial flow is refused), Dopri5 for weights with a batch axis.  Every solver runs
its stepper through the one runner, single or batched, with the same
:class:`Status` values for ``throw=False``.  ``integrate_double``, ``integrate_taylor``,
``integrate_extrapolation`` and ``ensemble.rk4``/``dopri5``/``iterate``/``iterate_map`` are thin aliases of the
front door.

====================  =================================================================
module                holds
====================  =================================================================
``solver``            :class:`Solver` (declarations, refusal, run), the registry :data:`solvers`,
                      :func:`choose`, the front door :func:`integrate`
``stepper``           :class:`AbstractStepper` (order, init, step), :class:`Step`, :class:`Status`
``runner``            :func:`solve` / :func:`solve_batched`: output times, divergence, step limits,
                      timeouts, progress, per-member statuses; :func:`status_of`
``dop853``            :class:`DOP853` stepper, :class:`DOP853Solver` (``dop853``), ``integrate_double``
``taylor``            :class:`Taylor` stepper (polynomial flows, any digits, lands on kinks),
                      :class:`TaylorSolver` (``taylor``), ``integrate_taylor``
``extrapolation``     :class:`GBS` stepper (any smooth flow, any digits), :class:`GBSSolver` (``gbs``),
                      ``integrate_extrapolation``
``explicit``          batched array-API steppers: :class:`RK4`, :class:`Dopri5`, :class:`StepMap`,
                      :class:`IteratedMap` (y ← Φ(y; k) in checked blocks)
``ensemble``          batched solvers ``dopri5``, ``rk4``, ``stepmap``, ``map`` and their aliases ``dopri5``,
                      ``rk4``, ``iterate``, ``iterate_map``
``iteration``         step maps of any rule: η sweeps in float64 (``iterate_sweep``, a driver of the
                      batched runner), iterates at any digits (:class:`PreciseStepMapSolver`,
                      ``stepmap-mp``; ``iterate_precise`` its alias)
``optimizers``        stochastic optimisers as batched steppers: ``SGDM``, ``Adam``, ``optimize``
``tape``              the tape of operations and their Taylor-coefficient rules
``taylor_rules``      Taylor rules registered per kernel name
``elementwise``       the activations' Taylor rules (tape operations), registered under their kernels' names
``series_engines``    arbitrary-precision arithmetic for the tape (python-flint, mpmath), ``make_engine``
``multiword_taylor``  the multi-word Taylor engine (stacked Cauchy products on BLAS)
``events``            kink crossings of piecewise flows: certified roots of Taylor series
``filippov``          Filippov sliding modes of one-hidden-layer ReLU-family flows (Taylor, 30–100 digits),
                      ``gd_path`` for the GD limit
``state``             conversions (float ↔ mpf), norms, tolerances
``progress``          the progress bar over simulated time
``budget``            the digits a run may ask for (:data:`MAX_DPS`) and a wall-clock budget from the call
``trajectory``        :class:`Trajectory`, :class:`EnsembleTrajectory`
====================  =================================================================
"""

from __future__ import annotations

import sys
import types

from ..errors import NotPolynomialError
from . import elementwise  # noqa: F401  (registers the Taylor rules of the activation kernels)
from .dop853 import DOP853, DOP853Solver, integrate_double
from .ensemble import Dopri5Solver, MapSolver, RK4Solver, StepMapSolver
from .explicit import RK4, Dopri5, IteratedMap, StepMap
from .extrapolation import GBS, GBSSolver, integrate_extrapolation
from .iteration import Divergence, PreciseStepMap, PreciseStepMapSolver, SweepStepMap, iterate_precise, iterate_sweep
from .runner import Solution, solve, solve_batched, status_of
from .solver import Solver, SolverRegistry, choose, integrate, solvers
from .state import to_float, to_mp
from .stepper import AbstractStepper, Status, Step
from .tape import taylor_coefficients, trace_polynomial
from .taylor import Taylor, TaylorSolver, integrate_taylor
from .trajectory import EnsembleTrajectory, Trajectory

__all__ = ["integrate", "integrate_double", "integrate_extrapolation", "integrate_taylor", "taylor_coefficients",
           "trace_polynomial", "NotPolynomialError", "Trajectory", "to_mp", "to_float", "AbstractStepper", "Step",
           "Status", "Solution", "solve", "Taylor", "GBS", "DOP853", "RK4", "Dopri5", "StepMap", "IteratedMap", "STEPPERS",
           "SweepStepMap", "PreciseStepMap", "Divergence", "iterate_sweep", "iterate_precise", "Solver",
           "SolverRegistry", "solvers", "choose", "SOLVERS", "DOP853Solver", "TaylorSolver", "GBSSolver",
           "Dopri5Solver", "RK4Solver", "StepMapSolver", "MapSolver", "PreciseStepMapSolver", "EnsembleTrajectory", "solve_batched",
           "status_of"]

STEPPERS: tuple[type[AbstractStepper], ...] = (Taylor, GBS, DOP853, RK4, Dopri5, StepMap, IteratedMap, SweepStepMap,
                                                PreciseStepMap)
"""Every stepper class (the order tests run over this list)."""

SOLVERS: tuple[type[Solver], ...] = (DOP853Solver, TaylorSolver, GBSSolver, Dopri5Solver, RK4Solver, StepMapSolver,
                                     MapSolver, PreciseStepMapSolver)
"""Every built-in solver class (all registered in :data:`solvers`)."""


class _CallablePackage(types.ModuleType):
    """``curvsym.integrate`` is both this package and the front door: calling it calls :func:`integrate`.

    (``import curvsym.integrate.taylor`` binds the package as ``curvsym.integrate``, so the
    package itself must be callable for ``cs.integrate(...)`` to keep working.)
    """

    def __call__(self, *args, **kwargs) -> Trajectory:
        return integrate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
