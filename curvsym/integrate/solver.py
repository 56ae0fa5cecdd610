r"""Solvers and the one front door: :func:`integrate`.

A *solver* is what a user picks: a small class that **declares** what it can do, builds
its stepper (:mod:`curvsym.integrate.stepper`) from its options and hands it to the one
runner (:mod:`curvsym.integrate.runner`).  Its declarations (class attributes) —

=======================  ====================================================================
``arbitrary_precision``  runs at ``dps`` digits on a ``backend="mpmath"`` right-hand side
                         (otherwise: float64, and ``dps`` must be None)
``polynomial_only``      needs ``rhs.polynomial`` (a Taylor rule for every node)
``piecewise``            lands on every kink of a piecewise flow (ReLU); a piecewise flow is
                         refused by a solver that neither lands on kinks nor ``crosses_kinks``
``crosses_kinks``        steps across kinks without locating them (accepted, as in double
                         precision, where error control or a fixed step passes them)
``batched``              integrates B members at once: weights of shape (B, n_i, n_{i−1})
``adaptive``             chooses its own step sizes (informative: no rule below reads it)
``automatic``            may be chosen when no solver is given (False: needs a step size)
``priority``             rank among the solvers that accept a request (lower first)
=======================  ====================================================================

— are all the choice reads (:meth:`Solver.refusal` turns them into rules, each refusal an error
whose message names the solvers that would accept): :func:`choose` takes the first registered solver (by
``priority``) whose :meth:`Solver.refusal` is None.  The registered ones give the table

===================================  ==========================================================
request                              solver
===================================  ==========================================================
``dps=None``, one trajectory         ``dop853`` (:class:`~curvsym.integrate.dop853.DOP853Solver`)
``dps=None``, weights (B, n, m)      ``dopri5`` (:class:`~curvsym.integrate.ensemble.Dopri5Solver`)
``dps`` given, ``rhs.polynomial``    ``taylor`` (:class:`~curvsym.integrate.taylor.TaylorSolver`; lands on kinks)
``dps`` given, smooth, otherwise     ``gbs`` (:class:`~curvsym.integrate.extrapolation.GBSSolver`)
``dps`` given, piecewise, otherwise  refused (no solver that lands on kinks accepts it)
never automatic                      ``rk4`` (needs ``dt``), ``stepmap``, ``stepmap-mp`` (need ``eta``)
===================================  ==========================================================

A new solver is one subclass, registered with ``@solvers.register`` (or passed as an
object, ``integrate(..., solver=MySolver())``, without registering).  A float64
single-trajectory solver need only implement :meth:`Solver.stepper`: the default
:meth:`Solver.run` validates, flattens the layers and runs the stepper.
"""

from __future__ import annotations

import inspect
from abc import ABC
from typing import Any, Callable, ClassVar, Iterator

import numpy as np

from ..errors import CurvsymError, NotPolynomialError, OptionError, ShapeError, UnknownNameError
from ..types import Data, Params, State, Times, VectorField
from .runner import solve
from .state import check_finite_state, flatten, unflattener
from .stepper import AbstractStepper
from .trajectory import EnsembleTrajectory, Trajectory

__all__ = ["Solver", "SolverRegistry", "solvers", "choose", "integrate", "is_batched"]


def is_batched(weights: Any) -> bool:
    """Whether the weights carry a leading batch axis (layers of shape (B, n_i, n_{i−1}))."""
    try:
        first = weights[0]
    except (TypeError, IndexError, KeyError):
        return False
    ndim = getattr(first, "ndim", None)
    return (np.ndim(first) if ndim is None else ndim) == 3


class Solver(ABC):
    """A solver: declarations (see the module docstring), options, a stepper, a run through the one runner."""

    name: ClassVar[str] = "solver"
    arbitrary_precision: ClassVar[bool] = False
    polynomial_only: ClassVar[bool] = False
    piecewise: ClassVar[bool] = False
    crosses_kinks: ClassVar[bool] = False
    batched: ClassVar[bool] = False
    adaptive: ClassVar[bool] = True
    automatic: ClassVar[bool] = True
    priority: ClassVar[int] = 100
    max_steps: ClassVar[int] = 100_000          #: default of ``integrate(max_steps=None)``
    max_norm: ClassVar[float | None] = 1e30     #: default of ``integrate(max_norm=None)``; None: no bound

    @classmethod
    def refusal(cls, rhs: VectorField, *, dps: int | None, batched: bool) -> CurvsymError | None:
        """Why this solver cannot take the request (the error to raise), or None; read from the declarations."""
        name = cls.name
        if dps is not None and not cls.arbitrary_precision:
            return OptionError(f"{name} works in double precision: drop dps=, or choose a solver with arbitrary "
                               f"precision ({solvers.names(lambda c: c.arbitrary_precision)})")
        if dps is None and cls.arbitrary_precision:
            return OptionError(f"{name} runs at a number of digits: pass dps= (for example dps=30)")
        if cls.arbitrary_precision and rhs.backend != "mpmath":
            return OptionError(f"high-precision integration ({name}) needs a right-hand side generated with "
                               f"backend='mpmath', got {rhs.backend!r}")
        if cls.batched and rhs.backend == "mpmath":
            return OptionError(f"{name}: ensembles integrate in floating point; generate the flow with backend "
                               "'numpy' or 'array_api'")
        if batched and not cls.batched:
            return ShapeError(f"{name} integrates one trajectory, but the weights carry a batch axis (B, n, m); "
                              f"choose a batched solver ({solvers.names(lambda c: c.batched)})")
        if not batched and cls.batched:
            return ShapeError(f"{name} integrates ensembles: the weights need exactly one leading batch axis, "
                              "shape (B, n_i, n_{i-1})")
        if cls.polynomial_only and not rhs.polynomial:
            return NotPolynomialError(f"{name}: {rhs.name} is not a matrix polynomial (a node without a Taylor "
                                      f"rule); choose a solver that needs only evaluations "
                                      f"({solvers.names(lambda c: c.arbitrary_precision and not c.polynomial_only)})")
        if rhs.piecewise and not (cls.piecewise or cls.crosses_kinks):
            return OptionError(f"{rhs.name}: the right-hand side has kinks (ReLU / leaky ReLU); {name} assumes a "
                               "smooth flow and would step across them. Use a solver whose events land on every "
                               f"kink ({solvers.names(lambda c: c.piecewise)}; integrate() picks it)")
        return None

    def stepper(self) -> AbstractStepper:
        """The stepper of the default :meth:`run` (float64 solvers on one trajectory).

        Raises:
            OptionError: the solver defines neither this nor :meth:`run`.
        """
        raise OptionError(f"{self.name}: a solver defines stepper() or run()")

    def describe(self) -> str:
        """The ``method`` string of the result."""
        return self.name

    def error_estimate(self, sol: Any) -> Any:
        """The ``error_estimate`` of the result (default: the sum of the accepted local errors)."""
        return sol.error

    def run(self, rhs: VectorField, weights: State, data: Data, t_eval: Times, *, dps: int | None,
            params: Params, max_steps: int, max_norm: float | None, progress: bool | None,
            timeout: float | None, throw: bool) -> Trajectory | EnsembleTrajectory:
        """Float64, one trajectory: validate, flatten the layers into one vector, run :meth:`stepper`.

        Raises:
            OptionError: bad ``t_eval``.
            (and what the runner raises: DivergenceError, StepLimitError, IntegrationTimeout)
        """
        weights = tuple(np.asarray(w, dtype=float) for w in weights)
        data = tuple(np.asarray(d, dtype=float) for d in data)
        data = rhs.validate(weights, data, params)  # shapes, finiteness, symmetric Σx
        t_eval = np.asarray(t_eval, dtype=float)
        if t_eval.ndim != 1 or len(t_eval) < 1 or np.any(np.diff(t_eval) < 0) or not np.all(np.isfinite(t_eval)):
            raise OptionError("t_eval must be a non-empty, finite, non-decreasing 1-D sequence of times")
        split = unflattener([w.shape for w in weights])
        f = rhs.func

        def field(y):
            return np.concatenate([np.ravel(v) for v in f(*split(y), *data, **params, xp=np)])

        stepper = self.stepper()
        sol = solve(stepper, field, flatten(weights), [float(t) for t in t_eval], max_steps=max_steps,
                    max_norm=1e308 if max_norm is None else max_norm, progress=progress, desc=stepper.name,
                    timeout=timeout, throw=throw, zero=0.0)
        states = tuple(tuple(np.array(a) for a in split(y)) for y in sol.states)
        for s in states:
            check_finite_state(s, "integrated state")
        n_rhs = getattr(sol.state, "n_rhs", sol.n_steps)
        return Trajectory(sol.t, states, self.describe(), self.error_estimate(sol), None, n_steps=sol.n_steps,
                          n_rhs=n_rhs, status=sol.status, message=sol.message)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({opts})"


class SolverRegistry:
    """The registered solver classes by name: ``solvers["taylor"]``, ``solvers.taylor``, ``list(solvers)``."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Solver]] = {}

    def register(self, cls: type[Solver]) -> type[Solver]:
        """Register a solver class under ``cls.name`` (a decorator); the choice then considers it.

        Raises:
            OptionError: not a :class:`Solver` subclass, or its name is taken by another class.
        """
        if not (isinstance(cls, type) and issubclass(cls, Solver)):
            raise OptionError(f"solvers.register takes a Solver subclass, got {cls!r}")
        other = self._classes.get(cls.name)
        if other is not None and other is not cls:
            raise OptionError(f"a solver named {cls.name!r} is already registered ({other.__qualname__})")
        self._classes[cls.name] = cls
        return cls

    def unregister(self, cls: type[Solver]) -> None:
        """Remove ``cls`` (no error when it is not registered)."""
        if self._classes.get(cls.name) is cls:
            del self._classes[cls.name]

    def classes(self) -> list[type[Solver]]:
        """The registered classes, by ``priority`` (the order the choice tries them)."""
        return sorted(self._classes.values(), key=lambda c: c.priority)

    def names(self, where: Callable[[type[Solver]], bool] = lambda c: True) -> str:
        """The names of the registered classes that satisfy ``where``, comma-separated (for messages)."""
        return ", ".join(c.name for c in self.classes() if where(c)) or "none registered"

    def __getitem__(self, name: str) -> type[Solver]:
        """The class registered as ``name``.

        Raises:
            UnknownNameError: no solver of that name.
        """
        try:
            return self._classes[name.lower()]
        except (KeyError, AttributeError):
            raise UnknownNameError(f"unknown solver {name!r}; registered: {self.names()}") from None

    def __getattr__(self, name: str) -> type[Solver]:
        if name.startswith("_") or name not in self._classes:
            raise AttributeError(name)
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(c.name for c in self.classes())

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __len__(self) -> int:
        return len(self._classes)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._classes))

    def __repr__(self) -> str:
        return f"solvers({self.names()})"


solvers = SolverRegistry()
"""The registry the choice reads (the built-in solvers register themselves when ``curvsym.integrate`` loads)."""


def choose(rhs: VectorField, weights: Any = None, *, dps: int | None = None, batched: bool | None = None,
           among: Any = None) -> type[Solver]:
    """The solver class :func:`integrate` takes when none is given: the first automatic one that accepts.

    ``among``: the candidate classes (default: the registry), tried by ``priority``; ``batched``
    defaults to whether ``weights`` carry a batch axis.

    Raises:
        OptionError: no candidate accepts the request (the message lists each refusal).
    """
    batched = is_batched(weights) if batched is None else batched
    candidates = sorted(solvers.classes() if among is None else among, key=lambda c: c.priority)
    refusals = []
    for cls in candidates:
        if not cls.automatic:
            continue
        why = cls.refusal(rhs, dps=dps, batched=batched)
        if why is None:
            return cls
        refusals.append(f"{cls.name}: {why}")
    request = f"dps={dps}" + (", batched" if batched else "")
    raise OptionError(f"no solver accepts {rhs.name} ({request}) — " + "; ".join(refusals))


def _construct(cls: type[Solver], options: dict) -> Solver:
    try:
        inspect.signature(cls).bind(**options)
    except TypeError:
        params = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
        raise OptionError(f"{cls.name} takes the options {', '.join(params) or 'none'}; got "
                          f"{', '.join(sorted(options))}") from None
    return cls(**options)


def integrate(rhs: VectorField, weights: State, data: Data, t_eval: Times, *, solver: Solver | str | None = None,
              dps: int | None = None, throw: bool = True, timeout: float | None = None,
              params: Params | None = None, max_steps: int | None = None, max_norm: float | None = None,
              progress: bool | None = None, **options) -> Trajectory | EnsembleTrajectory:
    """The front door: integrate dW/dt = rhs(W, data) through every time in ``t_eval``.

    ``solver``: None — chosen from the declarations (:func:`choose`; the table in the module
    docstring: DOP853 in double precision, Taylor for a polynomial flow at ``dps`` digits, GBS
    otherwise, Dopri5 for weights with a batch axis); a name (``"taylor"``, ``"gbs"``, …) —
    that registered class; or a :class:`Solver` object.  ``options`` (``order=``, ``tol=``,
    ``rtol=``, ``engine=``, …) construct a chosen or named solver; a solver object carries its own.
    ``max_steps``/``max_norm`` None take the solver's defaults.  ``throw=False`` returns what
    was reached with a ``status`` and a message instead of raising (per member for ensembles,
    where no member's end ever raises); ``timeout`` is a wall-clock limit in seconds.

    A piecewise right-hand side (ReLU) gets the Taylor stepper at ``dps`` digits, which lands on
    every kink (``Trajectory.info["crossings"]``); in double precision DOP853's error control
    steps across kinks without locating them.

    Returns a :class:`~curvsym.integrate.trajectory.Trajectory`, or an
    :class:`~curvsym.integrate.trajectory.EnsembleTrajectory` for a batched solver.

    Raises:
        OptionError: no solver accepts the request, the given one refuses it (``dps`` for a
            right-hand side not generated for mpmath, a piecewise flow for a smooth-only solver, …),
            options beside a solver object, or options the solver does not take.
        NotPolynomialError: a polynomial-only solver was given a non-polynomial right-hand side.
        ShapeError: a batched solver without a batch axis, or the reverse.
        UnknownNameError: an unknown solver name.
        (and whatever the run raises: DivergenceError, StepLimitError, IntegrationTimeout, PrecisionError, …)
    """
    batched = is_batched(weights)
    if isinstance(solver, Solver):
        if options:
            raise OptionError(f"options {', '.join(sorted(options))} go to the solver object "
                              f"(for example {type(solver).__name__}(...)), not to integrate()")
    else:
        if solver is None:
            cls = choose(rhs, dps=dps, batched=batched)
        elif isinstance(solver, str):
            cls = solvers[solver]
        elif isinstance(solver, type) and issubclass(solver, Solver):
            cls = solver
        else:
            raise OptionError(f"solver must be None, a name or a Solver object, got {solver!r}")
        solver = _construct(cls, options)
    why = solver.refusal(rhs, dps=dps, batched=batched)
    if why is not None:
        raise why
    return solver.run(rhs, weights, data, t_eval, dps=dps, params=params or {},
                      max_steps=type(solver).max_steps if max_steps is None else max_steps,
                      max_norm=type(solver).max_norm if max_norm is None else max_norm,
                      progress=progress, timeout=timeout, throw=throw)
