"""Linear ResNets from zero initialisation converge to the flattest minimum (whitened data).

Statement (Mulayoff & Michaeli 2020; MATH.md §3.5).  Gradient flow on x ↦ (I + A_N)⋯(I + A_1)x
from A_i = 0 (block maps B_i = I, exactly balanced) keeps C_i = B_{i+1}ᵀB_{i+1} − B_iB_iᵀ = 0, so
its limit is a balanced global minimum: λ_max = N‖T‖₂^{2−2/N} (the flattest value), balanced
and coupled.  With a non-white Σx the balanced limit need not be the flattest minimum — the
notes report the limit's sharpness against a searched minimum and the MATH.md §3.4 bounds
(a caution, tested, not assumed).

Numeric check (double precision: the claim is about the t → ∞ limit): N = 3, d = 3,
T = I + 0.4·G; DOP853 to t = 300; residual = max(|λ_max − bound|/bound, balance of the
block maps, coupling residual, final loss); tolerance 1e-7.

Negative control: gradient flow from an unbalanced start (A_1 = 0.9·G′, others 0) reaches a
global minimum that fails the same flatness test.
"""

import numpy as np
from scipy.optimize import minimize

import curvsym as cs
from curvsym import sharpness as sh
from curvsym.checks import CheckResult
from curvsym.derive import block_maps, end_to_end, loss

N, D = 3, 3


def _limit(m, A0, data, t_end=300.0):
    rhs = cs.generate_flow(cs.gradient_flow(m))
    traj = cs.integrate_double(rhs, A0, data, [0, t_end], rtol=1e-12, atol=1e-14)
    return traj.final


def _flatness(m, A, data, T):
    blocks = cs.generate_expressions(m, "blocks", list(block_maps(m)))(A, *data)
    bal = max(np.max(np.abs(b1.T @ b1 - b0 @ b0.T)) for b0, b1 in zip(blocks[:-1], blocks[1:]))
    lam = sh.sharpness(m, A, data)
    L = cs.generate_expressions(m, "loss", [loss(m)])(A, *data)[0]
    return lam, bal, sh.coupling(blocks, T).residual(), float(L)


def _searched_flattest(T, S, rng, starts=3):
    """min λ_max over global minima W_3 = T(W_2W_1)⁻¹ of the chain (Nelder–Mead from several starts)."""
    m = cs.model(cs.deep_chain(N, D))

    def lam(x):
        W1, W2 = x[:9].reshape(3, 3), x[9:].reshape(3, 3)
        P = W2 @ W1
        if abs(np.linalg.det(P)) < 1e-8:
            return 1e6
        return sh.sharpness(m, (W1, W2, T @ np.linalg.inv(P)), (S, T), method="dense")

    best = np.inf
    for _ in range(starts):
        x0 = np.concatenate([np.eye(3).ravel(), np.eye(3).ravel()]) + 0.2 * rng.standard_normal(18)
        res = minimize(lam, x0, method="Nelder-Mead", options={"maxiter": 2500, "xatol": 1e-7, "fatol": 1e-9})
        best = min(best, res.fun)
    return best


@cs.theorem("linear ResNet from zero init reaches the flattest minimum", __doc__.split("\n\n")[1], digits=16)
def resnet_flat(digits: int) -> cs.Evidence:
    rng = np.random.default_rng(21)
    T = np.eye(D) + 0.4 * rng.standard_normal((D, D))
    net = cs.resnet(D, N)
    m = cs.model(net, whitened=True)
    zero = [np.zeros((D, D)) for _ in range(N)]
    A = _limit(m, zero, [T])
    lam, bal, coup, L = _flatness(m, A, [T], T)
    bound = sh.flat_bound(T, N)
    res = max(abs(lam - bound) / bound, bal, coup, L)
    numeric = CheckResult("flatness, balance, coupling and loss of the zero-init limit", res, 1e-7, res <= 1e-7,
                          {"lambda_max": lam, "bound": bound})
    start = [0.9 * rng.standard_normal((D, D))] + [np.zeros((D, D))] * (N - 1)
    Au = _limit(m, start, [T])
    lam_u, _, _, L_u = _flatness(m, Au, [T], T)
    neg = max(abs(lam_u - bound) / bound, L_u)
    negative = CheckResult("flatness of the limit from an unbalanced start", neg, 1e-7, neg <= 1e-7)
    # the non-white caution (MATH.md §3.4–3.5): report, do not assume
    Q = np.linalg.qr(rng.standard_normal((D, D)))[0]
    S = (Q * np.array([1.6, 1.0, 0.6])) @ Q.T
    S = (S + S.T) / 2
    mn = cs.model(net)
    An = _limit(mn, zero, [S, T])
    lam_n = sh.sharpness(mn, An, (S, T))
    searched = _searched_flattest(T, S, rng)
    w, V = np.linalg.eigh(S)
    half = (V * np.sqrt(w)) @ V.T
    Tt = T @ half
    st = np.linalg.norm(Tt, 2)
    v = np.linalg.svd(Tt)[2][0]
    lower = N * st ** (2 - 2 / N) * float(v @ S @ v) ** (1 / N)
    upper = N * st ** (2 - 2 / N) * float(np.max(w)) ** (1 / N)
    verdict = "IS" if lam_n <= searched * (1 + 1e-4) else "is NOT"
    notes = (f"whitened: λ_max {lam:.6f} = bound {bound:.6f}; unbalanced start: λ_max {lam_u:.4f}. "
             f"Non-white Σx: zero-init limit λ_max {lam_n:.4f}, searched flattest {searched:.4f} "
             f"(bounds [{lower:.4f}, {upper:.4f}]) — the limit {verdict} the flattest minimum found")
    return cs.Evidence("n/a (balance C_i = 0 is conserved exactly: see the balance theorem)", numeric, negative,
                       notes)
