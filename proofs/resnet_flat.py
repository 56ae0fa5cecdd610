"""Linear ResNets from zero initialisation converge to the flattest minimum (whitened data).

Statement (Mulayoff & Michaeli 2020; docs/mathematics.md §3.5).  Gradient flow on
x ↦ (I + A_N)⋯(I + A_1)x from A_i = 0 (block maps B_i = I: exactly balanced) keeps
C_i = B_{i+1}ᵀB_{i+1} − B_iB_iᵀ = 0, so when it converges to a global minimum (checked here by
the final loss; T near I) the limit is a balanced minimum, and with whitened inputs Σx = I its
sharpness is the least possible, λ_max = N‖T‖₂^{2−2/N} (§3.3), with a coupled top path.

Numeric check (double precision: the claim is about the t → ∞ limit): whitened N = 3 and
N = 4, d = 3, T = I + 0.4·G (two seeds; det T > 0, the hypothesis, checked: a draw without it is redrawn);
DOP853 (rtol 1e-12) to t = max(300, 60/(N s_min^{2−2/N})), the slowest mode's convergence time; residual = max of
|λ_max − N‖T‖^{2−2/N}|/bound (λ_max of the derived Hessian), the balance ‖C_i‖ of the block
maps, the coupling residual and the final loss; tolerance 1e-7.

Negative control: the flatness test on the two nearest settings where the claim is not made,
both must fail: (a) a near-zero start, A_i(0) = 0.01·Gaussian, whitened (its limit's excess
sharpness over the bound); (b) the zero start with a non-white Σx (eigenvalues 1.6, 1, 0.6), where
the flattest value is not known in closed form: the limit is compared with an explicit global
minimum W_3 = T(W_2W_1)⁻¹ found by Nelder–Mead from the limit itself, whose λ_max (= ‖J‖₂² of
the dense Jacobian, as H = JᵀJ at a minimum) certifies that a flatter minimum exists.
Residual: the smaller relative excess.

Why this control is the nearest.  The claim has two hypotheses that readers drop: the start
is exactly zero (in practice "small"), and the inputs are whitened (the paper's abstract does
not say so).  Control (a) is the smallest change of the start that breaks exact balance
(C_i(0) = O(0.01), first order, because B_i = I + A_i), and its limit misses the flattest value
by only 3e-4 relative — the nearest failure there is.  Control (b) keeps everything and drops
only whitening.  The previous control, a start with A_1 = 0.9·G, was twice as sharp as the
bound and tested nothing subtle.  The notes report the §3.4 bounds for the non-white instance.
"""

import numpy as np
from scipy.optimize import minimize

import curvsym as cs
from curvsym import fisher
from curvsym import sharpness as sh
from curvsym.papers import mulayoff2020
from curvsym.checks import CheckResult
from curvsym.verify import seeds

D = 3
WHITE = ((3, 21), (4, 5))  # (depth N, seed of T)


def flow_limit(m, A0, data, t_end=300.0):
    """A_i(t_end) of gradient flow from A0 (DOP853, rtol 1e-12)."""
    rhs = cs.generate_flow(cs.gradient_flow(m))
    return cs.integrate_double(rhs, A0, data, [0, t_end], rtol=1e-12, atol=1e-14).final


def target(seed):
    """T = I + 0.4G with det T ≥ 10⁻³, redrawn otherwise: a ResNet started at the identity reaches a global minimum
    only through invertible end-to-end maps, so det T > 0 is the claim's hypothesis (checked, not assumed)."""
    return seeds.draw_until(lambda s: np.eye(D) + 0.4 * np.random.default_rng(s).standard_normal((D, D)),
                            lambda T: np.linalg.det(T) >= 1e-3, seed)[0]


def horizon(T, N) -> float:
    """max(300, 60/(N s_min^{2−2/N})): the slowest mode of the balanced flow converges at rate N s_min^{2−2/N}
    (fresh seed 573335230 drew s_min = 0.017 at N = 4: loss 2.6e-7 at t = 300, 1e-12 at t = 1000)."""
    s_min = np.linalg.svd(T, compute_uv=False)[-1]
    return float(min(1e5, max(300.0, 60.0 / (N * s_min ** (2 - 2 / N)))))


def limit_report(N, T, A):
    """(λ_max, block balance, coupling residual, loss) of the whitened ResNet at A."""
    m = cs.model(cs.resnet(D, N), whitened=True)
    blocks = [np.eye(D) + a for a in A]
    bal = max(np.max(np.abs(b1.T @ b1 - b0 @ b0.T)) for b0, b1 in zip(blocks[:-1], blocks[1:]))
    W = np.linalg.multi_dot(blocks[::-1])
    return sh.sharpness(m, A, [T]), bal, mulayoff2020.coupling(blocks, T).residual(), 0.5 * float(np.sum((W - T) ** 2))


def chain_sharpness(Bs, S, T):
    """λ_max of JᵀJ for the chain of block maps (the Hessian at a global minimum; dense route)."""
    J = fisher.jacobian(cs.model(cs.deep_chain(len(Bs), D)), tuple(Bs), (S, T))
    return float(np.linalg.norm(J, 2) ** 2)


def flatter_minimum(Bs, S, T):
    """Nelder–Mead over the global minima (B_1, B_2, T(B_2B_1)⁻¹) of a depth-3 chain, from Bs."""
    def lam(x):
        B1, B2 = x[:9].reshape(3, 3), x[9:].reshape(3, 3)
        P = B2 @ B1
        if abs(np.linalg.det(P)) < 1e-8:
            return 1e6
        return chain_sharpness((B1, B2, T @ np.linalg.inv(P)), S, T)

    res = minimize(lam, np.concatenate([Bs[0].ravel(), Bs[1].ravel()]), method="Nelder-Mead",
                   options={"maxiter": 3000, "xatol": 1e-9, "fatol": 1e-12})
    return float(res.fun)


@cs.theorem("linear ResNet from zero init reaches the flattest minimum", __doc__.split("\n\n")[1], digits=16, cost=1.5, section="§3.5")
def resnet_flat(digits: int) -> cs.Evidence:
    worst, details = 0.0, {}
    for N, seed in WHITE:
        T = target(seed)
        m = cs.model(cs.resnet(D, N), whitened=True)
        A = flow_limit(m, [np.zeros((D, D))] * N, [T], t_end=horizon(T, N))
        lam, bal, coup, L = limit_report(N, T, A)
        bound = mulayoff2020.flat_bound(T, N)
        worst = max(worst, abs(lam - bound) / bound, bal, coup, L)
        details[f"N={N}: λ_max, bound"] = f"{lam:.10f}, {bound:.10f}"
    numeric = CheckResult("flatness, balance, coupling and loss of the zero-init limits", worst, 1e-7, worst <= 1e-7,
                          details)
    # (a) near-zero start, whitened
    N, T = 3, target(21)
    rng = seeds.rng(4)
    m = cs.model(cs.resnet(D, N), whitened=True)
    A_small = flow_limit(m, [0.01 * rng.standard_normal((D, D)) for _ in range(N)], [T])
    lam_a, _, _, L_a = limit_report(N, T, A_small)
    bound = mulayoff2020.flat_bound(T, N)
    excess_a = (lam_a - bound) / bound if L_a < 1e-7 else np.inf
    # (b) zero start, non-white Σx
    Q = np.linalg.qr(rng.standard_normal((D, D)))[0]
    S = (Q * np.array([1.6, 1.0, 0.6])) @ Q.T
    S = (S + S.T) / 2
    mn = cs.model(cs.resnet(D, N))
    An = flow_limit(mn, [np.zeros((D, D))] * N, [S, T])
    Bn = [np.eye(D) + a for a in An]
    lam_n = sh.sharpness(mn, An, (S, T))
    found = flatter_minimum(Bn, S, T)
    excess_b = (lam_n - found) / found
    neg = min(excess_a, excess_b)
    negative = CheckResult("flatness of the limit: near-zero start; non-white Σx against a found minimum", float(neg),
                           1e-7, neg <= 1e-7, {"near-zero start": float(excess_a), "non-white": float(excess_b)})
    w, V = np.linalg.eigh(S)
    Tt = T @ ((V * np.sqrt(w)) @ V.T)
    st, v = np.linalg.norm(Tt, 2), np.linalg.svd(Tt)[2][0]
    lower = N * st ** (2 - 2 / N) * float(v @ S @ v) ** (1 / N)
    upper = N * st ** (2 - 2 / N) * float(np.max(w)) ** (1 / N)
    verdict = "is NOT" if found < lam_n else "may be"
    notes = (f"whitened: {'; '.join(f'{k}: {v}' for k, v in details.items())}. Near-zero start: λ_max {lam_a:.6f}, "
             f"excess {excess_a:.1e}. Non-white Σx: zero-init limit λ_max {lam_n:.4f}, an explicit minimum has "
             f"{found:.4f} (docs/mathematics.md §3.4 bounds on the flattest value [{lower:.4f}, {upper:.4f}]): "
             f"the limit {verdict} the flattest minimum")
    return cs.Evidence("n/a (balance C_i = 0 is conserved exactly: see the balance theorem)", numeric, negative,
                       notes)
