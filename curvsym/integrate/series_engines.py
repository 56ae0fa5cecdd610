"""Arbitrary-precision matrix arithmetic engines for the Taylor integrator.

* ``MpmathEngine`` — NumPy object arrays of ``mpmath.mpf`` (pure Python);
* ``FlintEngine`` — python-flint ``arb_mat`` (C).  Every operation starts
  from exact midpoints: the radius arb attaches to a result is dropped at once
  (``.mid()``), because arb computes the *midpoint* of a product at reduced
  precision when its inputs carry wide radii (a radius of 1e-10 gave a midpoint
  error of 4e-19 instead of 1e-42), and radii grow through the orders of a
  Taylor recurrence.  The rounding error is accounted for separately, by the
  a-priori estimate of :meth:`FlintEngine.taylor_series`;
* ``MultiwordEngine`` (:mod:`curvsym.integrate.multiword_taylor`) — double-, triple- or
  quad-double on float64 BLAS, for up to 62 digits.

All expose the few operations a tape needs — matmul, transpose, scale, ±,
and for elementwise (activation) rules the Hadamard product ``hadamard``, the
entrywise quotient ``divide``, entrywise functions ``elementwise(a, name, *p)``
(``tanh``, ``exp``, ``sigmoid``, ``softplus``) and the entries as ``mpf``
(``entries``) —, convert to and from object arrays of ``mpf`` exactly, and compute a
step's Taylor series (:meth:`taylor_series`) with a rounding estimate.  The
precision is set only inside :meth:`context`, never globally.

The rounding estimate of a step for the arbitrary-precision engines is
u (K + 1)(n_ops + 4) max(1, ‖x‖_max) with u = 2^{−prec} (flint) or 10^{−dps}
(mpmath): every operation of every order is computed from exact midpoints to a
relative u, and the K + 1 terms of the step each carry at most ‖x‖ (h ≤ ρe^{−2}).
With ten guard digits it is far below the truncation error.
"""

from __future__ import annotations

import contextlib
import operator
import warnings
from typing import Any, Callable

import mpmath
import numpy as np

from ..errors import EngineError, NonFiniteError, PrecisionError
from ..kernels.arb import to_arb, to_mpf
from ..kernels.multiword import compiled as ddkernel
from ..kernels.multiword.words import max_digits, words_for_digits
from .multiword_taylor import MultiwordEngine
from .tape import taylor_coefficients


class _GenericSeries:
    """The Taylor-series interface shared by the object-array engines (tape replayed op by op)."""

    needs_scaling = False

    def compile(self, tape, like):
        return tape

    def taylor_series(self, tape, x, order: int, scale) -> tuple[list, Any]:
        c = taylor_coefficients(tape, x, order, self, scale=scale)
        n_ops = sum(op.kind not in ("var", "const") for op in tape.ops)
        size = max(mpmath.mpf(1), max(self.max_abs(a) for a in x))
        return c, self.unit * (order + 1) * (n_ops + 4) * size

    @staticmethod
    def rounding_weight(theta, order: int):
        """Errors are relative to each coefficient here (floating point on every entry): weight 1."""
        return 1

    def hadamard_sum(self, pairs: list, weights: list | None = None) -> Any:
        """Σ_j (a_j ⊙ b_j)·w_j over ``pairs`` = [(a_j, b_j)] (w_j = 1 without ``weights``), accumulated
        left to right; None for no pairs.  The entrywise Cauchy sums of the tape use it."""
        acc = None
        for i, (a, b) in enumerate(pairs):
            t = self.hadamard(a, b)
            if weights is not None:
                t = t * weights[i]
            acc = t if acc is None else acc + t
        return acc
    def horner(self, c: list, theta):
        th = self.scalar(theta)
        acc = c[-1]
        for ck in reversed(c[:-1]):
            acc = self.midpoint(ck + acc * th)
        return acc

    def check_finite(self, a, what: str) -> None:
        if not mpmath.isfinite(self.max_abs(a)):
            raise NonFiniteError(f"{what}: a non-finite entry")


class MpmathEngine(_GenericSeries):
    name = "mpmath"

    def __init__(self, dps: int):
        self.dps = dps
        self.resolvable_digits = dps - 3
        self.unit = mpmath.mpf(10) ** (-dps)

    def context(self) -> Any:
        return mpmath.workdps(self.dps)

    def load(self, a: np.ndarray) -> Any:
        return np.asarray(a, dtype=object) if a.dtype == object else np.vectorize(mpmath.mpf, otypes=[object])(a)

    def unload(self, a: Any) -> np.ndarray:
        return a

    def scalar(self, c: Any) -> Any:
        return mpmath.mpf(c) if not isinstance(c, (int, mpmath.mpf)) else c

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        return a @ b

    @staticmethod
    def transpose(a: Any) -> Any:
        return a.T

    @staticmethod
    def max_abs(a: Any) -> mpmath.mpf:
        return max((abs(v) for v in a.flat), default=mpmath.mpf(0))

    @staticmethod
    def rounding_bound(a: Any) -> mpmath.mpf:
        return mpmath.mpf(0)

    @staticmethod
    def midpoint(a: Any) -> Any:
        return a

    @staticmethod
    def hadamard(a: Any, b: Any) -> Any:
        return a * b

    @staticmethod
    def divide(a: Any, b: Any) -> Any:
        return a / b

    @staticmethod
    def elementwise(a: Any, name: str, *params: Any) -> Any:
        f = _MP_FUNCTIONS[name]
        return np.vectorize(lambda v: f(v, *params), otypes=[object])(a)

    @staticmethod
    def entries(a: Any) -> list:
        return [[mpmath.mpf(v) for v in row] for row in np.asarray(a).tolist()]

    @staticmethod
    def shape(a: Any) -> tuple:
        return tuple(np.asarray(a).shape)


def _sigmoid(v, beta=1):
    return 1 / (1 + mpmath.exp(-beta * v))


def _softplus(v, beta=1):
    x = beta * v
    return (max(x, 0) + mpmath.log1p(mpmath.exp(-abs(x)))) / beta


_MP_FUNCTIONS = {"tanh": lambda v: mpmath.tanh(v), "exp": lambda v: mpmath.exp(v), "sigmoid": _sigmoid,
                 "softplus": _softplus}


class FlintEngine(_GenericSeries):
    name = "flint"

    def __init__(self, dps: int):
        import flint  # noqa: F401  (ImportError tells the caller to use mpmath)
        self.dps = dps
        self.prec = int(dps * 3.3219280948873626) + 8
        self.resolvable_digits = dps - 3
        self.unit = mpmath.mpf(2) ** (-self.prec)
        self._entry_arrays: dict = {}  # id(arb_mat) -> (arb_mat, its entries as a NumPy object array)

    def _entries_array(self, a: Any) -> np.ndarray:
        """The entries of ``a`` (row-major) as an object array of arb, converted once per matrix: a
        coefficient enters the Cauchy sums of every later order."""
        hit = self._entry_arrays.get(id(a))
        if hit is not None and hit[0] is a:
            return hit[1]
        if len(self._entry_arrays) >= 4096:
            self._entry_arrays.clear()
        out = np.array(a.entries(), dtype=object)
        self._entry_arrays[id(a)] = (a, out)  # holding a keeps its id from being reused
        return out

    def hadamard_sum(self, pairs: list, weights: list | None = None) -> Any:
        """Σ_j (a_j ⊙ b_j)·w_j as :meth:`_GenericSeries.hadamard_sum` — the same arb operations in the
        same order, so the same balls — on object arrays of arb, where NumPy's loop replaces the
        Python loop over the entries of each product (3× faster for the 4 × 6 blocks of small nets)."""
        if not pairs:
            return None
        import flint
        acc = None
        for i, (a, b) in enumerate(pairs):
            t = self._entries_array(a) * self._entries_array(b)
            if weights is not None:
                t = t * weights[i]
            acc = t if acc is None else acc + t
        return flint.arb_mat(pairs[0][0].nrows(), pairs[0][0].ncols(), list(acc))

    @contextlib.contextmanager
    def context(self) -> Any:
        import flint
        with flint.ctx.workprec(self.prec), mpmath.workdps(self.dps):
            yield

    _arb = staticmethod(to_arb)

    def load(self, a: np.ndarray) -> Any:
        import flint
        a = np.asarray(a)
        return flint.arb_mat([[self._arb(v) for v in row] for row in a])

    def unload(self, a: Any) -> np.ndarray:
        return np.array([[to_mpf(e) for e in row] for row in a.tolist()], dtype=object)

    @staticmethod
    def midpoint(a: Any) -> Any:
        """Drop the error radius: every operation must start from exact midpoints (see the module docstring)."""
        return a.mid()

    def scalar(self, c: Any) -> Any:
        return self._arb(c)

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        return a * b

    @staticmethod
    def transpose(a: Any) -> Any:
        return a.transpose()

    @staticmethod
    def max_abs(a: Any) -> mpmath.mpf:
        m = max((abs(e.mid()) for e in a.entries()), default=None)
        return mpmath.mpf(0) if m is None else to_mpf(m)

    @staticmethod
    def rounding_bound(a: Any) -> mpmath.mpf:
        m = max((e.rad() for e in a.entries()), default=None)
        return mpmath.mpf(0) if m is None else to_mpf(m)

    @staticmethod
    def _entrywise(a: Any, b: Any, op: Callable[[Any, Any], Any]) -> Any:
        """The arb matrix (op(a_ij, b_ij))_ij."""
        import flint
        r, c = a.nrows(), a.ncols()
        out = flint.arb_mat(r, c)
        for i in range(r):
            for j in range(c):
                out[i, j] = op(a[i, j], b[i, j])
        return out

    @classmethod
    def hadamard(cls, a: Any, b: Any) -> Any:
        return cls._entrywise(a, b, operator.mul)

    @classmethod
    def divide(cls, a: Any, b: Any) -> Any:
        return cls._entrywise(a, b, operator.truediv)

    def elementwise(self, a: Any, name: str, *params: Any) -> Any:
        import flint
        ps = [self._arb(p) for p in params]
        f = _ARB_FUNCTIONS[name]
        return flint.arb_mat([[f(x, *ps) for x in row] for row in a.tolist()])

    @staticmethod
    def entries(a: Any) -> list:
        return [[to_mpf(e) for e in row] for row in a.tolist()]

    @staticmethod
    def shape(a: Any) -> tuple:
        return (a.nrows(), a.ncols())


def _arb_sigmoid(x, beta=1):
    return 1 / (1 + (-beta * x).exp())


def _arb_softplus(x, beta=1):
    y = beta * x
    return (y.nonnegative_part() + (-(abs(y))).exp().log1p()) / beta


_ARB_FUNCTIONS = {"tanh": lambda x: x.tanh(), "exp": lambda x: x.exp(), "sigmoid": _arb_sigmoid,
                  "softplus": _arb_softplus}




ENGINES = ("auto", "multiword", "dd", "td", "qd", "flint", "mpmath")


AUTO_MIN_WIDTH = 8  # below this width the per-call overhead of the multi-word engine exceeds flint's


_WARNED: set = set()


def _warn_numpy_route(reason: str) -> None:
    """One warning per process that ``engine="auto"`` runs the double-double engine without its compiled kernel."""
    if reason in _WARNED:
        return
    _WARNED.add(reason)
    warnings.warn(f"engine='auto': the compiled double-double kernel is not available ({reason}); the double-double "
                  "engine runs on its NumPy route (the same engine, slower at small widths; `curvsym info` says more)",
                  RuntimeWarning, stacklevel=3)


def make_engine(name: str, dps: int, wdps: int | None = None, width: int | None = None) -> Any:
    """The engine for ``dps`` requested digits (``wdps`` working digits for the arbitrary-precision engines).

    ``"auto"``: multi-word (float64 BLAS) up to 62 digits when the largest matrix dimension ``width`` is at
    least 8 (measured: 5–6× faster than flint at d = 16, 1.6× slower at d = 3); double-double (≤ 30 digits)
    at widths ≤ 8, by the compiled kernel of :mod:`curvsym.kernels.multiword.compiled` where it is available (which
    also runs double-double at widths 9–64, by exact-slice products), else
    on its NumPy route with one warning (the same engine either way); else flint (mpmath without python-flint);
    ``"multiword"``: 2–4 words chosen from dps; ``"dd"``/``"td"``/``"qd"``: exactly 2/3/4 words.

    Raises:
        PrecisionError: a multi-word engine cannot carry ``dps`` digits (use ``"flint"``).
        EngineError: an unknown engine name.
    """
    wdps = dps + 10 if wdps is None else wdps
    if name == "auto":
        if dps <= max_digits() and (width is None or width >= AUTO_MIN_WIDTH):
            return MultiwordEngine(dps)
        if (15 <= dps <= max_digits() and words_for_digits(dps) == 2 and width is not None
                and width <= ddkernel.MAX_WIDTH):
            # the compiled double-double recurrence; without it the same engine on its NumPy route, so that the
            # numbers do not depend on whether a C compiler is at hand
            if not ddkernel.available():
                _warn_numpy_route(ddkernel.status().reason)
            return MultiwordEngine(dps)
        try:
            return FlintEngine(wdps)
        except ImportError:
            return MpmathEngine(wdps)
    if name == "multiword":
        return MultiwordEngine(dps)
    if name in ("dd", "td", "qd"):
        want = {"dd": 2, "td": 3, "qd": 4}[name]
        need = words_for_digits(dps)
        if need > want:
            raise PrecisionError(f"engine {name!r} carries {want} words (≈{int(want * 15.95) - 1} digits), "
                                 f"too few for dps={dps}; use engine='multiword' or 'flint'")
        eng = MultiwordEngine(dps)
        return eng if want == need else MultiwordEngine.with_words(dps, want)
    if name == "flint":
        return FlintEngine(wdps)
    if name == "mpmath":
        return MpmathEngine(wdps)
    raise EngineError(f"unknown arbitrary-precision engine {name!r}; use one of {', '.join(ENGINES)}")
