"""Flat minima are coupled: one path of singular vectors from input to output (Mulayoff & Michaeli 2020).

Statement (whitened, no bottleneck, simple top singular value s₁ > s₂ of T; docs/mathematics.md
§3.3).  At a flattest (balanced) minimum, with u, v the top singular pair of T and
r_i = W_{>i}ᵀu/‖W_{>i}ᵀu‖, r_i is a left singular vector of W_i and a right singular vector of
W_{i+1}, and the gain along the path is ‖W_i⋯W_1 v‖ = s₁^{i/N}: the layers are coupled and
the gain grows evenly.

Numeric check (double precision; the coupling residual is an angle and a ratio): flat minima
that are not built from the SVD of T — the gradient-flow limits (DOP853, t = 200) of square chains
3-3-3-3, 4-4-4-4 and 3-3-3 started exactly balanced but not aligned with T (W_i(0) = ½·random
orthogonal; gradient flow keeps C_i = 0, docs/mathematics.md §0.3).  Each limit must be a
flattest global minimum (loss < 1e-16, |λ_max/N‖T‖^{2−2/N} − 1| < 1e-8) and T must have a simple top
singular value with (s₁ − s₂)/s₁ ≥ 1e-4 (so that u, v are determined to ~1e-16·s₁/(s₁ − s₂) ≤ 1e-12,
below the tolerance) — the hypothesis, checked on every draw, not assumed; the residual is max_i of
1 − |⟨r_i, ·⟩| and of the relative gain error; tolerance 1e-10.  The path runs to
t = max(200, 40/(N s_d^{2−2/N})), s_d the least singular value of T: near the limit that mode contracts
at rate N s_d^{2−2/N}, and a fixed t = 200 left the loss above 1e-16 on draws with s_d ≲ 0.06 — the
only fresh-seed failures seen (e.g. seed 1003: s_d = 0.045, loss 1.3e-13, coupling residual 4e-16).

Negative control: the same test at the nearest minimum where the gain law is false — the
3-3-3-3 limit rescaled along the symmetry orbit, W_1 → 1.05·W_1, W_2 → W_2/1.05 — and
at a random (unbalanced) global minimum of a random 3 × 3 target; both must be rejected.

Why this control is the nearest.  Rescaling by a scalar keeps every singular vector, so the
rescaled minimum is still perfectly coupled and sharper than the flattest only at second
order in the 5% (see the flat-minima theorem); a reader could plausibly take "coupled" to
imply "balanced gains".  Only the 5% gain error separates it
from the claim, and the check must see exactly that.  The random minimum (the previous
control) shows that generic minima are not coupled at all.
"""

import numpy as np

import curvsym as cs
from curvsym import sharpness as sh
from curvsym.papers import mulayoff2020
from curvsym.checks import CheckResult
from curvsym.problems import orthogonal
from curvsym.verify import seeds

INSTANCES = ((3, 3, 1), (4, 3, 2), (3, 2, 4))  # (width d, depth N, seed)


def balanced_flow_limit(d, N, seed):
    """(T, W(t_end)): gradient flow, whitened, from W_i(0) = ½·O_i with det W(0) of det T's sign.

    t_end = max(200, 40/(N s_d^{2−2/N})): the linearised flow at a balanced minimum contracts the mode of
    the least singular value s_d of T at rate N s_d^{2−2/N}, so a fixed t = 200 leaves the loss above
    1e-16 on draws with s_d ≲ 0.06 (the fresh-seed failures: never the coupling, always the hypothesis).
    """
    rng = seeds.rng(seed)
    T = rng.standard_normal((d, d))
    W0 = [0.5 * orthogonal(d, rng) for _ in range(N)]
    if np.sign(np.linalg.det(T)) != np.sign(np.prod([np.linalg.det(w) for w in W0])):
        T[:, 0] *= -1  # GF cannot cross det W = 0 from a balanced start
    m = cs.model(cs.deep_chain(N, d), whitened=True)
    # near the limit the slowest mode of a balanced path decays like exp(−N s_d^{2−2/N} t) (s_d the least
    # singular value of T): run long enough for the loss to fall below 1e-16 from O(1) on every draw
    s_d = np.linalg.svd(T, compute_uv=False)[-1]
    t_end = max(200.0, 40.0 / (N * s_d ** (2 - 2 / N)))
    traj = cs.integrate_double(cs.generate_flow(cs.gradient_flow(m)), W0, [T], [0, t_end], rtol=1e-13, atol=1e-15)
    W = traj.final
    loss = 0.5 * float(np.sum((np.linalg.multi_dot(W[::-1]) - T) ** 2))
    flat = abs(sh.sharpness(m, W, [T]) / mulayoff2020.flat_bound(T, N) - 1)
    sv = np.linalg.svd(T, compute_uv=False)
    return T, W, loss, flat, (sv[0] - sv[1]) / sv[0]


@cs.theorem("flat minima are coupled with gains s₁^{i/N}", __doc__.split("\n\n")[1], digits=16, section="§3.3")
def coupling_flat(digits: int) -> cs.Evidence:
    worst, hypothesis, first = 0.0, 0.0, None
    for d, N, seed in INSTANCES:
        T, W, loss, flat, gap = balanced_flow_limit(d, N, seed)
        hypothesis = max(hypothesis, loss / 1e-16, flat / 1e-8, 1e-4 / gap)
        worst = max(worst, mulayoff2020.coupling(W, T).residual())
        first = first or (T, W)
    T, ws = first
    rescaled = mulayoff2020.coupling((1.05 * ws[0], ws[1] / 1.05, *ws[2:]), T)
    rng = seeds.rng(9)
    Tr = rng.standard_normal((3, 3))
    unbalanced = mulayoff2020.coupling(mulayoff2020.random_minimum(Tr, 3, rng), Tr).residual()
    numeric = CheckResult("coupling residual at flat minima (GF limits from balanced starts)", worst, 1e-10,
                          worst <= 1e-10 and hypothesis <= 1, {"flattest global minima (≤ 1 required)": hypothesis})
    neg = min(rescaled.residual(), unbalanced)
    defect = max(1 - x for x in rescaled.left + rescaled.right)
    negative = CheckResult("coupling residual: rescaled (5%) flat minimum; random minimum", neg, 1e-10,
                           neg <= 1e-10, {"rescaled": rescaled.residual(), "random": unbalanced,
                                          "rescaled alignment defect": defect})
    return cs.Evidence("n/a", numeric, negative,
                       notes=f"rescaled minimum: alignment defect {defect:.1e}, gain error {rescaled.residual():.3f}; "
                             f"random minimum residual {unbalanced:.2f}")
