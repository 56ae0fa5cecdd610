r"""Taylor coefficients of polynomial matrix flows: a tape of operations, each with its own rule.

For a polynomial right-hand side f the Taylor coefficients of the solution,
x(t0 + h) = Σ_k x_k h^k, follow from the recurrences

    x_{k+1} = [f(x)]_k / (k + 1),
    [a + b]_k = a_k + b_k,   [c a]_k = c a_k,   [aᵀ]_k = (a_k)ᵀ,   [a + c1]_k = a_k + c·[k = 0],
    [a b]_k  = Σ_{j=0}^{k} a_j b_{k−j}                      (Cauchy product),
    [a ⊙ b]_k = Σ_{j=0}^{k} a_j ⊙ b_{k−j}                  (entrywise Cauchy product).

:func:`trace_polynomial` runs the *generated* right-hand side once on
:class:`Tracer` objects and records its operations on a :class:`Tape`; each
operation is a :class:`TapeOp` subclass that knows its own coefficient rule
(:meth:`TapeOp.coefficient`), so :func:`taylor_coefficients` dispatches by method
and a new operation (an activation's Taylor rule, say) is one class.  A kernel
that generated code calls contributes the operation registered for its name in
:mod:`curvsym.integrate.taylor_rules` (the activations' rules are in
:mod:`curvsym.integrate.elementwise`); a kernel without one is refused as not polynomial.

*Switches.*  A piecewise-linear activation (ReLU) is linear inside a *region*:
σ(z) = M ⊙ z with a constant mask M (1 where z > 0, 0 or α elsewhere).  Its
operation is a switch (``TapeOp.switch``): :func:`taylor_expansion` takes the
region — a mask per switch argument (``Tape.switches``) — and returns the one it
used (masks it was not given are read off the signs of the argument at the
expansion point).  The Taylor stepper keeps the region and moves it across a
kink only where it lands on one (an *event*, :mod:`curvsym.integrate.taylor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import mpmath
import numpy as np

from ..errors import NotPolynomialError
from ..kernels import HELPERS, KERNELS
from ..types import VectorField
from .taylor_rules import TAYLOR_RULES

__all__ = ["TapeOp", "Var", "Const", "Add", "Sub", "Neg", "Scale", "Shift", "MatMul", "Hadamard", "Transpose",
           "Tape", "Tracer", "Expansion", "trace_polynomial", "taylor_expansion", "taylor_coefficients", "horner",
           "square_coefficient"]


# --------------------------------------------------------------------------- operations

@dataclass(frozen=True)
class TapeOp:
    """One recorded operation: ``args`` are tape indices of its operands.

    ``coefficient(k, coef, engine)`` returns the k-th Taylor coefficient of the
    op's value from the coefficient lists ``coef`` of the earlier ops (an entry
    past a list's end, or ``None``, is an exact zero).  ``bind`` is called once
    per expansion and is asked for coefficients k = 0, 1, 2, … in order, so a
    rule may keep auxiliary series in its closure.  A *switch* op (``switch =
    True``) is piecewise linear in ``args[0]`` and binds as ``bind(engine,
    region)`` (see the module docstring).
    """

    args: tuple
    kind: ClassVar[str] = "op"
    switch: ClassVar[bool] = False

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def bind(self, engine: Any) -> Callable:
        """``(k, coef) ↦ coefficient`` with whatever can be precomputed for ``engine`` done once."""
        return lambda k, coef: self.coefficient(k, coef, engine)


def _get(a: list, k: int):
    return a[k] if k < len(a) else None


@dataclass(frozen=True)
class Var(TapeOp):
    """Layer ``args[0]`` of the state: its coefficients come from the recurrence x_{k+1} = [f]_k/(k+1)."""

    kind: ClassVar[str] = "var"


@dataclass(frozen=True)
class Const(TapeOp):
    """A data array (Σx, T, …): only a 0-th coefficient."""

    value: Any = None
    kind: ClassVar[str] = "const"


@dataclass(frozen=True)
class Add(TapeOp):
    kind: ClassVar[str] = "add"

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:
        a, b = _get(coef[self.args[0]], k), _get(coef[self.args[1]], k)
        return a if b is None else (b if a is None else a + b)


@dataclass(frozen=True)
class Sub(TapeOp):
    kind: ClassVar[str] = "sub"

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:
        a, b = _get(coef[self.args[0]], k), _get(coef[self.args[1]], k)
        if b is None:
            return a
        return -b if a is None else a - b


@dataclass(frozen=True)
class Neg(TapeOp):
    kind: ClassVar[str] = "neg"

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:
        a = _get(coef[self.args[0]], k)
        return None if a is None else -a


@dataclass(frozen=True)
class Scale(TapeOp):
    """c · a for a scalar c (``value``)."""

    value: Any = None
    kind: ClassVar[str] = "scale"

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:
        return self.bind(engine)(k, coef)

    def bind(self, engine: Any) -> Callable:
        c, i = engine.scalar(self.value), self.args[0]

        def rule(k, coef):
            a = _get(coef[i], k)
            return None if a is None else c * a
        return rule


@dataclass(frozen=True)
class Shift(TapeOp):
    """a + c·1 entrywise for a scalar c (``value``): only the 0-th coefficient moves."""

    value: Any = None
    kind: ClassVar[str] = "shift"

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:
        return self.bind(engine)(k, coef)

    def bind(self, engine: Any) -> Callable:
        c, i = engine.scalar(self.value), self.args[0]

        def rule(k, coef):
            a = _get(coef[i], k)
            if k:
                return a
            return a + c * engine.load(np.ones(engine.shape(a), dtype=object))
        return rule


@dataclass(frozen=True)
class Hadamard(TapeOp):
    """a ⊙ b: the entrywise Cauchy product [a ⊙ b]_k = Σ_j a_j ⊙ b_{k−j}."""

    kind: ClassVar[str] = "hadamard"

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:
        a, b = coef[self.args[0]], coef[self.args[1]]
        if self.args[0] == self.args[1]:
            return square_coefficient(a, k, engine)
        return engine.hadamard_sum(cauchy_pairs(a, b, k))


def cauchy_pairs(a: list, b: list, k: int, start: int = 0) -> list:
    """The pairs (a_j, b_{k−j}), j = start … k, with both present (None entries are exact zeros)."""
    out = []
    for j in range(start, k + 1):
        aj, bj = _get(a, j), _get(b, k - j)
        if aj is not None and bj is not None:
            out.append((aj, bj))
    return out


def square_coefficient(a: list, k: int, engine: Any) -> Any:
    """[a ⊙ a]_k = 2 Σ_{j < k/2} a_j ⊙ a_{k−j} + [k even] a_{k/2} ⊙ a_{k/2} (half the products of the Cauchy sum)."""
    acc = engine.hadamard_sum([(a[j], a[k - j]) for j in range(0, (k + 1) // 2)
                                if _get(a, j) is not None and _get(a, k - j) is not None])
    if acc is not None:
        acc = acc * engine.scalar(2)
    if k % 2 == 0:
        h = _get(a, k // 2)
        if h is not None:
            p = engine.hadamard(h, h)
            acc = p if acc is None else acc + p
    return acc


@dataclass(frozen=True)
class MatMul(TapeOp):
    """a b: the Cauchy product [ab]_k = Σ_j a_j b_{k−j}."""

    kind: ClassVar[str] = "matmul"

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:
        a, b = coef[self.args[0]], coef[self.args[1]]
        acc = None
        mid = engine.midpoint
        for j in range(0, k + 1):
            aj, bj = _get(a, j), _get(b, k - j)
            if aj is not None and bj is not None:
                p = mid(engine.matmul(aj, bj))
                acc = p if acc is None else mid(acc + p)
        return acc


@dataclass(frozen=True)
class Transpose(TapeOp):
    kind: ClassVar[str] = "T"

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:
        a = _get(coef[self.args[0]], k)
        return None if a is None else engine.transpose(a)


_MATRIX_POLYNOMIAL = frozenset({"var", "const", "add", "sub", "neg", "scale", "matmul", "T"})


# --------------------------------------------------------------------------- tracing

@dataclass(frozen=True)
class Tape:
    ops: tuple
    outputs: tuple  # tape index of each velocity
    n_vars: int

    @property
    def n_products(self) -> int:
        return sum(isinstance(op, MatMul) for op in self.ops)

    @property
    def matrix_polynomial(self) -> bool:
        """Only matrix-polynomial ops (no elementwise products, activations or switches): what the
        compiled multi-word engine evaluates."""
        return all(op.kind in _MATRIX_POLYNOMIAL for op in self.ops)

    @property
    def switches(self) -> tuple[int, ...]:
        """Tape indices of the arguments of switch ops (the pre-activations of ReLU layers), in tape order."""
        out: list[int] = []
        for op in self.ops:
            if op.switch and op.args[0] not in out:
                out.append(op.args[0])
        return tuple(out)


class Tracer:
    """Records array operations on a shared tape (a list of :class:`TapeOp`)."""

    __array_ufunc__ = None  # make NumPy defer to our reflected operators
    dtype = object

    def __init__(self, tape: list, index: int):
        self.tape, self.index = tape, index

    def record(self, op: TapeOp) -> "Tracer":
        self.tape.append(op)
        return Tracer(self.tape, len(self.tape) - 1)

    def _lift(self, other) -> int:
        if isinstance(other, Tracer):
            return other.index
        if isinstance(other, np.ndarray):
            self.tape.append(Const((), other))
            return len(self.tape) - 1
        raise NotPolynomialError(f"cannot trace a matrix operation with {type(other).__name__}")

    @staticmethod
    def _is_scalar(o) -> bool:
        return isinstance(o, (int, float, mpmath.mpf)) and not isinstance(o, bool)

    def __add__(self, o):
        if self._is_scalar(o):
            return self.record(Shift((self.index,), o))
        return self.record(Add((self.index, self._lift(o))))

    __radd__ = __add__

    def __sub__(self, o):
        if self._is_scalar(o):
            return self.record(Shift((self.index,), -o))
        return self.record(Sub((self.index, self._lift(o))))

    def __rsub__(self, o):
        if self._is_scalar(o):
            negated = -self
            return negated.record(Shift((negated.index,), o))
        return self.record(Sub((self._lift(o), self.index)))

    def __neg__(self):
        return self.record(Neg((self.index,)))

    def __mul__(self, c):
        if isinstance(c, (Tracer, np.ndarray)):
            return self.record(Hadamard((self.index, self._lift(c))))
        return self.record(Scale((self.index,), c))

    __rmul__ = __mul__

    def __matmul__(self, o):
        return self.record(MatMul((self.index, self._lift(o))))

    def __rmatmul__(self, o):
        return self.record(MatMul((self._lift(o), self.index)))

    @property
    def mT(self) -> 'Tracer':
        return self.record(Transpose((self.index,)))

    T = mT

    def __getattr__(self, name):
        if name.startswith("_"):  # protocol probes (e.g. mpmath's ``_mpf_``) must see a plain AttributeError
            raise AttributeError(name)
        raise NotPolynomialError(f"the right-hand side uses '.{name}', which is not a polynomial operation")


class _FakeXp:
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotPolynomialError(f"the right-hand side calls xp.{name}, which is not a polynomial operation")


def _tracing_namespace() -> dict:
    """Generated code's globals for tracing: node kernels record their Taylor rule or refuse."""
    ns = {**HELPERS, "mpf": mpmath.mpf, "np": np}
    # b 1ᵀ is a broadcast view in generated code; on the tape it is the product with a constant row of ones
    ns["_broadcast"] = lambda b, m, xp: b @ np.ones((1, m), dtype=object)
    for name in KERNELS:
        rule = TAYLOR_RULES.get(name)
        if rule is None:
            def refuse(*args, _name=name):
                raise NotPolynomialError(f"{_name} is not a polynomial operation (it has no Taylor rule)")
            ns[name] = refuse
        else:
            ns[name] = rule.trace
    return ns


def trace_polynomial(rhs: VectorField, data: Sequence[np.ndarray], params: dict | None = None) -> Tape:
    """Record the operations of ``rhs`` with weights as variables and data as constants.

    Raises:
        NotPolynomialError: ``rhs`` is not a matrix polynomial of the weights.
    """
    if not rhs.polynomial:
        raise NotPolynomialError(f"{rhs.name}: the right-hand side is not a matrix polynomial "
                                 "(it contains a node without a Taylor rule); use an extrapolation stepper")
    ns = _tracing_namespace()
    exec(compile(rhs.source, f"<curvsym-trace {rhs.name}>", "exec"), ns)
    func = ns[rhs.func.__name__]
    tape: list = []
    variables = []
    for k in range(rhs.n_weights):
        tape.append(Var((k,)))
        variables.append(Tracer(tape, k))
    consts = []
    for d in data:
        tape.append(Const((), d))
        consts.append(Tracer(tape, len(tape) - 1))
    try:
        out = func(*variables, *consts, **(params or {}), xp=_FakeXp())
    except NotPolynomialError:
        raise
    except (TypeError, AttributeError) as exc:  # e.g. an mpf(...) * Tracer reaching mpmath
        raise NotPolynomialError(str(exc)) from exc
    outputs = []
    for o in out:
        if not isinstance(o, Tracer):
            raise NotPolynomialError("a velocity does not depend on the weights")
        outputs.append(o.index)
    return Tape(tuple(tape), tuple(outputs), rhs.n_weights)


# --------------------------------------------------------------------------- coefficients

@dataclass(frozen=True)
class Expansion:
    """The Taylor expansion of a solution: ``variables[i][k]`` for the state, ``nodes[j][k]`` for every
    tape op (lists; past the end or ``None`` is an exact zero), and the ``region`` (a mask per switch
    argument) it was computed in."""

    variables: list
    nodes: list
    region: dict


def taylor_expansion(tape: Tape, x0: Sequence, order: int, engine: Any,
                     region: dict | None = None, scale: Any = 1) -> Expansion:
    """Coefficients k = 0 … order of τ ↦ x(t₀ + sτ) (s = ``scale``: s^k x_k) through ``x0``, and of every node.

    ``region`` fixes the masks of switch ops (``{argument index: boolean mask}``);
    a switch not in it takes the mask z > 0 of its argument at ``x0``.  The
    returned expansion carries the region it used.  The tape is replayed op by op
    with the engine's arithmetic, every result reduced to its midpoint
    (python-flint: the ball radius is dropped, so that the next operation starts
    from an exact value — arb computes the midpoint of a product of wide balls at
    reduced precision).  Compiled engines (multi-word) have their own ``taylor_series``.
    """
    region = dict(region or {})
    ops = tape.ops
    coef: list[list] = [[] for _ in ops]
    for idx, op in enumerate(ops):
        if isinstance(op, Var):
            coef[idx] = [x0[op.args[0]]]
        elif isinstance(op, Const):
            coef[idx] = [engine.load(op.value)]
    var_nodes = [i for i, op in enumerate(ops) if isinstance(op, Var)]
    active = [(idx, op.bind(engine, region) if op.switch else op.bind(engine))
              for idx, op in enumerate(ops) if not isinstance(op, (Var, Const))]
    factors = [engine.scalar(mpmath.mpf(scale) / (k + 1)) for k in range(order)]
    zero = engine.scalar(0)
    mid = engine.midpoint
    if order == 0:
        for idx, rule in active:
            value = rule(0, coef)
            coef[idx].append(None if value is None else mid(value))
    for k in range(order):
        for idx, rule in active:
            value = rule(k, coef)
            coef[idx].append(None if value is None else mid(value))
        for v, out in zip(var_nodes, tape.outputs):
            fk = _get(coef[out], k)
            coef[v].append(mid(fk * factors[k]) if fk is not None else coef[v][0] * zero)
    return Expansion([coef[v] for v in var_nodes], coef, region)


def taylor_coefficients(tape: Tape, x0: Sequence, order: int, engine: Any, scale: Any = 1,
                        region: dict | None = None) -> list[list]:
    """Coefficients ``c[i][k]`` (k = 0..order) of the solution through ``x0`` (see :func:`taylor_expansion`).

    Node coefficients are stored in lists; an entry past a list's end, or
    ``None``, is an exact zero (constants have only a 0-th coefficient).
    """
    return taylor_expansion(tape, x0, order, engine, region, scale).variables


def horner(c: list, h: Any) -> Any:
    """Σ_k c_k h^k by Horner's rule."""
    acc = c[-1]
    for ck in reversed(c[:-1]):
        acc = ck + acc * h
    return acc
