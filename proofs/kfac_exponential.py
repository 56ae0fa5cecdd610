"""K-FAC (block-diagonal natural gradient): W(t) = T + (W(0) − T) e^{−N t}.

Statement.  For a deep linear network of depth N in which every W_{>i} has full
row rank n_N and every W_{<i} full column rank n_0 (no bottleneck), the exact
block-diagonal natural gradient dW_i/dt = −G_i⁻¹ ∇_{W_i}L A_i⁻¹ gives
dW/dt = −Σ_i P_{>i}(W − T)Q_{<i} = −N(W − T), so W(t) = T + (W(0) − T)e^{−Nt}: N times
faster than full NGD (MATH.md §1.3).

Symbolic: n/a (the step uses R(RᵀR)⁻¹Rᵀ = I for invertible R, outside the free algebra).

Numeric check: GBS at ``digits`` digits on a 3-3-3-3 chain (N = 3), non-white Σx,
t ∈ [0, 1.5]; relative residual of the e^{−3t} law below 10^−(digits−10).

Negative control: K-FAC through a bottleneck (widths 3-2-3): P_{>1} is a rank-2
projector, not I, and the e^{−Nt} law fails.
"""

import curvsym as cs
from curvsym import rules
from curvsym.integrate import integrate
from curvsym.problems import conditioned_instance


@cs.theorem("K-FAC: W(t) − T = (W(0) − T)e^{−Nt}", __doc__.split("\n\n")[1], digits=30)
def kfac_exponential(digits: int) -> cs.Evidence:
    times = [0, 0.5, 1, 1.5]

    def law(widths, name):
        net = cs.chain(widths)
        m = cs.model(net)
        inst = conditioned_instance(net, seed=2)
        traj = integrate(cs.generate_flow(rules.kfac().flow(m), "mpmath"), inst.weights, inst.data(), times,
                         dps=digits)
        return cs.check_exponential_law(name, m, traj, inst.data(), rate=net.depth)

    numeric = law([3, 3, 3, 3], "K-FAC e^{-3t} law, widths 3-3-3-3")
    negative = law([3, 2, 3], "K-FAC e^{-2t} law through a bottleneck 3-2-3")
    return cs.Evidence("n/a", numeric, negative,
                       notes=f"bottleneck deviation from e^(-Nt): {negative.residual:.2e} (relative)")
