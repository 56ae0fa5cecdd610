r"""Taylor rules of the activation nodes (:mod:`curvsym.symbolic.activations`): tape operations.

Each rule is a :class:`~curvsym.integrate.tape.TapeOp` whose ``trace`` classmethod
records it when the generated right-hand side calls the node's kernel on a
:class:`~curvsym.integrate.tape.Tracer` (same arguments as the kernel), and whose
``bind`` gives the coefficient recurrence.  For z(t) = Σ_k z_k s^k:

* ReLU / leaky ReLU (:class:`MaskedLinear`, a *switch*): inside a region of
  constant sign pattern, σ(z) = M ⊙ z and σ'(z) = M with M = 1 where z > 0 and
  0 (ReLU) or α (leaky) elsewhere, so [σ(z)]_k = M ⊙ z_k and [σ'(z)]_k = M·[k = 0].
  The Taylor stepper supplies M (the *region*) and lands on its changes.
* tanh (:class:`TanhOp`): y = tanh z, u = 1 − y ⊙ y, ẏ = u ⊙ ż:
  y_0 = tanh z_0,  y_k = (1/k) Σ_{j=1}^k j z_j ⊙ u_{k−j},  u_0 = 1 − y_0², u_k = −Σ_{i=0}^k y_i ⊙ y_{k−i}.
  σ' = u and σ'' = −2 y ⊙ u are recorded from y with ordinary tape arithmetic.
* softplus (:class:`SigmoidOp`, :class:`SoftplusOp`): s = logistic(βz), v = s ⊙ (1 − s),
  ṡ = β v ⊙ ż, and y = softplus_β(z), ẏ = s ⊙ ż:
  s_k = (β/k) Σ_{j=1}^k j z_j ⊙ v_{k−j},  v_k = s_k − Σ_{i=0}^k s_i ⊙ s_{k−i},
  y_k = (1/k) Σ_{j=1}^k j z_j ⊙ s_{k−j}.
* softmax (:class:`SoftmaxOp`, columnwise): e = exp(z − c) with c the column maxima at
  the expansion point (constant), S = 1 1ᵀ e (column sums), P = e ⊘ S:
  e_k = (1/k) Σ_{j=1}^k j z_j ⊙ e_{k−j},  S_k = 1 1ᵀ e_k,
  P_k = (e_k − Σ_{j=1}^k S_j ⊙ P_{k−j}) ⊘ S_0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import mpmath
import numpy as np

from ..errors import NotPolynomialError
from .tape import TapeOp, Tracer, _get, square_coefficient
from .taylor_rules import register_taylor_rule

__all__ = ["MaskedLinear", "TanhOp", "SigmoidOp", "SoftplusOp", "SoftmaxOp", "SoftplusRule", "positive_mask"]


def _tracer(Z: Any, what: str) -> Tracer:
    if not isinstance(Z, Tracer):
        raise NotPolynomialError(f"{what}: its argument does not depend on the state")
    return Z


def positive_mask(engine: Any, z0: Any) -> np.ndarray:
    """The boolean matrix z0 > 0 (entries compared as mpf)."""
    return np.array([[v > 0 for v in row] for row in engine.entries(z0)], dtype=bool)


def _ones(engine: Any, like: Any) -> Any:
    return engine.load(np.ones(engine.shape(like), dtype=object))


def _accumulate(engine: Any, terms: list) -> Any:
    acc = None
    for t in terms:
        if t is not None:
            acc = t if acc is None else acc + t
    return acc


def _cauchy(engine: Any, a: list, b: list, k: int, start: int = 0, weight: bool = False) -> Any:
    """Σ_{j=start}^{k} (j·) a_j ⊙ b_{k−j}, None entries being exact zeros."""
    js = [j for j in range(start, k + 1) if _get(a, j) is not None and _get(b, k - j) is not None]
    return engine.hadamard_sum([(a[j], b[k - j]) for j in js], [engine.scalar(j) for j in js] if weight else None)


@dataclass(frozen=True)
class MaskedLinear(TapeOp):
    """σ(z) = M ⊙ z, or σ'(z) = M (``derivative``), for ReLU (``slope`` 0) and leaky ReLU (``slope`` α).

    A switch: the mask M comes from the region; without one, M = [z_0 > 0].
    """

    slope: Any = 0
    derivative: bool = False
    kind: ClassVar[str] = "masked"
    switch: ClassVar[bool] = True

    @classmethod
    def trace(cls, Z: Any, k: int, *rest: Any) -> Tracer:
        """Record σ^{(k)}(Z) for ``_relu(Z, k, xp)`` / ``_leaky_relu(Z, k, α, xp)``.

        Raises:
            NotPolynomialError: Z does not depend on the state.
        """
        Z = _tracer(Z, "relu")
        params = rest[:-1]
        return Z.record(cls((Z.index,), params[0] if params else 0, int(k) == 1))

    def coefficient(self, k: int, coef: list, engine: Any) -> Any:  # pragma: no cover - bound form is used
        return self.bind(engine, {})(k, coef)

    def bind(self, engine: Any, region: dict | None = None) -> Callable:
        a, slope, derivative = self.args[0], self.slope, self.derivative
        region = {} if region is None else region
        cache: dict = {}

        def rule(k, coef):
            M = cache.get("M")
            if M is None:
                mask = region.get(a)
                if mask is None:
                    mask = region[a] = positive_mask(engine, coef[a][0])
                values = np.empty(mask.shape, dtype=object)
                values[mask], values[~mask] = 1, slope
                M = cache["M"] = engine.load(values)
            if derivative:
                return M if k == 0 else None
            zk = _get(coef[a], k)
            return None if zk is None else engine.hadamard(M, zk)
        return rule


@dataclass(frozen=True)
class TanhOp(TapeOp):
    """y = tanh z by y_k = (1/k) Σ_j j z_j ⊙ u_{k−j}, u = 1 − y ⊙ y."""

    kind: ClassVar[str] = "tanh"

    @classmethod
    def trace(cls, Z: Any, k: int, xp: Any = None) -> Tracer:
        """Record tanh^{(k)}(Z) for ``_tanh(Z, k, xp)``: y, then 1 − y⊙y and −2y⊙(1 − y⊙y) from y.

        Raises:
            NotPolynomialError: Z does not depend on the state.
        """
        Z = _tracer(Z, "tanh")
        y = Z.record(cls((Z.index,)))
        if int(k) == 0:
            return y
        u = 1 - y * y
        return u if int(k) == 1 else -2 * (y * u)

    def bind(self, engine: Any) -> Callable:
        a = self.args[0]
        y: list = []
        u: list = []

        def rule(k, coef):
            z = coef[a]
            if k == 0:
                y0 = engine.elementwise(z[0], "tanh")
                y.append(y0)
                u.append(_ones(engine, y0) - engine.hadamard(y0, y0))
                return y0
            acc = _cauchy(engine, z, u, k, start=1, weight=True)
            yk = None if acc is None else acc * engine.scalar(1 / mpmath.mpf(k))
            y.append(yk)
            sq = square_coefficient(y, k, engine)
            u.append(None if sq is None else -sq)
            return yk
        return rule


@dataclass(frozen=True)
class SigmoidOp(TapeOp):
    """s = 1/(1 + e^{−βz}) by s_k = (β/k) Σ_j j z_j ⊙ v_{k−j}, v = s ⊙ (1 − s)."""

    beta: Any = 1
    kind: ClassVar[str] = "sigmoid"

    def bind(self, engine: Any) -> Callable:
        a, beta = self.args[0], engine.scalar(self.beta)
        s: list = []
        v: list = []

        def rule(k, coef):
            z = coef[a]
            if k == 0:
                s0 = engine.elementwise(z[0], "sigmoid", self.beta)
                s.append(s0)
                v.append(s0 - engine.hadamard(s0, s0))
                return s0
            acc = _cauchy(engine, z, v, k, start=1, weight=True)
            sk = None if acc is None else acc * (beta * engine.scalar(1 / mpmath.mpf(k)))
            s.append(sk)
            sq = square_coefficient(s, k, engine)
            v.append(sk if sq is None else (-sq if sk is None else sk - sq))
            return sk
        return rule


@dataclass(frozen=True)
class SoftplusOp(TapeOp):
    """y = softplus_β(z) from s = logistic(βz) (``args = (z, s)``): y_k = (1/k) Σ_j j z_j ⊙ s_{k−j}."""

    beta: Any = 1
    kind: ClassVar[str] = "softplus"

    def bind(self, engine: Any) -> Callable:
        a, b = self.args

        def rule(k, coef):
            if k == 0:
                return engine.elementwise(coef[a][0], "softplus", self.beta)
            acc = _cauchy(engine, coef[a], coef[b], k, start=1, weight=True)
            return None if acc is None else acc * engine.scalar(1 / mpmath.mpf(k))
        return rule


class SoftplusRule:
    """The Taylor rule of :class:`~curvsym.symbolic.activations.Softplus`: s = logistic(βZ), then softplus."""

    @classmethod
    def trace(cls, Z: Any, k: int, beta: Any, xp: Any = None) -> Tracer:
        """Record softplus_β^{(k)}(Z): s (k = 1), softplus from (Z, s) (k = 0), βs⊙(1 − s) (k = 2).

        Raises:
            NotPolynomialError: Z does not depend on the state.
        """
        Z = _tracer(Z, "softplus")
        s = Z.record(SigmoidOp((Z.index,), beta))
        k = int(k)
        if k == 1:
            return s
        if k == 0:
            return Z.record(SoftplusOp((Z.index, s.index), beta))
        return beta * (s * (1 - s))


@dataclass(frozen=True)
class SoftmaxOp(TapeOp):
    """P = softmax(z) columnwise from e = exp(z − c), S = 1 1ᵀ e, P = e ⊘ S (see the module docstring)."""

    kind: ClassVar[str] = "softmax"

    @classmethod
    def trace(cls, Z: Any, xp: Any = None) -> Tracer:
        """Record softmax(Z) for ``_softmax(Z, xp)``.

        Raises:
            NotPolynomialError: Z does not depend on the state.
        """
        Z = _tracer(Z, "softmax")
        return Z.record(cls((Z.index,)))

    def bind(self, engine: Any) -> Callable:
        a = self.args[0]
        e: list = []
        S: list = []
        P: list = []
        J: dict = {}

        def rule(k, coef):
            z = coef[a]
            if k == 0:
                rows = engine.entries(z[0])
                n, m = len(rows), len(rows[0]) if rows else 0
                cmax = [max(rows[i][b] for i in range(n)) for b in range(m)]
                C = engine.load(np.array([[cmax[b] for b in range(m)] for _ in range(n)], dtype=object))
                J["ones"] = engine.load(np.ones((n, n), dtype=object))
                e0 = engine.elementwise(z[0] - C, "exp")
                e.append(e0)
                S.append(engine.matmul(J["ones"], e0))
                P.append(engine.divide(e0, S[0]))
                return P[0]
            acc = _cauchy(engine, z, e, k, start=1, weight=True)
            ek = None if acc is None else acc * engine.scalar(1 / mpmath.mpf(k))
            e.append(ek)
            S.append(None if ek is None else engine.matmul(J["ones"], ek))
            corr = _cauchy(engine, S, P, k, start=1)
            num = ek if corr is None else (-corr if ek is None else ek - corr)
            Pk = None if num is None else engine.divide(num, S[0])
            P.append(Pk)
            return Pk
        return rule


for _name, _rule in [("_relu", MaskedLinear), ("_leaky_relu", MaskedLinear), ("_tanh", TanhOp),
                     ("_softplus", SoftplusRule), ("_softmax", SoftmaxOp)]:
    register_taylor_rule(_name, _rule)
