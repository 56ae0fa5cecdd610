"""Gradient descent cannot converge to a global minimum for η > 2/(N‖T‖^{2−2/N}).

Statement (docs/mathematics.md §3.6 item 4; whitened Σx = I, square layers, no bottleneck).
GD with step η is linearly stable only at minima with λ_max ≤ 2/η; since every global minimum
has λ_max ≥ N‖T‖₂^{2−2/N} (§3.3), GD converges to no global minimum when
η > η* = 2/(N‖T‖₂^{2−2/N}).  From a small random initialisation GD approaches the flattest
(balanced) minima, so the largest step at which it still converges lies within 1% below η*.

Numeric check: batched GD scans (curvsym.ensemble.gd, one η per member) on three instances —
N = 3, d = 2, T = [[2, .3], [.1, .5]]; N = 2, d = 2, T = [[1.5, −.4], [.2, .8]]; N = 3, d = 3, T
Gaussian — from W_i(0) = 0.1·Gaussian, on the grid η/η* ∈ {0.900, 0.905, …, 1.100} (step 0.5%),
max(6000, 30κ) steps each, κ = (s_max/s_min)^{2−2/N} of T (the slowest mode, see below; capped at 4·10⁵);
converged ⇔ final loss < 1e-20.  Residual: max over instances of
|η_c/η* − 1|, η_c the largest converged grid step; every η > η* must fail to converge; tolerance
0.01 (two grid steps).

Why 6000 steps and 1e-20.  Near a minimum with top curvature λ the loss contracts by
(1 − ηλ)² per step; at the flattest minimum ηλ = 2η/η*, so from L ≤ 1 the loss is below 1e-20
after n ≥ 11.5/(1 − η/η*) steps: 2300 at the grid point 0.995 (measured on these instances:
2035–2327 steps including the escape from the small start), so 6000 steps leave a margin of
2.5.  The slowest mode of the flattest minimum contracts by ηλ_min ≈ 2/κ per step at η ≈ η* and must first
grow out of the small start (a factor 10³ in N = 3 layers): about 9κ steps, hence 30κ when that exceeds
6000 (fresh seed 467721396 drew a Gaussian T with κ = 537: no grid step converged in 6000 steps, 0.995 does
in 16 110).  Converged runs end at the round-off floor (≤ 1e-27); runs above η* settle on period-two
orbits with losses ≥ 1e-3, and runs at exactly η* decay only algebraically (≥ 5e-5 after 6000
steps): 1e-20 lies many orders of magnitude from each.

Negative control: the same measured thresholds against thresholds 5% too high and 5% too low,
(1 ± 0.05)η*; both must be rejected on every instance (residual: the smallest
|η_c/((1 ± 0.05)η*) − 1|).

Why this control is the nearest.  The claim is a number, so its nearest wrong versions are
nearby numbers; ±5% is the smallest perturbation an honest reader would still call a
different threshold, and the 0.5% grid with a 1% tolerance resolves it with margin.  The
previous control, the depth-(N+1) threshold, was ~50% away and would have been rejected by
almost any scan.
"""

import numpy as np

import curvsym as cs
from curvsym import ensemble
from curvsym.papers import mulayoff2020
from curvsym.checks import CheckResult
from curvsym.verify import seeds

RATIOS = np.round(np.arange(0.900, 1.10001, 0.005), 3)
N_STEPS = 6000
MAX_STEPS = 400_000
INSTANCES = (  # (N, d, T, seed of the initial layers); T None: Gaussian, drawn from seed 1
    (3, 2, np.array([[2.0, 0.3], [0.1, 0.5]]), 3),
    (2, 2, np.array([[1.5, -0.4], [0.2, 0.8]]), 2),
    (3, 3, None, 1),
)


def steps_needed(T, N) -> int:
    """max(6000, 30κ) steps, κ = (s_max/s_min)^{2−2/N} of T: at η ≈ η* the slowest mode of the flattest minimum
    contracts by ηλ_min ≈ 2/κ per step and must first escape the small start, about 9κ steps in all (the shipped
    Gaussian T has κ = 73; fresh seed 467721396 drew κ = 537, which 6000 steps did not resolve)."""
    sv = np.linalg.svd(np.asarray(T, dtype=float), compute_uv=False)
    return int(min(MAX_STEPS, max(N_STEPS, np.ceil(30 * (sv[0] / sv[-1]) ** (2 - 2 / N)))))


def converged_ratios(N, d, T, seed, n_steps=N_STEPS, scale=0.1):
    """Boolean per grid ratio: GD at η = ratio·η* from a small start ends with loss < 1e-20."""
    m = cs.model(cs.deep_chain(N, d), whitened=True)
    rhs = cs.generate_flow(cs.gradient_flow(m))
    rng = seeds.rng(seed)
    B = len(RATIOS)
    W0 = [np.broadcast_to(scale * rng.standard_normal((d, d)), (B, d, d)).copy() for _ in range(N)]
    eta_star = 2 / mulayoff2020.flat_bound(T, N)
    with np.errstate(all="ignore"):
        traj = ensemble.gd(rhs, W0, [T], eta=eta_star * RATIOS, n_steps=n_steps, record_every=n_steps)
    P = traj.final[0]
    for w in traj.final[1:]:
        P = w @ P
    loss = 0.5 * np.sum((P - T) ** 2, axis=(1, 2))
    return np.isfinite(loss) & (loss < 1e-20)


@cs.theorem("GD threshold η* = 2/(N‖T‖^{2−2/N})", __doc__.split("\n\n")[1], digits=16, section="§3.6")
def gd_stability(digits: int) -> cs.Evidence:
    measured, above, notes = [], False, []
    for N, d, T, seed in INSTANCES:
        T = seeds.rng(1).standard_normal((d, d)) if T is None else T
        steps = steps_needed(T, N)
        ok = converged_ratios(N, d, T, seed, n_steps=steps)
        r = float(RATIOS[ok].max()) if ok.any() else 0.0
        measured.append(r)
        above |= bool(ok[RATIOS > 1.0 + 1e-9].any())
        notes.append(f"N={N} d={d}: η* = {2 / mulayoff2020.flat_bound(T, N):.4f}, converged up to η/η* = {r:.3f} "
                     f"({steps} steps)")
    res = max(abs(r - 1) for r in measured)
    numeric = CheckResult("|η_c/η* − 1| (and no convergence above η*)", res, 0.01, res <= 0.01 and not above,
                          {"eta_c/eta*": measured, "converged above eta*": above})
    wrong = [abs(r / (1 + sign * 0.05) - 1) for r in measured for sign in (1, -1)]
    negative = CheckResult("the same thresholds against (1 ± 5%)η*", min(wrong), 0.01, min(wrong) <= 0.01,
                           {"gaps": [round(w, 4) for w in wrong]})
    return cs.Evidence("n/a", numeric, negative, notes="; ".join(notes) + " (0.5% grid)")
