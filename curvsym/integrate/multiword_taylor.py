r"""The multi-word Taylor engine: Taylor coefficients of a polynomial tape at BLAS speed.

Coefficients are those of the *time-scaled* solution τ ↦ x(t₀ + sτ),
x̃_k = s^k x_k, so that with a step h = θs (θ ≤ 1) the state is Σ_k x̃_k θ^k and
absolute errors in x̃_k are never amplified.  The recurrences of
:mod:`curvsym.integrate.taylor` become

    x̃_{k+1} = s [f]~_k / (k + 1),    [ab]~_k = Σ_{j=0}^{k} ã_j b̃_{k−j}.

The Cauchy sum of order k is *one* stacked product ``[ã_0 ⋯ ã_k] [b̃_k; ⋯; b̃_0]``
instead of k + 1 small ones, and each product is computed by exact Ozaki slices
(:mod:`curvsym.kernels.multiword.words`).  Each coefficient block is sliced once,
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
costs one call per node.  With a C compiler at hand, double-double NumPy runs of
widths ≤ 64 take the compiled recurrence of :mod:`curvsym.kernels.multiword.compiled`
instead (term by term at widths ≤ 8; at 9–64 the same float-path / exact-level
choices as :meth:`CompiledTape._dd_cauchy`, in C: no Python per product), and this
program stays their fallback and the route of CuPy / torch arrays and of w ≥ 3.

The first step of a run starts from s = 1, usually far from the radius: its scale is
chosen from a float64 series (every product on the float path: :meth:`MultiwordEngine.rough_series`,
≈ 16 digits, enough for a step size), and the full series is computed once, at that scale.

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

import functools
import math
from typing import Any, Sequence

import mpmath
import numpy as np

from ..errors import EngineError
from ..kernels.multiword import compiled as ddkernel
from ..kernels.multiword import words as mw


class MultiwordEngine:
    """Double-, triple- or quad-double arithmetic on float64 arrays (NumPy; CuPy/torch via ``xp``).

    Raises:
        PrecisionError: ``dps`` beyond what four words carry (> 62 digits): use the flint engine.
    """

    def __init__(self, dps: int, xp=None, device=None, words: int | None = None, blas_threads: int | None = 1,
                 compiled: bool | None = None):
        self.blas_threads = blas_threads
        self.compiled = compiled
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

    def order_norms(self, c: list) -> list:
        """max_i max|c_i[k]| for every order k (leading words; one vectorised pass per variable)."""
        top = None
        for ci in c:
            h = ci.hi if isinstance(ci, ddkernel.Blocks) else np.stack([mw._to_host(ck[0]) for ck in ci])
            h = h.reshape(len(h), -1)
            m = np.maximum(h.max(axis=1), -h.min(axis=1))  # max|x| per order without a temporary |h|
            top = m if top is None else np.maximum(top, m)
        make, from_float = mpmath.mp.make_mpf, mpmath.libmp.from_float  # (mpf(float) by its constructor: 3× slower)
        return [make(from_float(v)) for v in top.tolist()]

    def max_abs(self, a: mw.MW) -> mpmath.mpf:
        return mpmath.mpf(mw.max_abs(a))

    def check_finite(self, a: mw.MW, what: str) -> None:
        mw.check_finite(a, what)

    # the Taylor series ----------------------------------------------------
    def compile(self, tape: Any, like: mw.MW) -> Any:
        """The tape compiled for this engine: the C kernel of :mod:`curvsym.kernels.multiword.compiled` at double-double
        and small widths when a C compiler is at hand (``compiled=None``, the default; ``True`` requires it,
        ``False`` never uses it), else the stacked BLAS program.

        Raises:
            EngineError: ``compiled=True`` but the kernel cannot run here (more than two words, non-NumPy
                arrays, or no working C compiler).
        """
        program = CompiledTape(tape, self, like)
        if self.compiled is False:
            return program
        if ddkernel.supports(tape, like, self.words):
            return ddkernel.KernelTape(tape, program, fallback=self.compiled is None)
        if self.compiled:
            raise EngineError("the compiled double-double kernel needs double-double (dps ≤ 30), NumPy arrays, a "
                              "polynomial tape and a working C compiler (cc, or $CC)")
        return program

    def taylor_series(self, program: "CompiledTape", x: Sequence[mw.MW], order: int, scale: Any) -> tuple[list, float]:
        """(coefficients ``c[i][k]``, k = 0..order, of τ ↦ x(t + sτ); rounding estimate of the step).

        BLAS runs on ``blas_threads`` threads meanwhile (default 1: on a busy 2-core machine OpenBLAS with
        2 threads was measured at 1.7 GFLOP/s on the (64 × 448)(448 × 64) products of this engine, against
        35 GFLOP/s with one; None leaves the library's setting alone).
        """
        controller = _blas_controller() if self.blas_threads is not None and program.uses_blas else None
        if controller is None:
            c = program.run(x, order, scale)
        else:
            with controller.limit(limits=self.blas_threads, user_api="blas"):
                c = program.run(x, order, scale)
        scale_x = max(1.0, max(mw.max_abs(a) for a in x))
        return c, self.u * (program.n_ops + 4) * scale_x

    def rough_series(self, program: Any, x: Sequence[mw.MW], order: int, scale: Any) -> list | None:
        """Coefficients of τ ↦ x(t + sτ) with every product in float64 (≈ 16 digits), for choosing the first
        step's scale s at a fraction of a series' cost (the step then computes the series at that s); None where
        the program offers none (the term-by-term C kernel, whose full series is as cheap; w ≥ 3)."""
        rough = getattr(program, "run_rough", None)
        if rough is None:
            return None
        controller = _blas_controller() if self.blas_threads is not None and program.uses_blas else None
        if controller is None:
            return rough(x, order, scale)
        with controller.limit(limits=self.blas_threads, user_api="blas"):
            return rough(x, order, scale)

    @staticmethod
    def rounding_weight(theta: Any, order: int) -> Any:
        """Σ_{k≤K} θ^k: absolute errors u·‖x‖ in every x̃_k enter the step with weight θ^k."""
        return (1 - theta ** (order + 1)) / (1 - theta) if theta < 1 else order + 1

    def horner(self, c: list, theta: Any) -> mw.MW:
        """Σ_k c_k θ^k (θ a w-word scalar) by Horner's rule in w-word arithmetic (double-double NumPy arrays:
        the compiled loop of :mod:`curvsym.kernels.multiword.compiled` when it is available)."""
        th = mw.scalar(theta, self.words, c[0][0])
        if self.words == 2 and self.compiled is not False and isinstance(c[0][0], np.ndarray) and ddkernel.available():
            return ddkernel.horner(c, th)
        acc = c[-1]
        for ck in reversed(c[:-1]):
            acc = mw.add(ck, mw.mul(acc, th))
        return acc


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, inspected once (a fresh inspection reads the process's
    memory maps: ≈ 3 ms); None without threadpoolctl (installed with scikit-learn)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - run with the library's own setting
        return None
    return ThreadpoolController()


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
        ex = (E[None, ...] - (xp.reshape(xp.arange(levels, dtype=xp.float64), (levels, 1, 1)) - HEADROOM + 1) * beta + 51)
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
        # the slices of those levels by the compiled one-pass routines (the same bits as the NumPy passes)
        self.slice_kernel = engine.compiled is not False and ddkernel.available()
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
        self.uses_blas = True
        self.kernel = "blas"
        # double-double product work: coefficient-block pairs of the Cauchy sums, and the (n-inner) block
        # products issued for them — one each on the float path, e(e+1)/2 + e + 1 on the sliced one; their
        # ratio is the product work in units of the float64 floor (one product per pair)
        self.work = {"pairs": 0, "blocks": 0}
        self._rough = False  # run_rough: every Cauchy sum on the float path
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
    def run_rough(self, x: Sequence[mw.MW], order: int, scale: Any) -> list[list] | None:
        """The series with every Cauchy sum one float64 product of the stacked leading words (≈ 16 digits: enough
        to choose a scale), double-double NumPy only (else None); not counted in :attr:`work`."""
        if self.w != 2 or not isinstance(x[0][0], np.ndarray):
            return None
        work, self._rough = dict(self.work), True
        try:
            return self.run(x, order, scale)
        finally:
            self.work, self._rough = work, False

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
                    sd.S[:, :, jj, ...] = 0.0
                else:
                    sd.S[sd.order - jj, ...] = 0.0
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
                r = xp.round(word[None, ...] * sd.inv_grid) * sd.grid  # word rounded to each level's grid g_i (exact)
                d = xp.concat([r[:1, ...], r[1:, ...] - r[:-1, ...]], axis=0)  # exact: slice i = r_i − r_{i−1}
                acc = d if acc is None else acc + d
            if sd.axis == -1:
                sd.S[:, :, jj, ...] = xp.permute_dims(acc, (1, 0, 2))
            else:
                sd.S[sd.order - jj, ...] = xp.permute_dims(acc, (1, 0, 2))
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

    def _stacked(self, node: _Node, side: str, word: int, j0: int, j1: int, k: int) -> np.ndarray:
        """Word ``word`` of the blocks that pair up in order k, as one strided view without copies.

        Row side (left factor): ã_{j0}, …, ã_{j1} side by side, shape (m, J, n).  Column side (right
        factor): b̃_{k−j0}, …, b̃_{k−j1} stacked, shape (J, n, p).  A non-constant node keeps every
        block's words in one buffer for the step — row side (m, K+1, n) with block j at j, column side
        (K+1, n, p) with block j at K − j — so that the blocks of any order are a contiguous range;
        exact zero blocks are stored as zeros.  A constant node has block 0 only (J = 1).
        """
        return self._stack(node, side, word, j0, j1, k)[0]

    def _extent(self, node: _Node, side: str, j0: int, j1: int, k: int) -> np.ndarray:
        """Row maxima max_c |ã_{j,rc}| (row side, shape (J, m)) or column maxima max_r |b̃_{k−j,rc}|
        (column side, (J, p)) of the leading words of the blocks that pair up in order k; each block's
        maxima are taken once per step."""
        return self._stack(node, side, 0, j0, j1, k)[1]

    def _stack(self, node: _Node, side: str, word: int, j0: int, j1: int, k: int) -> tuple:
        row = side == "row"
        if node.const:
            key = ("const", side, word)
            got = node.sides.get(key)
            if got is None:
                a = node.coef[0][word]
                ext = np.max(np.abs(a), axis=-1 if row else -2)[None]
                got = node.sides[key] = (a[:, None, :] if row else a[None], ext)
            return got
        K = self._order_cap
        st = node.sides.get(("stack", side, word))
        if st is None:
            a0 = node.coef[0][word]
            m, n = a0.shape
            want = (m, K + 1, n) if row else (K + 1, m, n)
            key = (node.idx, side, word, K)
            buf = self._buffers.get(key)
            if buf is None or buf.shape != want:
                buf = self._buffers[key] = np.empty(want)
            ext = np.zeros((K + 1, m if row else n))
            st = node.sides[("stack", side, word)] = [buf, ext, 0]
        buf, ext, done = st
        top = j1 if row else k - j0
        while done <= top:
            c = node.coef[done]
            at = done if row else K - done
            if c is None:
                if row:
                    buf[:, at, :] = 0.0
                else:
                    buf[at] = 0.0
                ext[at] = 0.0
            else:
                if row:
                    buf[:, at, :] = c[word]
                else:
                    buf[at] = c[word]
                ext[at] = np.max(np.abs(c[word]), axis=-1 if row else -2)
            done += 1
        st[2] = done
        if row:
            return buf[:, j0:j1 + 1, :], ext[j0:j1 + 1]
        return buf[K - k + j0:K - k + j1 + 1], ext[K - k + j0:K - k + j1 + 1]

    def _pairs(self, na: _Node, nb: _Node, k: int) -> tuple | None:
        """The block pairs (ã_j, b̃_{k−j}) of order k's Cauchy sum: (j0, j1, [max|ã_j|], [max|b̃_{k−j}|] for
        j0 ≤ j ≤ j1, S = product of the stacked block maxima, inner dimension n); None when there is no pair
        (a constant operand has block 0 only)."""
        j0 = k if nb.const else 0
        j1 = 0 if na.const else k
        if j0 > j1:
            return None
        ma = self._maxes(na, j1)
        mb = self._maxes(nb, 0 if nb.const else k - j0)
        js = range(j0, j1 + 1)
        pair_a = [ma[j] for j in js]
        pair_b = [mb[0] if nb.const else mb[k - j] for j in js]
        return j0, j1, pair_a, pair_b, max(ma) * max(mb), na.coef[0][0].shape[-1]

    def _float_cauchy(self, na: _Node, nb: _Node, k: int, pairs: tuple, force: bool = False) -> mw.MW | None:
        """Σ_j ã_{j,0} b̃_{k−j,0} as one float64 product of the stacked leading words, when that is accurate enough.

        Double-double only.  The float64 product of the stacked leading words errs by at most
        (N + 2) 2^{−53} n S_k (N = stacked inner length; the +2 for the dropped ã_{j,1}b̃ + ã b̃_{k−j,1}),
        S_k = Σ_j max|ã_j| max|b̃_{k−j}|; every order must be exact to 4·2^{−106} n S with
        S = max_j max|ã_j| · max_j max|b̃_j| over the stacked blocks (what the sliced product guarantees).
        Since S_k decays like e^{−2k} (θ ≤ 1 scaling), the high orders of the recurrence (k ≳ 20 at 30
        digits) pass this test and cost one BLAS product instead of ~10 sliced ones.
        """
        j0, j1, pair_a, pair_b, s0, n = pairs
        sk = float(np.asarray(pair_a) @ np.asarray(pair_b))
        if sk == 0.0:
            return None
        if sk * ((j1 - j0 + 1) * n + 2) > s0 * 4 * 2.0 ** -53 and not force:
            return None
        left = self._stacked(na, "row", 0, j0, j1, k)
        right = self._stacked(nb, "col", 0, j0, j1, k)
        m, J, _ = left.shape
        self.work["pairs"] += J
        self.work["blocks"] += J
        hi = np.reshape(left, (m, J * n)) @ np.reshape(right, (J * n, right.shape[-1]))
        return (hi, np.zeros_like(hi))

    def _dd_cauchy(self, na: _Node, nb: _Node, k: int, pairs: tuple) -> mw.MW | None:
        """Double-double Σ_j ã_j b̃_{k−j} with as many exact slice levels as this order needs.

        Each pair is first balanced by an exact power of two (ã_j 2^{−a_j}, b̃_{k−j} 2^{a_j}, both ≈
        √(max|ã_j| max|b̃_{k−j}|)), so that the stacked operands' row / column maxima 2^{E_r}, 2^{F_c} are
        those of this order's terms, not of block 0.  The leading words are cut into slices of β bits
        on those grids, slice i by the exact rounding s_i = fl(fl(r + σ_i) − σ_i), σ_i = 1.5·2^{E_r−(i+1)β+52}
        (r the remainder after slices 0..i−1); levels l < e are exact BLAS products (β from
        2β + 1 + log₂(e N) ≤ 52), with e = ⌈(log₂(N M/τ) − 53)/β⌉, M = max 2^{E_r} · max 2^{F_c}, τ =
        4·2^{−106} n S the target of every order (S: product of the stacked block maxima); everything
        below level e and the cross terms ã₀b̃₁ + ã₁b̃₀ are float64 products, whose rounding is then ≤ τ.
        The low orders need e ≈ 3, the middle ones 1–2 (at N = 4, d = 64, 30 digits: e = 3 at orders
        0–4, 2 at 5–14, 1 at 15–22, then the float path).

        Level l is one product [A⁰ ⋯ Aˡ][Bˡ; ⋯; B⁰] of stacked slices, and everything below the levels is
        one more, [A⁰ ⋯ A^{e−1} a_r][b_r^{e−1}; ⋯; b_r^0; b₀] (a_r, b_r^i the remainders after e and after
        i + 1 slices), so an order costs e + 1 BLAS calls on buffers reused through the step.  The cross
        terms join that float product as a_r + ã₁ and b_r^i + b̃₁: the roundings of those sums are
        ≤ 2^{−53} of the remainders, the tail's own error, and the dropped a_r b̃₁ + ã₁b̃₁ are
        ≤ 2^{−53−eβ} N M ≤ τ.
        """
        j0, j1, pair_a, pair_b, S, n = pairs
        tau = 4 * 2.0 ** -106 * n * S
        if tau == 0.0 or not any(x > 0 and y > 0 for x, y in zip(pair_a, pair_b)):
            return None
        # balancing powers of two: ã_j 2^{−a_j}, b̃_{k−j} 2^{a_j}
        # (a pair with a zero factor is multiplied by 0: it contributes nothing and must not set the grids)
        live = np.asarray([x > 0 and y > 0 for x, y in zip(pair_a, pair_b)])
        sh = np.asarray([(math.frexp(x)[1] - math.frexp(y)[1]) // 2 if x > 0 and y > 0 else 0
                         for x, y in zip(pair_a, pair_b)], dtype=np.int64)
        fa = np.where(live, np.ldexp(1.0, -sh), 0.0)
        fb = np.where(live, np.ldexp(1.0, sh), 0.0)
        J = len(sh)
        N = J * n
        top_a = math.frexp(max(x * f for x, f in zip(pair_a, fa)))[1]
        top_b = math.frexp(max(y * f for y, f in zip(pair_b, fb)))[1]
        M = math.ldexp(1.0, top_a + top_b)
        cross = 2.0 ** -53 * 2 * N * M > tau
        need = math.log2(N * M / tau) - 53
        e = max(0, math.ceil(need / 15.0)) if need > 0 else 0
        beta = 0
        for _ in range(3):
            beta = int((52 - math.log2(max(1, e) * N)) // 2)
            e = max(0, math.ceil(need / beta)) if need > 0 else 0
        if beta < 8 or e > 6:
            return None
        if cross and e == 0:
            e = 1  # the cross terms are folded into the remainders below (error ≤ 2^{−53−eβ} N M ≤ τ)
        la = self._stacked(na, "row", 0, j0, j1, k)
        lb = self._stacked(nb, "col", 0, j0, j1, k)
        m, p = la.shape[0], lb.shape[-1]
        L = self._scratch(("L", m, (e + 1) * N), (m, e + 1, J, n))  # [A⁰ ⋯ A^{e−1} a_r]
        R = self._scratch(("R", p, (e + 1) * N), (e + 1, J, n, p))  # [b_r^{e−1}; ⋯; b_r^0; b₀]
        if not e:
            np.multiply(la, fa[None, :, None], out=L[:, 0])
            np.multiply(lb, fb[:, None, None], out=R[0])
            levels = []
        else:
            # per-row / per-column exponents of the balanced operands, from each block's cached maxima
            Er = np.frexp(np.max(self._extent(na, "row", j0, j1, k) * fa[:, None], axis=0))[1]
            Fc = np.frexp(np.max(self._extent(nb, "col", j0, j1, k) * fb[:, None], axis=0))[1]
            Bs = self._scratch(("B", p, e * N), (e, J, n, p))  # [B^{e−1}; ⋯; B⁰]
            # ã₁, b̃₁ join the float part when the cross terms count: a_r + a₁ and b_r^i + b₁ round by
            # ≤ 2^{−53} of the remainders (an error of the tail's own size); a_r b₁ + a₁ b₁ (≤ 2^{−53−eβ} N M)
            # are dropped
            a1 = self._stacked(na, "row", 1, j0, j1, k) if cross else None
            b1 = self._stacked(nb, "col", 1, j0, j1, k) if cross else None
            if self.slice_kernel:  # one compiled pass per operand: the NumPy passes' operations, the same bits
                ddkernel.slice_rows(la, a1, fa, Er.astype(np.intc), beta, e, L)
                ddkernel.slice_cols(lb, b1, fb, Fc.astype(np.intc), beta, e, R, Bs)
            else:
                self._slices_numpy(la, lb, a1, b1, fa, fb, Er, Fc, beta, e, L, R, Bs)
            Lf, Bf = np.reshape(L, (m, (e + 1) * N)), np.reshape(Bs, (e * N, p))
            levels = [Lf[:, :(lv + 1) * N] @ Bf[(e - 1 - lv) * N:] for lv in range(e)]
        self.work["pairs"] += J
        self.work["blocks"] += J * (e * (e + 1) // 2 + e + 1)
        tail = np.reshape(L, (m, (e + 1) * N)) @ np.reshape(R, ((e + 1) * N, p))
        return mw.accumulate_levels(levels + [tail], 2) if levels else (tail, np.zeros_like(tail))

    def _slices_numpy(self, la, lb, a1, b1, fa, fb, Er, Fc, beta: int, e: int, L, R, Bs) -> None:
        """The slicing of :meth:`_dd_cauchy` by NumPy passes (no compiler, or ``compiled=False``): L[:, i] and
        Bs[e − 1 − i] slice i of the balanced operands on their row / column grids, L[:, e] and R[e − 1 − i]
        the remainders (plus the balanced second words a1, b1 when given), R[e] the balanced b."""
        m, J, n = la.shape
        p = lb.shape[-1]
        np.multiply(la, fa[None, :, None], out=L[:, e])
        np.multiply(lb, fb[:, None, None], out=R[e])
        for i in range(e):
            sa = np.ldexp(1.5, Er - (i + 1) * beta + 52)[:, None, None]  # ulp(σ) is slice i's grid
            sb = np.ldexp(1.5, Fc - (i + 1) * beta + 52)[None, None]
            Ai = L[:, i]
            np.add(L[:, e], sa, out=Ai)
            np.subtract(Ai, sa, out=Ai)
            np.subtract(L[:, e], Ai, out=L[:, e])  # a_r: the remainder after slices 0..i
            Bi = Bs[e - 1 - i]
            rest = R[e] if i == 0 else R[e - i]
            np.add(rest, sb, out=Bi)
            np.subtract(Bi, sb, out=Bi)
            np.subtract(rest, Bi, out=R[e - 1 - i])  # b_r^i
        if a1 is not None:
            t = self._scratch(("a1", m, J * n), (m, J, n))
            np.multiply(a1, fa[None, :, None], out=t)
            np.add(L[:, e], t, out=L[:, e])
            t = self._scratch(("b1", p, J * n), (J, n, p))
            np.multiply(b1, fb[:, None, None], out=t)
            for q in range(e):
                np.add(R[q], t, out=R[q])

    def _scratch(self, key: tuple, shape: tuple) -> np.ndarray:
        """A float64 work array of ``shape`` kept for the integration (no page faults per order)."""
        buf = self._buffers.get(key)
        if buf is None or buf.size < math.prod(shape):
            buf = self._buffers[key] = np.empty(math.prod(shape))
        return buf[:math.prod(shape)].reshape(shape)

    def _cauchy(self, na: _Node, nb: _Node, k: int, order_cap: int) -> mw.MW:
        """[ab]~_k = Σ_j ã_j b̃_{k−j} by exact level products of the stacked slices (or one float64 product
        of the leading words where that is accurate enough: :meth:`_float_cauchy`)."""
        pairs = self._pairs(na, nb, k) if self.w == 2 and isinstance(na.coef[0][0], np.ndarray) else None
        if pairs is not None:  # the double-double NumPy fast paths; other namespaces and w ≥ 3 below
            fast = self._float_cauchy(na, nb, k, pairs, self._rough) if k > 0 or self._rough else None
            if fast is None and self.dd_levels:
                fast = self._dd_cauchy(na, nb, k, pairs)
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
