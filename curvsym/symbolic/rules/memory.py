r"""Rules with memory: momentum and adaptive methods as augmented first-order systems (``docs/mathematics.md`` §10).

A rule with memory carries auxiliary state next to the weights — a velocity V_e per
trainable array for heavy ball and Nesterov, moment estimates M_e, S_e for RMSProp and
Adam (and, for Adam's bias correction, the powers P_e = β^k as entrywise matrices).  It
declares that state as extra matrix symbols, one per array and slot, of the array's
shape, and gives each its own velocity.  Its flow is then an ordinary
:class:`~curvsym.symbolic.derive.Flow` on the *state model* (the model whose ``weights``
are the trainable arrays followed by the auxiliary state), so code generation,
the integrators, the step maps and the ensembles take it with no special case.

Discrete steps.  Every rule here writes its optimiser step, exactly, as one explicit
Euler step of step h of an *increment field* F_h(y) = (Φ_h(y) − y)/h that is smooth in h
(polynomial for heavy ball and Nesterov; through ρ and 1/x for the adaptive rules and Nesterov 3/t):

    y_{k+1} = y_k + h F_h(y_k),        F_0 = the continuous limit (the rule's flow).

:meth:`MemoryRule.step_flow` is F_h as a Flow with the keyword ``eta`` = h, so
``iterate_precise``/``ensemble.iterate`` with ``params={"eta": h}`` run the optimiser
itself; :meth:`MemoryRule.flow` is F_0.  The optimisers' constants map to the rates of
the limit (the scaling of Kovachki & Stuart 2021 and Barakat & Bianchi 2021):

=================  ============================================  ===================================
rule               discrete step (g = ∇L(W_k))                    limit F_0  (β = 1 − γh etc.)
=================  ============================================  ===================================
heavy ball         V' = βV − h g,  W' = W + hV'                    Ẇ = V,  V̇ = −γV − ∇L
                   (Polyak: lr η = h², β = 1 − γh)                 (ẍ + γẋ = −∇L)
Nesterov           V' = βV − h ∇L(W + hβV),  W' = W + hV'          the same ODE (low resolution)
Nesterov 3/t       β = (T − h)/(T + 2h), T' = T + h (time slot)     Ẍ + (3/t)Ẋ + ∇L = 0 (Ṫ = 1)
RMSProp            S' = β₂S + (1−β₂) g⊙g,  W' = W − h g⊙ρ(S')      Ṡ = b(g⊙g − S),  Ẇ = −g⊙ρ(S)
Adam               M' = β₁M + (1−β₁)g,  S' as above,               Ṁ = a(g − M),  Ṡ = b(g⊙g − S),
                   W' = W − h M̂'⊙ρ(Ŝ')                             Ẇ = −M̂⊙ρ(Ŝ)
=================  ============================================  ===================================

with ρ(s) = 1/(√s + ε) entrywise (:class:`~curvsym.symbolic.entrywise.InvRoot`),
β₁ = 1 − ah, β₂ = 1 − bh, lr = h, and M̂ = M ⊘ (1 − P₁), Ŝ = S ⊘ (1 − P₂),
P₁ = P, P₂ = Q the powers β₁^k, β₂^k (slots P, Q; P_i' = β_iP_i, P_i(0) = 1) with bias correction, M̂ = M, Ŝ = S without.
:func:`from_betas` converts an optimiser's (lr, β) into these rates, refusing
β outside [0, 1).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix

from ...errors import OptionError, ShapeError
from ..derive import Flow
from ..scale_nodes import InvRoot, Reciprocal
from ..step_maps import ETA
from .base import AbstractRule, free_symbols, number

__all__ = ["MemoryRule", "HeavyBall", "Nesterov", "NesterovConvex", "RMSProp", "Adam", "heavy_ball", "nesterov", "rmsprop", "adam",
           "from_betas", "check_beta", "check_eps", "check_rate", "state_model", "aux_name", "initial_state", "split_state",
           "MEMORY_RULES", "STEP_COUNT"]

STEP_COUNT = sp.Symbol("k", integer=True, nonnegative=True)
"""k, the number of steps taken before the current one: the step map of bias-corrected Adam reads β^{k+1} from it."""


# --------------------------------------------------------------------------- parameter checks

def check_beta(beta: Any, name: str = "β") -> sp.Expr:
    """A momentum / averaging constant β ∈ [0, 1) (or a symbol).

    Raises:
        OptionError: a numeric β outside [0, 1).
    """
    b = number(beta)
    if b.is_number and not (0 <= b < 1):
        raise OptionError(f"{name} must lie in [0, 1), got {b}")
    return b


def check_eps(eps: Any) -> sp.Expr:
    """ε > 0 of RMSProp / Adam (or a symbol).

    Raises:
        OptionError: a numeric ε ≤ 0.
    """
    e = number(eps)
    if e.is_number and not e > 0:
        raise OptionError(f"ε must be > 0 (it keeps 1/(√s + ε) finite), got {e}")
    return e


def check_rate(rate: Any, name: str) -> sp.Expr:
    """A damping / averaging rate ≥ 0 of a continuous limit (or a symbol).

    Raises:
        OptionError: a negative numeric rate.
    """
    r = number(rate)
    if r.is_number and r < 0:
        raise OptionError(f"the rate {name} must be ≥ 0, got {r}")
    return r


def _h(h: Any) -> sp.Expr:
    return sp.Integer(0) if h == 0 else h


def _plus(x: MatrixExpr, c: sp.Expr, y: MatrixExpr) -> MatrixExpr:
    """x + c·y, with c = 0 dropped (the h → 0 limit stays free of h)."""
    if c == 0:
        return x
    return MatAdd(x, _scale(c, y), evaluate=False)


def _scale(c: sp.Expr, y: MatrixExpr) -> MatrixExpr:
    """c·y with the scalar factors merged (c·(a·X) is (ca)·X: one array operation, not two)."""
    if c == 1:
        return y
    if isinstance(y, MatMul):
        coeff, mats = y.as_coeff_matrices()
        if coeff != 1:
            return MatMul(c * coeff, *mats, evaluate=False)
    return MatMul(c, y, evaluate=False)


# --------------------------------------------------------------------------- state

def state_model(m: Any, auxiliary: tuple) -> Any:
    """The model whose ``weights`` are ``m``'s trainable arrays followed by ``auxiliary`` (the flow's state)."""
    return replace(m, weights=(*m.weights, *auxiliary))


def aux_name(prefix: str, weight: str) -> str:
    """The name of a slot's matrix for one trainable array: V_1 for W_1, V_b_1 for a bias b_1."""
    return prefix + weight[1:] if weight.startswith("W_") else f"{prefix}_{weight}"


def _auxiliary(m: Any, prefix: str) -> tuple[MatrixSymbol, ...]:
    return tuple(MatrixSymbol(aux_name(prefix, w.name), *w.shape) for w in m.weights)


class MemoryRule(AbstractRule):
    """A rule with auxiliary state (see the module docstring).

    Subclasses set ``slots`` — (prefix, what) per auxiliary matrix kept for every trainable
    array, in state order — ``initial`` (the optimiser's initial value of each slot: 0 or 1
    entrywise) and implement :meth:`increments`.
    """

    slots: ClassVar[tuple[tuple[str, str], ...]] = ()
    initial: ClassVar[tuple[int, ...]] = ()
    supports_nonlinear = True

    def auxiliary(self, m: Any) -> tuple[tuple[MatrixSymbol, ...], ...]:
        """The auxiliary symbols: one tuple per slot, one matrix per trainable array (its shape)."""
        return tuple(_auxiliary(m, prefix) for prefix, _ in self.slots)

    def state_model(self, m: Any) -> Any:
        """``m`` with the auxiliary state appended to its ``weights``."""
        return state_model(m, tuple(s for slot in self.auxiliary(m) for s in slot))

    @abstractmethod
    def increments(self, m: Any, h: Any) -> tuple[MatrixExpr, ...]:
        """F_h for the whole state (trainable arrays, then slot by slot): the step is y + h F_h(y)."""

    def velocities(self, m: Any) -> tuple:
        """The continuous limit F_0 (the flow of the augmented state)."""
        return self.increments(m, 0)

    def flow(self, m: Any) -> Flow:
        """The continuous limit as a :class:`Flow` on the state model."""
        return Flow(self.state_model(m), tuple(self.velocities(m)), self.name, tuple(self.parameters))

    def step_flow(self, m: Any, eta: sp.Symbol = ETA) -> Flow:
        """F_h with h = ``eta``: one explicit Euler step of it, of step η, is one step of the optimiser."""
        params = tuple(dict.fromkeys((*self.parameters, eta)))
        return Flow(self.state_model(m), tuple(self.increments(m, eta)), f"{self.name}, discrete steps", params)

    # ----------------------------------------------------------------------- the step map Φ_h

    @property
    def map_slots(self) -> tuple[tuple[str, str], ...]:
        """The slots the step map Φ_h carries (all of them, unless a slot is a function of the step count k)."""
        return self.slots

    def map_model(self, m: Any) -> Any:
        """``m`` with the auxiliary state of the step map (the slots of :attr:`map_slots`) appended to ``weights``."""
        keep = {p for p, _ in self.map_slots}
        slots = (s for (prefix, _), s in zip(self.slots, self.auxiliary(m)) if prefix in keep)
        return state_model(m, tuple(x for slot in slots for x in slot))

    def map_values(self, m: Any, h: Any) -> tuple[MatrixExpr, ...]:
        """Φ_h(y), the state after one step, component by component (state order of :meth:`map_model`).

        By default y + hF_h(y), written with the very subexpressions F_h is built from, so that the
        generated code forms each new slot value (M' = M + hF_M, V' = V + hF_V) once and reuses it in
        the weights' update.  Subclasses may write Φ_h in fewer operations; it stays equal to y + hF_h(y).
        """
        state = self.state_model(m).weights
        return tuple(_plus(y, h, f) for y, f in zip(state, self.increments(m, h)))

    def step_map(self, m: Any, eta: sp.Symbol = ETA) -> Flow:
        r"""The step map Φ_h(y) = y + hF_h(y) itself, h = ``eta``: one optimiser step, as a :class:`Flow`.

        Its "velocities" are the new state (not a rate): iterate it with
        :func:`curvsym.integrate.ensemble.iterate_map` (y_{k+1} = Φ_h(y_k)), never with an integrator.
        A map that reads the step count k (:data:`STEP_COUNT`, bias-corrected Adam) lists it among its
        parameters; the map solver passes it.
        """
        h = ETA if eta is None else eta
        values = tuple(self.map_values(m, h))
        uses_k = any(STEP_COUNT in v.free_symbols for v in values)
        params = tuple(dict.fromkeys((*self.parameters, h, *((STEP_COUNT,) if uses_k else ()))))
        return Flow(self.map_model(m), values, f"{self.name}, step map", params)


def initial_state(rule: MemoryRule, m: Any, weights: Any, *, step_map: bool = False, **aux: Any) -> tuple:
    """The full initial state: the trainable arrays, then each slot (the optimiser's default: 0, or 1 for P).

    ``aux`` gives a slot by its prefix (``V=[...]``, one array per trainable array).  ``step_map=True``:
    the state of :meth:`MemoryRule.step_map` (the slots of ``rule.map_slots``; Adam's powers P = β₁^k,
    Q = β₂^k are then read from the step count k and are not state).

    Raises:
        ShapeError: not one array per trainable array, or a state array whose shape does not match its parameter.
        OptionError: a keyword that is not a slot of the rule.
    """
    weights = tuple(np.asarray(w) for w in weights)
    if len(weights) != len(m.weights):
        raise ShapeError(f"{rule.name}: expected {len(m.weights)} trainable arrays, got {len(weights)}")
    slots = rule.map_slots if step_map else rule.slots
    prefixes = [p for p, _ in slots]
    unknown = sorted(set(aux) - set(prefixes))
    if unknown:
        raise OptionError(f"{rule.name}: no state slot {unknown[0]!r}; its slots are {', '.join(prefixes)}")
    out = list(weights)
    for (prefix, what), fill in zip(rule.slots, rule.initial):
        if prefix not in prefixes:
            continue
        given = aux.get(prefix)
        if given is None:
            out.extend(np.full(w.shape, float(fill), dtype=w.dtype if w.dtype != object else float)
                       for w in weights)
            continue
        given = tuple(np.asarray(a) for a in given)
        if len(given) != len(weights):
            raise ShapeError(f"{rule.name}: state {prefix} ({what}) needs one array per trainable array "
                             f"({len(weights)}), got {len(given)}")
        for w, s, a in zip(m.weights, weights, given):
            if a.shape != s.shape:
                raise ShapeError(f"{rule.name}: state {aux_name(prefix, w.name)} ({what}) has shape {a.shape}, but its "
                                 f"parameter {w.name} has shape {s.shape}")
        out.extend(given)
    return tuple(out)


def split_state(rule: MemoryRule, m: Any, state: Any, *, step_map: bool = False) -> dict:
    """``{"W": trainable arrays, prefix: arrays of that slot, …}`` from a full state (``step_map=True``: a state
    of the step map, the slots of ``rule.map_slots``)."""
    n = len(m.weights)
    state = tuple(state)
    out = {"W": state[:n]}
    for j, (prefix, _) in enumerate(rule.map_slots if step_map else rule.slots):
        out[prefix] = state[n * (j + 1): n * (j + 2)]
    return out


# --------------------------------------------------------------------------- momentum

def _symbol(value: Any, name: str) -> sp.Expr:
    return sp.Symbol(name, nonnegative=True) if value is None else value


@dataclass(frozen=True)
class HeavyBall(MemoryRule):
    r"""Polyak's heavy ball: V' = βV + h f(W), W' = W + hV' (lr h², β = 1 − γh); limit ẍ + γẋ = f(x).

    f is the velocity of a memoryless ``base`` rule: −∇L (gradient descent, the default), or the
    natural gradient / K-FAC direction for their momentum versions.
    """

    gamma: Any = None
    base: Any = None

    key = "heavy-ball"
    title = "heavy ball"
    formula = r"\dot W_e = V_e,\quad \dot V_e = -\gamma V_e - \nabla_{W_e} L"
    text = "dW_e/dt = V_e,  dV_e/dt = −γV_e − ∇_{W_e}L   (steps: V' = (1−γh)V − h∇L, W' = W + hV')"
    references = ("Polyak, USSR Comput. Math. 1964", "Kovachki & Stuart, JMLR 2021",
                  "Ghosh, Lyu, Zhang & Chen, ICLR 2023")
    slots = (("V", "velocity"),)
    initial = (0,)

    def __post_init__(self):
        object.__setattr__(self, "gamma", check_rate(_symbol(self.gamma, "gamma"), "γ"))
        if self.base is not None and (not isinstance(self.base, AbstractRule) or isinstance(self.base, MemoryRule)):
            raise OptionError(f"the base of a momentum rule must be a memoryless rule (gd, ngd, kfac, …), "
                              f"got {self.base!r}")

    @property
    def supports_nonlinear(self) -> bool:  # type: ignore[override]
        return self.base is None or self.base.supports_nonlinear

    @property
    def name(self) -> str:
        on = "" if self.base is None else f" on {self.base.name}"
        return f"{self.title} γ={self.gamma}{on}"

    @property
    def parameters(self) -> tuple:
        base = () if self.base is None else tuple(self.base.parameters)
        return tuple(dict.fromkeys((*free_symbols(self.gamma), *base)))

    def _force(self, m: Any) -> tuple:
        """f(W): −∇L, or the base rule's velocity."""
        if self.base is None:
            return tuple(MatMul(-1, g, evaluate=False) for g in m.gradient())
        return tuple(self.base.velocities(m))

    def _force_at(self, m: Any, V: tuple, h: sp.Expr) -> tuple:
        return self._force(m)

    def increments(self, m: Any, h: Any) -> tuple:
        h = _h(h)
        (V,) = self.auxiliary(m)
        f = self._force_at(m, V, h)
        FV = tuple(MatAdd(_scale(-self.gamma, v), fk, evaluate=False) for v, fk in zip(V, f))
        FW = tuple(_plus(v, h, fv) for v, fv in zip(V, FV))
        return (*FW, *FV)

    def map_values(self, m: Any, h: Any) -> tuple:
        """V' = βV + h f(W), W' = W + hV' (β = 1 − γh): three array operations for V', two for W'."""
        (V,) = self.auxiliary(m)
        f = self._force_at(m, V, h)
        beta = 1 - self.gamma * h
        V1 = tuple(MatAdd(_scale(beta, v), _scale(h, fk), evaluate=False) for v, fk in zip(V, f))
        return (*(_plus(w, h, v1) for w, v1 in zip(m.weights, V1)), *V1)


@dataclass(frozen=True)
class Nesterov(HeavyBall):
    r"""Nesterov's accelerated gradient (constant momentum, Sutskever's form): the force at W + hβV."""

    key = "nesterov"
    title = "Nesterov"
    formula = r"\dot W_e = V_e,\quad \dot V_e = -\gamma V_e - \nabla_{W_e} L \quad(\text{steps: }\nabla L(W + h\beta V))"
    text = "V' = (1−γh)V − h∇L(W + h(1−γh)V),  W' = W + hV';  limit dW/dt = V, dV/dt = −γV − ∇L"
    references = ("Nesterov, Soviet Math. Dokl. 1983", "Sutskever, Martens, Dahl & Hinton, ICML 2013",
                  "Su, Boyd & Candès, NeurIPS 2014 / JMLR 2016")

    def _force_at(self, m: Any, V: tuple, h: sp.Expr) -> tuple:
        f = self._force(m)
        if h == 0:
            return f
        beta = 1 - self.gamma * h
        look = {w: _plus(w, h * beta, v) for w, v in zip(m.weights, V)}
        return tuple(fk.xreplace(look) for fk in f)


@dataclass(frozen=True)
class NesterovConvex(MemoryRule):
    r"""Nesterov's scheme with momentum (k−1)/(k+2) (Su, Boyd & Candès): a time slot T = kh makes it autonomous.

    Steps (lr s = h²): β = (T − h)/(T + 2h) entrywise, V' = βV − h∇L(W + hβ⊙V), W' = W + hV', T' = T + h;
    limit Ẇ = V, V̇ = −3V ⊘ T − ∇L, Ṫ = 1, i.e. Ẍ + (3/t)Ẋ + ∇L = 0.
    """

    key = "nesterov-3t"
    title = "Nesterov (k−1)/(k+2)"
    formula = r"\dot W_e = V_e,\quad \dot V_e = -\tfrac{3}{t} V_e - \nabla_{W_e} L"
    text = "Ẍ + (3/t)Ẋ + ∇L = 0  (steps: x_k = y_{k−1} − s∇L(y_{k−1}), y_k = x_k + ((k−1)/(k+2))(x_k − x_{k−1}))"
    references = ("Nesterov, Soviet Math. Dokl. 1983", "Su, Boyd & Candès, NeurIPS 2014 / JMLR 2016")
    slots = (("V", "velocity"), ("T", "time t = kh, entrywise"))
    initial = (0, 0)

    def increments(self, m: Any, h: Any) -> tuple:
        h = _h(h)
        V, T = self.auxiliary(m)
        f = tuple(MatMul(-1, g, evaluate=False) for g in m.gradient())
        ones = [OneMatrix(*t.shape) for t in T]
        if h != 0:
            beta = [HadamardProduct(_plus(t, -h, o), Reciprocal(_plus(t, 2 * h, o), 0)) for t, o in zip(T, ones)]
            look = {w: _plus(w, h, HadamardProduct(b, v)) for w, b, v in zip(m.weights, beta, V)}
            f = tuple(fk.xreplace(look) for fk in f)
        FV = tuple(MatAdd(MatMul(-3, HadamardProduct(v, Reciprocal(_plus(t, 2 * h, o), 0)), evaluate=False), fk,
                          evaluate=False) for v, t, o, fk in zip(V, T, ones, f))
        FW = tuple(_plus(v, h, fv) for v, fv in zip(V, FV))
        return (*FW, *FV, *ones)


# --------------------------------------------------------------------------- adaptive

def _square(g: MatrixExpr) -> MatrixExpr:
    return HadamardProduct(g, g)


def _moment(x: MatrixExpr, rate: sp.Expr, target: MatrixExpr) -> MatrixExpr:
    """rate·(target − x): the velocity of an exponential moving average."""
    return _scale(rate, MatAdd(target, MatMul(-1, x, evaluate=False), evaluate=False))


@dataclass(frozen=True)
class RMSProp(MemoryRule):
    r"""RMSProp: S' = β₂S + (1 − β₂)g⊙g, W' = W − h g⊙ρ(S'); limit Ṡ = b(g⊙g − S), Ẇ = −g⊙ρ(S)."""

    b: Any = None
    eps: Any = sp.Rational(1, 10 ** 8)

    key = "rmsprop"
    title = "RMSProp"
    formula = r"\dot S_e = b(g_e\odot g_e - S_e),\quad \dot W_e = -g_e \oslash (\sqrt{S_e} + \varepsilon)"
    text = "dS_e/dt = b(g⊙g − S_e),  dW_e/dt = −g ⊘ (√S_e + ε)   (g = ∇_{W_e}L; steps: β₂ = 1 − bh, lr h)"
    references = ("Tieleman & Hinton, COURSERA lecture 6.5, 2012", "Barakat & Bianchi, SIAM J. Optim. 2021")
    slots = (("S", "second moment"),)
    initial = (0,)

    def __post_init__(self):
        object.__setattr__(self, "b", check_rate(_symbol(self.b, "b"), "b"))
        object.__setattr__(self, "eps", check_eps(self.eps))

    @property
    def name(self) -> str:
        return f"{self.title} b={self.b}, ε={self.eps}"

    @property
    def parameters(self) -> tuple:
        return free_symbols(self.b, self.eps)

    def increments(self, m: Any, h: Any) -> tuple:
        h = _h(h)
        (S,) = self.auxiliary(m)
        g = m.gradient()
        FS = tuple(_moment(s, self.b, _square(gk)) for s, gk in zip(S, g))
        FW = tuple(MatMul(-1, HadamardProduct(gk, InvRoot(_plus(s, h, fs), 0, self.eps)), evaluate=False)
                   for gk, s, fs in zip(g, S, FS))
        return (*FW, *FS)


@dataclass(frozen=True)
class Adam(MemoryRule):
    r"""Adam (Kingma & Ba): moments M, S; with bias correction, the powers P₁ = β₁^k, P₂ = β₂^k entrywise."""

    a: Any = None
    b: Any = None
    eps: Any = sp.Rational(1, 10 ** 8)
    bias_correction: bool = True

    title = "Adam"
    formula = (r"\dot M_e = a(g_e - M_e),\ \dot S_e = b(g_e\odot g_e - S_e),\ "
               r"\dot W_e = -\hat M_e \oslash (\sqrt{\hat S_e} + \varepsilon)")
    text = ("dM/dt = a(g − M), dS/dt = b(g⊙g − S), dW/dt = −M̂ ⊘ (√Ŝ + ε); M̂ = M ⊘ (1 − P₁), Ŝ = S ⊘ (1 − P₂), "
            "dP₁/dt = −aP₁, dP₂/dt = −bP₂ (bias correction; β₁ = 1 − ah, β₂ = 1 − bh, lr h)")
    references = ("Kingma & Ba, ICLR 2015", "Barakat & Bianchi, SIAM J. Optim. 2021",
                  "Malladi, Lyu, Panigrahi & Arora, NeurIPS 2022", "Cattaneo, Klusowski & Shigida, ICML 2024")
    variants = {"adam": {}, "adam-nobc": {"bias_correction": False}}

    def __post_init__(self):
        object.__setattr__(self, "a", check_rate(_symbol(self.a, "a"), "a"))
        object.__setattr__(self, "b", check_rate(_symbol(self.b, "b"), "b"))
        object.__setattr__(self, "eps", check_eps(self.eps))
        if not isinstance(self.bias_correction, bool):
            raise OptionError(f"bias_correction must be True or False, got {self.bias_correction!r}")

    @property
    def key(self) -> str:  # type: ignore[override]
        return "adam" if self.bias_correction else "adam-nobc"

    @property
    def slots(self) -> tuple:  # type: ignore[override]
        base = (("M", "first moment"), ("S", "second moment"))
        return base + ((("P", "β₁^k"), ("Q", "β₂^k")) if self.bias_correction else ())

    @property
    def initial(self) -> tuple:  # type: ignore[override]
        return (0, 0, 1, 1) if self.bias_correction else (0, 0)

    @property
    def map_slots(self) -> tuple:  # type: ignore[override]
        """M and S: the step map reads the powers β₁^{k+1}, β₂^{k+1} from the step count k."""
        return (("M", "first moment"), ("S", "second moment"))

    def map_values(self, m: Any, h: Any) -> tuple:
        r"""M' = M + ha(g − M), S' = S + hb(g⊙g − S), W' = W − h (c₁M') ⊙ ρ(c₂S');

        c₁ = 1/(1 − β₁^{k+1}), c₂ = 1/(1 − β₂^{k+1}) scalars of the step count k (β₁ = 1 − ah, β₂ = 1 − bh:
        the powers P', Q' of the Euler form after this step), c₁ = c₂ = 1 without bias correction.
        """
        if not self.bias_correction:
            return super().map_values(m, h)
        M, S = self.auxiliary(m)[:2]
        g = m.gradient()
        M1 = tuple(_plus(x, h, _moment(x, self.a, gk)) for x, gk in zip(M, g))
        S1 = tuple(_plus(s, h, _moment(s, self.b, _square(gk))) for s, gk in zip(S, g))
        c1 = 1 / (1 - (1 - self.a * h) ** (STEP_COUNT + 1))
        c2 = 1 / (1 - (1 - self.b * h) ** (STEP_COUNT + 1))
        W1 = tuple(_plus(w, -h, HadamardProduct(_scale(c1, x), InvRoot(_scale(c2, s), 0, self.eps)))
                   for w, x, s in zip(m.weights, M1, S1))
        return (*W1, *M1, *S1)

    @property
    def name(self) -> str:
        bc = "" if self.bias_correction else ", no bias correction"
        return f"{self.title} a={self.a}, b={self.b}, ε={self.eps}{bc}"

    @property
    def parameters(self) -> tuple:
        return free_symbols(self.a, self.b, self.eps)

    def increments(self, m: Any, h: Any) -> tuple:
        h = _h(h)
        aux = self.auxiliary(m)
        M, S = aux[0], aux[1]
        g = m.gradient()
        FM = tuple(_moment(x, self.a, gk) for x, gk in zip(M, g))
        FS = tuple(_moment(s, self.b, _square(gk)) for s, gk in zip(S, g))
        M1 = [_plus(x, h, f) for x, f in zip(M, FM)]
        S1 = [_plus(s, h, f) for s, f in zip(S, FS)]
        extra: tuple = ()
        if self.bias_correction:
            P1, P2 = aux[2], aux[3]  # P = β₁^k, Q = β₂^k
            FP1 = tuple(_scale(-self.a, p) for p in P1)
            FP2 = tuple(_scale(-self.b, p) for p in P2)

            def corrected(x, p, rate):
                after = p if h == 0 else MatMul(1 - rate * h, p, evaluate=False)  # P' = βP, one operation
                one_minus = MatAdd(OneMatrix(*p.shape), MatMul(-1, after, evaluate=False), evaluate=False)
                return HadamardProduct(x, Reciprocal(one_minus, 0))
            M1 = [corrected(x, p, self.a) for x, p in zip(M1, P1)]
            S1 = [corrected(s, p, self.b) for s, p in zip(S1, P2)]
            extra = (*FP1, *FP2)
        FW = tuple(MatMul(-1, HadamardProduct(x, InvRoot(s, 0, self.eps)), evaluate=False) for x, s in zip(M1, S1))
        return (*FW, *FM, *FS, *extra)


# --------------------------------------------------------------------------- factories

def heavy_ball(gamma: Any = None, base: AbstractRule | None = None) -> HeavyBall:
    """Heavy ball with damping γ (a symbol ``gamma`` when None) on gradient descent or a ``base`` rule
    (``base=rules.kfac()``: momentum K-FAC); see :class:`HeavyBall`.

    Raises:
        OptionError: a negative γ, or a base that is not a memoryless rule.
    """
    return HeavyBall(gamma, base)


def nesterov(gamma: Any = None, base: AbstractRule | None = None) -> Nesterov:
    """Nesterov's accelerated gradient with constant momentum β = 1 − γh (on gradient descent or ``base``);
    see :class:`Nesterov`.

    Raises:
        OptionError: a negative γ, or a base that is not a memoryless rule.
    """
    return Nesterov(gamma, base)


def rmsprop(b: Any = None, eps: Any = sp.Rational(1, 10 ** 8)) -> RMSProp:
    """RMSProp with averaging rate b (β₂ = 1 − bh) and ε; see :class:`RMSProp`.

    Raises:
        OptionError: a negative b or ε ≤ 0.
    """
    return RMSProp(b, eps)


def adam(a: Any = None, b: Any = None, eps: Any = sp.Rational(1, 10 ** 8), bias_correction: bool = True) -> Adam:
    """Adam with rates a, b (β₁ = 1 − ah, β₂ = 1 − bh), ε, with or without bias correction; see :class:`Adam`.

    Raises:
        OptionError: a negative rate, ε ≤ 0, or a bias_correction that is not a bool.
    """
    return Adam(a, b, eps, bias_correction)


def from_betas(rule: str, lr: float, beta: float | None = None, beta1: float | None = None,
               beta2: float | None = None) -> dict:
    """An optimiser's (lr, β…) as the step h and the rates of the limit: the ``params`` of generated code.

    ``heavy-ball``/``nesterov``: h = √lr, γ = (1 − β)/h.  ``rmsprop``: h = lr, b = (1 − β₂)/h.
    ``adam``: h = lr, a = (1 − β₁)/h, b = (1 − β₂)/h.  Returns ``{"eta": h, …rates}``.

    Raises:
        OptionError: lr not positive, a β outside [0, 1) or missing, or an unknown rule.
    """
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr <= 0:
        raise OptionError(f"the learning rate must be a finite positive number, got {lr!r}")

    def beta_of(x, name):
        if x is None:
            raise OptionError(f"{rule}: {name} is required")
        check_beta(x, name)
        return float(x)

    if rule in ("heavy-ball", "nesterov"):
        h = float(np.sqrt(lr))
        return {"eta": h, "gamma": (1 - beta_of(beta, "β")) / h}
    if rule == "rmsprop":
        return {"eta": float(lr), "b": (1 - beta_of(beta2 if beta2 is not None else beta, "β₂")) / lr}
    if rule in ("adam", "adam-nobc"):
        return {"eta": float(lr), "a": (1 - beta_of(beta1, "β₁")) / lr, "b": (1 - beta_of(beta2, "β₂")) / lr}
    raise OptionError(f"from_betas knows heavy-ball, nesterov, rmsprop, adam, adam-nobc; got {rule!r}")


MEMORY_RULES: tuple[type[MemoryRule], ...] = (HeavyBall, Nesterov, NesterovConvex, RMSProp, Adam)
"""The built-in rules with memory, in the order ``curvsym rules`` lists them."""
