"""Multi-word arithmetic and the multi-word / flint Taylor engines.

* error-free transformations are exact (checked in exact rational arithmetic);
* w-word sums, products and Ozaki matrix products are exact to the word precision (against mpmath at 600 bits);
* Taylor coefficients of the compiled, stacked tape equal those of the op-by-op mpmath replay;
* integrations at 30 (double-double) and 45 (triple-double) digits agree with flint at twice the digits, and the
  reported error estimate is honest: never below the measured error, at most 10⁴ above it;
* flint (exact midpoints at every op) delivers the digits asked for;
* bad input raises named errors.

Cost: about 30 s in all on 2 cores (the flint references at twice the digits dominate).
"""

from fractions import Fraction

import mpmath
import numpy as np
import pytest
from curvsym.problems import random_instance

import curvsym as cs
from curvsym.errors import EngineError, NonFiniteError, PrecisionError
from curvsym.kernels.multiword import compiled as ddkernel
from curvsym.kernels.multiword import words as mw
from curvsym.integrate.series_engines import MpmathEngine, make_engine
from curvsym.integrate.multiword_taylor import MultiwordEngine
from curvsym.integrate.state import to_mp
from curvsym.integrate.tape import taylor_coefficients, trace_polynomial


def _exact(a: np.ndarray) -> list:
    return [Fraction(float(v)) for v in np.ravel(a)]


# --------------------------------------------------------------------------- error-free transformations

def test_two_sum_and_two_prod_are_error_free():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(2000) * np.exp2(rng.integers(-40, 40, 2000))
    b = rng.standard_normal(2000) * np.exp2(rng.integers(-40, 40, 2000))
    s, e = mw.two_sum(a, b)
    assert all(x + y == p + q for x, y, p, q in zip(_exact(a), _exact(b), _exact(s), _exact(e)))
    p, e = mw.two_prod(a, b)
    assert all(x * y == u + v for x, y, u, v in zip(_exact(a), _exact(b), _exact(p), _exact(e)))
    # the nearest wrong claim: the rounded sum alone is not exact
    assert any(x + y != u for x, y, u in zip(_exact(a), _exact(b), _exact(a + b)))


def test_conversion_round_trip_is_exact():
    rng = np.random.default_rng(1)
    with mpmath.workprec(212):
        vals = np.array([[mpmath.mpf(rng.standard_normal()) / 3 for _ in range(4)] for _ in range(3)], dtype=object)
        words = mw.from_mpf(vals, 4)
        back = mw.to_mpf(words)
    assert all(x == y for x, y in zip(vals.flat, back.flat))  # 212-bit values fit in four words
    assert all(np.all(np.abs(words[i + 1]) <= np.abs(words[i]) * 2.0 ** -52) for i in range(3))


def test_conversions_round_to_nearest_on_both_routes_and_sum_words_exactly():
    """The integer route of _mpf_words (normal words) gives the words of mpmath's round-to-nearest route for
    every exponent range, including its edges; the first word is fl(x) (|x − x₀| ≤ ulp(x₀)/2 — the nearest
    wrong claim, truncation, misses it on the last case); to_mpf is the exact sum of the words, subnormal
    and signed-zero words included."""
    from mpmath import libmp

    def nearest(raw, w):
        out = []
        for _ in range(w):
            f = libmp.to_float(raw, rnd=libmp.round_nearest)
            out.append(f)
            raw = libmp.mpf_sub(raw, libmp.from_float(f), 0)
        return out

    rng = np.random.default_rng(3)
    with mpmath.workprec(400):
        two = mpmath.mpf(2)
        vals = [mpmath.mpf(rng.standard_normal()) * two ** int(rng.integers(-1000, 1000)) / 3 for _ in range(3000)]
        vals += [two ** -1021 / 3, two ** -1030 / 3, two ** 1022 / 3, -(1 + two ** -53 + two ** -200), two ** -1074,
                 mpmath.mpf(0), 1 + two ** -53 + two ** -120]
        for w in (2, 3, 4):
            assert all(mw._mpf_words(v._mpf_, w) == nearest(v._mpf_, w) for v in vals)
        x = vals[-1]
        assert mw._mpf_words(x._mpf_, 1) == [1.0 + 2.0 ** -52]  # above the midpoint: rounds up, not down
        words = mw.from_mpf(np.array(vals[:3000], dtype=object).reshape(30, 100), 3)
        back = mw.to_mpf(words)
        for i in range(0, 3000, 37):
            assert back.flat[i] == sum((mpmath.mpf(float(wd.flat[i])) for wd in words), mpmath.mpf(0))
        odd = (np.array([1.0, 2.0 ** -1074, -0.0, 3.5]), np.array([2.0 ** -60, 0.0, 0.0, -2.0 ** -1074]))
        exact = mpmath.fsub(3.5, two ** -1074, exact=True)  # 1076 bits: beyond the working precision
        assert list(mw.to_mpf(odd)) == [1 + two ** -60, two ** -1074, 0, exact]


def test_double_double_to_mpf_is_the_exact_sum_of_its_two_words():
    """to_mpf's double-double path (one loop over the word pairs) gives mpmath's exact sum of the two words, as a
    normalised mpf (the same _mpf_ tuple), on random normalised pairs of every exponent range and on the edges:
    a zero word on either side, a second word larger than the first (unnormalised pairs), signed zeros,
    subnormals, opposite signs."""
    from mpmath import libmp
    rng = np.random.default_rng(11)
    hi = rng.standard_normal(2000) * 2.0 ** rng.integers(-1000, 1000, 2000)
    lo = hi * rng.standard_normal(2000) * 2.0 ** -60
    edges = [(0.0, 0.0), (-0.0, 0.0), (0.0, 2.0 ** -70), (0.0, -3.0), (2.0 ** -60, 1.0), (-1.0, 2.0 ** -1074),
             (2.0 ** -1074, 2.0 ** -1074), (5e-324, -5e-324), (1.5, -2.0 ** -53), (2.0 ** 1000, -2.0 ** 900)]
    hi = np.concatenate([hi, [a for a, _ in edges]]).reshape(-1, 10)
    lo = np.concatenate([lo, [b for _, b in edges]]).reshape(-1, 10)
    got = mw.to_mpf((hi, lo))
    for x, a, b in zip(got.flat, hi.flat, lo.flat):
        want = libmp.mpf_add(libmp.from_float(float(a)), libmp.from_float(float(b)), 0)  # exact (prec=0)
        assert x._mpf_ == want
    # the route for three or more words gives the same values (a third, zero word changes nothing)
    assert all(x._mpf_ == y._mpf_ for x, y in zip(got.flat, mw.to_mpf((hi, lo, np.zeros_like(hi))).flat))


@pytest.mark.parametrize("w", [2, 3, 4])
def test_elementwise_and_matrix_products_are_exact_to_the_word_precision(w):
    rng = np.random.default_rng(w)
    u = 2.0 ** (-53 * w)
    with mpmath.workprec(600):
        A = np.array([[mpmath.mpf(rng.standard_normal()) / 3 for _ in range(20)] for _ in range(6)], dtype=object)
        B = np.array([[mpmath.mpf(rng.standard_normal()) / 7 for _ in range(5)] for _ in range(20)], dtype=object)
        a, b = mw.from_mpf(A, w), mw.from_mpf(B, w)
        A, B = mw.to_mpf(a), mw.to_mpf(b)  # the exact values of the words
        C = A @ B
        c = mw.to_mpf(mw.matmul(a, b))
        bound = u * 20 * max(abs(v) for v in A.flat) * max(abs(v) for v in B.flat)
        assert max(abs(x - y) for x, y in zip(c.flat, C.flat)) <= bound
        x, y = mw.from_mpf(A[:, :5], w), mw.from_mpf(B[:6], w)
        X, Y = mw.to_mpf(x), mw.to_mpf(y)
        for got, want, k in ((mw.mul(x, y), X * Y, 5), (mw.add(x, y), X + Y, 3), (mw.sub(x, y), X - Y, 3)):
            rel = max(abs(g - h) / abs(h) for g, h in zip(mw.to_mpf(got).flat, want.flat))
            assert rel <= k * u, (w, rel / u)
        # the nearest wrong claim: one word less is not enough
        assert max(abs(x - y) for x, y in zip(mw.to_mpf(mw.matmul(a[:-1], b[:-1])).flat, C.flat)) > 2 * bound


# --------------------------------------------------------------------------- Taylor coefficients

def _gradient_flow_tape(widths):
    """(x, tape): the 60-digit initial layers of the seed-5 instance of the chain ``widths`` and its traced
    gradient-flow tape."""
    net = cs.chain(widths)
    inst = random_instance(net, seed=5, scale=1.0)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    with mpmath.workdps(60):
        x = to_mp(inst.weights, 60)
        return x, trace_polynomial(rhs, rhs.validate(x, to_mp(inst.data(), 60)))


_COMPILED = [False, pytest.param(True, marks=pytest.mark.skipif(not ddkernel.available(),
                                                                reason="no C compiler for the compiled kernel"))]


_SLICED = pytest.param("sliced", marks=pytest.mark.skipif(not ddkernel.available(),
                                                         reason="no C compiler for the compiled kernel"))


@pytest.mark.parametrize("compiled", _COMPILED + [_SLICED], ids=["blas", "compiled", "sliced"])
@pytest.mark.parametrize("widths", [[3, 3, 3, 3], [2, 5, 3], [4, 4, 4, 4, 4, 4], [9, 12, 10]])
def test_stacked_taylor_coefficients_match_the_op_by_op_replay(widths, compiled, monkeypatch):
    """The double-double programs — stacked Ozaki products on BLAS, the compiled C recurrence term by term, and
    the compiled recurrence with exact-slice products (orders on the float path, 1–3 exact levels, the cross
    terms) — give the coefficients of the op-by-op mpmath replay at 60 digits to 1e-31·‖x‖."""
    if compiled == "sliced":
        monkeypatch.setattr(ddkernel, "MAX_WIDTH", 0)  # every width > 0: the exact-slice recurrence
    elif compiled:
        monkeypatch.setattr(ddkernel, "MAX_WIDTH", 64)  # the term-by-term recurrence at every width here
    x, tape = _gradient_flow_tape(widths)
    K, s = 10, mpmath.mpf("0.05")
    with mpmath.workdps(60):
        ref = taylor_coefficients(tape, x, K, MpmathEngine(60), scale=s)
        eng = MultiwordEngine(30, compiled=bool(compiled))
        xm = tuple(eng.load(a) for a in x)
        program = eng.compile(tape, xm[0])
        assert isinstance(program, ddkernel.KernelTape) == bool(compiled)
        c, _ = eng.taylor_series(program, xm, K, s)
        if compiled:
            assert program.kernel == ("compiled-sliced" if compiled == "sliced" else "compiled")
        scale = max(abs(v) for a in x for v in a.flat)
        for k in range(K + 1):
            err = max(abs(u - v) for i in range(len(x)) for u, v in zip(eng.unload(c[i][k]).flat, ref[i][k].flat))
            assert err <= 1e-31 * scale, (k, err)


@pytest.mark.skipif(not ddkernel.available(), reason="no C compiler for the compiled kernel")
@pytest.mark.parametrize("widths", [[3, 3, 3, 3], [2, 5, 3]])
def test_compiled_ozaki_slices_give_the_numpy_slices_bit_for_bit(widths, monkeypatch):
    """The stacked BLAS program with its slices cut by the compiled one-pass routines and with the NumPy passes
    gives the same coefficients to the last bit (the same operations in the same order), for orders that
    need 1–3 exact levels and the cross terms."""
    monkeypatch.setattr(ddkernel, "MAX_WIDTH", 0)  # the BLAS program at every width
    monkeypatch.setattr(ddkernel, "MAX_SLICED_WIDTH", 0)
    x, tape = _gradient_flow_tape(widths)
    K, s = 14, mpmath.mpf("0.05")
    with mpmath.workdps(60):
        coefs = []
        for compiled in (None, False):
            eng = MultiwordEngine(30, compiled=compiled)
            xm = tuple(eng.load(a) for a in x)
            program = eng.compile(tape, xm[0])
            stacked = getattr(program, "program", program)  # the BLAS program (the C tape's fallback)
            assert stacked.slice_kernel == (compiled is None)
            coefs.append(eng.taylor_series(program, xm, K, s)[0])
            assert getattr(program, "kernel", "blas") == "blas"
            assert stacked.work["blocks"] > 2 * stacked.work["pairs"]  # sliced orders were taken
    assert all(np.array_equal(a, b) for ci, di in zip(*coefs) for ck, dk in zip(ci, di) for a, b in zip(ck, dk))


def test_the_engine_runs_on_the_array_api_alone():
    """Under array_api_strict (the path CuPy / torch arrays take) the engine uses only standard calls — the
    double-double NumPy fast paths are bypassed for the per-step-grid sliced product — and its coefficients
    agree with the NumPy ones to the word precision."""
    xps = pytest.importorskip("array_api_strict")
    x, tape = _gradient_flow_tape([3, 3, 3, 3])
    K, s = 10, mpmath.mpf("0.05")
    with mpmath.workdps(60):
        outs = []
        for eng in (MultiwordEngine(30, compiled=False), MultiwordEngine(30, xp=xps)):
            xm = tuple(eng.load(a) for a in x)
            c, _ = eng.taylor_series(eng.compile(tape, xm[0]), xm, K, s)
            outs.append((eng, c))
        (e0, c0), (e1, c1) = outs
        assert type(c1[0][K][0]).__module__.startswith("array_api_strict")
        scale = max(abs(v) for a in x for v in a.flat)
        err = max(abs(u - v) for i in range(len(x)) for k in range(K + 1)
                  for u, v in zip(e1.unload(c1[i][k]).flat, e0.unload(c0[i][k]).flat))
        assert err <= 1e-31 * scale
        assert type(e1.horner(c1[0], mpmath.mpf("0.5"))[0]).__module__.startswith("array_api_strict")


def test_high_orders_take_the_float_path_and_stay_exact_to_the_word_precision():
    """Orders whose terms are ≤ 2^{−53}/N of the stacked blocks are one float64 product (not sliced):
    the coefficients still match the op-by-op mpmath replay to u·‖x‖ (the nearest wrong claim — using the
    float path at every order — loses ~16 digits at order 0)."""
    from curvsym.integrate import multiword_taylor as mwtaylor
    x, tape = _gradient_flow_tape([4, 4, 4, 4])
    K, s = 34, mpmath.mpf("0.02")
    used = []
    orig = mwtaylor.CompiledTape._float_cauchy

    def spy(self, na, nb, k, pairs, *force):
        out = orig(self, na, nb, k, pairs, *force)
        used.append((k, out is not None))
        return out

    with mpmath.workdps(60):
        ref = taylor_coefficients(tape, x, K, MpmathEngine(60), scale=s)
        eng = MultiwordEngine(30, compiled=False)
        xm = tuple(eng.load(a) for a in x)
        mwtaylor.CompiledTape._float_cauchy = spy
        try:
            c, _ = eng.taylor_series(eng.compile(tape, xm[0]), xm, K, s)
        finally:
            mwtaylor.CompiledTape._float_cauchy = orig
        scale = max(abs(v) for a in x for v in a.flat)
        assert any(f for k, f in used if k >= 20) and not any(f for k, f in used if k <= 3)
        for k in range(K + 1):
            err = max(abs(u - v) for i in range(len(x)) for u, v in zip(eng.unload(c[i][k]).flat, ref[i][k].flat))
            assert err <= 1e-31 * scale, (k, err)


# --------------------------------------------------------------------------- integrations

def _run(widths, dps, t_end, engine, seed=0):
    net = cs.chain(widths)
    inst = random_instance(net, seed=seed, scale=1.0)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    return cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, t_end], dps=dps, engine=engine)


def _distance(a, b):
    with mpmath.workdps(200):
        return max(abs(x - y) for p, q in zip(a.final, b.final) for x, y in zip(p.flat, q.flat))


@pytest.mark.parametrize("widths,dps,t_end", [([3, 3, 3, 3], 30, 0.3), ([4, 6, 5, 4], 30, 0.08),
                                              ([4, 4, 4, 4, 4, 4], 30, 0.03), ([3, 3, 3], 45, 0.2)])
def test_multiword_integration_delivers_the_digits_and_an_honest_estimate(widths, dps, t_end):
    ours = _run(widths, dps, t_end, "multiword")
    ref = _run(widths, 2 * dps, t_end, "flint")
    err = _distance(ours, ref)
    assert err <= 10.0 ** -dps  # the digits asked for (factor 1)
    assert err <= ours.error_estimate <= 1e4 * max(err, 10.0 ** -(2 * dps))
    assert ours.info["engine"] == ("double-double" if dps == 30 else "triple-double")


@pytest.mark.skipif(not ddkernel.available(), reason="no C compiler for the compiled kernel")
def test_sliced_kernel_keeps_every_order_exact_on_the_float_path_and_the_levels():
    """The compiled exact-slice recurrence at K = 34: the low orders take 1–3 exact slice levels, the high ones
    (terms ≤ 2^{−53}/N of the stacked blocks) one float64 product — the BLAS program's choices, order by order —
    and every coefficient still equals the
    op-by-op mpmath replay at 60 digits to 1e-31·‖x‖ (the nearest wrong claim, the float path at every order,
    is checked to lose ~16 digits: a float64-only ("rough") series)."""
    x, tape = _gradient_flow_tape([4, 4, 4, 4])
    K, s = 34, mpmath.mpf("0.02")
    with mpmath.workdps(60):
        ref = taylor_coefficients(tape, x, K, MpmathEngine(60), scale=s)
        eng = MultiwordEngine(30)
        xm = tuple(eng.load(a) for a in x)
        program = eng.compile(tape, xm[0])
        width = ddkernel.MAX_WIDTH
        ddkernel.MAX_WIDTH = 0  # (restored below) every width > 0: the exact-slice recurrence
        try:
            c, _ = eng.taylor_series(program, xm, K, s)
            rough = program.run_rough(xm, K, s)
        finally:
            ddkernel.MAX_WIDTH = width
        assert program.kernel == "compiled-sliced"
        blas = MultiwordEngine(30, compiled=False)
        stacked = blas.compile(tape, xm[0])
        blas.taylor_series(stacked, xm, K, s)
        # the same per-order choices (float path, number of levels) as the BLAS program, which takes the float
        # path at orders ≥ 20 and none at orders ≤ 3 here (test_high_orders_take_the_float_path_…)
        assert program.work == stacked.work and program.work["blocks"] > program.work["pairs"]
        scale = max(abs(v) for a in x for v in a.flat)
        for k in range(K + 1):
            err = max(abs(u - v) for i in range(len(x)) for u, v in zip(eng.unload(c[i][k]).flat, ref[i][k].flat))
            assert err <= 1e-31 * scale, (k, err)
        err0 = max(abs(u - v) for i in range(len(x)) for u, v in zip(eng.unload(rough[i][1]).flat, ref[i][1].flat))
        assert err0 > 1e-24 * scale


@pytest.mark.skipif(not ddkernel.available(), reason="no C compiler for the compiled kernel")
def test_width_16_runs_the_sliced_kernel_with_one_series_per_step_and_delivers_30_digits():
    """N = 4, d = 16 at 30 digits (the bench's flow): the compiled exact-slice recurrence, one full series per step
    (the first step's scale chosen by a float64 series, not by a thrown-away full series at s = 1), within
    1e-30 of a 60-digit quad-double run, under its error estimate.  Cost ≈ 10 s."""
    from curvsym.bench.precision import _setting
    inst, rhs = _setting(4, 16)
    args = (rhs, inst.weights, inst.data(), [0, 0.003])
    ours = cs.integrate_taylor(*args, dps=30, engine="multiword")
    ref = cs.integrate_taylor(*args, dps=60, engine="multiword")
    assert ours.info["kernel"] == "compiled-sliced" and ours.info["series_per_step"] == 1.0
    assert ref.info["engine"] == "quad-double"
    err = _distance(ours, ref)
    assert err <= 1e-30 and err <= ours.error_estimate


def test_quad_double_starts_from_a_scale_far_beyond_the_radius():
    """The first series of a run has s = 1 ≫ ρ: at K = 74 (60 digits) the scaled coefficients s^k x_k outgrow
    the slice grid and the top ones read as 0.  The step must come from the root test over every order (the
    nearest wrong step — Jorba–Zou from the last two coefficients alone — took the whole span in one step
    and was wrong in the first digit).  Cost ≈ 10 s."""
    widths, dps = [8, 8, 8], 60
    ours = _run(widths, dps, 0.01, "multiword")
    ref = _run(widths, 80, 0.01, "flint")
    assert ours.info["engine"] == "quad-double" and ours.n_steps > 1
    err = _distance(ours, ref)
    assert err <= 10.0 ** -dps
    assert err <= ours.error_estimate


@pytest.mark.parametrize("widths,dps", [([4, 4, 4, 4, 4], 30), ([3, 3, 3], 50)])
def test_flint_delivers_the_digits_asked_for(widths, dps):
    """Exact midpoints at every op: the state is right to 10^{−dps}, not to the ~1e-21 of grown radii."""
    ours = _run(widths, dps, 0.05, "flint", seed=2)
    ref = _run(widths, 2 * dps, 0.05, "flint", seed=2)
    err = _distance(ours, ref)
    assert err <= 10.0 ** -dps
    assert err <= ours.error_estimate <= 1e4 * max(err, 10.0 ** -(2 * dps))


def test_auto_selects_by_digits_and_width():
    assert isinstance(make_engine("auto", 30, width=16), MultiwordEngine) and make_engine("auto", 30).words == 2
    assert make_engine("auto", 50, width=16).words == 4
    assert make_engine("auto", 80, width=16).name in ("flint", "mpmath")
    small = make_engine("auto", 30, width=3)  # the compiled double-double kernel, or its NumPy route without C
    assert small.name == "double-double"
    assert make_engine("auto", 45, width=3).name in ("flint", "mpmath")  # no compiled kernel past two words
    assert make_engine("qd", 30).words == 4  # more words than needed: allowed


# --------------------------------------------------------------------------- bad input

def test_bad_input_raises_named_errors():
    with pytest.raises(PrecisionError, match="flint"):
        MultiwordEngine(80)
    with pytest.raises(PrecisionError, match="dd"):
        make_engine("dd", 40)
    with pytest.raises(EngineError, match="unknown"):
        make_engine("quadruple", 30)
    with pytest.raises(NonFiniteError):
        mw.from_mpf(np.array([[mpmath.mpf("nan")]], dtype=object), 2)
    with pytest.raises(NonFiniteError):
        mw.from_mpf(np.array([[mpmath.mpf("1e400")]], dtype=object), 2)
    with pytest.raises(NonFiniteError):
        mw.to_mpf((np.array([np.inf]), np.array([0.0])))
    net = cs.chain([2, 2])
    inst = random_instance(net)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    with pytest.raises(PrecisionError, match="multi-word|words"):
        cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 1], dps=80, engine="multiword")


def test_flint_hadamard_sum_gives_the_same_balls_as_entrywise_products():
    """FlintEngine.hadamard_sum (object arrays of arb, converted once per matrix) equals the generic
    left-to-right Σ (a_j ⊙ b_j)·w_j of arb_mat products, ball for ball, with and without weights, including
    a matrix used twice (the conversion cache) and products with non-zero radii (cost < 1 s)."""
    pytest.importorskip("flint")
    from curvsym.integrate.series_engines import _GenericSeries
    eng = make_engine("flint", 40)
    rng = np.random.default_rng(3)
    with eng.context():
        mats = [eng.load(np.vectorize(mpmath.mpf, otypes=[object])(rng.standard_normal((3, 5)))) for _ in range(4)]
        mats.append(mats[0] * eng.scalar(mpmath.mpf(1) / 3))  # a ball with a radius
        pairs = [(mats[0], mats[1]), (mats[2], mats[0]), (mats[3], mats[4]), (mats[4], mats[4])]
        weights = [eng.scalar(j) for j in (1, 2, 3, 4)]
        for w in (None, weights):
            got = eng.hadamard_sum(pairs, w)
            ref = _GenericSeries.hadamard_sum(eng, pairs, w)
            assert all(x.mid() == y.mid() and x.rad() == y.rad() for x, y in zip(got.entries(), ref.entries()))
            assert any(x.rad() > 0 for x in got.entries())
        assert eng.hadamard_sum([]) is None
