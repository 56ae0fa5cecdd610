r"""The two number systems of the law search: the prime field GF(p) (exact) and mpmath (high precision).

Exact work happens in GF(p), p = 2³¹ − 1, on int64 arrays: a matrix product is
split into 16-bit halves so that no partial sum leaves int64, and ranks,
inverses and null spaces go through python-flint's ``nmod_mat``.  Points are
*integer* points (entries drawn from a box of side 2·``BOX`` + 1) reduced mod p,
so a rank r found mod p at a point is a certified lower bound for the rank over
ℚ at that same integer point: an r × r minor that is non-zero mod p is a non-zero
integer.

Where a rule is not a rational function of the weights (fractional powers,
pseudo-inverses of rank-deficient matrices, tanh) the same code runs on object
arrays of mpmath numbers (:class:`MP`) and the caller says so.

A :class:`Jet` is a matrix over the ring of truncated polynomials in nilpotent
ε₁, …, ε_k (ε_i² = 0): ``coeffs[mask]`` is the coefficient of Π_{i∈mask} ε_i.
Evaluating a field at θ + εv gives F(θ) + ε DF(θ)v exactly; nesting k of them
gives the k-th derivatives that iterated Lie brackets need.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import flint
import mpmath
import numpy as np

from ..errors import CurvsymError

__all__ = ["PRIME", "BOX", "GF", "MP", "Jet", "NotExactError"]

PRIME = 2**31 - 1
"""The prime of the exact field (a Mersenne prime; products of two residues fit in int64)."""

BOX = 2**20
"""Random integer points have entries in [−BOX, BOX]: Schwartz–Zippel sets have 2·BOX + 1 elements."""


class NotExactError(CurvsymError, ArithmeticError):
    """A node with no exact rational evaluation (fractional power, pseudo-inverse of a singular matrix, tanh)."""


class GF:
    """Arithmetic mod ``p`` on int64 arrays (exact)."""

    exact = True

    def __init__(self, p: int = PRIME):
        self.p = p
        self.name = f"GF({p})"

    def const(self, a: Any) -> np.ndarray:
        a = np.asarray(a, dtype=object)
        return np.array([self.scalar(x) for x in a.ravel()], dtype=np.int64).reshape(a.shape)

    def scalar(self, c: Any) -> int:
        """c mod p for an integer or fraction.

        Raises:
            NotExactError: the denominator is divisible by p.
        """
        if isinstance(c, (int, np.integer)):
            return int(c) % self.p
        c = Fraction(str(c)) if not isinstance(c, (int, Fraction)) else Fraction(c)
        if c.denominator % self.p == 0:
            raise NotExactError(f"the coefficient {c} has a denominator divisible by p")
        return c.numerator * pow(c.denominator, -1, self.p) % self.p

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        hi, lo = a >> 16, a & 0xFFFF
        return ((hi @ b % self.p) * 65536 + lo @ b) % self.p

    def add(self, a: Any, b: Any) -> Any:
        return (a + b) % self.p

    def sub(self, a: Any, b: Any) -> Any:
        return (a - b) % self.p

    def scale(self, c: int, a: Any) -> Any:
        return (c * a) % self.p  # both below 2³¹: the product fits in int64

    def hadamard(self, a: Any, b: Any) -> Any:
        return (a * b) % self.p

    def zeros(self, shape: Any) -> Any:
        return np.zeros(shape, dtype=np.int64)

    def eye(self, n: Any) -> Any:
        return np.eye(n, dtype=np.int64)

    def ones(self, shape: Any) -> Any:
        return np.ones(shape, dtype=np.int64)

    def inv(self, a: Any) -> Any:
        """a⁻¹ mod p.

        Raises:
            NotExactError: a is singular mod p.
        """
        n = a.shape[0]
        m = flint.nmod_mat(n, n, [int(x) for x in a.ravel()], self.p)
        try:
            mi = m.inv()
        except ZeroDivisionError:
            raise NotExactError("a matrix to invert is singular at this point (mod p)") from None
        return np.array([int(x) for x in mi.entries()], dtype=np.int64).reshape(n, n)

    def rank(self, rows: np.ndarray) -> int:
        if rows.size == 0:
            return 0
        r, c = rows.shape
        return flint.nmod_mat(r, c, [int(x) for x in rows.ravel()], self.p).rank()

    def nullspace(self, rows: np.ndarray) -> np.ndarray:
        """A basis of {c : rows @ c = 0} as the columns of a matrix in reduced form (pivot entries 1)."""
        r, c = rows.shape
        m = flint.nmod_mat(r, c, [int(x) for x in rows.ravel()], self.p)
        # the null space from the rref: free columns give the basis vectors
        red, rank = m.rref()
        R = np.array([int(x) for x in red.entries()], dtype=object).reshape(r, c)[:rank]
        pivots = [int(np.nonzero(R[i])[0][0]) for i in range(rank)]
        free = [j for j in range(c) if j not in set(pivots)]
        basis = np.zeros((c, len(free)), dtype=object)
        for k, j in enumerate(free):
            basis[j, k] = 1
            for i, pj in enumerate(pivots):
                basis[pj, k] = (-R[i, j]) % self.p
        return basis

    def is_zero(self, a: Any) -> bool:
        return not np.any(a)


class MP:
    """mpmath arithmetic on object arrays at ``digits`` significant digits (not exact)."""

    exact = False

    def __init__(self, digits: int = 60):
        self.digits = digits
        self.name = f"mpmath, {digits} digits"

    def const(self, a: Any) -> np.ndarray:
        a = np.asarray(a, dtype=object)
        return np.array([mpmath.mpf(x) if not isinstance(x, Fraction) else mpmath.mpf(x.numerator) / x.denominator
                         for x in a.ravel()], dtype=object).reshape(a.shape)

    def scalar(self, c: Any) -> Any:
        c = Fraction(str(c)) if not isinstance(c, (int, Fraction)) else Fraction(c)
        return mpmath.mpf(c.numerator) / c.denominator

    def matmul(self, a: Any, b: Any) -> Any:
        return np.dot(a, b)

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def sub(self, a: Any, b: Any) -> Any:
        return a - b

    def scale(self, c: Any, a: Any) -> Any:
        return c * a

    def hadamard(self, a: Any, b: Any) -> Any:
        return a * b

    def zeros(self, shape: Any) -> Any:
        return np.full(shape, mpmath.mpf(0), dtype=object)

    def eye(self, n: Any) -> Any:
        out = self.zeros((n, n))
        for i in range(n):
            out[i, i] = mpmath.mpf(1)
        return out

    def ones(self, shape: Any) -> Any:
        return np.full(shape, mpmath.mpf(1), dtype=object)

    def inv(self, a: Any) -> Any:
        return np.array(mpmath.inverse(mpmath.matrix(a.tolist())).tolist(), dtype=object)

    def is_zero(self, a: Any) -> bool:
        return all(x == 0 for x in np.ravel(a))


class Jet:
    """A matrix over GF(p)[ε₁…ε_k]/(ε_i²) (or mpmath numbers): ``coeffs[mask]`` multiplies Π_{i∈mask} ε_i."""

    __slots__ = ("ring", "coeffs", "shape")

    def __init__(self, ring, coeffs: dict, shape: tuple):
        self.ring, self.coeffs, self.shape = ring, coeffs, tuple(shape)

    @classmethod
    def constant(cls, ring: Any, a: Any) -> "Jet":
        return cls(ring, {0: a}, a.shape)

    @property
    def primal(self) -> Any:
        return self.coeffs.get(0, self.ring.zeros(self.shape))

    def __add__(self, other: "Jet") -> "Jet":
        out = dict(self.coeffs)
        for k, v in other.coeffs.items():
            out[k] = self.ring.add(out[k], v) if k in out else v
        return Jet(self.ring, out, self.shape)

    def __neg__(self) -> "Jet":
        return self.scaled(self.ring.scalar(-1))

    def __sub__(self, other: "Jet") -> "Jet":
        return self + (-other)

    def scaled(self, c: Any) -> "Jet":
        return Jet(self.ring, {k: self.ring.scale(c, v) for k, v in self.coeffs.items()}, self.shape)

    def _product(self, other: "Jet", op, shape) -> "Jet":
        out: dict = {}
        for ka, a in self.coeffs.items():
            for kb, b in other.coeffs.items():
                if ka & kb:
                    continue  # ε_i² = 0
                v = op(a, b)
                k = ka | kb
                out[k] = self.ring.add(out[k], v) if k in out else v
        return Jet(self.ring, out or {0: self.ring.zeros(shape)}, shape)

    def __matmul__(self, other: "Jet") -> "Jet":
        return self._product(other, self.ring.matmul, (self.shape[0], other.shape[1]))

    def hadamard(self, other: "Jet") -> "Jet":
        return self._product(other, self.ring.hadamard, self.shape)

    @property
    def T(self) -> "Jet":
        return Jet(self.ring, {k: np.ascontiguousarray(v.T) for k, v in self.coeffs.items()}, self.shape[::-1])

    def inv(self) -> "Jet":
        """(A₀ + N)⁻¹ = Σ_j (−A₀⁻¹N)^j A₀⁻¹, a finite sum since N (the ε part) is nilpotent."""
        a0inv = Jet.constant(self.ring, self.ring.inv(self.primal))
        nil = Jet(self.ring, {k: v for k, v in self.coeffs.items() if k}, self.shape)
        if not nil.coeffs:
            return a0inv
        step = -(a0inv @ nil)
        out, term = a0inv, a0inv
        for _ in range(bin(max(nil.coeffs)).count("1") + len(nil.coeffs)):
            term = step @ term
            if all(self.ring.is_zero(v) for v in term.coeffs.values()):
                break
            out = out + term
        return out

    def part(self, mask: int) -> Any:
        return self.coeffs.get(mask, self.ring.zeros(self.shape))
