"""Flattest global minima: |w_i| = |y|^{1/N} for scalars, λ_max ≥ N‖T‖^{2−2/N} for matrices.

Statement (Mulayoff & Michaeli 2020; MATH.md §3.3, whitened Σx = I, no bottleneck).  For a
scalar network the flattest global minimum of ½(w_N⋯w_1 − y)² has |w_i| = |y|^{1/N} and
λ_max = N|y|^{2−2/N}.  For matrices every global minimum (W = T) has
λ_max(∇²L) ≥ N‖T‖₂^{2−2/N}, with equality at the balanced minima W_i = U_i S^{1/N} U_{i−1}ᵀ; at
any global minimum the Hessian equals the Gauss–Newton matrix JᵀJ.

Symbolic proof: for N = 2, 3, 4 the Hessian at a scalar minimum is the rank-one JJᵀ and the
Lagrange conditions min λ_max s.t. Πw = y have the unique solution w_i = y^{1/N}, λ_max = Ny^{2−2/N}.

Numeric check (``digits`` digits): a balanced minimum of a 3-3-3-3 chain built from exact
Givens rotations — |λ_max − N‖T‖^{2−2/N}|/bound from the dense mpmath Hessian and
‖H − JᵀJ‖/‖JᵀJ‖ at that minimum; in double precision, 25 sampled unbalanced minima (Lanczos)
all lie above the bound.

Negative control: the flatness test |λ_max − bound|/bound ≤ tol applied to a random
(unbalanced) global minimum.
"""

import mpmath
import numpy as np
import sympy as sp

import curvsym as cs
from curvsym import fisher
from curvsym import sharpness as sh
from curvsym.checks import CheckResult

D, N = 3, 3


def givens_orthogonal(d, rng):
    """An orthogonal matrix exact at the working precision: a product of Givens rotations."""
    Q = np.eye(d, dtype=object) * mpmath.mpf(1)
    for i in range(d):
        for j in range(i + 1, d):
            th = mpmath.mpf(float(rng.uniform(0, 2 * np.pi)))
            G = np.eye(d, dtype=object) * mpmath.mpf(1)
            G[i, i] = G[j, j] = mpmath.cos(th)
            G[i, j], G[j, i] = -mpmath.sin(th), mpmath.sin(th)
            Q = G @ Q
    return Q


def exact_balanced_minimum(svals, rng):
    """(weights, T, s_1): T = U diag(s) Vᵀ and W_i = U_i S^{1/N} U_{i−1}ᵀ, all exact in mpmath."""
    bases = [givens_orthogonal(D, rng) for _ in range(N + 1)]
    root = np.diag(np.array([mpmath.mpf(v) ** (mpmath.mpf(1) / N) for v in svals], dtype=object))
    ws = tuple(bases[i + 1] @ root @ bases[i].T for i in range(N))
    T = bases[N] @ np.diag(np.array([mpmath.mpf(v) for v in svals], dtype=object)) @ bases[0].T
    return ws, T, max(mpmath.mpf(v) for v in svals)


@cs.theorem("flattest minima: |w_i| = |y|^{1/N}; λ_max ≥ N‖T‖^{2−2/N}", __doc__.split("\n\n")[1], digits=30)
def flat_minima(digits: int) -> cs.Evidence:
    y = sp.Symbol("y", positive=True)
    proved = True
    for n in (2, 3, 4):
        sols, lam, rank_one = sh.scalar_flattest(n)
        proved &= rank_one and len(sols) == 1 and all(sp.simplify(v - y ** sp.Rational(1, n)) == 0
                                                      for k, v in sols[0].items() if str(k).startswith("w"))
        proved &= lam is not None and sp.simplify(lam - n * y ** (2 - sp.Rational(2, n))) == 0
    m = cs.model(cs.deep_chain(N, D), whitened=True)
    rng = np.random.default_rng(5)
    with mpmath.workdps(digits + 10):
        ws, T, s1 = exact_balanced_minimum(["2.0", "1.1", "0.4"], rng)
        bound = N * s1 ** (2 - mpmath.mpf(2) / N)
        lam = sh.sharpness(m, ws, [T], method="dense")
        H = sh.dense_hessian(m, ws, [T])
        F = fisher.fisher(m, ws, [T])
        gn = max(abs(v) for v in (H - F).flat) / max(abs(v) for v in F.flat)
        res = max(abs(lam - bound) / bound, gn)
    Tf = np.array(T.tolist(), dtype=float)
    sampled = [sh.sharpness(m, sh.random_minimum(Tf, N, rng), [Tf], method="lanczos") for _ in range(25)]
    bound_f = sh.flat_bound(Tf, N)
    below = max(0.0, (bound_f - min(sampled)) / bound_f)
    tol = 10.0 ** (-(digits - 10))
    numeric = CheckResult("|λ_max(balanced) − bound|/bound, ‖H − JᵀJ‖; sampled minima below bound",
                          float(max(res, below)), tol, float(res) <= tol and below <= 1e-9,
                          {"balanced": float(res), "sampled_min_over_bound": min(sampled) / bound_f})
    Wr = sh.random_minimum(Tf, N, rng)
    neg = abs(sh.sharpness(m, Wr, [Tf]) - bound_f) / bound_f
    negative = CheckResult("flatness test on an unbalanced minimum", float(neg), tol, float(neg) <= tol)
    return cs.Evidence("proved: Lagrange ⇒ w_i = y^{1/N}, λ = Ny^{2−2/N} (N=2,3,4)" if proved else "refuted",
                       numeric, negative,
                       notes=f"bound {bound_f:.4f}; 25 sampled minima: min λ_max {min(sampled):.4f}, "
                             f"max {max(sampled):.1f}")
