r"""The multi-word Taylor engine: Taylor coefficients of a polynomial tape at BLAS speed.

Coefficients are those of the *time-scaled* solution τ ↦ x(t₀ + sτ),
x̃_k = s^k x_k, so that with a step h = θs (θ ≤ 1) the state is Σ_k x̃_k θ^k and
absolute errors in x̃_k are never amplified.  The recurrences of
:mod:`curvsym.integrate.taylor` become

    x̃_{k+1} = s [f]~_k / (k + 1),    [ab]~_k = Σ_{j=0}^{k} ã_j b̃_{k−j}.

The Cauchy sum of order k is *one* stacked product [ã_0 ⋯ ã_k] [b̃_k; ⋯; b̃_0]
instead of k + 1 small ones, and each product is computed by exact Ozaki slices
(:mod:`curvsym.integrate.multiword`).  Each coefficient block is sliced once,
when it is first used, on a grid 2^{E_r − (n+1)β} fixed per row (left operand)
or per column (right operand) for the whole step; a block whose entries are
below 2^{E_r − n_j β} has no slices above level n_j, so the decaying
high-order blocks cost only the levels in which they are non-zero.  A level
n_a + n_b = l gathers every (block, slice) pair that lands on it into one
float64 product, exact by the choice of β.

Double-double orders whose terms are small relative to the stacked blocks —
S_k = Σ_j max|ã_j| max|b̃_{k−j}| ≤ 4·2^{−53} S/(N + 2), S the product of the
stacked maxima, N the stacked inner length — need no exact slices: one float64
product of the stacked leading words errs by at most (N + 2)2^{−53} n S_k ≤
4·2^{−106} n S, the accuracy the sliced product guarantees.  With the θ ≤ 1
time scaling S_k decays like e^{−2k}, so the orders k ≳ 20 of a 30-digit step
take this path (one BLAS product per order and node).

The other double-double orders (:meth:`CompiledTape._dd_cauchy`) balance every
pair by an exact power of two so that the slice grids are those of the order's
own terms, and take exact slice levels only as deep as the order needs (about
four at order 0, one near the float path); the rest of the product and the
cross terms ã₀b̃₁ + ã₁b̃₀ are float64 products whose rounding is below the
target.  Triple- and quad-double keep the fixed per-step grid described above.

The tape is compiled once per integration into a list of closures over
pre-converted constants (data matrices and their slices, scalars), so an order
costs one call per node.

Rounding estimate of a step: u_w (n_ops + 4) max(1, ‖x‖_max) Σ_{k≤K} θ^k,
u_w = 2^{−53w}: every node value is computed to a few u_w relative to the
operand magnitudes (Ozaki levels to 2^{−53w} n max|A| max|B|, sums and products
to ≤ 5u_w), so every x̃_k carries an absolute error of order u_w‖x‖ that enters
the step with weight θ^k; the factor (n_ops + 4) counts the operations that
feed one coefficient.  It is an estimate, validated against
runs at twice the digits (tests/test_multiword.py), not a rigorous bound — flint
remains the route with rigorous balls.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import mpmath
import numpy as np

from . import multiword as mw


class MultiwordEngine:
    """Double-, triple- or quad-double arithmetic on float64 arrays (NumPy; CuPy/torch via ``xp``).

    Raises:
        PrecisionError: ``dps`` beyond what four words carry (> 62 digits): use the flint engine.
    """

    def __init__(self, dps: int, xp=None, device=None, words: int | None = None, blas_threads: int | None = 1):
        self.blas_threads = blas_threads
        self.words = mw.words_for_digits(dps) if words is None else words
        self.dps = dps
        self.name = {2: "double-double", 3: "triple-double", 4: "quad-double"}[self.words]
        self.u = mw.unit_roundoff(self.words)
        self.format_digits = int(self.words * mw.DIGITS_PER_WORD)
        self.xp, self.device = xp, device
        self.needs_scaling = True  # absolute errors in x̃_k must not be amplified by θ^k > 1
        self.resolvable_digits = self.format_digits + 1
        self.unit = mpmath.mpf(self.u)

    @classmethod
    def with_words(cls, dps: int, words: int, xp: Any=None, device: Any=None) -> "MultiwordEngine":
        """An engine with exactly ``words`` words (more than dps needs: extra guard digits)."""
        return cls(dps, xp, device, words=words)

    def context(self) -> Any:
        return mpmath.workdps(self.format_digits + 10)

    # conversions ----------------------------------------------------------
    def load(self, a: np.ndarray) -> mw.MW:
        return mw.from_mpf(a, self.words, self.xp, self.device)

    def unload(self, a: mw.MW) -> np.ndarray:
        return mw.to_mpf(a)

    def midpoint(self, a: Any) -> Any:
        return a

    def max_abs(self, a: mw.MW) -> mpmath.mpf:
        return mpmath.mpf(mw.max_abs(a))

    def check_finite(self, a: mw.MW, what: str) -> None:
        mw.check_finite(a, what)

    # the Taylor series ----------------------------------------------------
    def compile(self, tape: Any, like: mw.MW) -> "CompiledTape":
        return CompiledTape(tape, self, like)

    def taylor_series(self, program: "CompiledTape", x: Sequence[mw.MW], order: int, scale: Any) -> tuple[list, float]:
        """(coefficients c[i][k], k = 0..order, of τ ↦ x(t + sτ); rounding estimate of the step).

        BLAS runs on ``blas_threads`` threads meanwhile (default 1: on a busy 2-core machine OpenBLAS with
        2 threads was measured at 1.7 GFLOP/s on the (64 × 448)(448 × 64) products of this engine, against
        35 GFLOP/s with one; None leaves the library's setting alone).
        """
        try:
            from threadpoolctl import threadpool_limits  # installed with scikit-learn
        except ImportError:  # pragma: no cover - run with the library's own setting
            threadpool_limits = None
        if self.blas_threads is None or threadpool_limits is None:
            c = program.run(x, order, scale)
        else:
            with threadpool_limits(limits=self.blas_threads, user_api="blas"):
                c = program.run(x, order, scale)
        scale_x = max(1.0, max(mw.max_abs(a) for a in x))
        return c, self.u * (program.n_ops + 4) * scale_x

    @staticmethod
    def rounding_weight(theta: Any, order: int) -> Any:
        """Σ_{k≤K} θ^k: absolute errors u·‖x‖ in every x̃_k enter the step with weight θ^k."""
        return (1 - theta ** (order + 1)) / (1 - theta) if theta < 1 else order + 1

    def horner(self, c: list, theta: Any) -> mw.MW:
        """Σ_k c_k θ^k (θ a w-word scalar) by Horner's rule in w-word arithmetic."""
        th = mw.scalar(theta, self.words, c[0][0])
        acc = c[-1]
        for ck in reversed(c[:-1]):
            acc = mw.add(ck, mw.mul(acc, th))
        return acc


class _Node:
    __slots__ = ("coef", "const", "sides", "idx", "maxes")

    def __init__(self, coef: list, const: bool, sides: dict | None = None, idx: int = -1):
        self.coef, self.const, self.idx = coef, const, idx
        self.maxes = None
        self.sides = {} if sides is None else sides  # 'row' / 'col' -> _Side


HEADROOM = 2  # slice levels above the block-0 exponent (blocks up to 2^{2β} larger than block 0)


class _Side:
    """Slices of every coefficient block of one node used as a left ('row') or right ('col') factor.

    Level index i ∈ [0, Λ) has grid g_i = 2^{E − (i − HEADROOM + 1)β}; E is per row (per column)
    and fixed for the step.  ``S[j, i]`` is slice i of block j; ``lead[j]``/``last[j]`` its first
    and last non-zero level (None: block j is zero).
    """

    __slots__ = ("E", "axis", "grid", "inv_grid", "S", "lead", "last", "limit", "done", "order")

    def __init__(self, E, axis: int, beta: int, levels: int, xp, shape, order: int, buffer=None):
        self.E, self.axis, self.order = E, axis, order
        ex = (E[None] - (xp.reshape(xp.arange(levels, dtype=xp.float64), (levels, 1, 1)) - HEADROOM + 1) * beta + 51)
        ex = ex - 51  # log₂ g_i
        self.grid = xp.pow(2.0, ex) if xp is not np else np.ldexp(1.0, ex.astype(np.int64))
        self.inv_grid = xp.pow(2.0, -ex) if xp is not np else np.ldexp(1.0, (-ex).astype(np.int64))
        self.limit = xp.pow(2.0, E + HEADROOM * beta) if xp is not np else np.ldexp(1.0, (E + HEADROOM * beta).astype(np.int64))
        # row side: (m, Λ, K+1, n): the blocks j0..j1 of one level are a (m, J·n) view;
        # column side: (K+1, n, Λ, p) with block jb stored at K − jb: blocks k−j1..k−j0 at levels ib0..ib1
        # are a (J·n, nb·p) view (uniform row stride Λp).  No copies before BLAS.
        want = (shape[0], levels, order + 1, shape[1]) if axis == -1 else (order + 1, shape[0], levels, shape[1])
        self.S = buffer if buffer is not None and tuple(buffer.shape) == want else xp.zeros(want, dtype=xp.float64)
        self.lead = np.full(order + 1, levels + 1)  # empty range for zero blocks
        self.last = np.full(order + 1, -1)
        self.done = 0


class CompiledTape:
    """A tape turned into a list of steps with pre-converted constants; see the module docstring."""

    def __init__(self, tape, engine: MultiwordEngine, like: mw.MW):
        self.tape, self.engine = tape, engine
        self.w = engine.words
        self.dd_levels = True  # double-double: per-order exact levels (_dd_cauchy) instead of the fixed grid
        w = self.w
        ops = tape.ops
        self.const_value: dict[int, mw.MW] = {}
        self.time_dependent = [False] * len(ops)
        self.scalars: dict[int, mw.MW] = {}
        for idx, op in enumerate(ops):
            if op.kind == "var":
                self.time_dependent[idx] = True
            elif op.kind == "const":
                self.const_value[idx] = engine.load(np.asarray(op.value, dtype=object))
            else:
                self.time_dependent[idx] = any(self.time_dependent[a] for a in op.args)
                if op.kind == "scale":
                    self.scalars[idx] = mw.scalar(op.value, w, like[0])
        # constant sub-expressions: evaluated once
        with mpmath.workdps(engine.format_digits + 10):
            for idx, op in enumerate(ops):
                if op.kind in ("var", "const") or self.time_dependent[idx]:
                    continue
                self.const_value[idx] = self._apply_const(idx, op)
        self.n_ops = sum(1 for i, op in enumerate(ops) if self.time_dependent[i] and op.kind != "var")
        self.var_nodes = [i for i, op in enumerate(ops) if op.kind == "var"]
        self.time_dependent_users = [True] * len(ops)

    def _apply_const(self, idx, op) -> mw.MW:
        v = [self.const_value[a] for a in op.args]
        k = op.kind
        if k == "add":
            return mw.add(v[0], v[1])
        if k == "sub":
            return mw.sub(v[0], v[1])
        if k == "neg":
            return mw.neg(v[0])
        if k == "scale":
            return mw.mul(v[0], self.scalars[idx])
        if k == "T":
            return mw.transpose(v[0])
        return mw.matmul(v[0], v[1])

    # ------------------------------------------------------------------ run
    def run(self, x: Sequence[mw.MW], order: int, scale: Any) -> list[list]:
        ops = self.tape.ops
        w = self.w
        like = x[0][0]
        nodes: list[_Node] = []
        for idx, op in enumerate(ops):
            if op.kind == "var":
                nodes.append(_Node([x[op.args[0]]], False, None, idx))
            elif not self.time_dependent[idx]:
                nodes.append(_Node([self.const_value[idx]], True, None))
            else:
                nodes.append(_Node([], False, None, idx))
        # β, levels from the largest stacked inner dimension this run can build
        inner = max(max(a[0].shape[-2:]) for a in list(x) + list(self.const_value.values()))
        levels = 10
        for _ in range(3):
            beta = mw.slice_width(inner * (order + 1), w, levels)
            levels = mw.n_levels(w, beta, inner * (order + 1)) + HEADROOM
        L = levels - HEADROOM - 1
        if (beta, L, order) != getattr(self, "_shape_key", None):
            self.beta, self.L, self.n_lev = beta, L, L + 1 + HEADROOM
            self._const_sides = {}
            self._buffers = {}
            self._shape_key = (beta, L, order)
            ia, ib = np.meshgrid(np.arange(self.n_lev), np.arange(self.n_lev), indexing="ij")
            keep = (ia + ib) <= L + 2 * HEADROOM
            pt = np.stack([ia[keep], ib[keep]], axis=1)
            self.pair_table = pt[np.argsort(pt.sum(axis=1), kind="stable")]
        self._order_cap = order
        for idx, node in enumerate(nodes):
            if node.const and self.time_dependent_users[idx]:
                node.sides = self._const_sides.setdefault(idx, {})
        factors = [mw.scalar(mpmath.mpf(scale) / (k + 1), w, like) for k in range(order)]
        out_nodes = self.tape.outputs
        for k in range(order):
            for idx, op in enumerate(ops):
                if op.kind == "var" or nodes[idx].const:
                    continue
                nodes[idx].coef.append(self._order(idx, op, nodes, k))
            for v, o in zip(self.var_nodes, out_nodes):
                src = nodes[o]
                if src.const:
                    fk = src.coef[0] if k == 0 else None
                else:
                    fk = src.coef[k]
                if fk is None:
                    nodes[v].coef.append(tuple(z * 0.0 for z in nodes[v].coef[0]))
                else:
                    nodes[v].coef.append(mw.mul(fk, factors[k]))
        return [nodes[v].coef for v in self.var_nodes]

    def _get(self, node: _Node, k: int):
        if node.const:
            return node.coef[0] if k == 0 else None
        return node.coef[k]

    def _order(self, idx, op, nodes, k):
        kind = op.kind
        if kind == "matmul":
            return self._cauchy(nodes[op.args[0]], nodes[op.args[1]], k, self._order_cap)
        a = self._get(nodes[op.args[0]], k)
        if kind in ("add", "sub"):
            b = self._get(nodes[op.args[1]], k)
            if b is None:
                return a
            if kind == "sub":
                b = mw.neg(b)
            return b if a is None else mw.add(a, b)
        if a is None:
            return None
        if kind == "neg":
            return mw.neg(a)
        if kind == "scale":
            return mw.mul(a, self.scalars[idx])
        return mw.transpose(a)  # 'T'

    # ------------------------------------------------------------------ stacked Ozaki Cauchy products
    def _side(self, node: _Node, side: str, order_cap: int) -> _Side:
        sd = node.sides.get(side)
        if sd is None:
            a0 = node.coef[0]
            xp = mw._ns(a0[0])
            axis = -1 if side == "row" else -2
            m = xp.max(xp.abs(a0[0]), axis=axis, keepdims=True)
            E = mw.exponent_above(xp, m * (1 + 2.0 ** -50))
            pos = m > 0
            top = xp.max(E) if bool(xp.any(pos)) else xp.asarray(0.0)
            E = xp.where(pos, E, top * xp.ones_like(E))
            key = (id(node.coef[0]) if node.const else node.idx, side)
            sd = node.sides[side] = _Side(E, axis, self.beta, self.n_lev, xp, a0[0].shape,
                                          0 if node.const else order_cap, self._buffers.get(key))
            self._buffers[key] = sd.S
        return sd

    def _ensure(self, node: _Node, side: str, k: int, order_cap: int) -> _Side:
        """Slice the coefficient blocks 0..k of ``node`` on ``side`` (each block once per step)."""
        sd = self._side(node, side, order_cap)
        top = 0 if node.const else k
        while sd.done <= top:
            jj = sd.done
            a = node.coef[jj]
            if a is None:  # an exact zero block: clear the reused buffer
                if sd.axis == -1:
                    sd.S[:, :, jj] = 0.0
                else:
                    sd.S[sd.order - jj] = 0.0
                sd.done += 1
                continue
            xp = mw._ns(a[0])
            if bool(xp.any(xp.abs(a[0]) >= sd.limit)):  # beyond the headroom: a larger E, re-slice
                big = mw.exponent_above(xp, xp.max(xp.abs(a[0]), axis=sd.axis, keepdims=True) * (1 + 2.0 ** -50))
                shift = float(xp.max(big - sd.E))
                E = sd.E + (math.ceil(shift / self.beta)) * self.beta
                node.sides[side] = sd = _Side(E, sd.axis, self.beta, self.n_lev, xp, a[0].shape, sd.order)
                continue
            acc = None
            for word in a:
                r = xp.round(word[None] * sd.inv_grid) * sd.grid  # word rounded to each level's grid g_i (exact)
                d = xp.concat([r[:1], r[1:] - r[:-1]], axis=0)  # exact: slice i = r_i − r_{i−1}
                acc = d if acc is None else acc + d
            if sd.axis == -1:
                sd.S[:, :, jj] = xp.permute_dims(acc, (1, 0, 2))
            else:
                sd.S[sd.order - jj] = xp.permute_dims(acc, (1, 0, 2))
            nz = np.asarray(mw._to_host(xp.any(acc != 0, axis=(1, 2))))
            idx = np.flatnonzero(nz)
            if idx.size:
                sd.lead[jj], sd.last[jj] = idx[0], idx[-1]
            sd.done += 1
        return sd

    def _maxes(self, node: _Node, j: int) -> list:
        """max|block| of the coefficient blocks 0..j of ``node`` (cached; exact zeros are 0)."""
        m = node.maxes
        if m is None:
            m = node.maxes = []
        while len(m) <= j:
            c = node.coef[len(m)]
            m.append(0.0 if c is None else mw.max_abs(c))
        return m

    def _float_cauchy(self, na: _Node, nb: _Node, k: int) -> mw.MW | None:
        """Σ_j ã_{j,0} b̃_{k−j,0} as one float64 product of the stacked leading words, when that is accurate enough.

        Double-double only.  The float64 product of the stacked leading words errs by at most
        (N + 2) 2^{−53} n S_k (N = stacked inner length; the +2 for the dropped ã_{j,1}b̃ + ã b̃_{k−j,1}),
        S_k = Σ_j max|ã_j| max|b̃_{k−j}|; every order must be exact to 4·2^{−106} n S with
        S = max_j max|ã_j| · max_j max|b̃_j| over the stacked blocks (what the sliced product guarantees).
        Since S_k decays like e^{−2k} (θ ≤ 1 scaling), the high orders of the recurrence (k ≳ 20 at 30
        digits) pass this test and cost one BLAS product instead of ~10 sliced ones.
        """
        j0 = k if nb.const else 0
        j1 = 0 if na.const else k
        if j0 > j1:
            return None
        ma = self._maxes(na, j1)
        mb = self._maxes(nb, 0 if nb.const else k - j0)
        if nb.const:
            sk = ma[k] * mb[0]
            js = [k] if na.coef[k] is not None else []
        else:
            a_ = np.asarray(ma[j0:j1 + 1])
            b_ = np.asarray(mb[k - j1:k - j0 + 1])[::-1]
            sk = float(a_ @ b_)
            js = list(range(j0, j1 + 1))
            if 0.0 in ma[j0:j1 + 1] or 0.0 in mb[k - j1:k - j0 + 1]:
                js = [j for j in js if na.coef[j] is not None and nb.coef[k - j] is not None]
        if not js:
            return None
        s0 = max(ma) * max(mb)
        n = na.coef[0][0].shape[-1]
        if sk * (len(js) * n + 2) > s0 * 4 * 2.0 ** -53:
            return None
        if len(js) == 1:
            hi = na.coef[js[0]][0] @ self._get(nb, k - js[0])[0]
        else:
            left = np.concatenate([na.coef[j][0] for j in js], axis=-1)
            right = np.concatenate([self._get(nb, k - j)[0] for j in js], axis=-2)
            hi = left @ right
        return (hi, np.zeros_like(hi))

    def _dd_cauchy(self, na: _Node, nb: _Node, k: int) -> mw.MW | None:
        """Double-double Σ_j ã_j b̃_{k−j} with as many exact slice levels as this order needs.

        Each pair is first balanced by an exact power of two (ã_j 2^{−a_j}, b̃_{k−j} 2^{a_j}, both ≈
        √(max|ã_j| max|b̃_{k−j}|)), so that the stacked operands' row / column maxima 2^{E_r}, 2^{F_c} are
        those of this order's terms, not of block 0.  The leading words are cut into slices of β bits
        on those grids; levels l < e are exact BLAS products (β from 2β + 1 + log₂(e N) ≤ 52), with
        e = ⌈(log₂(N M/τ) − 53)/β⌉, M = max 2^{E_r} · max 2^{F_c}, τ = 4·2^{−106} n S the target of
        every order (S: product of the stacked block maxima); everything below level e and the cross
        terms ã₀b̃₁ + ã₁b̃₀ are plain float64 products, whose rounding is then ≤ τ.  The low orders need
        e ≈ 4, the middle ones 1–2: ~10 BLAS products per pair at order 0, ~3 near the float path.
        """
        j0 = k if nb.const else 0
        j1 = 0 if na.const else k
        js = [j for j in range(j0, j1 + 1) if na.coef[j] is not None and self._get(nb, k - j) is not None]
        if not js:
            return None
        ma = self._maxes(na, j1)
        mb = self._maxes(nb, 0 if nb.const else k - j0)
        S = max(ma) * max(mb)
        n = na.coef[0][0].shape[-1]
        tau = 4 * 2.0 ** -106 * n * S
        if tau == 0.0:
            return None
        ea, eb = [], []
        for j in js:
            x, y = ma[j], (mb[0] if nb.const else mb[k - j])
            a = (math.frexp(x)[1] - math.frexp(y)[1]) // 2 if x > 0 and y > 0 else 0
            ea.append(-a)
            eb.append(a)
        A0 = [np.ldexp(na.coef[j][0], e) for j, e in zip(js, ea)]
        B0 = [np.ldexp(self._get(nb, k - j)[0], e) for j, e in zip(js, eb)]
        A1 = [np.ldexp(na.coef[j][1], e) for j, e in zip(js, ea)]
        B1 = [np.ldexp(self._get(nb, k - j)[1], e) for j, e in zip(js, eb)]
        a0 = np.concatenate(A0, axis=-1) if len(js) > 1 else A0[0]
        b0 = np.concatenate(B0, axis=-2) if len(js) > 1 else B0[0]
        N = a0.shape[-1]
        Er = np.frexp(np.max(np.abs(a0), axis=-1, keepdims=True))[1]
        Fc = np.frexp(np.max(np.abs(b0), axis=-2, keepdims=True))[1]
        M = math.ldexp(1.0, int(Er.max()) + int(Fc.max()))
        cross_needed = 2.0 ** -53 * 2 * N * M > tau
        need = math.log2(N * M / tau) - 53
        e = max(0, math.ceil(need / 15.0)) if need > 0 else 0
        beta = 0
        for _ in range(3):
            beta = int((52 - math.log2(max(1, e) * N)) // 2)
            e = max(0, math.ceil(need / beta)) if need > 0 else 0
        if beta < 8 or e > 6:
            return None
        levels = []
        if e == 0:
            tail = a0 @ b0
        else:
            ra, rb = [], []  # roundings of a0 (rows) and b0 (columns) to the grids of levels 0..e−1
            for i in range(e):
                ra.append(np.ldexp(np.rint(np.ldexp(a0, (i + 1) * beta - Er)), Er - (i + 1) * beta))
                rb.append(np.ldexp(np.rint(np.ldexp(b0, (i + 1) * beta - Fc)), Fc - (i + 1) * beta))
            As = [ra[0]] + [ra[i] - ra[i - 1] for i in range(1, e)]
            Bs = [rb[0]] + [rb[i] - rb[i - 1] for i in range(1, e)]
            for lv in range(e):
                acc = As[0] @ Bs[lv]
                for ia in range(1, lv + 1):
                    acc = acc + As[ia] @ Bs[lv - ia]
                levels.append(acc)
            # Σ_{ia+ib ≥ e}: A_ia (b₀ − r_{e−ia−1}(b₀)) for ia < e, plus (a₀ − r_{e−1}(a₀)) b₀
            tail = (a0 - ra[-1]) @ b0
            for ia in range(e):
                tail = tail + As[ia] @ (b0 - rb[e - ia - 1])
        if cross_needed:
            a1 = np.concatenate(A1, axis=-1) if len(js) > 1 else A1[0]
            b1 = np.concatenate(B1, axis=-2) if len(js) > 1 else B1[0]
            tail = tail + np.concatenate((a0, a1), axis=-1) @ np.concatenate((b1, b0), axis=-2)
        return mw.accumulate_levels(levels + [tail], 2) if levels else (tail, np.zeros_like(tail))

    def _cauchy(self, na: _Node, nb: _Node, k: int, order_cap: int) -> mw.MW:
        """[ab]~_k = Σ_j ã_j b̃_{k−j} by exact level products of the stacked slices (or one float64 product
        of the leading words where that is accurate enough: :meth:`_float_cauchy`)."""
        if self.w == 2:
            fast = self._float_cauchy(na, nb, k) if k > 0 else None
            if fast is None and self.dd_levels:
                fast = self._dd_cauchy(na, nb, k)
            if fast is not None:
                return fast
        A = self._ensure(na, "row", k, order_cap)
        B = self._ensure(nb, "col", k, order_cap)
        j0 = k if nb.const else 0
        j1 = 0 if na.const else k
        A0 = na.coef[0][0]
        xp = mw._ns(A0)
        if j0 > j1:
            z = xp.zeros((*A0.shape[:-1], nb.coef[0][0].shape[-1]), dtype=xp.float64)
            return tuple(z for _ in range(self.w))
        js = np.arange(j0, j1 + 1)
        kb = k - js
        la, ha = A.lead[js], A.last[js]
        lb, hb = B.lead[kb], B.last[kb]
        live = (la <= ha) & (lb <= hb)
        if not live.any():
            z = xp.zeros((*A0.shape[:-1], nb.coef[0][0].shape[-1]), dtype=xp.float64)
            return tuple(z for _ in range(self.w))
        cut = self.L + 2 * HEADROOM  # ia + ib ≤ cut
        m, n, p = A0.shape[-2], A0.shape[-1], nb.coef[0][0].shape[-1]
        acc = xp.zeros((m, cut + 1, p), dtype=xp.float64)
        Kb = B.order
        for ia in range(int(la[live].min()), min(int(ha[live].max()), cut) + 1):
            sel = live & (la <= ia) & (ha >= ia) & (lb <= cut - ia)
            if not sel.any():
                continue
            jsel = js[sel]
            ja0, ja1 = int(jsel[0]), int(jsel[-1])
            ib0 = int(lb[sel].min())
            ib1 = min(int(hb[sel].max()), cut - ia)
            J, nbl = ja1 - ja0 + 1, ib1 - ib0 + 1
            left = xp.reshape(A.S[:, ia, (0 if na.const else ja0):(0 if na.const else ja0) + J, :], (m, J * n))
            r0 = Kb - (k - ja0) if not nb.const else 0
            right = xp.reshape(B.S[r0:r0 + J, :, ib0:ib1 + 1, :], (J * n, nbl * p))
            acc[:, ia + ib0:ia + ib1 + 1, :] += xp.reshape(left @ right, (m, nbl, p))
        levels = [acc[:, lv, :] for lv in range(cut + 1)]
        return mw.accumulate_levels(levels, self.w, self.beta)


def _segment_sum(xp, prods, starts):
    ends = list(starts[1:]) + [prods.shape[0]]
    return xp.stack([xp.sum(prods[int(a):int(b)], axis=0) for a, b in zip(starts, ends)])
