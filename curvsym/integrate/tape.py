r"""Taylor coefficients of polynomial matrix flows: a tape of operations, each with its own rule.

For a polynomial right-hand side f the Taylor coefficients of the solution,
x(t0 + h) = Σ_k x_k h^k, follow from the recurrences

    x_{k+1} = [f(x)]_k / (k + 1),
    [a + b]_k = a_k + b_k,   [c a]_k = c a_k,   [aᵀ]_k = (a_k)ᵀ,
    [a b]_k  = Σ_{j=0}^{k} a_j b_{k−j}                      (Cauchy product).

:func:`trace_polynomial` runs the *generated* right-hand side once on
:class:`Tracer` objects and records its operations on a :class:`Tape`; each
operation is a :class:`TapeOp` subclass that knows its own coefficient rule
(:meth:`TapeOp.coefficient`), so :func:`taylor_coefficients` dispatches by method
and a new operation (an activation's Taylor rule, say) is one class.  Symbolic
nodes contribute operations through their ``taylor_rule`` (the node protocol of
:mod:`curvsym.symbolic.nodes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import mpmath
import numpy as np

from ..codegen import GeneratedFunction
from ..codegen.runtime import HELPERS
from ..errors import NotPolynomialError
from ..symbolic.nodes import KERNELS

__all__ = ["TapeOp", "Var", "Const", "Add", "Sub", "Neg", "Scale", "MatMul", "Transpose", "Tape", "Tracer",
           "trace_polynomial", "taylor_coefficients", "horner"]


# --------------------------------------------------------------------------- operations

@dataclass(frozen=True)
class TapeOp:
    """One recorded operation: ``args`` are tape indices of its operands.

    ``coefficient(k, coef, engine)`` returns the k-th Taylor coefficient of the
    op's value from the coefficient lists ``coef`` of the earlier ops (an entry
    past a list's end, or ``None``, is an exact zero).
    """

    args: tuple
    kind: ClassVar[str] = "op"

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


# --------------------------------------------------------------------------- tracing

@dataclass(frozen=True)
class Tape:
    ops: tuple
    outputs: tuple  # tape index of each velocity
    n_vars: int

    @property
    def n_products(self) -> int:
        return sum(isinstance(op, MatMul) for op in self.ops)


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

    def __add__(self, o):
        return self.record(Add((self.index, self._lift(o))))

    __radd__ = __add__

    def __sub__(self, o):
        return self.record(Sub((self.index, self._lift(o))))

    def __rsub__(self, o):
        return self.record(Sub((self._lift(o), self.index)))

    def __neg__(self):
        return self.record(Neg((self.index,)))

    def __mul__(self, c):
        if isinstance(c, (Tracer, np.ndarray)):
            raise NotPolynomialError("elementwise products are not matrix-polynomial operations")
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
    from ..symbolic.nodes import MatrixNode

    def node_classes(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from node_classes(sub)

    rules = {c.kernel_name(): c.taylor_rule for c in node_classes(MatrixNode) if c.__dict__.get("kernel")}
    for name in KERNELS:
        rule = rules.get(name)
        if rule is None:
            def refuse(*args, _name=name):
                raise NotPolynomialError(f"{_name} is not a polynomial operation (its node has no Taylor rule)")
            ns[name] = refuse
        else:
            ns[name] = rule.trace
    return ns


def trace_polynomial(rhs: GeneratedFunction, data: Sequence[np.ndarray], params: dict | None = None) -> Tape:
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

def taylor_coefficients(tape: Tape, x0: Sequence, order: int, engine: Any = None, scale: Any = 1) -> list[list]:
    """Coefficients ``c[i][k]`` (k = 0..order) of τ ↦ x(t₀ + sτ) through ``x0`` (s = ``scale``: s^k x_k).

    The tape is replayed op by op with the engine's arithmetic, every result
    reduced to its midpoint (python-flint: the ball radius is dropped, so that
    the next operation starts from an exact value — arb computes the midpoint of
    a product of wide balls at reduced precision).  Node coefficients are stored
    in lists; an entry past a list's end, or ``None``, is an exact zero
    (constants have only a 0-th coefficient).  Compiled engines (multi-word)
    have their own ``taylor_series``.
    """
    from .engines import MpmathEngine
    engine = engine or MpmathEngine(mpmath.mp.dps)
    ops = tape.ops
    coef: list[list] = [[] for _ in ops]
    for idx, op in enumerate(ops):
        if isinstance(op, Var):
            coef[idx] = [x0[op.args[0]]]
        elif isinstance(op, Const):
            coef[idx] = [engine.load(op.value)]
    var_nodes = [i for i, op in enumerate(ops) if isinstance(op, Var)]
    active = [(idx, op.bind(engine)) for idx, op in enumerate(ops) if not isinstance(op, (Var, Const))]
    factors = [engine.scalar(mpmath.mpf(scale) / (k + 1)) for k in range(order)]
    zero = engine.scalar(0)
    mid = engine.midpoint
    for k in range(order):
        for idx, rule in active:
            value = rule(k, coef)
            coef[idx].append(None if value is None else mid(value))
        for v, out in zip(var_nodes, tape.outputs):
            fk = _get(coef[out], k)
            coef[v].append(mid(fk * factors[k]) if fk is not None else coef[v][0] * zero)
    return [coef[v] for v in var_nodes]


def horner(c: list, h: Any) -> Any:
    """Σ_k c_k h^k by Horner's rule."""
    acc = c[-1]
    for ck in reversed(c[:-1]):
        acc = ck + acc * h
    return acc
