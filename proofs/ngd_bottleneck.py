"""Through a bottleneck the e^{−t} law of natural gradient fails; the tangent-space law holds.

Statement.  If a hidden width r is smaller than min(n_0, n_N), the end-to-end map W has
rank ≤ r and the Jacobian of θ ↦ WΣx^{½} is not onto.  At points where rank W = r (generic),
min-norm NGD moves W by the orthogonal projection of the residual onto the tangent space of
the rank-r matrices at X = WΣx^{½} (U = col X, V = row X):

    (dW/dt) Σx^{½} = −Π_X((W − T)Σx^{½}),   Π_X(E) = P_U E + E P_V − P_U E P_V,

instead of −(W − T)Σx^{½}: the e^{−t} law is not a theorem here (docs/mathematics.md §1.3,
§2.4).  Reason: the range of J is that tangent space (the first and last layers reach
P_U E and E P_V, and no layer leaves it), and NGD's dθ = −J⁺r makes J dθ the orthogonal
projection of −r onto range J.

Numeric check (pointwise, mpmath at ``digits`` digits, with the pseudo-inverse 𝒦⁺ in the
generated rule): at the states of double-precision NGD trajectories (t ∈ [0, 3], non-white
Σx) of the chains 3-2-3, 4-2-3 and 3-3-2-3, dW/dt is formed from the generated layer
velocities by the chain rule and Π_X from the raw matrices (curvsym.fisher: path products,
eigen-based pseudo-inverses and Σx^{½}); relative residual below 10^−(digits−10).

Negative control: the same pointwise test of the Euclidean law dW/dt = −Π_W(W − T) —
the tangent-space projection at W without the Σx metric.

Why this control is the nearest.  It is the statement one gets by drawing the picture in
W-space: "NGD projects the residual onto the tangent space of the rank-r matrices at W".
It is exactly right for whitened inputs and differs from the claim only in the metric (the
projection must be taken at WΣx^{½}), so it tests whether the check sees Σx at all.  The
previous control, the no-bottleneck law dW/dt = −(W − T), fails by O(1) and is reported in the
notes, with how far W(t) departs from T + (W(0) − T)e^{−t} along the trajectory.
"""

import mpmath
import numpy as np

import curvsym as cs
from curvsym import fisher, rules
from curvsym.checks import CheckResult
from curvsym.integrate import integrate
from curvsym.problems import random_instance
from curvsym.verify import seeds

NETS = ([3, 2, 3], [4, 2, 3], [3, 3, 2, 3])


def _max(a):
    return max(abs(x) for x in np.asarray(a).flat)


def tangent_projection(X, E):
    """Π_X(E) = P_U E + E P_V − P_U E P_V with P_U = X(XᵀX)⁺Xᵀ, P_V = Xᵀ(XXᵀ)⁺X."""
    PU = X @ fisher.sym_power(X.T @ X, 1) @ X.T
    PV = X.T @ fisher.sym_power(X @ X.T, 1) @ X
    return PU @ E + E @ PV - PU @ E @ PV


def end_to_end_velocity(net, W, V):
    """dW/dt = Σ_i W_{>i} V_i W_{<i} from the raw path products."""
    out = None
    for (M, R), v in zip(fisher.path_factors(net, W), V):
        term = R @ v @ M
        out = term if out is None else out + term
    return out


def residuals(widths, digits):
    """(tangent-law, Euclidean-law, no-bottleneck-law residuals, e^{−t} departure) along one trajectory."""
    net = cs.chain(widths)
    m = cs.model(net)
    inst = random_instance(net, seed=seeds.pick(5), scale=1.0)
    times = [0, 0.5, 1, 2, 3]
    traj = integrate(cs.generate_flow(rules.natural_gradient().flow(m)), inst.weights, inst.data(), times)
    W0 = fisher.end_to_end_map(net, inst.weights)
    departure = max(np.max(np.abs(fisher.end_to_end_map(net, s) - inst.T - (W0 - inst.T) * np.exp(-t)))
                    for t, s in zip(traj.t, traj.states)) / np.max(np.abs(W0 - inst.T))
    rhs = cs.generate_flow(rules.natural_gradient().flow(m), "mpmath")
    out = [mpmath.mpf(0)] * 3
    with mpmath.workdps(digits + 10):
        for state in traj.states:
            Ws, (S, T) = fisher.as_mp(state, inst.data(), digits + 10)
            dW = end_to_end_velocity(net, Ws, rhs(Ws, S, T))
            H = fisher.sqrt_psd(S)
            W = fisher.end_to_end_map(net, Ws)
            E = (W - T) @ H
            out[0] = max(out[0], _max(dW @ H + tangent_projection(W @ H, E)) / _max(E))
            out[1] = max(out[1], _max(dW + tangent_projection(W, W - T)) / _max(W - T))
            out[2] = max(out[2], _max(dW @ H + E) / _max(E))
    return out, departure


@cs.theorem("NGD through a bottleneck: tangent-space law, not e^{−t}", __doc__.split("\n\n")[1], digits=30, section="§1.3")
def ngd_bottleneck(digits: int) -> cs.Evidence:
    tangent, euclid, naive, notes = 0, None, 0, []
    for widths in NETS:
        (t_res, e_res, n_res), dep = residuals(widths, digits)
        tangent = max(tangent, t_res)
        euclid = e_res if euclid is None else min(euclid, e_res)
        naive = max(naive, n_res)
        notes.append(f"{'-'.join(map(str, widths))}: Euclidean law {float(e_res):.3f}, e^(-t) departure {dep:.3f}")
    tol = 10.0 ** (-(digits - 10))
    numeric = CheckResult("tangent-space law residual (3-2-3, 4-2-3, 3-3-2-3)", float(tangent), tol,
                          float(tangent) <= tol)
    negative = CheckResult("Euclidean law dW/dt = −Π_W(W − T)", float(euclid), tol, float(euclid) <= tol)
    return cs.Evidence("n/a", numeric, negative,
                       notes="; ".join(notes) + f"; no-bottleneck law dW/dt = −(W − T) fails by {float(naive):.2f}")
