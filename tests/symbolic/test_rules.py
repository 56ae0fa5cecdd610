"""Every learning rule's generated code against the independent dense Fisher route, and rule parsing safety."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from curvsym.problems import conditioned_instance, random_instance
from curvsym.rules_text import load_rule_file, parse_expression, parse_rule

import curvsym as cs
from curvsym import fisher, rules

CASES = [  # (dense key, rule factory, q)
    ("gd", lambda: rules.gd(), 1),
    ("ngd", lambda: rules.natural_gradient(), 1),
    ("ngd", lambda: rules.natural_gradient(q=sp.Rational(1, 2)), 0.5),
    ("ngd", lambda: rules.natural_gradient(q=sp.Rational(1, 4)), 0.25),
    ("kfac", lambda: rules.kfac(strict=False), 1),
    ("kfac", lambda: rules.kfac(q=sp.Rational(1, 2), strict=False), 0.5),
    ("bernacchia", lambda: rules.bernacchia(strict=False), 1),
]
NETS = [cs.chain([3, 3, 3]), cs.chain([2, 3, 2]), cs.chain([2, 4, 3, 2]), cs.resnet(2, 3)]


def _well_conditioned(net, seed):
    square = all(e.shape[0] == e.shape[1] for e in net.weights)
    return conditioned_instance(net, seed) if square and net.depth == len(net.blocks()) else \
        random_instance(net, seed=seed, scale=1.0)


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.describe())
@pytest.mark.parametrize("key, make, q", CASES, ids=[f"{c[0]}-q{c[2]}" for c in CASES])
def test_rule_matches_dense_fisher_in_double(net, key, make, q):
    m = cs.model(net)
    inst = _well_conditioned(net, seed=3)
    got = cs.generate_flow(make().flow(m))(inst.weights, *inst.data())
    ref = fisher.dense_direction(key, m, inst.weights, inst.data(), q=q)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1, np.max(np.abs(b))))


MP_NETS = [  # (network, whitened): non-white Σx, a bottleneck (pseudo-inverses everywhere), depth 3, a ResNet
    (cs.chain([2, 3, 2]), False),
    (cs.chain([3, 2, 3]), False),
    (cs.chain([2, 1, 2]), False),
    (cs.chain([2, 2, 2, 2]), True),
    (cs.resnet(2, 2), False),
]


@pytest.mark.parametrize("net, whitened", MP_NETS,
                         ids=lambda x: x.describe() if hasattr(x, "describe") else ("white" if x else "non-white"))
@pytest.mark.parametrize("key, make, q", CASES, ids=[f"{c[0]}-q{c[2]}" for c in CASES])
def test_rule_matches_dense_fisher_to_40_digits(net, whitened, key, make, q):
    """Generated rule (50 digits) against the independent dense Kronecker route: 40 digits relative.

    The bottleneck nets 3-2-3 and 2-1-2 make 𝒦 and every G or A singular, so both sides use
    pseudo-inverses with their own rank decisions.  35 cases, about 2 s.
    """
    m = cs.model(net, whitened=whitened)
    inst = random_instance(net, seed=8, scale=1.0, whitened=whitened)
    with mpmath.workdps(50):
        W, D = fisher.as_mp(inst.weights, inst.data(whitened), 50)
        got = cs.generate_flow(make().flow(m), "mpmath")(W, *D)
        ref = fisher.dense_direction(key, m, W, D, q=mpmath.mpf(q))
        err = max(abs(x) for a, b in zip(got, ref) for x in (a - b).flat)
        assert err < mpmath.mpf(10) ** -40 * max(abs(x) for b in ref for x in b.flat)


def test_damped_rules_match_dense():
    """NGD damping acts on 𝒦 = JJᵀ (−Jᵀ(JJᵀ + λ)⁻¹r = −(F + λ)⁻¹g); K-FAC damping acts on each factor,
    −((G + λ)⁻¹ ⊗ (A + λ)⁻¹)g, which is not the damped block −(G ⊗ A + λ)⁻¹g."""
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=1)
    got = cs.generate_flow(rules.natural_gradient(damping=0.1).flow(m))(inst.weights, *inst.data())
    ref = fisher.dense_direction("ngd", m, inst.weights, inst.data(), damping=0.1)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    got = cs.generate_flow(rules.kfac(damping=0.1).flow(m))(inst.weights, *inst.data())
    ref = fisher.dense_direction("kfac", m, inst.weights, inst.data(), damping=0.1)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    # the other damping is a different rule, by far more than round-off
    g = fisher.dense_gradient(m, inst.weights, inst.data())
    S = inst.Sigma
    (M, R) = fisher.path_factors(net, inst.weights)[0]
    block = fisher.sym_power(fisher.kron(R.T @ R, M @ S @ M.T), 1, damping=0.1) @ g[:inst.weights[0].size]
    assert np.max(np.abs(block.reshape(got[0].shape) + got[0])) > 1e-2 * np.max(np.abs(got[0]))


def test_damped_kfac_is_the_damped_kronecker_factors():
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    inst = random_instance(net, seed=1)
    got = cs.generate_flow(rules.kfac(damping=0.1).flow(m))(inst.weights, *inst.data())
    W1, W2 = inst.weights
    S, T = inst.data()
    grad = cs.generate_flow(cs.gradient_flow(m))(inst.weights, S, T)
    G1, A1 = W2.T @ W2, S
    A2 = W1 @ S @ W1.T
    inv = lambda X: np.linalg.inv(X + 0.1 * np.eye(len(X)))
    np.testing.assert_allclose(got[0], inv(G1) @ grad[0] @ inv(A1), rtol=1e-12)
    np.testing.assert_allclose(got[1], inv(np.eye(2)) @ grad[1] @ inv(A2), rtol=1e-12)


def test_strict_block_rule_names_the_singular_preconditioner():
    net = cs.chain([2, 3, 2])  # G_1 = W_2ᵀW_2 is 3×3 of rank 2
    m = cs.model(net)
    inst = random_instance(net, seed=1)
    with pytest.raises(cs.SingularPreconditionerError, match=r"G for W_1 .*rank 2.*damping"):
        cs.generate_flow(rules.kfac().flow(m))(inst.weights, *inst.data())
    with mpmath.workdps(30), pytest.raises(cs.SingularPreconditionerError, match="G for W_1"):
        W, D = fisher.as_mp(inst.weights, inst.data(), 30)
        cs.generate_flow(rules.kfac().flow(m), "mpmath")(W, *D)
    # with damping, or the pseudo-inverse, it runs
    cs.generate_flow(rules.kfac(damping=1e-3).flow(m))(inst.weights, *inst.data())
    cs.generate_flow(rules.kfac(strict=False).flow(m))(inst.weights, *inst.data())


def test_rule_parameter_validation():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rules.kfac(q=1.5)
    with pytest.raises(ValueError, match="damping"):
        rules.natural_gradient(damping=-1)


def test_symbolic_q_becomes_a_parameter_of_the_generated_code():
    q = sp.Symbol("q")
    net = cs.chain([2, 2, 2])
    m = cs.model(net)
    rhs = cs.generate_flow(rules.kfac(q=q).flow(m))
    assert rhs.parameters == ("q",)
    inst = conditioned_instance(net, seed=2)
    a = rhs(inst.weights, *inst.data(), q=0.5)
    b = cs.generate_flow(rules.kfac(q=0.5).flow(m))(inst.weights, *inst.data())
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-13)
    with pytest.raises(TypeError, match="missing parameter"):
        rhs(inst.weights, *inst.data())


# --------------------------------------------------------------------------- user-defined rules

def _same_flow(r1, r2, net):
    m = cs.model(net)
    inst = conditioned_instance(net, seed=6)
    a = cs.generate_flow(r1.flow(m))(inst.weights, *inst.data())
    b = cs.generate_flow(r2.flow(m))(inst.weights, *inst.data())
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


def test_custom_template_rule_reproduces_fractional_block_rule():
    t = rules.template
    mine = rules.custom("half block", -t.power(t.G, -t.q) @ t.grad @ t.power(t.A, -t.q), {"q": 0.5})
    _same_flow(mine, rules.kfac(q=sp.Rational(1, 2), strict=False), cs.chain([3, 3, 3]))


def test_parsed_rules_reproduce_builtins():
    net = cs.chain([3, 3, 3])
    _same_flow(parse_rule("-(1/N) * pinv(G) @ grad @ pinv(A)"), rules.bernacchia(strict=False), net)
    _same_flow(parse_rule("-power(G, -q) @ grad @ power(A, -q)", parameters={"q": sp.Rational(1, 2)}),
               rules.kfac(q=sp.Rational(1, 2), strict=False), net)
    _same_flow(parse_rule("-grad"), rules.gd(), net)
    # a parsed rule sees the same symbolic conservation law as the built-in it matches
    m = cs.model(net)
    assert all(p.holds for p in cs.prove_conserved(parse_rule("-2 * grad").flow(m)))
    assert not all(p.holds for p in cs.prove_conserved(parse_rule("-G @ grad").flow(m)))


def test_rule_file(tmp_path):
    f = tmp_path / "half.rule"
    f.write_text("# fractional block correction\nname = half block\nvelocity = -power(G, -q) @ grad @ power(A, -q)\n"
                 "q = 1/2\n")
    rule = load_rule_file(f)
    assert rule.name == "half block"
    _same_flow(rule, rules.kfac(q=sp.Rational(1, 2), strict=False), cs.chain([2, 2, 2]))


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo pwned')",
    "grad.__class__",
    "(lambda: grad)()",
    "[grad for _ in range(10)][0]",
    "open('/etc/passwd')",
    "grad if True else grad",
    "inv(G, strict=False) @ grad",
    "grad[0]",
    "eval('grad')",
    "x @ grad",
    "'text'",
    "grad ** grad",
    "grad @ G",  # shape mismatch: grad is n_out × n_in, G is n_out × n_out
])
def test_unsafe_or_malformed_rule_text_is_refused(text):
    with pytest.raises(cs.RuleParseError):
        parse_rule(text)


def test_rule_text_limits():
    with pytest.raises(cs.RuleParseError, match="characters"):
        parse_expression("-" * 3000 + "grad")
    with pytest.raises(cs.RuleParseError, match="nested"):
        parse_expression("-" * 100 + "grad")
    with pytest.raises(cs.RuleParseError, match="scalar"):
        parse_rule("q * 2")


def test_rule_file_rejects_unknown_keys(tmp_path):
    f = tmp_path / "bad.rule"
    f.write_text("velocity = -grad\nimport = os\n")
    with pytest.raises(cs.RuleParseError, match="unknown key"):
        load_rule_file(f)


def test_rules_cli_lists_every_rule(capsys):
    from curvsym.cli import main
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for key in rules.RULES:
        assert key in out
    assert "conserves balance C_i: yes" in out and "conserves balance C_i: no" in out
    assert main(["rules", "--show", "ngd", "--widths", "2,3,2"]) == 0
    out = capsys.readouterr().out
    assert "\\mathcal{K}" in out and "C_1: yes" in out
