r"""A derived flow as a vector field θ ↦ V(θ; data) on ℝ^D, evaluated on jets.

The velocities of a :class:`~curvsym.symbolic.derive.Flow` are SymPy matrix
expressions; :class:`FlowField` walks them once per evaluation with the
arithmetic of :mod:`.arith`.  Exact evaluation (GF(p)) covers every node that is
a rational function of the weights: products, sums, transposes, identities,
(X + λI)⁻¹ and the q = 1 operator solve 𝒦⁻¹ of the natural gradient, Σx^{½}
(the data are drawn as Σx = S², so Σx^{½} = S exactly), ReLU and leaky ReLU (their
sign masks taken from the exact rational forward pass at the point: the ε part of
a jet never moves the point).  Fractional powers, singular pseudo-inverses and
tanh/softplus raise :class:`~.arith.NotExactError`; the same walk on mpmath
numbers evaluates them by eigen-decomposition at high precision.

Coordinates: θ is the concatenation of the row-major entries of the flow's
weights (biases included for data models), in ``model.weights`` order.
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any, Callable

import mpmath
import numpy as np
import sympy as sp
from sympy import HadamardProduct, Identity, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose, ZeroMatrix

from ..errors import OptionError
from ..symbolic.activations import ActivationNode
from ..symbolic.derive import Flow, Model
from ..symbolic.matfuncs import OperatorInvPower, PsdInvPower, SqrtPsd
from .arith import GF, MP, Jet, NotExactError

__all__ = ["FlowField", "QQ", "vector", "split"]


class QQ(MP):
    """Exact rationals on object arrays (only to read the sign pattern of an exact forward pass)."""

    exact = True

    def __init__(self):
        self.name = "QQ"

    def const(self, a: Any) -> Any:
        a = np.asarray(a, dtype=object)
        return np.array([Fraction(x) for x in a.ravel()], dtype=object).reshape(a.shape)

    def scalar(self, c: Any) -> Any:
        return Fraction(str(c)) if not isinstance(c, (int, Fraction)) else Fraction(c)

    def zeros(self, shape: Any) -> Any:
        return np.full(shape, Fraction(0), dtype=object)

    def ones(self, shape: Any) -> Any:
        return np.full(shape, Fraction(1), dtype=object)

    def eye(self, n: Any) -> Any:
        out = self.zeros((n, n))
        for i in range(n):
            out[i, i] = Fraction(1)
        return out

    def inv(self, a: Any) -> Any:
        """a⁻¹ over ℚ.

        Raises:
            NotExactError: a is singular.
        """
        m = sp.Matrix(a.tolist())
        if m.det() == 0:
            raise NotExactError("a matrix to invert is singular at this point")
        return np.array([[Fraction(int(x.p), int(x.q)) for x in row] for row in m.inv().tolist()], dtype=object)


def vector(ring: Any, parts: list[Jet]) -> Jet:
    """Concatenate matrix jets (row-major) into one D × 1 jet."""
    masks = set().union(*(p.coeffs for p in parts))
    coeffs = {k: np.concatenate([p.part(k).reshape(-1) for p in parts]).reshape(-1, 1) for k in masks}
    return Jet(ring, coeffs, (sum(int(np.prod(p.shape)) for p in parts), 1))


def split(v: Jet, shapes: list[tuple]) -> list[Jet]:
    """The inverse of :func:`vector`."""
    out, at = [], 0
    for s in shapes:
        n = s[0] * s[1]
        out.append(Jet(v.ring, {k: c[at:at + n].reshape(s) for k, c in v.coeffs.items()}, s))
        at += n
    return out


def _check_numeric(flow: Flow, parameters: dict | None) -> Flow:
    params = {sp.Symbol(str(k)) if isinstance(k, str) else k: v for k, v in (parameters or {}).items()}
    free = [s for s in flow.parameters if s not in params]
    if free:
        raise OptionError(f"give numeric values for the flow's parameters {', '.join(map(str, free))} "
                          "(parameters={'lam': 1/10})")
    if not params:
        return flow
    subs = {k: sp.nsimplify(v, rational=True) for k, v in params.items()}
    return Flow(flow.model, tuple(v.xreplace(subs) for v in flow.velocities), flow.name, ())


class FlowField:
    """V(θ; d) of ``flow`` as a map on jets; ``data`` are drawn by :meth:`sample_data`.

    ``ring`` is :class:`~.arith.GF` (exact) or :class:`~.arith.MP`; evaluation of a
    node with no exact form in GF(p) raises :class:`~.arith.NotExactError`.
    """

    def __init__(self, flow: Flow, ring, parameters: dict | None = None):
        self.flow = _check_numeric(flow, parameters)
        self.ring = ring
        self.model = m = self.flow.model
        self.symbols = tuple(m.weights)
        self.shapes = [tuple(int(x) for x in w.shape) for w in self.symbols]
        self.D = sum(a * b for a, b in self.shapes)
        self.linear = isinstance(m, Model)
        self.data_symbols = tuple(m.data_symbols)
        self.has_activation = any(isinstance(n, ActivationNode) for v in self.flow.velocities
                                  for n in sp.preorder_traversal(v))

    # ------------------------------------------------------------------ random points (integers, or mp numbers)
    def draw(self, rng: random.Random, shape: Any) -> np.ndarray:
        """Entries uniform in GF(p), lifted to the centred integers (exact); uniform in [−1, 1] (mpmath)."""
        n = shape[0] * shape[1]
        if isinstance(self.ring, GF):
            half = self.ring.p // 2
            vals = [rng.randrange(self.ring.p) - half for _ in range(n)]
        else:
            vals = [Fraction(rng.randrange(-2**20, 2**20 + 1), 2**20) for _ in range(n)]
        return np.array(vals, dtype=object).reshape(shape)

    def sample_point(self, rng: random.Random) -> list[np.ndarray]:
        return [self.draw(rng, s) for s in self.shapes]

    def sample_data(self, rng: random.Random) -> dict:
        """Integer data: Σx = S² with S symmetric (so Σx^{½} = S), T (or X, Y) arbitrary."""
        out: dict = {}
        for sym in self.data_symbols:
            shape = tuple(int(x) for x in sym.shape)
            if self.linear and sym is self.model.Sigma:
                A = self.draw(rng, shape)
                if isinstance(self.ring, GF):
                    S = (A + A.T)
                else:  # symmetric positive definite, for eigen-decompositions
                    S = np.dot(A, A.T) / shape[0] + np.eye(shape[0], dtype=object)
                out[sym] = np.dot(S, S)
                out[("sqrt", sym)] = S
            else:
                out[sym] = self.draw(rng, shape)
        return out

    def theta(self, point: list[np.ndarray]) -> Jet:
        """The point as a constant D × 1 jet."""
        return vector(self.ring, [Jet.constant(self.ring, self.ring.const(w)) for w in point])

    # ------------------------------------------------------------------ evaluation
    def __call__(self, theta: Jet, data: dict, lift: list[np.ndarray] | None = None) -> Jet:
        """V(θ; data) as a D × 1 jet.  ``lift``: the exact (integer) point under θ, for sign masks."""
        env = self._environment(theta, data)
        signs = _Evaluator(QQ(), {s: Jet.constant(QQ(), QQ().const(a)) for s, a in
                                  list(zip(self.symbols, lift)) + list(data.items())}, None) \
            if (self.has_activation and isinstance(self.ring, GF)) else None
        ev = _Evaluator(self.ring, env, signs)
        return vector(self.ring, [ev(v) for v in self.flow.velocities])

    def activation_pattern(self, theta: Jet, data: dict) -> tuple:
        """The sign pattern (z > 0 per pre-activation entry, node by node) of the forward pass at θ: the
        activation region a piecewise-polynomial flow is in (empty without ReLU-family activations)."""
        if not self.has_activation:
            return ()
        ev = _Evaluator(self.ring, self._environment(theta, data), None)
        for v in self.flow.velocities:
            ev(v)
        return tuple(ev.signs_seen)

    def _environment(self, theta: Jet, data: dict) -> dict:
        """The weight symbols bound to θ's blocks and the data symbols to constant jets."""
        env = dict(zip(self.symbols, split(theta, self.shapes)))
        for k, a in data.items():
            env[k] = Jet.constant(self.ring, self.ring.const(a))
        return env

    def function(self, data: dict, lift: list[np.ndarray] | None = None) -> Callable[[Jet], Jet]:
        return lambda th: self(th, data, lift)


class _Evaluator:
    """One walk of SymPy matrix expressions on jets (memoised per node)."""

    def __init__(self, ring, env: dict, signs: "_Evaluator | None"):
        self.ring, self.env, self.signs, self.memo = ring, env, signs, {}
        self.signs_seen: list = []   # (z > 0 per entry) of every ReLU-family node evaluated

    def __call__(self, x) -> Jet:
        if x in self.memo:
            return self.memo[x]
        r = self._eval(x)
        self.memo[x] = r
        return r

    def _const(self, a) -> Jet:
        return Jet.constant(self.ring, a)

    def _eval(self, x) -> Jet:
        R = self.ring
        if isinstance(x, MatrixSymbol):
            return self.env[x]
        if isinstance(x, Identity):
            return self._const(R.eye(int(x.shape[0])))
        if isinstance(x, ZeroMatrix):
            return self._const(R.zeros((int(x.shape[0]), int(x.shape[1]))))
        if isinstance(x, OneMatrix):
            return self._const(R.ones((int(x.shape[0]), int(x.shape[1]))))
        if isinstance(x, Transpose):
            return self(x.arg).T
        if isinstance(x, MatAdd):
            out = None
            for a in x.args:
                v = self(a)
                out = v if out is None else out + v
            return out
        if isinstance(x, MatMul):
            coeff, mats = sp.Integer(1), []
            for a in x.args:
                if a.is_Matrix:
                    mats.append(a)
                else:
                    coeff *= a
            if not coeff.is_Rational:
                raise OptionError(f"a non-numeric coefficient {coeff} in the flow: give its parameters values")
            out = self(mats[0])
            for a in mats[1:]:
                out = out @ self(a)
            return out if coeff == 1 else out.scaled(R.scalar(Fraction(int(coeff.p), int(coeff.q))))
        if isinstance(x, HadamardProduct):
            out = self(x.args[0])
            for a in x.args[1:]:
                out = out.hadamard(self(a))
            return out
        if isinstance(x, SqrtPsd):
            if ("sqrt", x.X) in self.env:
                return self.env[("sqrt", x.X)]
            return self._spectral(self(x.X), lambda w: mpmath.sqrt(w) if w > 0 else 0)
        if isinstance(x, PsdInvPower):
            return self._inv_power(x)
        if isinstance(x, OperatorInvPower):
            return self._operator(x)
        if isinstance(x, ActivationNode):
            return self._activation(x)
        if isinstance(x, sp.MatPow) and x.exp == -1:
            return self(x.base).inv()
        if isinstance(x, sp.Inverse):
            return self(x.arg).inv()
        raise NotExactError(f"no evaluation for the node {type(x).__name__}")

    # -------------------------------------------------------------- curvature nodes
    def _damped(self, X: Jet, lam) -> Jet:
        if lam == 0:
            return X
        return X + self._const(self.ring.eye(X.shape[0])).scaled(self.ring.scalar(Fraction(str(lam))))

    def _inv_power(self, x: PsdInvPower) -> Jet:
        X = self._damped(self(x.X), x.damping)
        if x.q == 1:
            try:
                return X.inv()
            except ZeroDivisionError:  # mpmath: singular, the pseudo-inverse below
                pass
        if self.ring.exact:
            raise NotExactError(f"the fractional power (·)^(-{x.q}) has no exact rational form")
        q = mpmath.mpf(Fraction(str(x.q)).numerator) / Fraction(str(x.q)).denominator
        return self._spectral(X, lambda w: w ** (-q) if w > self._cut(X) else 0)

    def _cut(self, X: Jet):
        return mpmath.mpf(10) ** (-(self.ring.digits // 2)) * (1 + max(abs(v) for v in X.primal.ravel()))

    def _spectral(self, X: Jet, f) -> Jet:
        if self.ring.exact:
            raise NotExactError("a spectral function has no exact rational form")
        w, U = mpmath.eigsy(mpmath.matrix(X.primal.tolist()))
        n = X.shape[0]
        Um = np.array(U.tolist(), dtype=object)
        d = np.array([f(w[i]) for i in range(n)], dtype=object)
        return self._const(np.dot(Um * d, Um.T))

    def _operator(self, x: OperatorInvPower) -> Jet:
        """Y = (𝒦 + λ)^{−q} R with 𝒦(Y) = Σ P_e Y Q_e, by the matrix Σ P_e ⊗ Q_eᵀ on row-major vec(Y)."""
        Ps, Qs = x.factors
        Rj = self(x.R)
        n, m = Rj.shape
        K = None
        for P, Q in zip(Ps, Qs):
            Pj = self(P) if not isinstance(P, Identity) else self._const(self.ring.eye(n))
            Qj = self(Q) if not isinstance(Q, Identity) else self._const(self.ring.eye(m))
            term = _kron(Pj, Qj.T)
            K = term if K is None else K + term
        K = self._damped(K, x.damping)
        r = Jet(self.ring, {k: c.reshape(-1, 1) for k, c in Rj.coeffs.items()}, (n * m, 1))
        if x.q == 1 and self.ring.exact:
            y = K.inv() @ r
        elif self.ring.exact:
            raise NotExactError(f"the operator power 𝒦^(-{x.q}) has no exact rational form")
        else:
            q = mpmath.mpf(Fraction(str(x.q)).numerator) / Fraction(str(x.q)).denominator
            y = self._spectral(K, lambda w: w ** (-q) if w > self._cut(K) else 0) @ r
        return Jet(self.ring, {k: c.reshape(n, m) for k, c in y.coeffs.items()}, (n, m))

    # -------------------------------------------------------------- activations
    def _activation(self, x: ActivationNode) -> Jet:
        key, k = type(x).key, x.order
        Z = self(x.Z)
        if key in ("relu", "leaky_relu"):
            z0 = (self.signs(x.Z).primal if self.signs is not None else Z.primal)
            # σ'(0) = 0 (relu) or α (leaky), the package's convention; an exact 0 here is a dead unit's input
            alpha = Fraction(str(x.params[0])) if key == "leaky_relu" else Fraction(0)
            slope = np.array([1 if v > 0 else alpha for v in z0.ravel()], dtype=object).reshape(z0.shape)
            self.signs_seen.append(tuple(bool(v > 0) for v in z0.ravel()))
            S = self._const(self.ring.const(slope) if isinstance(self.ring, GF) else
                            np.array([self.ring.scalar(s) for s in slope.ravel()], dtype=object).reshape(z0.shape))
            if k == 0:
                return S.hadamard(Z)
            return S if k == 1 else self._const(self.ring.zeros(Z.shape))
        if self.ring.exact:
            raise NotExactError(f"the activation {key} is not a rational function")
        if Z.coeffs.keys() - {0}:
            raise NotExactError("jets of transcendental activations are not evaluated (use differences)")
        z = sp.Symbol("z")
        f = sp.lambdify(z, type(x).scalar(z, k, *x.params), "mpmath")
        return self._const(np.array([f(v) for v in Z.primal.ravel()], dtype=object).reshape(Z.shape))


def _kron(A: Jet, B: Jet) -> Jet:
    """A ⊗ B for jets (row-major vec convention: vec(P Y Q) = (P ⊗ Qᵀ) vec(Y))."""
    out: dict = {}
    ring = A.ring
    for ka, a in A.coeffs.items():
        for kb, b in B.coeffs.items():
            if ka & kb:
                continue
            if isinstance(ring, GF):
                v = (a[:, None, :, None] * b[None, :, None, :]) % ring.p
            else:
                v = a[:, None, :, None] * b[None, :, None, :]
            v = v.reshape(a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])
            k = ka | kb
            out[k] = ring.add(out[k], v) if k in out else v
    return Jet(ring, out, (A.shape[0] * B.shape[0], A.shape[1] * B.shape[1]))
