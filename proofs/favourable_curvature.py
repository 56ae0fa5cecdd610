"""Favourable curvature along gradient flow of deep linear nets, quantified (Elkabetz & Cohen §5.2).

Two theorems on scalar-output chains (the setting of the paper's Proposition 2), non-white Σx.

(1) The balanced-net bound holds along the path.  For balanced layers (W_{i+1}ᵀW_{i+1} = W_iW_iᵀ) and
convex ℓ(W) = ½ tr((W − T)Σx(W − T)ᵀ),

    λ_min(∇²L) ≥ −(N − 1) ‖∇ℓ(W)‖_F ‖W‖₂^{1−2/N},

and gradient flow keeps balanced layers balanced, so the bound holds at every point of a path
started balanced — at any scale (a start with ‖W_i‖ = 2 has λ_min(0) ≈ −30, and the bound follows it).
Numeric check: 4-4-4-1 (N = 3), balanced (rank-one) starts with ‖W_i(0)‖₂ = ε ∈ {0.1, 0.3, 2}, the path
by the Taylor method at `digits` digits with dense output at 300 times in [0, 8], λ_min of the dense
Hessian (P = 36); residual max_t λ_min/bound (≤ 1 means the bound holds; tolerance 1).  Negative
control: the same bound along the path whose start has the same end-to-end map but W_1 ÷ 3 and
W_3 × 3.  It is the nearest plausible wrong claim because it keeps everything but the balance
hypothesis (and near-zero random starts are only approximately balanced).  The orientation makes it
decidable on every draw: near 0 the cross terms of D²W pair (V_1, V_2) through ‖W_3‖ and (V_1, V_3)
through ‖W_2‖, and both can be aligned with ∇ℓ whatever the direction of W_1, so λ_min(0) ≲
−(2/3)‖∇ℓ‖(‖W_3‖ + ‖W_2‖ − ‖W_1‖) ≈ −2.4‖∇ℓ‖‖W‖^{1/3}, 1.2× the bound or more (1.50–1.63 measured on
40 fresh seeds at t = 0).  The earlier control (W_1 × 3, W_3 ÷ 3) puts the large factor on the pair
(V_2, V_3), whose term is ⟨∇ℓ, V_3V_2W_1⟩ ∝ the cosine between W_1's row space and ∇ℓ, so it was
rejected only on well-aligned draws (0.44–1.46 on the same seeds).

(2) The negative curvature met along the path is integrable but not O(1) in the start's scale:
from a balanced start with ‖W_i(0)‖₂ = ε, ∫₀^∞|λ₋| dt = (N − 1) log(1/ε) + O(1) as ε → 0 — an
asymptotic statement.  Derivation: near the saddle at 0 the bound is attained to leading order
(the radial direction V_i ∝ W_i gives d²f = −(N − 1)‖∇ℓ‖a cos θ with a = ‖W_i‖, θ the angle between
W's direction and −∇ℓ, and the ‖DW[V]‖² term is O(a^{2N−2})); along a balanced path da/dt =
a^{N−1}‖∇ℓ‖cos θ and a·sin θ is conserved to leading order, so the misalignment is an O(1) correction,
and ∫|λ₋| ≈ (N − 1)∫ d log a = (N − 1) log(1/ε) + O(1).  The O(1) term (where the ‖DW[V]‖² term and
the decay of ‖∇ℓ‖ end the negative phase) is comparable to (N − 1)log(1/ε) for ε ≳ 0.03, so a fit there is
pre-asymptotic: the earlier check (ε ∈ {0.3, 0.1, 0.03}, paths cut at t = 32 on a uniform grid) measured
slope ≈ 1.28 for N = 3 on fresh seeds, and for N = 3 the escape takes t ≈ 1/(‖∇ℓ(0)‖ε), so the path
had not converged at ε = 0.03 on some draws.  So the factor e^{∫|λ₋|} of the Elkabetz–Cohen envelope
grows like ε^{−(N−1)} — yet the envelope itself, and the GD–GF gap below it, grow only like log(1/ε)
(notes): the curvature is large only where the error source ‖∇²L∇L‖ is small.  Numeric check: N = 2
(4-4-1) and N = 3 (4-4-4-1), ε ∈ {1e-2, 1e-3, 1e-4}, in the asymptotic regime; each path by DOP853
(rtol 10⁻¹³; double precision suffices: λ_min ≈ −2‖∇ℓ‖ε and the Hessian's rounding error is
≈ 10⁻¹⁶‖H‖) until the loss is below 10⁻²⁰ (checked), λ_min sampled on a grid adapted to the path (see
_negative_integral); residual max_N |slope of ∫|λ₋| against log(1/ε) − (N − 1)| / (N − 1), tolerance
0.2 (measured |slope − (N − 1)| ≲ 0.005).  Negative controls, both must be rejected: "∫|λ₋| grows like
log(1/ε) at every depth" (slope 1) — the nearest plausible wrong claim: it is the growth rate of the
envelope and of the gap, it agrees with the claim at N = 2, and the pre-asymptotic fit (1.28) sat
closer to it than to 2; and "∫|λ₋| stays O(1) as ε → 0" (slope 0), the literal reading of "almost
non-negative along GF from near zero" that docs/mathematics.md §5.2 used to carry.
"""

import numpy as np

import curvsym as cs
from curvsym.checks import CheckResult
from curvsym.papers import elkabetz2021 as ec
from curvsym.problems import random_instance
from curvsym.verify.step_size import curvature_along, gap_study
from curvsym.verify import seeds

# each theorem's statement is its whole numbered paragraph (split("\n\n") cut (1) at its display formula
# and gave theorem (2) that formula as its statement)
_STATEMENT_1 = __doc__[__doc__.index("(1) "):__doc__.index("(2) ")].strip()
_STATEMENT_2 = __doc__[__doc__.index("(2) "):].strip()


def _setting(widths):
    net = cs.chain(widths)
    inst = random_instance(net, seed=seeds.pick(2))
    base = ec.balanced_init(widths, 1.0, seeds.rng(5))
    # scalar output: balanced layers are rank one; normalise so that "scale ε" means ‖W_i(0)‖₂ = ε exactly
    # (balanced_init draws the common singular value from |N(0, 1)|, which can be 0.003 on a fresh seed)
    base = tuple(w / np.linalg.norm(w, 2) for w in base)
    return cs.gradient_flow(cs.model(net)), (inst.Sigma, inst.T), base


def _bound_ratio(flow, data, W0, times, dps):
    """max_t λ_min/bound along the path (paths at dps digits, or DOP853 for dps None)."""
    rhs = cs.generate_flow(flow, "mpmath" if dps else "numpy")
    traj = cs.integrate(rhs, W0, data, times, dps=dps)
    states = [cs.to_float(s) for s in traj.states]
    prof = curvature_along(flow, times, states, data)
    N = flow.model.depth
    worst = 0.0
    for s, lam in zip(states, prof.lam_min):
        W = s[0]
        for w in s[1:]:
            W = w @ W
        b = ec.balanced_curvature_bound(W, data[1], data[0], N)
        if b < 0:
            worst = max(worst, lam / b)
        elif lam < -1e-10:
            worst = np.inf
    return worst, prof


@cs.theorem("balanced-net curvature bound along gradient flow", _STATEMENT_1, digits=50, cost=5.5, section="§5.2")
def balanced_bound_along_flow(digits: int) -> cs.Evidence:
    flow, data, base = _setting([4, 4, 4, 1])
    times = list(np.linspace(0, 8, 301))
    dps = min(digits, 30)
    ratios, lam0 = {}, {}
    for eps in (0.1, 0.3, 2.0):
        r, prof = _bound_ratio(flow, data, tuple(eps * w for w in base), times, dps)
        ratios[eps], lam0[eps] = r, prof.lam_min[0]
    res = max(ratios.values())
    numeric = CheckResult("max_t λ_min / (−(N−1)‖∇ℓ‖‖W‖^{1−2/N}), balanced starts", res, 1.0, res <= 1.0,
                          {str(k): v for k, v in ratios.items()})
    W0 = tuple(0.3 * w for w in base)
    unbalanced = (W0[0] / 3, W0[1], 3 * W0[2])
    bad, _ = _bound_ratio(flow, data, unbalanced, times, dps)
    negative = CheckResult("the same bound along an unbalanced path (same initial W, W_1 ÷ 3, W_3 × 3)", bad, 1.0,
                           bad <= 1.0, {"imbalance": ec.imbalance(unbalanced)})
    notes = ("max_t λ_min/bound: " + ", ".join(f"ε={k:g}: {v:.3f} (λ_min(0) = {lam0[k]:.2f})" for k, v in ratios.items())
             + f"; unbalanced: {bad:.3f}; paths at {dps} digits (Taylor, dense output)")
    return cs.Evidence("n/a", numeric, negative, notes=notes)


def _prod(state):
    W = state[0]
    for w in state[1:]:
        W = w @ W
    return W


def _negative_integral(flow, data, W0, n_coarse=20000, n_fine=6000, dI=0.02, every=600):
    """∫₀^∞|λ₋| dt along GF from W0 (DOP853, rtol 1e-13), on a grid adapted to the path.

    The path is run until the loss has fallen below 1e-20 (the escape from the saddle at 0 takes
    t ≈ log(1/ε)/‖∇ℓ(0)‖ for N = 2 and ≈ 1/(‖∇ℓ(0)‖ε^{N−2}) for N ≥ 3, doubled until converged); a
    fine grid of 6000 points covers [t_esc − 30, t_esc + 40] around the escape (‖W‖ reaching half its
    limit), where λ_min changes on an O(1) time scale, and 20000 points cover [0, t_end] (3000 were too
    few on a draw whose start points away from −∇ℓ, seed 1017: the path first shrinks and turns, and the
    integral came out 24.68 instead of 21.10 at ε = 1e-4); λ_min is sampled wherever the bound's integral
    has grown by 0.02 (and at least every 600 grid points), then integrated by the trapezoidal rule.
    """
    Sigma, T = data
    N = flow.model.depth
    rhs = cs.generate_flow(flow)
    loss = lambda W: 0.5 * float(np.trace((W - T) @ Sigma @ (W - T).T))
    a0 = np.linalg.norm(_prod(W0), 2) ** (1 / N)
    g0 = np.linalg.norm(T @ Sigma)
    t_end = 40.0 + (4 * np.log(1 / a0) / g0 if N == 2 else 4 / (g0 * a0 ** (N - 2)))
    for _ in range(8):
        c = cs.integrate_double(rhs, W0, data, list(np.linspace(0, t_end, n_coarse + 1)), rtol=1e-13, atol=1e-16,
                                progress=False)
        if loss(_prod(c.states[-1])) < 1e-20:
            break
        t_end *= 2
    nw = np.array([np.linalg.norm(_prod(x)) for x in c.states])
    te = c.t[int(np.argmax(nw >= 0.5 * nw[-1]))]
    ts = np.union1d(c.t, np.linspace(max(0.0, te - 30), min(t_end, te + 40), n_fine + 1))
    traj = cs.integrate_double(rhs, W0, data, list(ts), rtol=1e-13, atol=1e-16, progress=False)
    b = np.array([-ec.balanced_curvature_bound(_prod(x), T, Sigma, N) for x in traj.states])
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (b[1:] + b[:-1]) * np.diff(ts))])
    idx = [0]
    for k in range(1, len(ts)):
        if cum[k] - cum[idx[-1]] >= dI or k - idx[-1] >= every:
            idx.append(k)
    if idx[-1] != len(ts) - 1:
        idx.append(len(ts) - 1)
    prof = curvature_along(flow, [ts[k] for k in idx], [traj.states[k] for k in idx], data)
    return float(prof.negative_integral()[-1]), loss(_prod(traj.states[-1]))


def _negative_integrals(widths, scales):
    """∫|λ₋| from the balanced start of scale ε (every ‖W_i(0)‖₂ = ε exactly), for each ε; the worst final loss."""
    flow, data, base = _setting(widths)
    out, worst = [], 0.0
    for eps in scales:
        I, L = _negative_integral(flow, data, tuple(eps * w for w in base))
        out.append(I)
        worst = max(worst, L)
    return out, worst


@cs.theorem("∫|λ₋| along GF from near zero grows like (N−1)·log(1/ε)", _STATEMENT_2, digits=50, cost=5, section="§5.2")
def negative_curvature_integral(digits: int) -> cs.Evidence:
    scales = (1e-2, 1e-3, 1e-4)
    x = np.log(1 / np.asarray(scales))
    slopes, integrals, final_loss = {}, {}, 0.0
    for widths in ([4, 4, 1], [4, 4, 4, 1]):
        N = len(widths) - 1
        I, L = _negative_integrals(widths, scales)
        slopes[N] = float(np.polyfit(x, I, 1)[0])
        integrals[N] = I
        final_loss = max(final_loss, L)

    def residual(predicted):
        return max(abs(slopes[N] - predicted(N)) / (N - 1) for N in slopes)

    res = residual(lambda N: N - 1)
    numeric = CheckResult("max_N |d∫|λ₋|/d log(1/ε) − (N − 1)| / (N − 1), ε ∈ {1e-2, 1e-3, 1e-4}", res, 0.2,
                          res <= 0.2 and final_loss < 1e-20,
                          {**{f"slope_N{N}": s for N, s in slopes.items()}, "final loss (< 1e-20: converged)": final_loss})
    wrong = {"slope 1 for every N (the envelope's rate)": residual(lambda N: 1),
             "∫|λ₋| = O(1) (slope 0)": residual(lambda N: 0)}
    neg = min(wrong.values())
    negative = CheckResult("the same against slope 1 for every depth; against ∫|λ₋| = O(1)", neg, 0.2, neg <= 0.2,
                           wrong)
    # the envelope and the gap grow only like log(1/ε)
    flow, data, base = _setting([4, 4, 4, 1])
    grow = []
    for eps, t_end in ((0.3, 8.0), (0.1, 16.0), (0.03, 32.0)):
        st = gap_study(flow, tuple(eps * w for w in base), data, [1e-2, 5e-3], t_end, dps=None, max_points=800)
        r = st.runs[-1]
        grow.append((eps, r.max_distance / r.eta, max(r.envelope) / r.eta))
    notes = ("∫|λ₋|: " + "; ".join(f"N={N}: " + ", ".join(f"{v:.2f}" for v in I) for N, I in integrals.items())
             + f" for ε = {scales}; slopes " + ", ".join(f"N={N}: {s:.3f}" for N, s in slopes.items())
             + "; N = 3, max_t gap/η and max_t E/η: "
             + ", ".join(f"ε={e:g}: {g:.2f}, {E:.1f}" for e, g, E in grow))
    return cs.Evidence("n/a", numeric, negative, notes=notes)
