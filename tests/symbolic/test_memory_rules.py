"""Rules with memory (heavy ball, Nesterov, RMSProp, Adam): auxiliary state through the whole pipeline.

The discrete step of each rule, generated from its increment field and run by the package's own
step-map runner, must reproduce a hand-written optimiser loop (Polyak, Sutskever, PyTorch-style
RMSProp and Adam) step for step; the continuous limit must integrate in float64 and at 30 digits;
bad input gets one clear line.
"""

import numpy as np
import pytest
import sympy as sp
from curvsym.problems import random_instance

import curvsym as cs
from curvsym import ensemble, rules
from curvsym import nonlinear as nl
from curvsym.symbolic.algebra import is_identically_zero
from curvsym.symbolic.scale_nodes import InvRoot, Reciprocal
from curvsym.symbolic.rules import memory as mem
from curvsym.symbolic.step_maps import ETA


def _problem():
    net = cs.chain([3, 4, 2])
    return cs.model(net), random_instance(net, seed=5, scale=0.7)


def _grad(W, data):
    """∇L for W = W2 W1, L = ½ tr((W − T)Σx(W − T)ᵀ), written out by hand."""
    W1, W2 = W
    S, T = data
    G = (W2 @ W1 - T) @ S
    return [W2.T @ G, G @ W1.T]


def _run_steps(rule, m, inst, params, n, **aux):
    """n optimiser steps by the package: StepMap (explicit Euler of step h) on the generated increment field."""
    rhs = cs.generate_flow(rule.step_flow(m))
    y0 = mem.initial_state(rule, m, inst.weights, **aux)
    traj = ensemble.iterate(rhs, [y[None] for y in y0], inst.data(), params["eta"], n, record_every=n,
                            params=params)
    return [y[0] for y in traj.final]


def test_heavy_ball_and_nesterov_steps_are_polyak_and_sutskever():
    m, inst = _problem()
    data = inst.data()
    lr, beta, n = 0.05, 0.9, 25
    params = rules.from_betas("heavy-ball", lr, beta=beta)
    for rule, look in ((rules.heavy_ball(), False), (rules.nesterov(), True)):
        got = _run_steps(rule, m, inst, params, n)
        W = [w.copy() for w in inst.weights]
        D = [np.zeros_like(w) for w in W]  # displacement θ_k − θ_{k−1}
        for _ in range(n):
            g = _grad([w + beta * d for w, d in zip(W, D)] if look else W, data)
            D = [beta * d - lr * gk for d, gk in zip(D, g)]
            W = [w + d for w, d in zip(W, D)]
        h = params["eta"]
        for a, b in zip(got, W + [d / h for d in D]):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12, err_msg=rule.name)
    # the two differ (the look-ahead gradient is not the gradient): the comparison can fail
    hb = _run_steps(rules.heavy_ball(), m, inst, params, n)
    assert np.max(np.abs(hb[0] - _run_steps(rules.nesterov(), m, inst, params, n)[0])) > 1e-4


@pytest.mark.parametrize("bias_correction", [True, False])
def test_adam_steps_are_kingma_ba(bias_correction):
    m, inst = _problem()
    data = inst.data()
    lr, b1, b2, eps, n = 0.01, 0.9, 0.99, 1e-3, 30
    params = rules.from_betas("adam", lr, beta1=b1, beta2=b2)
    got = _run_steps(rules.adam(eps=sp.Rational(1, 1000), bias_correction=bias_correction), m, inst, params, n)
    W = [w.copy() for w in inst.weights]
    M = [np.zeros_like(w) for w in W]
    S = [np.zeros_like(w) for w in W]
    for k in range(1, n + 1):
        g = _grad(W, data)
        M = [b1 * x + (1 - b1) * gk for x, gk in zip(M, g)]
        S = [b2 * s + (1 - b2) * gk * gk for s, gk in zip(S, g)]
        c1, c2 = (1 - b1 ** k, 1 - b2 ** k) if bias_correction else (1, 1)
        W = [w - lr * (x / c1) / (np.sqrt(s / c2) + eps) for w, x, s in zip(W, M, S)]
    for a, b in zip(got[:2], W):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    if bias_correction:
        np.testing.assert_allclose(got[6], np.full_like(W[0], b1 ** n), rtol=1e-10)  # P₁ = β₁^k


def test_rmsprop_steps_are_tieleman_hinton():
    m, inst = _problem()
    data = inst.data()
    lr, b2, eps, n = 0.01, 0.95, 1e-2, 30
    params = rules.from_betas("rmsprop", lr, beta2=b2)
    got = _run_steps(rules.rmsprop(eps=sp.Rational(1, 100)), m, inst, params, n)
    W = [w.copy() for w in inst.weights]
    S = [np.zeros_like(w) for w in W]
    for _ in range(n):
        g = _grad(W, data)
        S = [b2 * s + (1 - b2) * gk * gk for s, gk in zip(S, g)]
        W = [w - lr * gk / (np.sqrt(s) + eps) for w, gk, s in zip(W, g, S)]
    for a, b in zip(got, W + S):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_the_limit_is_the_step_field_at_h_zero_and_runs_in_every_integrator():
    m, inst = _problem()
    rule = rules.heavy_ball(sp.Rational(3, 2))
    flow = rule.flow(m)
    assert [w.name for w in flow.model.weights] == ["W_1", "W_2", "V_1", "V_2"]
    step = rule.step_flow(m)
    assert all(is_identically_zero(sp.MatAdd(a.xreplace({ETA: 0}), sp.MatMul(-1, b)), [m.Sigma])
               for a, b in zip(step.velocities, flow.velocities))
    assert not is_identically_zero(sp.MatAdd(step.velocities[0], sp.MatMul(-1, flow.velocities[0])), [m.Sigma])
    y0 = mem.initial_state(rule, m, inst.weights, V=[0.3 * w for w in inst.weights])
    dbl = cs.integrate(cs.generate_flow(flow), y0, inst.data(), [0, 1], rtol=1e-12, atol=1e-13)
    hp = cs.integrate(cs.generate_flow(flow, "mpmath"), y0, inst.data(), [0, 1], dps=30)
    for a, b in zip(dbl.states[-1], cs.to_float(hp.states[-1])):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    # ẍ + γẋ = −∇L: the energy L + ½‖V‖² decreases at the rate γ‖V‖² (not conserved: the check can fail)
    assert not np.allclose(dbl.states[-1][0], inst.weights[0])


def test_adam_limit_integrates_at_30_digits_and_matches_float64():
    m, inst = _problem()
    rule = rules.adam(1, 2, sp.Rational(1, 10))
    ones = [np.ones_like(w) for w in inst.weights]
    y0 = mem.initial_state(rule, m, inst.weights, S=ones, P=[0.5 * o for o in ones], Q=[0.5 * o for o in ones])
    flow = rule.flow(m)
    rhs = cs.generate_flow(flow, "mpmath")
    assert not rhs.polynomial and "_inv_root(" in rhs.source and "_reciprocal(" in rhs.source
    hp = cs.integrate(rhs, y0, inst.data(), [0, "0.5"], dps=30)
    dbl = cs.integrate(cs.generate_flow(flow), y0, inst.data(), [0, 0.5], rtol=1e-12, atol=1e-13)
    for a, b in zip(dbl.states[-1], cs.to_float(hp.states[-1])):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    # P₁(t) = P₁(0) e^{−at}: the bias-correction state is the exact exponential
    np.testing.assert_allclose(cs.to_float(hp.states[-1])[6], 0.5 * np.exp(-0.5), rtol=1e-14)


def test_entrywise_kernels_are_the_derivatives_of_their_functions():
    s = sp.Symbol("s", positive=True)
    eps = sp.Rational(1, 10)
    x = np.array([[0.3, 2.0]])
    for k in range(3):
        ref = [float(InvRoot.scalar(s, k, eps).subs(s, v)) for v in x.ravel()]
        np.testing.assert_allclose(cs.kernels.KERNELS["_inv_root"](x, k, 0.1, np).ravel(), ref, rtol=1e-14)
        ref = [float(Reciprocal.scalar(s, k).subs(s, v)) for v in x.ravel()]
        np.testing.assert_allclose(cs.kernels.KERNELS["_reciprocal"](x, k, np).ravel(), ref, rtol=1e-14)


def test_momentum_versions_of_kfac_and_ngd_and_relu_nets():
    m, inst = _problem()
    for base in (rules.kfac(strict=False), rules.natural_gradient()):
        rule = rules.heavy_ball(1, base=base)
        f = cs.generate_flow(rule.flow(m))(mem.initial_state(rule, m, inst.weights), *inst.data())
        ref = cs.generate_flow(base.flow(m))(inst.weights, *inst.data())
        for a, b in zip(f[2:], ref):  # V = 0: V̇ = base velocity
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    nm = nl.data_model(cs.chain([3, 4, 2], activation="relu", bias=True), 6)
    rule = rules.heavy_ball(1)
    assert len(rule.flow(nm).velocities) == 2 * len(nm.weights)


def test_bad_input_gets_one_clear_line():
    m, inst = _problem()
    with pytest.raises(cs.OptionError, match=r"β must lie in \[0, 1\), got 1$"):
        rules.from_betas("heavy-ball", 0.1, beta=1)
    with pytest.raises(cs.OptionError, match=r"β₂ must lie in \[0, 1\), got -1/10"):
        rules.from_betas("adam", 0.1, beta1=0.9, beta2=-0.1)
    with pytest.raises(cs.OptionError, match=r"ε must be > 0"):
        rules.adam(eps=0)
    with pytest.raises(cs.OptionError, match=r"ε must be > 0"):
        rules.rmsprop(eps=-1e-8)
    with pytest.raises(cs.OptionError, match="rate γ must be ≥ 0"):
        rules.heavy_ball(-1)
    with pytest.raises(cs.ShapeError, match=r"state V_2 \(velocity\) has shape \(3, 4\), but its parameter W_2 "
                                            r"has shape \(2, 4\)"):
        mem.initial_state(rules.heavy_ball(), m, inst.weights, V=[np.zeros((4, 3)), np.zeros((3, 4))])
    with pytest.raises(cs.OptionError, match="no state slot 'M'"):
        mem.initial_state(rules.heavy_ball(), m, inst.weights, M=[])
    with pytest.raises(cs.OptionError, match="memoryless rule"):
        rules.heavy_ball(1, base=rules.adam())


def test_custom_rules_with_state_from_safe_text(tmp_path):
    m, inst = _problem()
    f = tmp_path / "hb.rule"
    f.write_text("name = my heavy ball\nvelocity = V + eta * (-gamma * V - grad)\nstate V = -gamma * V - grad\n"
                 "gamma = 3/2\n")
    mine = rules.load_memory_rule_file(f)
    ref = rules.heavy_ball(sp.Rational(3, 2))
    y0 = mem.initial_state(ref, m, inst.weights, V=[0.2 * w for w in inst.weights])
    for a, b in zip(cs.generate_flow(mine.step_flow(m))(y0, *inst.data(), eta=0.1),
                    cs.generate_flow(ref.step_flow(m))(y0, *inst.data(), eta=0.1)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    adam = rules.memory_rule("text Adam", "-hadamard(M + eta*a*(grad - M), inv_root(S + eta*b*(hadamard(grad, grad) - S), 1/100))",
                             {"M": "a * (grad - M)", "S": "b * (hadamard(grad, grad) - S)"}, {"a": 2, "b": 3})
    ref = rules.adam(2, 3, sp.Rational(1, 100), bias_correction=False)
    y0 = mem.initial_state(ref, m, inst.weights, M=[0.1 * w for w in inst.weights], S=[w * w for w in inst.weights])
    for a, b in zip(cs.generate_flow(adam.step_flow(m))(y0, *inst.data(), eta=0.05),
                    cs.generate_flow(ref.step_flow(m))(y0, *inst.data(), eta=0.05)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    for text, state, match in [("V", {"V": "grad.T"}, r"state V has shape \(n_in, n_out\), but a state must match"),
                               ("V", {"V": "__import__('os')"}, "only the functions"),
                               ("V", {"grad": "V"}, "cannot name a state slot"),
                               ("inv_root(V, 0)", {"V": "-grad"}, "ε must be > 0"),
                               ("V", {"V": "-gamma * grad"}, "unknown name 'gamma'")]:
        with pytest.raises(cs.RuleParseError, match=match):
            rules.memory_rule("bad", text, state)


def test_nesterov_3t_steps_are_su_boyd_candes():
    m, inst = _problem()
    data = inst.data()
    h, n = 0.1, 12
    got = _run_steps(mem.NesterovConvex(), m, inst, {"eta": h}, n)
    x = [w.copy() for w in inst.weights]
    y = [w.copy() for w in x]
    for k in range(1, n + 1):
        xn = [a - h * h * g for a, g in zip(y, _grad(y, data))]
        y = [a + (k - 1) / (k + 2) * (a - b) for a, b in zip(xn, x)]
        x = xn
    for a, b in zip(got[:2], x):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got[4], np.full_like(x[0], n * h), rtol=1e-13)  # the time slot T = kh


def test_memory_rules_generate_for_the_array_api():
    pytest.importorskip("array_api_strict")
    from curvsym import backends
    m, inst = _problem()
    for rule in (rules.heavy_ball(1), rules.nesterov(1), rules.adam(1, 2, sp.Rational(1, 100)),
                 mem.NesterovConvex()):
        y0 = mem.initial_state(rule, m, inst.weights, **({"T": [w * 0 + 0.5 for w in inst.weights]}
                                                          if rule.key == "nesterov-3t" else {}))
        ref = cs.generate_flow(rule.step_flow(m))(y0, *inst.data(), eta=0.1)
        arrays = backends.to_backend([*y0, *inst.data()], "array_api_strict")
        got = cs.generate_flow(rule.step_flow(m), "array_api")(arrays[:len(y0)], *arrays[len(y0):], eta=0.1)
        for a, b in zip(got, ref):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-13, err_msg=rule.name)


def test_step_derivative_gives_heavy_ball_and_nesterov_their_own_first_corrections():
    from curvsym.symbolic.memory_limits import at_zero, step_derivative
    m = cs.model(cs.chain([2, 3, 2]))
    for rule in (rules.heavy_ball(), rules.nesterov()):
        step, flow = rule.step_flow(m), rule.flow(m)
        F1 = [at_zero(step_derivative(f)) for f in step.velocities]
        V = flow.model.weights[2:]
        for k in range(2):  # F₁[W] = F₀[V] = −γV − ∇L for both
            assert is_identically_zero(sp.MatAdd(F1[k], sp.MatMul(-1, flow.velocities[2 + k])), [m.Sigma])
        look = [cs.symbolic.calculus.time_derivative(sp.MatMul(-1, g), dict(zip(m.weights, V))) for g in m.gradient()]
        for k in range(2):  # F₁[V]: 0 for heavy ball, −D∇L[V] for Nesterov
            want = look[k] if rule.key == "nesterov" else sp.ZeroMatrix(*V[k].shape)
            assert is_identically_zero(sp.MatAdd(F1[2 + k], sp.MatMul(-1, want)), [m.Sigma]), rule.name


# --------------------------------------------------------------------------- the step map Φ_h (issue 27)

def _run_map(rule, m, inst, params, n, start=0, y0=None, **aux):
    """n optimiser steps by the package's other route: the generated step map Φ_h run by ensemble.iterate_map."""
    phi = cs.generate_flow(rule.step_map(m))
    y0 = mem.initial_state(rule, m, inst.weights, step_map=True, **aux) if y0 is None else y0
    traj = ensemble.iterate_map(phi, [y[None] for y in y0], inst.data(), n, record_every=n, params=params,
                                start=start)
    assert traj.n_steps == n and list(traj.t) == [start, start + n] and traj.status[0].value == "success"
    return [y[0] for y in traj.final]


MAP_CASES = [  # rule, params, extra initial state
    (rules.heavy_ball(), rules.from_betas("heavy-ball", 0.05, beta=0.9), {}),
    (rules.nesterov(), rules.from_betas("nesterov", 0.05, beta=0.9), {}),
    (mem.NesterovConvex(), {"eta": 0.1}, {}),
    (rules.rmsprop(eps=sp.Rational(1, 100)), rules.from_betas("rmsprop", 0.01, beta2=0.95), {}),
    (rules.adam(eps=sp.Rational(1, 1000)), rules.from_betas("adam", 0.01, beta1=0.9, beta2=0.99), {}),
    (rules.adam(eps=sp.Rational(1, 1000), bias_correction=False),
     rules.from_betas("adam", 0.01, beta1=0.9, beta2=0.99), {}),
    (rules.heavy_ball(base=rules.natural_gradient()), rules.from_betas("heavy-ball", 0.01, beta=0.8), {}),
]


@pytest.mark.parametrize("rule, params, aux", MAP_CASES, ids=lambda c: getattr(c, "key", None))
def test_the_step_map_gives_the_euler_form_iterates(rule, params, aux):
    """Φ_h(y) = y + hF_h(y): 25 steps of the map equal 25 explicit Euler steps of F_h (hence the optimiser)."""
    m, inst = _problem()
    n = 25
    euler = _run_steps(rule, m, inst, params, n, **aux)
    got = _run_map(rule, m, inst, params, n, **aux)
    parts = mem.split_state(rule, m, euler)
    mapped = mem.split_state(rule, m, got, step_map=True)
    assert set(mapped) <= set(parts)
    for key, arrays in mapped.items():
        for a, b in zip(arrays, parts[key]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, float(np.max(np.abs(b)))),
                                       err_msg=f"{rule.name}: {key}")


def test_the_step_map_of_adam_reads_the_step_count_and_forms_each_moment_once():
    m, inst = _problem()
    rule = rules.adam(eps=sp.Rational(1, 1000))
    params = rules.from_betas("adam", 0.01, beta1=0.9, beta2=0.99)
    phi = rule.step_map(m)
    assert mem.STEP_COUNT in phi.parameters and [p for p, _ in rule.map_slots] == ["M", "S"]
    assert len(phi.model.weights) == 3 * len(m.weights)  # W, M, S: the powers β^k are not state
    assert mem.STEP_COUNT not in rules.adam(bias_correction=False).step_map(m).parameters
    source = cs.generate_flow(phi).source
    assert "_ones" not in source and "_reciprocal" not in source
    # M' = M + ha(g − M) once per array: its temporary is both returned and used in W'
    assert source.count("M_1 + ") == 1 and source.count("S_1 + ") == 1
    # 30 steps at once equal 12 steps then 18 more started at k = 12 (the bias correction follows k)
    whole = _run_map(rule, m, inst, params, 30)
    first = _run_map(rule, m, inst, params, 12)
    rest = _run_map(rule, m, inst, params, 18, start=12, y0=first)
    for a, b in zip(rest, whole):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    # restarting at k = 0 instead is a different (uncorrected-again) run: the comparison can fail
    again = _run_map(rule, m, inst, params, 18, y0=first)
    assert np.max(np.abs(again[0] - whole[0])) > 1e-6


def test_the_step_map_of_heavy_ball_is_polyak_by_hand():
    m, inst = _problem()
    data = inst.data()
    lr, beta, n = 0.05, 0.9, 25
    params = rules.from_betas("heavy-ball", lr, beta=beta)
    got = _run_map(rules.heavy_ball(), m, inst, params, n)
    W = [w.copy() for w in inst.weights]
    D = [np.zeros_like(w) for w in W]
    for _ in range(n):
        D = [beta * d - lr * gk for d, gk in zip(D, _grad(W, data))]
        W = [w + d for w, d in zip(W, D)]
    for a, b in zip(got, W + [d / params["eta"] for d in D]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
