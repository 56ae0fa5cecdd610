"""Through a bottleneck the e^{−t} law of natural gradient fails; the tangent-space law holds.

Statement.  If a hidden width is smaller than n_0 and n_N, the end-to-end map
W has rank ≤ r and the Jacobian of θ ↦ WΣx^{½} is not onto.  Min-norm NGD then moves
W by the orthogonal projection of the residual onto the tangent space of the
rank-r matrices at X = WΣx^{½} (U = col X, V = row X):

    (dW/dt) Σx^{½} = −Π_X((W − T)Σx^{½}),   Π_X(E) = P_U E + E P_V − P_U E P_V,

instead of −(W − T)Σx^{½}; the e^{−t} law is a documented limit, not a theorem, here
(MATH.md §1.3, §2.4).

Numeric check (pointwise, mpmath at ``digits`` digits, with the pseudo-inverse 𝒦⁺):
at the states of a double-precision NGD trajectory of a 3-2-3 chain (non-white Σx,
t ∈ [0, 3]) the relative residual of the tangent-space law is below 10^−(digits−10).

Negative control: the no-bottleneck law dW/dt = −(W − T) at the same points.  The
notes report by how much W(t) departs from T + (W(0) − T)e^{−t} along the trajectory.
"""

import mpmath
import numpy as np

import curvsym as cs
from curvsym import rules
from curvsym.checks import CheckResult
from curvsym.derive import end_to_end
from curvsym.integrate import integrate
from curvsym.problems import random_instance
from curvsym.runtime import _psd_inv_power, _sqrt_psd


def _max(a):
    return max(abs(x) for x in np.asarray(a).flat)


@cs.theorem("NGD through a bottleneck: tangent-space law, not e^{−t}", __doc__.split("\n\n")[1], digits=30)
def ngd_bottleneck(digits: int) -> cs.Evidence:
    net = cs.chain([3, 2, 3])
    m = cs.model(net)
    inst = random_instance(net, seed=5, scale=1.0)
    times = [0, 0.5, 1, 2, 3]
    traj = integrate(cs.generate_flow(rules.natural_gradient().flow(m)), inst.weights, inst.data(), times)
    e2e = cs.generate_expressions(m, "W", [end_to_end(m)])
    W0 = e2e(inst.weights, *inst.data())[0]
    departure = max(np.max(np.abs(e2e(s, *inst.data())[0] - inst.T - (W0 - inst.T) * np.exp(-t)))
                    for t, s in zip(traj.t, traj.states)) / np.max(np.abs(W0 - inst.T))
    rhs = cs.generate_flow(rules.natural_gradient().flow(m), "mpmath")
    e2e_mp = cs.generate_expressions(m, "W", [end_to_end(m)], backend="mpmath")
    tangent, naive = 0, None
    with mpmath.workdps(digits + 10):
        D = rhs.validate(cs.to_mp(traj.states[0], digits + 10), cs.to_mp(inst.data(), digits + 10))
        H = _sqrt_psd(D[0], np)
        for state in traj.states:
            Ws = cs.to_mp(state, digits + 10)
            V = rhs.raw(*Ws, *D)
            W2, W1 = Ws[1], Ws[0]
            dW = V[1] @ W1 + W2 @ V[0]
            X = e2e_mp.raw(*Ws, *D)[0] @ H
            E = (e2e_mp.raw(*Ws, *D)[0] - D[1]) @ H
            PU = X @ _psd_inv_power(X.T @ X, 1, 0, False, np) @ X.T
            PV = X.T @ _psd_inv_power(X @ X.T, 1, 0, False, np) @ X
            proj = PU @ E + E @ PV - PU @ E @ PV
            scale = _max(E)
            tangent = max(tangent, _max(dW @ H + proj) / scale)
            dev = _max(dW @ H + E) / scale
            naive = dev if naive is None else max(naive, dev)
    tol = 10.0 ** (-(digits - 10))
    numeric = CheckResult("tangent-space law residual", float(tangent), tol, float(tangent) <= tol)
    negative = CheckResult("no-bottleneck law dW/dt = −(W − T)", float(naive), tol, float(naive) <= tol)
    return cs.Evidence("n/a", numeric, negative,
                       notes=f"e^(-t) law fails by {departure:.3f} (max relative departure of W(t), t ≤ 3)")
