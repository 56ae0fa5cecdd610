r"""Multi-word arrays with operators: what generated code and GBS need, on float64 words.

:class:`MWArray` wraps a w-word array (:mod:`curvsym.kernels.multiword.words`: a
tuple of w float64 arrays whose sum is the value) and gives it the operators a
generated right-hand side uses — ``a @ b``, ``a.mT``, ``a ± b``, ``−a``, scalar
``c * a`` (c an int, float, ``mpf`` or multi-word scalar) — plus indexing along
leading axes and stacking, so that one generated source runs unchanged on mpf
object arrays, float64 arrays and multi-word arrays.  Leading batch axes
broadcast as in NumPy.

Double-double (w = 2) has fast paths written for small matrices, where the cost
is the number of NumPy calls:

* sum: s + e = a₀ + b₀ exactly (TwoSum), then s + (e + a₁ + b₁) renormalised —
  error ≤ 2u²(|a| + |b|) (u = 2⁻⁵³; the "sloppy" double-double sum, normwise);
* product A B: the exact part A₀B₀ by Ozaki slices of the leading words
  (three slices on per-row / per-column grids 2^{E_r − iβ}, β = ⌊(53 −
  ⌈log₂ 3n⌉)/2⌋, so every level product l = i + j ≤ 2 is an exact float64
  BLAS product, the rest O(2^{−3β}) relative), the cross terms A₀B₁ + A₁B₀ in
  plain float64 (they are O(u) relative, their rounding O(u²)), A₁B₁ dropped
  (O(u²)); error ≤ c n u² max_k|A_rk| max_k|B_kc| with c ≈ 4;
* elementwise product: Dekker's TwoProd of the leading words plus the cross terms.

Triple- and quad-double use the distillation routines of :mod:`multiword`.

Where a C compiler is at hand (:mod:`curvsym.kernels.multiword.compiled`) the small-matrix work runs compiled, and
its results are *packed*: one (w, …) float64 array whose entry i is word i, so that the next call reads an
operand through one address (a call costs a few µs of Python, more than the arithmetic on 3 × 3 matrices).
Indexing, ``mT``, ``reshape``, negation and power-of-two scaling of a packed array stay packed.
The compiled loops:
double- and triple-double entrywise sums and products and triple-double products (inner dimension ≤ 64) with
exactly the operations above, so the words agree bit for bit; double-double products with inner dimension
≤ 16 as Σ_k DWTimesDW(a_ik, b_kj) summed by AccurateDWPlusDW, error ≤ 8 n u² Σ_k|a_ik||b_kj| (tighter
than the sliced product's bound).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import mpmath
import numpy as np

from ...errors import NonFiniteError
from . import compiled
from . import words as mw

__all__ = ["MWArray", "lift", "scalar", "from_mpf", "stack", "eye", "zeros", "rcond"]


def rcond(w: int) -> float:
    """The relative eigenvalue cutoff of rank decisions at w words: 10^{−⌊digits/2⌋} (digits = ⌊15.95 w⌋)."""
    return 10.0 ** (-(int(w * mw.DIGITS_PER_WORD) // 2))


# --------------------------------------------------------------------------- double-double kernels

def _dd_add(a0, a1, b0, b1):
    s = a0 + b0
    bb = s - a0
    e = (a0 - (s - bb)) + (b0 - bb)
    e = e + (a1 + b1)
    hi = s + e
    return hi, e - (hi - s)


def _dd_mul(a0, a1, b0, b1):
    p = a0 * b0
    c = mw.SPLITTER * a0
    ah = c - (c - a0)
    al = a0 - ah
    c = mw.SPLITTER * b0
    bh = c - (c - b0)
    bl = b0 - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    e = e + (a0 * b1 + a1 * b0)
    hi = p + e
    return hi, e - (hi - p)


@functools.lru_cache(maxsize=64)
def _offsets(ndim: int, beta: int) -> np.ndarray:
    """log₂(σ_i / 3) − E = 51 − (i + 1)β for the three slice levels, shaped to broadcast against (…, m, 1)."""
    return (51 - beta * np.arange(1, 4)).reshape((3,) + (1,) * ndim)


def _slices3(x, axis: int, beta: int):
    """Exact slices of x stacked on a new leading axis, x = s₀ + s₁ + s₂ + r.

    s_i lies on the grid 2^{E − (i+1)β} (E per row for axis=−1, per column for axis=−2, |x| < 2^E),
    by the exact rounding t = fl(fl(x + σ) − σ), σ = 3·2^{E − (i+1)β + 51}; r = x − (s₀ + s₁ + s₂).
    """
    m = np.max(np.abs(x), axis=axis, keepdims=True)
    E = np.frexp(m)[1]
    sig = np.ldexp(3.0, E + _offsets(x.ndim, beta))
    r = (x + sig) - sig  # x rounded to the grids of levels 0, 1, 2 (exact)
    d = r.copy()
    d[1:] -= r[:-1]  # exact: consecutive roundings differ by a multiple of the finer grid
    return d, x - r[2]


@functools.lru_cache(maxsize=256)
def _beta(n: int) -> int:
    return (53 - math.ceil(math.log2(3 * max(n, 1)))) // 2


def _dd_matmul(a0, a1, b0, b1):
    n = a0.shape[-1]
    if n == 0:
        z = a0 @ b0
        return z, z
    beta = _beta(n)
    A, ra = _slices3(a0, -1, beta)  # (3, …, m, n)
    B, rb = _slices3(b0, -2, beta)  # (3, …, n, p)
    # [A0 A1 A2] along the inner axis and [B2; B1; B0]: level l is the product of the first l + 1 blocks
    Ac = np.moveaxis(A, 0, -2).reshape(*A.shape[1:-1], 3 * n)
    Bc = np.moveaxis(B[::-1], 0, -3).reshape(*B.shape[1:-2], 3 * n, B.shape[-1])
    l0 = Ac[..., :n] @ Bc[..., 2 * n:, :]
    l1 = Ac[..., :2 * n] @ Bc[..., n:, :]
    l2 = Ac @ Bc
    # levels ≥ 3 and the cross terms in plain float64 (relative size 2^{−3β} and u):
    # ra b₀ + (a₀ − ra) rb + A1 B2 + A2 (B1 + B2) + a₀ b₁ + a₁ b₀
    tail = (np.concatenate((ra, a0 - ra, A[1], A[2], a0, a1), axis=-1)
            @ np.concatenate((b0, rb, B[2], B[1] + B[2], b1, b0), axis=-2))
    s = l0 + l1
    bb = s - l0
    e = (l0 - (s - bb)) + (l1 - bb)
    s2 = s + l2
    bb = s2 - s
    e = e + ((s - (s2 - bb)) + (l2 - bb)) + tail
    hi = s2 + e
    return hi, e - (hi - s2)


# --------------------------------------------------------------------------- w ≥ 3: sliced products, extraction sums

def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _td_add(a, b):
    """Triple-double a + b (normwise error ≤ c u³ (|a| + |b|))."""
    s0, e0 = _two_sum(a[0], b[0])
    s1, e1 = _two_sum(a[1], b[1])
    s1, t = _two_sum(s1, e0)
    s2 = (a[2] + b[2]) + (e1 + t)
    s1, s2 = _two_sum(s1, s2)
    s0, s1 = _two_sum(s0, s1)
    s1, s2 = _two_sum(s1, s2)
    return s0, s1, s2


def _td_mul(a, b):
    """Triple-double a·b elementwise: exact TwoProducts of the orders 0 and 1, order 2 in float64 (error O(u³))."""
    p0, e0 = mw.two_prod(a[0], b[0])
    p1, e1 = mw.two_prod(a[0], b[1])
    p2, e2 = mw.two_prod(a[1], b[0])
    t = (a[0] * b[2] + a[1] * b[1] + a[2] * b[0]) + (e1 + e2)
    s1, f1 = _two_sum(p1, p2)
    s1, f2 = _two_sum(s1, e0)
    s2 = t + (f1 + f2)
    s1, s2 = _two_sum(s1, s2)
    p0, s1 = _two_sum(p0, s1)
    s1, s2 = _two_sum(s1, s2)
    return p0, s1, s2


@functools.lru_cache(maxsize=256)
def _plan(w: int, n: int) -> tuple[int, int]:
    """(β, L): L exact slice levels of β bits, 2β + log₂(2.3 L n) ≤ 53 (every level sum exact), and
    L β ≥ 53(w − 1) + log₂(L n): a level below L, rounded once in float64, errs by ≤ u^w relative."""
    L = 6
    for _ in range(4):
        beta = int((53 - math.log2(2.3 * L * max(n, 1))) // 2)
        L = math.ceil((53 * (w - 1) + math.log2(L * max(n, 2))) / beta)
    return beta, L


@functools.lru_cache(maxsize=64)
def _level_onehot(L: int) -> np.ndarray:
    oh = np.zeros((L * L, 2 * L - 1))
    for i in range(L):
        for j in range(L):
            oh[i * L + j, i + j] = 1.0
    return oh


def _slices_all(X, axis: int, beta: int, L: int):
    """Slices (L, …) of the w-word value X (words stacked on axis 0) on per-row/column grids, and the remainder."""
    m = np.max(np.abs(X[0]), axis=axis, keepdims=True)
    E = np.frexp(m)[1]
    g = (E - beta * np.arange(1, L + 1).reshape((L,) + (1,) * m.ndim))[:, None]  # log₂ of the grids, (L, 1, …)
    r = np.ldexp(np.rint(np.ldexp(X, -g)), g)  # (L, w, …): every word rounded to every level's grid (exact)
    d = r.copy()
    d[1:] -= r[:-1]
    return d.sum(axis=1), (X - r[-1]).sum(axis=0)


def _extract(V, w: int):
    """The leading w words of Σ_l V_l (axis 0) by error-free extraction (Rump, Ogita & Oishi's ExtractVector)."""
    n = V.shape[0]
    M = math.ceil(math.log2(n + 2))
    tot = np.sum(np.abs(V), axis=0)
    sig = np.ldexp(1.0, np.frexp(tot)[1] + M)
    phi = 2.0 ** (M - 52)
    out = []
    for _ in range(math.ceil((53 * w + 8) / (52 - M))):
        q = (V + sig) - sig
        V = V - q
        out.append(q.sum(axis=0))
        sig = sig * phi
    out.append(V.sum(axis=0))
    # word i = fl(Σ of what is left), by one bottom-up VecSum pass over out[i:] (sums are preserved exactly);
    # what the last pass leaves below word w − 1 is ≤ n u |word_{w−1}| and is dropped
    for i in range(w):
        for j in range(len(out) - 1, i, -1):
            out[j - 1], out[j] = _two_sum(out[j - 1], out[j])
    return tuple(out[:w])


_COMPILED_MAX_INNER = {2: compiled.DD_MAX_INNER, 3: compiled.TD_MAX_INNER}


def _compiled(w: int, a: "MWArray", b: "MWArray") -> bool:
    """Whether the w-word arrays ``a``, ``b`` go to the compiled loops (double- or triple-double NumPy arrays,
    the library available)."""
    return (w in (2, 3) and (a.packed is not None or isinstance(a.words[0], np.ndarray))
            and (b.packed is not None or isinstance(b.words[0], np.ndarray)) and compiled.available())


def _entrywise(op: str, a: "MWArray", b: "MWArray") -> "MWArray":
    """a + b (``op="add"``) or a·b (``"mul"``) of w-word arrays: the compiled loop for double- and triple-double
    (bitwise the NumPy routines; the result packed), else :func:`_dd_add` / :func:`_dd_mul`, :func:`_td_add` /
    :func:`_td_mul`, or the distilled :func:`multiword.add` / :func:`multiword.mul`."""
    w = a.w
    if _compiled(w, a, b):
        return MWArray(packed=compiled.elementwise(op, a.operand, b.operand))
    x, y = a.words, b.words
    if w == 2:
        return MWArray((_dd_add if op == "add" else _dd_mul)(*x, *y))
    if w == 3:
        return MWArray((_td_add if op == "add" else _td_mul)(x, y))
    return MWArray((mw.add if op == "add" else mw.mul)(x, y))


def _matmul(a: "MWArray", b: "MWArray") -> "MWArray":
    """A B of w-word arrays: the compiled loop for double-double (inner dimension ≤ 16: 8 n u² Σ|a||b|) and
    triple-double (≤ 64: bitwise :func:`_td_matmul_small`, faster than the sliced product at every inner
    dimension up to 64 — measured 27 × 27 × 1 in 32 against 228 µs, 64³ in 5.0 against 14.4 ms), the result
    packed, else :func:`_dd_matmul` / :func:`_mw_matmul`."""
    w = a.w
    if _compiled(w, a, b) and a.shape[-1] <= _COMPILED_MAX_INNER[w]:
        return MWArray(packed=compiled.matmul(a.operand, b.operand))
    return MWArray(_dd_matmul(*a.words, *b.words) if w == 2 else _mw_matmul(a.words, b.words))


def _basic_index(idx: Any) -> bool:
    """Whether ``idx`` is a basic index (ints, slices, Ellipsis, None): prefixing ``slice(None)`` for the word
    axis then indexes every word alike."""
    parts = idx if type(idx) is tuple else (idx,)
    return all(type(i) in (int, slice) or i is Ellipsis or i is None for i in parts)


TD_SMALL_INNER = 8
"""Triple-double products with an inner dimension up to this take :func:`_td_matmul_small`: for
the 2 × 2 … 8 × 8 matrices of most theorems its ~40 NumPy calls on m·n·p entries cost 3–5× less
than the sliced product's fixed overhead (measured: 2 × 2, 4 × 4 and stacks of them)."""


def _td_matmul_small(a, b):
    """Triple-double A B by exact elementwise products and pairwise sums over the inner index.

    Each a_ik b_kj is formed by :func:`_td_mul` (error O(u³)|a_ik||b_kj|), the n products are summed
    pairwise by :func:`_td_add` (⌈log₂ n⌉ levels, each ≤ c u³ (|x| + |y|)), so the error is
    ≤ c′ ⌈log₂ n⌉ u³ Σ_k |a_ik||b_kj| (u = 2⁻⁵³) — no larger than the sliced product's
    c n u³ max_k|a_rk| max_k|b_kc|.
    """
    P = _td_mul(tuple(x[..., :, :, None] for x in a), tuple(y[..., None, :, :] for y in b))  # (…, m, n, p)
    n = P[0].shape[-2]
    if n == 0:
        return tuple(np.sum(x, axis=-2) for x in P)
    while n > 1:
        h = n // 2
        S = _td_add(tuple(x[..., :h, :] for x in P), tuple(x[..., h:2 * h, :] for x in P))
        if n % 2:
            S = tuple(np.concatenate((s, x[..., 2 * h:, :]), axis=-2) for s, x in zip(S, P))
        P, n = S, h + n % 2
    return tuple(x[..., 0, :] for x in P)


def _mw_matmul(a, b):
    """A B for w ≥ 3 words: the first w − 1 words sliced, all slice products in one exact float64 product,
    level sums by a 0/1 product, everything below level L (remainders, the last word) in float64.
    Triple-double products with a small inner dimension go to :func:`_td_matmul_small` (where a C compiler is
    at hand, :func:`_matmul` sends them to its compiled twin first)."""
    w = len(a)
    n = a[0].shape[-1]
    if w == 3 and n <= TD_SMALL_INNER:
        return _td_matmul_small(a, b)
    beta, L = _plan(w, n)
    A, ra = _slices_all(np.stack(a[:-1]), -1, beta, L)  # (L, …, m, n)
    B, rb = _slices_all(np.stack(b[:-1]), -2, beta, L)  # (L, …, n, p)
    As = np.moveaxis(A, 0, -3)
    As = As.reshape(*As.shape[:-3], L * As.shape[-2], n)
    Bs = np.moveaxis(B, 0, -2)
    Bs = Bs.reshape(*Bs.shape[:-3], n, L * Bs.shape[-1])
    P = As @ Bs  # (…, L m, L p): every block product exact
    m, p = A.shape[-2], B.shape[-1]
    P = P.reshape(*P.shape[:-2], L, m, L, p)
    P = np.moveaxis(P, (-4, -2), (-2, -1)).reshape(*P.shape[:-4], m, p, L * L)
    lev = np.moveaxis(P @ _level_onehot(L), -1, 0)  # (2L − 1, …, m, p): exact level sums
    af, bf = sum(a[1:-1], a[0]), sum(b[1:-1], b[0])  # the sliced words, in float64
    al, bl = a[-1], b[-1]
    # (E_A + r_A + a_l)(E_B + r_B + b_l) − E_A E_B = r_A B′ + (A′ − r_A) r_B + a_l (B′ + b_l) + A′ b_l
    tail = lev[L:].sum(axis=0) + (np.concatenate((ra, af - ra, al, af), axis=-1)
                                  @ np.concatenate((bf, rb, bf + bl, bl), axis=-2))
    V = np.concatenate((lev[:L], tail[None]), axis=0)
    return _extract(V, w)


# --------------------------------------------------------------------------- the array class

class MWArray:
    """A w-word array x = Σ_i words[i] (float64 arrays of one shape) with NumPy-like operators.

    The words are held as a tuple, or *packed* as one float64 array of shape (w, …) whose entry i is word i
    (what the compiled loops of :mod:`curvsym.kernels.multiword.compiled` return and read through one address); the
    tuple of a packed array is made when it is first asked for.
    """

    __slots__ = ("_words", "packed")
    __array_ufunc__ = None  # NumPy defers to our reflected operators
    __curvsym_multiword__ = True

    def __init__(self, words: Sequence[Any] | None = None, packed: np.ndarray | None = None):
        self._words = None if words is None else tuple(words)
        self.packed = packed

    @property
    def words(self) -> tuple:
        ws = self._words
        if ws is None:
            ws = self._words = tuple(self.packed)
        return ws

    # ------------------------------------------------------------ structure
    @property
    def w(self) -> int:
        return len(self.packed) if self._words is None else len(self._words)

    @property
    def shape(self) -> tuple:
        return self.packed.shape[1:] if self._words is None else self._words[0].shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def hi(self) -> np.ndarray:
        return self.words[0]

    @property
    def operand(self) -> Any:
        """What the compiled loops of :mod:`curvsym.kernels.multiword.compiled` read: the packed words where there
        are, else the word tuple."""
        return self.words if self.packed is None else self.packed

    def as_packed(self) -> np.ndarray:
        """The words as one (w, …) array (the packed array itself where there is one, else a stacked copy)."""
        return np.stack(self.words) if self.packed is None else self.packed

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx: Any) -> "MWArray":
        P = self.packed
        if P is not None and _basic_index(idx):
            return MWArray(packed=P[(slice(None),) + (idx if type(idx) is tuple else (idx,))])
        return MWArray(tuple(x[idx] for x in self.words))

    def reshape(self, *shape: Any) -> "MWArray":
        if self.packed is not None:
            dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
            return MWArray(packed=self.packed.reshape((self.w, *dims)))
        return MWArray(tuple(x.reshape(*shape) for x in self.words))

    @property
    def mT(self) -> "MWArray":
        if self.packed is not None:
            return MWArray(packed=np.swapaxes(self.packed, -1, -2))
        return MWArray(tuple(np.swapaxes(x, -1, -2) for x in self.words))

    @property
    def T(self) -> "MWArray":
        return MWArray(tuple(x.T for x in self.words))

    def float(self) -> np.ndarray:
        """The value rounded to float64 (leading word plus the rest)."""
        out = self.words[-1]
        for x in reversed(self.words[:-1]):
            out = x + out
        return out

    def max_abs(self) -> float:
        return float(np.max(np.abs(self.words[0]))) if self.size else 0.0

    def to_mpf(self) -> np.ndarray:
        """The exact value of every entry as an object array of mpf."""
        return mw.to_mpf(self.words)

    def __repr__(self) -> str:
        return f"MWArray(words={self.w}, shape={self.shape})"

    # ------------------------------------------------------------ arithmetic
    def _other(self, o: Any) -> "MWArray":
        return o if isinstance(o, MWArray) else lift(o, self.w)

    def __add__(self, o: Any) -> "MWArray":
        return _entrywise("add", self, self._other(o))

    __radd__ = __add__

    def __neg__(self) -> "MWArray":
        if self.packed is not None:
            return MWArray(packed=-self.packed)
        return MWArray(tuple(-x for x in self.words))

    def __pos__(self) -> "MWArray":
        return self

    def __sub__(self, o: Any) -> "MWArray":
        return self + (-self._other(o))

    def __rsub__(self, o: Any) -> "MWArray":
        return self._other(o) + (-self)

    def __mul__(self, c: Any) -> "MWArray":
        if isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool):
            f = float(c)
            if f == c and f != 0 and math.frexp(abs(f))[0] == 0.5:  # a power of two: exact word by word
                if self.packed is not None:
                    return MWArray(packed=self.packed * f)
                return MWArray(tuple(x * f for x in self.words))
        return _entrywise("mul", self, self._other(c))

    __rmul__ = __mul__

    def __truediv__(self, c: Any) -> "MWArray":
        if isinstance(c, MWArray):
            return self * reciprocal(c)
        return self * scalar(mpmath.mpf(1) / mpmath.mpf(c), self.w)

    def __matmul__(self, o: Any) -> "MWArray":
        return _matmul(self, self._other(o))

    def __rmatmul__(self, o: Any) -> "MWArray":
        return self._other(o) @ self


# --------------------------------------------------------------------------- constructors

def lift(x: Any, w: int) -> MWArray:
    """x as a w-word array: float arrays exactly, mpf / object arrays rounded to w words, MWArray as is."""
    if isinstance(x, MWArray):
        return x
    if isinstance(x, np.ndarray) and x.dtype != object:
        packed = np.zeros((w,) + x.shape)
        packed[0] = x
        return MWArray(packed=packed)
    if isinstance(x, np.ndarray):
        return from_mpf(x, w)
    return scalar(x, w)


def from_mpf(a: np.ndarray, w: int) -> MWArray:
    """An object array of mpf as w words (exact when it fits; see :func:`multiword.from_mpf`).

    Raises:
        NonFiniteError: an entry is NaN/inf or beyond 2^996.
    """
    return MWArray(packed=np.stack(mw.from_mpf(a, w)))


@functools.lru_cache(maxsize=4096)
def _scalar_words(raw: tuple, w: int) -> tuple:
    return tuple(np.float64(f) for f in mw._mpf_words(raw, w))


def scalar(v: Any, w: int) -> MWArray:
    """A 0-d w-word scalar from an int, float, string or mpf (rounded to w words).

    Raises:
        NonFiniteError: the value is NaN or infinite.
    """
    if isinstance(v, MWArray):
        return v
    if isinstance(v, (float, np.floating)) or (isinstance(v, (int, np.integer)) and abs(int(v)) < 2 ** 53):
        f = np.float64(v)
        if not math.isfinite(f):
            raise NonFiniteError(f"scalar {v} is not finite")
        return MWArray((f,) + (np.float64(0.0),) * (w - 1))
    return MWArray(_scalar_words(mpmath.mpf(v)._mpf_, w))


def stack(arrays: Sequence[MWArray], axis: int = 0) -> MWArray:
    w = arrays[0].w
    if all(a.packed is not None for a in arrays):
        return MWArray(packed=np.stack([a.packed for a in arrays], axis=axis + 1 if axis >= 0 else axis))
    return MWArray(tuple(np.stack([a.words[i] for a in arrays], axis=axis) for i in range(w)))


def eye(n: int, w: int) -> MWArray:
    packed = np.zeros((w, n, n))
    packed[0] = np.eye(n)
    return MWArray(packed=packed)


def zeros(shape: tuple, w: int) -> MWArray:
    return MWArray(packed=np.zeros((w, *shape)))


def reciprocal(x: MWArray) -> MWArray:
    """1/x elementwise by Newton's iteration r ← r + r(1 − x r) from the float64 reciprocal (quadratic)."""
    r = lift(1.0 / x.hi, x.w)
    for _ in range(max(1, math.ceil(math.log2(x.w)))):
        r = r + r * (1.0 - x * r)
    return r


def diagonal(x: MWArray) -> MWArray:
    return MWArray(tuple(np.diagonal(v, axis1=-2, axis2=-1) for v in x.words))


def diag_embed(d: MWArray) -> MWArray:
    n = d.shape[-1]
    out = []
    idx = np.arange(n)
    for v in d.words:
        z = np.zeros(v.shape + (n,))
        z[..., idx, idx] = v
        out.append(z)
    return MWArray(tuple(out))


def join(parts: Sequence[MWArray], batch: int = 0) -> MWArray:
    """The arrays flattened behind their first ``batch`` (shared) axes and concatenated along the last:
    shape (*lead, P), P = Σ the parts' trailing sizes; :func:`split` undoes it."""
    w = parts[0].w
    return MWArray(packed=np.concatenate([p.as_packed().reshape(w, *p.shape[:batch], -1) for p in parts],
                                         axis=-1))


def split(x: MWArray, shapes: Sequence[tuple]) -> tuple:
    """The parts of a :func:`join`: the last axis of ``x`` cut into blocks of the sizes of ``shapes``, each
    reshaped to (*lead, *shape) as a contiguous packed array."""
    P, lead, out, at = x.as_packed(), x.shape[:-1], [], 0
    for shape in shapes:
        n = math.prod(shape)
        out.append(MWArray(packed=np.ascontiguousarray(P[..., at:at + n]).reshape(P.shape[0], *lead, *shape)))
        at += n
    return tuple(out)


def tree_sum(x: MWArray, axis: int) -> MWArray:
    """Σ over ``axis`` by pairwise multi-word sums (⌈log₂ n⌉ vectorised additions)."""
    x = MWArray(tuple(np.moveaxis(v, axis, 0) for v in x.words))
    while x.shape[0] > 1:
        n = x.shape[0]
        h = n // 2
        s = x[:h] + x[h:2 * h]
        x = s if n % 2 == 0 else MWArray(tuple(np.concatenate((a, b[2 * h:]), axis=0) for a, b in zip(s.words, x.words)))
    return x[0]
