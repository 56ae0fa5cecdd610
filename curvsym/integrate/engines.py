"""Arbitrary-precision matrix arithmetic engines for the Taylor integrator.

* ``MpmathEngine`` — NumPy object arrays of ``mpmath.mpf`` (pure Python);
* ``FlintEngine`` — python-flint ``arb_mat`` (C, ball arithmetic: every entry
  carries a rigorous bound on its accumulated rounding error).

Both expose the few operations a tape needs — matmul, transpose, scale, ±,
and for elementwise (activation) rules the Hadamard product ``hadamard``, the
entrywise quotient ``divide``, entrywise functions ``elementwise(a, name, *p)``
(``tanh``, ``exp``, ``sigmoid``, ``softplus``) and the entries as ``mpf``
(``entries``) — and convert to and from object arrays of ``mpf`` exactly.  The
precision is set only inside :meth:`context`, never globally.
"""

from __future__ import annotations

import contextlib
from typing import Any

import mpmath
import numpy as np

from ..errors import UnknownNameError


class MpmathEngine:
    name = "mpmath"

    def __init__(self, dps: int):
        self.dps = dps

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


class FlintEngine:
    name = "flint"

    def __init__(self, dps: int):
        import flint  # noqa: F401  (ImportError tells the caller to use mpmath)
        self.dps = dps
        self.prec = int(dps * 3.3219280948873626) + 8

    @contextlib.contextmanager
    def context(self) -> Any:
        import flint
        with flint.ctx.workprec(self.prec), mpmath.workdps(self.dps):
            yield

    @staticmethod
    def _arb(v):
        import flint
        if isinstance(v, (int, np.integer)):
            return flint.arb(int(v))
        sign, man, exp, _ = mpmath.mpf(v)._mpf_
        if not man:
            return flint.arb(0)
        man = -int(man) if sign else int(man)
        q = flint.fmpq(man * 2 ** exp) if exp >= 0 else flint.fmpq(man, 2 ** (-exp))
        return flint.arb(q)  # exact: the mantissa fits in the working precision

    def load(self, a: np.ndarray) -> Any:
        import flint
        a = np.asarray(a)
        return flint.arb_mat([[self._arb(v) for v in row] for row in a])

    def unload(self, a: Any) -> np.ndarray:
        return np.array([[_mpf(e) for e in row] for row in a.tolist()], dtype=object)

    @staticmethod
    def midpoint(a: Any) -> Any:
        """Drop the error radii (they would otherwise inflate through the recurrences)."""
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
        return mpmath.mpf(0) if m is None else _mpf(m)

    @staticmethod
    def rounding_bound(a: Any) -> mpmath.mpf:
        m = max((e.rad() for e in a.entries()), default=None)
        return mpmath.mpf(0) if m is None else _mpf(m)

    @staticmethod
    def hadamard(a: Any, b: Any) -> Any:
        import flint
        r, c = a.nrows(), a.ncols()
        out = flint.arb_mat(r, c)
        for i in range(r):
            for j in range(c):
                out[i, j] = a[i, j] * b[i, j]
        return out

    @staticmethod
    def divide(a: Any, b: Any) -> Any:
        import flint
        r, c = a.nrows(), a.ncols()
        out = flint.arb_mat(r, c)
        for i in range(r):
            for j in range(c):
                out[i, j] = a[i, j] / b[i, j]
        return out

    def elementwise(self, a: Any, name: str, *params: Any) -> Any:
        import flint
        ps = [self._arb(p) for p in params]
        f = _ARB_FUNCTIONS[name]
        return flint.arb_mat([[f(x, *ps) for x in row] for row in a.tolist()])

    @staticmethod
    def entries(a: Any) -> list:
        return [[_mpf(e) for e in row] for row in a.tolist()]

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


def _mpf(e) -> mpmath.mpf:
    """The midpoint of an arb ball as an exact mpf."""
    man, exp = e.mid().man_exp()
    return mpmath.mpf((int(man), int(exp)))


def make_engine(name: str, dps: int) -> Any:
    """``"flint"``, ``"mpmath"`` or ``"auto"`` (flint when python-flint is installed).

    Raises:
        UnknownNameError: unknown arbitrary-precision engine …; use 'flint', 'mpmath' or 'auto'.
    """
    if name == "auto":
        try:
            return FlintEngine(dps)
        except ImportError:
            return MpmathEngine(dps)
    if name == "flint":
        return FlintEngine(dps)
    if name == "mpmath":
        return MpmathEngine(dps)
    raise UnknownNameError(f"unknown arbitrary-precision engine {name!r}; use 'flint', 'mpmath' or 'auto'")
