r"""Multi-word floating point on float64 arrays: error-free transformations and BLAS-speed exact products.

A *w-word* value is an unevaluated sum x = x_0 + x_1 + ⋯ + x_{w−1} of float64
numbers with |x_{i+1}| ≤ ½ ulp(x_i) (a non-overlapping expansion).  w = 2 is
double-double (106 bits, 31.9 digits), w = 3 triple-double (159 bits), w = 4
quad-double (212 bits, 63.8 digits).  An array of w-word values is a tuple of w
float64 arrays of one shape, in any array-API namespace (NumPy; CuPy or PyTorch
on a GPU, unchanged).

Error-free transformations (Knuth, Dekker; Ogita, Rump & Oishi 2005, *SIAM J.
Sci. Comput.* 26):

* TwoSum:  s = fl(a + b),  e = (a − (s − b′)) + (b − b′),  b′ = s − a;   a + b = s + e exactly;
* Split:   c = (2²⁷ + 1) a,  a_h = c − (c − a),  a_l = a − a_h   (26-bit halves);
* TwoProd: p = fl(a b),  e = ((a_h b_h − p) + a_h b_l + a_l b_h) + a_l b_l;   a b = p + e exactly
  (|a|, |b| < 2⁹⁹⁶ so that the split cannot overflow).

Double-double sums and products follow Joldes, Muller & Popescu (2017, *ACM TOMS*
44): relative error ≤ 3u² (sum) and ≤ 5u² (product), u = 2⁻⁵³.  For w ≥ 3 the
exact partial terms are *distilled* (repeated VecSum, Ogita–Rump–Oishi) and the
leading w floats of the distilled sum are kept.

Matrix products use the Ozaki scheme (Ozaki, Ogita, Oishi & Rump 2012, *Numer.
Algorithms* 59): with a per-row exponent E_r of A and per-column exponent F_c
of B, each operand is cut into slices

    A = Σ_i A^{(i)},   A^{(i)}_{rj} ∈ 2^{E_r − (i+1)β} ℤ,   |A^{(i)}_{rj}| ≤ w 2^{E_r − iβ},

by the exact rounding t = fl(fl(a + σ) − σ), σ = 3·2^{E_r − (i+1)β + 51}.  Every
product A^{(i)} B^{(j)} is then a sum of n integers below w² 2^{2β} on one grid,
so float64 BLAS computes it *exactly* when 2β + log₂(n · levels) ≤ 52;
all pairs of one level l = i + j share the grid, so a level is one stacked product.
Levels past L = ⌈(53 w + log₂ n + 4) / β⌉ are dropped: the product is exact to
n · w² · 2^{E_r + F_c − (L+1)β} ≤ 2^{−53w} n max|A_r·| max|B_·c|, the natural
error of a dot product at w-word precision.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import array_api_compat
import mpmath
import numpy as np
from mpmath import libmp

from ...errors import NonFiniteError, PrecisionError

MW = tuple  # a w-word array: tuple of w float64 arrays of one shape

SPLITTER = 134217729.0  # 2^27 + 1
SPLIT_LIMIT = 2.0 ** 996  # |a| below this: Dekker's split cannot overflow
MAX_WORDS = 4
DIGITS_PER_WORD = 53 * math.log10(2)  # 15.95


# --------------------------------------------------------------------------- precision

def words_for_digits(dps: int) -> int:
    """Words w with 15.95 w ≥ dps + 1.5 (w ≤ 4).

    Raises:
        PrecisionError: dps is not an integer ≥ 15, or needs more than four words (> 62 digits):
            use the flint engine there.
    """
    if isinstance(dps, bool) or not isinstance(dps, (int, np.integer)) or dps < 15:
        raise PrecisionError(f"the multi-word engine needs an integer dps ≥ 15, got {dps!r}")
    w = max(2, math.ceil((dps + 1.5) / DIGITS_PER_WORD))
    if w > MAX_WORDS:
        raise PrecisionError(f"{dps} digits need {w} float64 words; the multi-word engine supports at most "
                             f"{MAX_WORDS} (≤ {max_digits()} digits): use engine='flint' for more digits")
    return w


def max_digits() -> int:
    """The largest dps the multi-word engine accepts."""
    return int(MAX_WORDS * DIGITS_PER_WORD - 1.5)


def unit_roundoff(w: int) -> float:
    """u_w = 2^{−53w}: the relative spacing of w-word values (double-double: 1.2e-32)."""
    return 2.0 ** (-53 * w)


# --------------------------------------------------------------------------- error-free transformations

def two_sum(a: Any, b: Any) -> Any:
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth; no branch, any ordering)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def fast_two_sum(a: Any, b: Any) -> Any:
    """(s, e) with a + b = s + e exactly, valid when |a| ≥ |b| or a = 0 (Dekker)."""
    s = a + b
    return s, b - (s - a)


def split(a: Any) -> Any:
    """(a_h, a_l): a = a_h + a_l with 26-bit halves (Dekker/Veltkamp); |a| < 2⁹⁹⁶."""
    c = SPLITTER * a
    h = c - (c - a)
    return h, a - h


def two_prod(a: Any, b: Any) -> Any:
    """(p, e) with p = fl(a b) and a b = p + e exactly (Dekker; no FMA needed)."""
    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def vec_sum(terms: list) -> list:
    """One VecSum pass: the last entry becomes fl(Σ) (cascaded), the sum of all entries is unchanged."""
    out = list(terms)
    for i in range(1, len(out)):
        out[i], out[i - 1] = two_sum(out[i], out[i - 1])
    return out


def distill(terms: list, w: int, passes: int = 3) -> MW:
    """The leading w words of Σ terms (terms ordered roughly from small to large magnitude)."""
    rest = list(terms)
    out = []
    for i in range(w):
        if not rest:
            out.append(out[-1] * 0.0)
            continue
        for _ in range(passes if i == 0 else 1):
            rest = vec_sum(rest)
        out.append(rest.pop())
    return _renormalize(out)


def _renormalize(words: list) -> MW:
    """Make consecutive words non-overlapping by fast-two-sum sweeps (bottom-up, then top-down)."""
    x = list(words)
    for _ in range(2):
        for i in range(len(x) - 1, 0, -1):
            x[i - 1], x[i] = fast_two_sum(x[i - 1], x[i])
        for i in range(len(x) - 1):
            x[i], x[i + 1] = fast_two_sum(x[i], x[i + 1])
    return tuple(x)


# --------------------------------------------------------------------------- elementwise arithmetic

def add(a: MW, b: MW) -> MW:
    """a + b to the word precision (double-double: Joldes–Muller–Popescu AccurateDWPlusDW, ≤ 3u²)."""
    if len(a) == 2:
        s, e = two_sum(a[0], b[0])
        t, f = two_sum(a[1], b[1])
        s, e = fast_two_sum(s, e + t)
        return fast_two_sum(s, e + f)
    terms = []
    for x, y in zip(reversed(a), reversed(b)):
        terms += [x, y]
    return distill(terms, len(a))


def neg(a: MW) -> MW:
    return tuple(-x for x in a)


def sub(a: MW, b: MW) -> MW:
    return add(a, neg(b))


def mul(a: MW, b: MW) -> MW:
    """Elementwise a·b (arrays or broadcastable scalars) to the word precision (dd: DWTimesDW, ≤ 5u²)."""
    w = len(a)
    if w == 2:
        p, e = two_prod(a[0], b[0])
        return fast_two_sum(p, e + (a[0] * b[1] + a[1] * b[0]))
    terms = []
    for order in range(w, -1, -1):  # small terms first
        for i in range(order + 1):
            j = order - i
            if i >= w or j >= w:
                continue
            if order == w:
                terms.append(a[i] * b[j])
            else:
                p, e = two_prod(a[i], b[j])
                terms += [e, p]
    return distill(terms, w)


def transpose(a: MW) -> MW:
    return tuple(_mT(x) for x in a)


def _mT(x):
    return x.mT if hasattr(x, "mT") else np.swapaxes(x, -1, -2)


def max_abs(a: MW) -> float:
    """max |x_0| over the leading word (a float; the value to 1 + 2^{−52})."""
    xp = _ns(a[0])
    return float(xp.max(xp.abs(a[0]))) if a[0].size else 0.0


def scalar(v: Any, w: int, like: Any) -> MW:
    """A w-word scalar (0-d arrays in the namespace and device of ``like``) from an mpf, int, float or string."""
    words = _mpf_words(mpmath.mpf(v)._mpf_, w)
    xp = _ns(like)
    return tuple(xp.asarray(f, dtype=xp.float64, device=getattr(like, "device", None)) for f in words)


# --------------------------------------------------------------------------- exact conversions

def _mpf_words(raw, w: int) -> list[float]:
    """The greedy w-word expansion of the mpf ``raw``: x_0 = fl(x), x_1 = fl(x − x_0), … (round to nearest).

    For x = ±m·2^e (mpmath's odd mantissa m of b bits) with e ≥ −1021 and b, b + e ≤ 1023 every word is a
    normal float64 and the expansion runs on Python integers: fl(m) by the correctly rounded int → float
    conversion, the remainder m − fl(m) exactly, each word scaled by 2^e exactly (the same words as mpmath's
    to_float / exact-subtraction route below, which takes the other cases).
    """
    sign, man, exp, bc = raw
    if man and exp >= -1021 and bc <= 1023 and bc + exp <= 1023:
        out = []
        for _ in range(w):
            f = float(man)
            out.append(math.ldexp(-f if sign else f, exp))
            man -= int(f)
        return out
    out = []
    for _ in range(w):
        f = libmp.to_float(raw, rnd=libmp.round_nearest)  # (to_float alone truncates)
        if math.isinf(f) or math.isnan(f):
            raise NonFiniteError(f"value {libmp.to_str(raw, 10)} is not representable in float64 words")
        out.append(f)
        raw = libmp.mpf_sub(raw, libmp.from_float(f), 0)  # exact (prec=0)
    return out


def from_mpf(a: np.ndarray, w: int, xp: Any=None, device: Any=None) -> MW:
    """An object array of mpf (or floats/ints) as w float64 words.

    Exact when every entry fits in w words (every float64 does); otherwise each
    entry is rounded, the words being the greedy expansion x_0 = fl(x),
    x_1 = fl(x − x_0), …  (relative error ≤ 2^{−53w}).

    Raises:
        NonFiniteError: an entry is NaN/±inf, or too large for float64 (|x| ≥ 2⁹⁹⁶ is refused so that
            Dekker's split cannot overflow).
    """
    a = np.asarray(a, dtype=object)
    words = [np.empty(a.shape, dtype=np.float64) for _ in range(w)]
    flats = [x.reshape(-1) for x in words]
    for idx, v in enumerate(a.flat):
        raw = v._mpf_ if isinstance(v, mpmath.mpf) else mpmath.mpf(v)._mpf_
        if raw in (libmp.fnan, libmp.finf, libmp.fninf):
            raise NonFiniteError(f"entry {np.unravel_index(idx, a.shape)} is {mpmath.mpf(raw)}")
        for k, f in enumerate(_mpf_words(raw, w)):
            flats[k][idx] = f
    if a.size and float(np.max(np.abs(words[0]))) >= SPLIT_LIMIT:
        raise NonFiniteError(f"an entry exceeds 2^996 in magnitude ({float(np.max(np.abs(words[0]))):.3e}); "
                             "multi-word arithmetic cannot represent it safely")
    if xp is None or xp is np:
        return tuple(words)
    return tuple(xp.asarray(x, device=device) for x in words)


def to_mpf(a: MW) -> np.ndarray:
    """The exact sum of the words of each entry, as an object array of mpf (no rounding).

    Raises:
        NonFiniteError: an entry is NaN or infinite.
    """
    host = [np.asarray(_to_host(x), dtype=np.float64) for x in a]
    out = np.empty(host[0].shape, dtype=object)
    for h in host:
        bad = np.flatnonzero(~np.isfinite(h))
        if bad.size:
            raise NonFiniteError(f"multi-word entry {int(bad[0])} is {h.reshape(-1)[bad[0]]}")
    # every word as an integer mantissa M·2^E (|M| < 2^53, exact), the sum of an entry's words on the
    # grid of its smallest exponent as one Python integer, normalised once by from_man_exp (exact)
    parts = []
    for h in host:
        m, e = np.frexp(h.reshape(-1))
        parts.append(((m * 2.0 ** 53).astype(np.int64).tolist(), (e - 53).tolist()))
    o = out.reshape(-1)
    make, norm = mpmath.mp.make_mpf, libmp.from_man_exp
    if len(parts) == 2:  # double-double: the same sums, without the per-entry list of terms (3× faster)
        (M0, E0), (M1, E1) = parts
        zero = make(libmp.fzero)
        for idx, (m0, e0, m1, e1) in enumerate(zip(M0, E0, M1, E1)):
            if not m1:
                o[idx] = make(norm(m0, e0)) if m0 else zero
            elif not m0:
                o[idx] = make(norm(m1, e1))
            elif e0 <= e1:
                o[idx] = make(norm(m0 + (m1 << (e1 - e0)), e0))
            else:
                o[idx] = make(norm((m0 << (e0 - e1)) + m1, e1))
        return out
    for idx in range(o.size):
        terms = [(M[idx], E[idx]) for M, E in parts if M[idx]]
        if not terms:
            o[idx] = make(libmp.fzero)
            continue
        low = min(E for _, E in terms)
        o[idx] = make(norm(sum(M << (E - low) for M, E in terms), low))
    return out


def _to_host(x):
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):  # CuPy
        return x.get()
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _ns(x):
    if isinstance(x, np.ndarray) or isinstance(x, (float, np.floating)):
        return np
    return array_api_compat.array_namespace(x)


def check_finite(a: MW, what: str = "multi-word array") -> None:
    """Raises NonFiniteError when a leading word is NaN/inf or beyond 2⁹⁹⁶ (where splitting overflows)."""
    xp = _ns(a[0])
    if not a[0].size:
        return
    m = float(xp.max(xp.abs(a[0])))
    if not math.isfinite(m) or m >= SPLIT_LIMIT:
        raise NonFiniteError(f"{what}: an entry is non-finite or beyond 2^996 (max |x| = {m:.3e})")


# --------------------------------------------------------------------------- Ozaki products

def exponent_above(xp: Any, m: Any) -> Any:
    """Integer-valued float array e with m < 2^e (and 2^{e−1} ≤ m for m > 0); 0 where m = 0."""
    if xp is np or getattr(xp, "__name__", "").endswith("numpy"):
        _, e = np.frexp(np.asarray(m))
        return e.astype(np.float64)
    pos = m > 0
    safe = xp.where(pos, m, xp.ones_like(m))
    e = xp.floor(xp.log2(safe)) + 1.0
    e = xp.where(xp.pow(2.0, e - 1.0) > safe, e - 1.0, e)
    e = xp.where(xp.pow(2.0, e) <= safe, e + 1.0, e)
    return xp.where(pos, e, xp.zeros_like(e))


def slice_width(n_inner: int, w: int, levels_hint: int = 8) -> int:
    """β: slices of β(+log₂ w) bits make every level product exact in float64 (2β + log₂(n·levels) + 2log₂w + 1 ≤ 53).

    Raises:
        PrecisionError: inner dimension … too large for exact float64 slice products.
    """
    # slice integers: ≤ 2^β at the first level, ≤ 2^{β−1} + 1 per word (≤ 2^β summed over words) below;
    # n products of two such integers sum to < 2^53 when 2β + log₂ n ≤ 52
    head = math.ceil(math.log2(max(2, n_inner * levels_hint)))
    beta = (52 - head) // 2
    if beta < 6:
        raise PrecisionError(f"inner dimension {n_inner} too large for exact float64 slice products")
    return beta


def n_levels(w: int, beta: int, n_inner: int) -> int:
    """L + 1 = ⌈(53w + log₂ n + 4)/β⌉ slice levels reach 2^{−53w} n max|A| max|B|."""
    return math.ceil((53 * w + math.log2(max(2, n_inner)) + 4) / beta)


def slices(a: MW, e: Any, beta: int, levels: int, axis: int) -> list:
    """Exact slices A^{(0)}, …, A^{(levels−1)} of the w-word array a on the grids 2^{e − (i+1)β}.

    ``e`` is the per-row (axis=-1 reductions, shape (…, m, 1)) or per-column (shape (…, 1, n)) exponent
    with |a| < 2^e; slice i is a float64 array whose entries are multiples of 2^{e−(i+1)β}.
    """
    xp = _ns(a[0])
    rem = list(a)
    out = []
    for i in range(levels):
        sigma = 3.0 * xp.pow(2.0, e - (i + 1) * beta + 51) if xp is not np else np.ldexp(3.0, (e - (i + 1) * beta + 51).astype(np.int64))
        s = None
        for k in range(len(rem)):
            t = (rem[k] + sigma) - sigma
            rem[k] = rem[k] - t
            s = t if s is None else s + t
        out.append(s)
    return out


def row_exponent(a: MW) -> Any:
    xp = _ns(a[0])
    return exponent_above(xp, xp.max(xp.abs(a[0]), axis=-1, keepdims=True) * (1 + 2.0 ** -50))


def col_exponent(b: MW) -> Any:
    xp = _ns(b[0])
    return exponent_above(xp, xp.max(xp.abs(b[0]), axis=-2, keepdims=True) * (1 + 2.0 ** -50))


def matmul(a: MW, b: MW) -> MW:
    """A B to the word precision by Ozaki slices: error ≤ 2^{−53w} n max_j|A_rj| max_j|B_jc| + u_w|AB|.

    All slice products are exact float64 BLAS calls (one stacked call per level).
    """
    w = len(a)
    xp = _ns(a[0])
    n = a[0].shape[-1]
    beta = slice_width(n, w)
    L = n_levels(w, beta, n)
    sa = slices(a, row_exponent(a), beta, L, -1)
    sb = slices(b, col_exponent(b), beta, L, -2)
    return accumulate_levels(level_products(sa, sb, xp), w)


def level_products(sa: list, sb: list, xp: Any) -> list:
    """P_l = Σ_{i+j=l} A^{(i)} B^{(j)} for l = 0..L (each exact: one stacked float64 product per level)."""
    L = len(sa)
    out = []
    for lev in range(L):
        if lev == 0:
            out.append(sa[0] @ sb[0])
        else:
            left = xp.concat([sa[i] for i in range(lev + 1)], axis=-1)
            right = xp.concat([sb[lev - i] for i in range(lev + 1)], axis=-2)
            out.append(left @ right)
    return out


def accumulate_levels(levels: list, w: int, beta: int | None = None) -> MW:
    """Σ_l P_l (exact floats; level l is on the grid 2^{c − lβ}, so magnitudes fall by ≈ 2^β per level) to w words.

    Levels more than 53(w − 1) + 12 bits below the first non-zero one are summed in plain float64 first
    (their rounding error is below 2^{−53w−12} of the result); the rest, smallest first, by a cascaded
    TwoSum kept as a double-double (Ogita–Rump–Oishi Sum2) for w = 2, by distillation for w ≥ 3.
    """
    if beta is not None and len(levels) > 2:
        xp = _ns(levels[0])
        nz = [bool(xp.any(lv != 0)) for lv in levels]
        if any(nz):
            top = nz.index(True)
            keep = top + math.ceil((53 * (w - 1) + 12) / beta) + 1
            if keep < len(levels) - 1:
                tail = levels[keep]
                for lv in levels[keep + 1:]:
                    tail = tail + lv
                levels = levels[top:keep] + [tail]
            else:
                levels = levels[top:]
    if w == 2:
        s = levels[-1]
        e = None
        for p in reversed(levels[:-1]):
            s, t = two_sum(p, s)
            e = t if e is None else e + t
        if e is None:
            return s, s * 0.0
        return fast_two_sum(s, e)
    return distill(list(reversed(levels)), w, passes=2)


def as_mw(x: Sequence) -> MW:
    return tuple(x)
