"""Min-norm natural gradient conserves layer balance; K-FAC and Bernacchia's NG do not.

Statement.  The minimum-norm natural gradient V = −F⁺∇L = −Jᵀ𝒦⁺[r] lies in the
row space of the network Jacobian, so it conserves every C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ,
exactly like gradient flow ("generalized conservation law", Huh 2020; MATH.md §0.3,
§1.3).  The block-diagonal rules (K-FAC, and Bernacchia et al.'s (1/N)·K-FAC) leave
the row space and destroy balance.

Symbolic proof: dC_i/dt ≡ 0 for the derived NGD flow with 𝒦⁺[·] and Σx^½ opaque
(chains 2-3-3-2 and 3-3-3-3); the same expansion is non-zero for K-FAC and Bernacchia.

Numeric check: GBS at ``digits`` digits, 3-3-3-3 chain, non-white Σx, t ∈ [0, 1];
relative drift of every C_i below 10^−(digits−10).

Negative control: K-FAC from the same point; its drift must be rejected (Bernacchia's
drift is reported in the notes).
"""

import curvsym as cs
from curvsym import rules
from curvsym.integrate import integrate
from curvsym.problems import conditioned_instance


@cs.theorem("min-norm NGD conserves balance; K-FAC does not", __doc__.split("\n\n")[1], digits=30)
def ngd_balance(digits: int) -> cs.Evidence:
    def holds(rule, widths):
        return all(p.holds for p in cs.prove_conserved(rule.flow(cs.model(cs.chain(widths)))))

    ngd_proved = all(holds(rules.natural_gradient(), w) for w in ([2, 3, 3, 2], [3, 3, 3, 3]))
    block_refuted = not holds(rules.kfac(), [3, 3, 3, 3]) and not holds(rules.bernacchia(), [3, 3, 3, 3])

    net = cs.chain([3, 3, 3, 3])
    m = cs.model(net)
    inst = conditioned_instance(net, seed=3)
    times = [0, 0.5, 1]

    def drift(rule, name):
        traj = integrate(cs.generate_flow(rule.flow(m), "mpmath"), inst.weights, inst.data(), times, dps=digits)
        return cs.check_balance(m, traj, inst.data(), name=name)

    numeric = drift(rules.natural_gradient(), "C_i drift under min-norm NGD")
    negative = drift(rules.kfac(), "C_i drift under K-FAC")
    bern = drift(rules.bernacchia(), "C_i drift under Bernacchia NG")
    symbolic = ("proved (NGD); refuted for K-FAC and Bernacchia" if ngd_proved and block_refuted
                else "refuted: symbolic verdicts differ from the claim")
    return cs.Evidence(symbolic, numeric, negative,
                       notes=f"Bernacchia NG drift {bern.residual:.2e} ({'rejected' if not bern.passed else 'NOT rejected'})",
                       extra={"bernacchia": bern})
