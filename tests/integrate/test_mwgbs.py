"""Non-polynomial flows on multi-word arrays: node kernels and GBS against the mpmath route.

* the multi-word kernels (refined solve, refined eigen-decomposition: inverse, pseudo-inverse, fractional
  and damped powers, square root, the operator solve 𝒦^{+q}) agree with the mpmath kernels to the word
  precision times the conditioning, including rank-deficient (pseudo-inverse) cases;
* strict inverses of singular preconditioners raise SingularPreconditionerError, as on mpf arrays;
* GBS on multi-word arrays (batched midpoint sequences, increments, exact extrapolation weights) agrees with
  the mpmath route at 30 digits on a full-rank NGD flow and on a bottleneck (pseudo-inverse) NGD flow, with
  an error estimate that is not below the measured error;
* ``integrate(…, dps=…)`` takes the multi-word route by capability and mpmath beyond four words.

Cost: about 25 s on 2 cores (the mpmath references dominate).
"""

from fractions import Fraction

import mpmath
import numpy as np
import pytest
from curvsym.problems import conditioned_instance, random_instance

import curvsym as cs
from curvsym import rules
from curvsym.kernels import spectral as rt
from curvsym.errors import EngineError, PrecisionError, SingularPreconditionerError
from curvsym.integrate import integrate_extrapolation
from curvsym.integrate.extrapolation import extrapolation_weights, gbs_words, supports_multiword
from curvsym.kernels import spectral as rt  # the spectral kernels (codegen.runtime before the layers)
from curvsym.kernels.multiword.array import MWArray, from_mpf


def _spd(n, cond, rank=None, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.geomspace(1, 1 / cond, n)
    if rank is not None:
        w[rank:] = 0
    with mpmath.workdps(80):
        Qm = np.vectorize(mpmath.mpf, otypes=[object])(Q)
        Wm = np.vectorize(mpmath.mpf, otypes=[object])(w)
        return (Qm * Wm[None, :]) @ Qm.T


def _rel(a, b):
    with mpmath.workdps(80):
        return float(max(abs(x - y) for x, y in zip(a.flat, b.flat)) / max(abs(y) for y in b.flat))


@pytest.mark.parametrize("shape_a,shape_b", [((2, 2), (2, 2)), ((3, 5), (5, 3)), ((4, 7), (7, 2)),
                                             ((5, 2, 3), (3, 3)), ((2, 8, 8), (2, 8, 8))])
def test_triple_double_products_of_small_matrices_are_exact_to_the_word_precision(shape_a, shape_b, monkeypatch):
    """Inner dimension ≤ 8 takes the elementwise route (_td_matmul_small): within a few u³ Σ_k |a_ik||b_kj|
    of the exact product of the 3-word operands (componentwise), normalised words, stacks broadcast; the
    sliced route it replaces meets its own normwise bound c n u³ max_k|a_ik| max_k|b_kj| (cost < 1 s)."""
    import math

    from curvsym.kernels.multiword import array as mwa
    rng = np.random.default_rng(len(shape_a) + shape_a[-1])
    def words(shape):  # normalised 3-word entries over six decades
        scale = 10.0 ** rng.integers(-3, 4, shape)
        return tuple(rng.uniform(0.5, 1, shape) * rng.choice([-1, 1], shape) * 2.0 ** (-53 * i) * scale
                     for i in range(3))
    a, b = words(shape_a), words(shape_b)
    assert shape_a[-1] <= mwa.TD_SMALL_INNER
    n, u3 = shape_a[-1], 2.0 ** (-159)
    small = mwa._mw_matmul(a, b)
    assert all(np.array_equal(x, y) for x, y in zip(small, mwa._td_matmul_small(a, b)))
    assert np.all(np.abs(small[1]) <= 2.0 ** -52 * np.abs(small[0]))
    assert np.all(np.abs(small[2]) <= 2.0 ** -52 * np.abs(small[1]))
    monkeypatch.setattr(mwa, "TD_SMALL_INNER", 0)
    sliced = mwa._mw_matmul(a, b)
    with mpmath.workdps(80):
        mp = lambda ws: sum(np.vectorize(mpmath.mpf, otypes=[object])(x) for x in ws)
        A, B = mp(a), mp(b)
        exact = A @ B
        componentwise = abs(A) @ abs(B) * (8 * (math.ceil(math.log2(n)) + 1) * u3)
        normwise = np.max(abs(A), axis=-1, keepdims=True) * np.max(abs(B), axis=-2, keepdims=True) * (8 * n * u3)
        for got, bound in ((small, componentwise), (sliced, normwise)):
            bound = np.broadcast_to(bound, exact.shape)
            err = max(float(abs(x - y) / z) for x, y, z in zip(mp(got).flat, exact.flat, bound.flat))
            assert err <= 1, err


CASES = [(1, 0, False), (Fraction(1, 2), 0, False), (Fraction(1, 2), Fraction(1, 1000), True),
         (1, Fraction(1, 1000), True), (Fraction(1, 3), 0, False)]


@pytest.mark.parametrize("w", [2, 3])
@pytest.mark.parametrize("n,cond,rank", [(3, 1e2, None), (6, 1e3, None), (6, 1e3, 3)])
def test_psd_kernels_match_mpmath(w, n, cond, rank):
    A = _spd(n, cond, rank, seed=n)  # exactly of rank ``rank`` at 80 digits
    a = from_mpf(A, w)  # rounded to w words: a relative perturbation ≤ u, amplified by the conditioning
    u = 2.0 ** (-53 * w)
    with mpmath.workdps(70):
        for q, lam, strict in CASES:
            qm, lm = mpmath.mpf(q.numerator) / q.denominator if isinstance(q, Fraction) else q, \
                mpmath.mpf(lam.numerator) / lam.denominator if isinstance(lam, Fraction) else lam
            if strict and rank is not None and not lam:
                continue
            ref = rt._psd_inv_power_mp(A, qm, lm, strict, np, "X")
            got = rt._psd_inv_power(a, qm, lm, strict, np, "X")
            assert isinstance(got, MWArray)
            # inherent: w-word data, conditioning κ = cond (κ^q for the power)
            assert _rel(got.to_mpf(), ref) <= 50 * cond * u, (q, lam, strict)
        if rank is None:
            assert _rel(rt._sqrt_psd(a, np).to_mpf(), rt._sqrt_psd_mp(A, np)) <= 50 * cond * u


def test_strict_inverse_of_a_singular_preconditioner_raises():
    a = from_mpf(_spd(4, 10, rank=2), 2)
    with pytest.raises(SingularPreconditionerError, match="rank 2"):
        rt._psd_inv_power(a, 1, 0, True, np, "G")
    with pytest.raises(SingularPreconditionerError):
        rt._psd_inv_power(a, mpmath.mpf(0.5), 0, True, np, "G")
    # the nearest wrong claim: the same matrix with damping is invertible
    assert np.all(np.isfinite(rt._psd_inv_power(a, 1, mpmath.mpf("1e-3"), True, np, "G").hi))


@pytest.mark.parametrize("rank", [None, 2])
def test_operator_solve_matches_mpmath(rank):
    """𝒦^{+q}R with 𝒦(Y) = P₁YQ₁ + P₂YQ₂ (4 × 3 unknowns); rank 2: 𝒦 is singular (pseudo-inverse)."""
    with mpmath.workdps(70):
        P1, P2 = _spd(4, 10, rank, seed=1), _spd(4, 5, None, seed=2) * (0 if rank else 1)
        Q1, Q2 = _spd(3, 10, None, seed=3), _spd(3, 4, None, seed=4)
        R = np.vectorize(mpmath.mpf, otypes=[object])(np.random.default_rng(5).standard_normal((4, 3)))
        mw_args = [from_mpf(x, 2) for x in (R, P1, P2, Q1, Q2)]
        for q in (1, mpmath.mpf(0.5)):
            ref = rt._operator_inv_power_mp(R, (P1, P2), (Q1, Q2), q, 0, False, np)
            r, p1, p2, q1, q2 = mw_args
            got = rt._operator_inv_power(r, (p1, p2), (q1, q2), q, 0, False, np)
            assert _rel(got.to_mpf(), ref) <= 1e-28, (rank, q)  # κ(𝒦) ≈ 100, u = 1.2e-32


def test_extrapolation_weights_reproduce_the_tableau():
    g, g2 = extrapolation_weights(5)
    assert sum(g) == 1 and sum(g2) == 1  # consistency: constants are reproduced exactly
    ns = [2, 4, 6, 8, 10]
    for p in (1, 2, 3, 4):  # T_kk removes h², …, h⁸ (the even powers below its order)
        assert sum(c * Fraction(1, n) ** (2 * p) for c, n in zip(g, ns)) == 0
    assert sum(c * Fraction(1, n) ** 10 for c, n in zip(g, ns)) != 0  # the nearest wrong claim: not h¹⁰
    assert g2[0] == 0  # T_{k,k−1} does not use the first sequence
    assert gbs_words(20, 8) == 2 and gbs_words(30, 12) == 3  # Λ_12 = 2618: 4 guard digits + 2


def _ngd(widths, seed, instance=conditioned_instance):
    net = cs.chain(widths)
    m = cs.model(net)
    inst = instance(net, seed=seed) if instance is conditioned_instance else instance(net, seed=seed, scale=1.0)
    return m, inst, cs.generate_flow(rules.natural_gradient().flow(m), "mpmath")


def _dist(a, b):
    with mpmath.workdps(80):
        return max(abs(x - y) for p, q in zip(a.final, b.final) for x, y in zip(p.flat, q.flat))


def test_multiword_gbs_matches_the_mpmath_route_at_30_digits():
    """Full-rank NGD (2-2-2): 30 digits against the mpmath route at 40, estimate not below the error."""
    m, inst, rhs = _ngd([2, 2, 2], 1)
    ours = integrate_extrapolation(rhs, inst.weights, inst.data(), [0, 0.3], dps=30, engine="multiword")
    ref = integrate_extrapolation(rhs, inst.weights, inst.data(), [0, 0.3], dps=40, engine="mpmath")
    assert ours.info["engine"] == "triple-double"
    err = _dist(ours, ref)
    assert err <= 1e-30
    assert err <= ours.error_estimate


def test_bottleneck_ngd_right_hand_side_matches_mpmath():
    """3-2-3 chain: 𝒦 is singular (bottleneck), the velocity uses 𝒦⁺; multi-word (batched) = mpmath to 30 digits."""
    m, inst, rhs = _ngd([3, 2, 3], 5, random_instance)
    with mpmath.workdps(60):
        x = [np.vectorize(mpmath.mpf, otypes=[object])(w) for w in inst.weights]
        d = rhs.validate(x, [np.vectorize(mpmath.mpf, otypes=[object])(a) for a in inst.data()])
        ref = rhs.func(*x, *d, xp=np)
        xw = [from_mpf(a, 3) for a in x]
        batch = [MWArray(tuple(np.stack([v, v]) for v in a.words)) for a in xw]  # a batch of two members
        got = rhs.func(*batch, *[from_mpf(a, 3) for a in d], xp=np)
        scale = max(abs(v) for a in ref for v in a.flat)
        for g, r in zip(got, ref):
            for member in (0, 1):
                assert max(abs(p - q) for p, q in zip(g[member].to_mpf().flat, r.flat)) <= 1e-30 * scale


def test_integrate_picks_the_multiword_route_by_capability():
    m, inst, rhs = _ngd([2, 2, 2], 1)
    assert supports_multiword(rhs)
    fast = cs.integrate(rhs, inst.weights, inst.data(), [0, 0.05], dps=20)
    assert fast.info["engine"] == "double-double" and fast.method.startswith("GBS")
    slow = cs.integrate(rhs, inst.weights, inst.data(), [0, 1e-5], dps=70, columns=10)
    assert slow.info["engine"] == "mpmath"  # more digits than four words carry
    with pytest.raises(PrecisionError):
        gbs_words(70, 10)
    with pytest.raises(EngineError):
        integrate_extrapolation(rhs, inst.weights, inst.data(), [0, 0.05], dps=20, engine="quad")
