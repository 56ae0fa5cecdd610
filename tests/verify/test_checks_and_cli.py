import json
import textwrap

import numpy as np
import pytest
import sympy as sp
from curvsym.problems import random_instance

import curvsym as cs
from curvsym.cli import main


@pytest.fixture(scope="module")
def setting():
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    return m, random_instance(net, seed=3, scale=0.8)


def _traj(flow, inst, dps=30):
    return cs.integrate_taylor(cs.generate_flow(flow, "mpmath"), inst.weights, inst.data(), [0, 1, 2], dps=dps)


def test_balance_check_passes_for_gradient_flow(setting):
    m, inst = setting
    r = cs.check_balance(m, _traj(cs.gradient_flow(m), inst), inst.data())
    assert r.passed and r.residual < 1e-25 and r.digits > 25 and r.tolerance == 1e-20


def test_balance_check_rejects_layer_dependent_steps(setting):
    m, inst = setting
    flow = cs.scaled_flow(cs.gradient_flow(m), [1, sp.Rational(5, 4)])
    r = cs.check_balance(m, _traj(flow, inst), inst.data())
    assert not r.passed and r.residual > 1e-3 and r.verdict == "FAILED"


def test_check_refuses_to_verify_beyond_integration_accuracy(setting):
    m, inst = setting
    traj = _traj(cs.gradient_flow(m), inst, dps=20)
    with pytest.raises(cs.PrecisionError, match="error estimate"):
        cs.check_balance(m, traj, inst.data(), tolerance=1e-40)


def test_double_path_balance(setting):
    m, inst = setting
    traj = cs.integrate_double(cs.generate_flow(cs.gradient_flow(m)), inst.weights, inst.data(), [0, 1, 2])
    assert cs.balance_residual(m, traj, inst.data()) < 1e-9


SHIPPED_THEOREMS = {
    'Bernacchia NG solves F d = ∇L, not min-norm',
    'GD below the Elkabetz–Cohen envelope',
    'GD follows its modified equations at orders 1, 2, 3',
    'GD on a concave objective needs η ∈ O(e^{−mt})',
    'GD threshold η* = 2/(N‖T‖^{2−2/N})',
    'K-FAC steps keep det W_{i+1}/det W_i exactly',
    'K-FAC: W(t) − T = (W(0) − T)e^{−Nt}',
    'NGD follows the GD path with clock dτ/dt = |J|²',
    'NGD through a bottleneck: tangent-space law, not e^{−t}',
    'balanced-net curvature bound along gradient flow',
    'curvature-corrected rules follow their modified equations',
    'flat minima are coupled with gains s₁^{i/N}',
    'flattest minima: |w_i| = |y|^{1/N}; λ_max ≥ N‖T‖^{2−2/N}',
    'fractional block q<1 keeps balance and bounded speeds; K-FAC does not',
    'gradient flow conserves layer balance',
    'linear ResNet from zero init reaches the flattest minimum',
    'min-norm NGD conserves balance; K-FAC does not',
    'mode ODEs, invariants and closed forms from the matrix flows',
    'natural gradient: W(t) − T = (W(0) − T)e^{−t}',
    'one GD step changes balance by η²(∇ᵀ∇ − ∇∇ᵀ)',
    'online natural gradient = exact natural gradient on linear nets without a bottleneck (exact G, λ → 0)',
    'per-neuron balance is invariant under gradient flow (homogeneous activations)',
    '∫|λ₋| along GF from near zero grows like (N−1)·log(1/ε)',
    'glass model: c = √(2/(3π)), δ* = |g|/h_opt, ρ̂ unbiased',
    'glass curvature on a ReLU MLP: the glass model bounds the loss change, the Hessian does not',
    'glass residual at initialisation: exponent about 3/2, within 2× of the walk (≥ 75 % of inits)',
    'per-neuron balance along Filippov sliding paths (ReLU, leaky ReLU)',
    'GD with η → 0 converges to the Filippov sliding path, order 1',
    "heavy ball's implicit regulariser is (1+β)/(1−β) × GD's",
    'under heavy ball C̈_i + γĊ_i = 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)',
    'heavy ball on linear nets conserves e^{γt}(M_i − M_iᵀ); exactly K − 1 laws for γ > 0',
    "Nesterov's (k−1)/(k+2) scheme tends to Ẍ + (3/t)Ẋ + ∇L = 0",
    "Adam at fixed β follows its modified equation; RMSProp's misses the momentum lag",
    "bias-corrected Adam from zero moments follows Adam's modified equation; uncorrected does not",
    "Alice's Nesterov look-ahead: ∇L(ν) contracts by exactly 1 − φ iff φ = ω(1 − β₁)",
    "rules with memory follow F₀ + h(F₁ − ½F₀′F₀); Nesterov's is not heavy ball's",
    "K-FAC: exactly the N − 1 ratios det W_{i+1}/det W_i",
    "linear nets: exactly Σ n_i(n_i+1)/2 conservation laws",
    "one-sided K-FAC: exactly ‖W_i‖² − 2 log|det W_{i+1}|",
    "two-layer ReLU: exactly r laws; tanh: none",
}


def test_prove_cli_on_shipped_proofs(tmp_path, capsys):
    """Every shipped theorem passes at 20 digits (tolerance 1e-10) and rejects its negative control;
    the set of theorems is exactly the one documented in docs/concepts/checks-and-theorems.md."""
    out = tmp_path / "r.json"
    code = main(["prove", "proofs/", "--digits", "20", "--json", str(out), "-q"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "gradient flow conserves layer balance" in text and "PASS" in text and "rejected" in text
    data = json.loads(out.read_text())
    assert len(data) == len(SHIPPED_THEOREMS)  # no theorem twice
    assert {row["theorem"] for row in data} == SHIPPED_THEOREMS
    for row in data:
        assert row["passed"] and row["negative_control_rejected"], row
        assert row["numeric"]["residual"] <= row["numeric"]["tolerance"]
        assert row["negative_control"]["residual"] > row["negative_control"]["tolerance"]


def test_prove_select_and_digits(capsys):
    assert main(["prove", "proofs/", "--digits", "30", "-q", "-k", "conserves"]) == 0
    text = capsys.readouterr().out
    assert "3/3 theorems passed" in text        # layer balance, min-norm NGD, heavy ball's e^{γt} law


BAD_THEOREM = textwrap.dedent('''
    import curvsym as cs
    from curvsym.checks import CheckResult

    @cs.theorem("a claim whose control is not rejected", "demo")
    def bad(digits):
        ok = CheckResult("claim", 0.0, 1e-10, True)
        return cs.Evidence("n/a", ok, CheckResult("control", 0.0, 1e-10, True))

    @cs.theorem("a claim that raises", "demo")
    def broken(digits):
        raise cs.DivergenceError("blew up at t = 1", 1.0)
''')


def test_prove_exits_nonzero_when_a_control_is_not_rejected(tmp_path, capsys):
    (tmp_path / "bad.py").write_text(BAD_THEOREM)
    code = main(["prove", str(tmp_path), "-q"])
    text = capsys.readouterr().out
    assert code == 1
    assert "NOT rejected" in text and "ERROR" in text and "DivergenceError" in text and "0/2 theorems passed" in text


COSTED_THEOREMS = textwrap.dedent('''
    import curvsym as cs
    from curvsym.checks import CheckResult

    def evidence(value):
        return cs.Evidence("n/a", CheckResult("claim", value, 1.0, value <= 1.0),
                           CheckResult("control", 2.0, 1.0, False))

    @cs.theorem("short", "demo")
    def short(digits):
        return evidence(0.1)

    @cs.theorem("long", "demo", cost=30)
    def long(digits):
        return evidence(0.2)

    @cs.theorem("middle", "demo", cost=5)
    def middle(digits):
        return evidence(0.3)
''')


def test_prove_starts_costliest_first_and_reports_in_file_order(tmp_path):
    """With several jobs the theorems start by decreasing cost hint (ties in file order); the reports,
    and so the table, keep the order of the files, each report with its own theorem's evidence."""
    from curvsym.verify.theorem import discover, prove
    (tmp_path / "a.py").write_text(COSTED_THEOREMS)
    (tmp_path / "b.py").write_text(COSTED_THEOREMS.replace('"short"', '"short b"'))
    theorems = discover([tmp_path])
    names = [t.name for t in theorems]
    started = []
    reports = prove(theorems, jobs=2, on_start=lambda th: started.append(th.name))
    assert [r.name for r in reports] == names
    assert started[:4] == ["long", "long", "middle", "middle"] and sorted(started[4:]) == ["short", "short b"]
    for r in reports:
        assert r.passed and r.evidence.numeric.residual == {"short": 0.1, "short b": 0.1, "long": 0.2,
                                                             "middle": 0.3}[r.name]
    assert [r.name for r in prove(theorems, jobs=1)] == names


def test_prove_on_empty_folder_is_an_error(tmp_path):
    assert main(["prove", str(tmp_path), "-q"]) == 2


def test_derive_cli_prints_latex_and_code(capsys):
    assert main(["derive", "2,3,2", "--code"]) == 0
    out = capsys.readouterr().out
    assert "\\dot{W_{1}}" in out and "def gradient_flow(W_1, W_2, Sigma_x, T" in out


def test_a_check_refuses_a_negative_residual_and_a_passing_nan():
    """A residual is a distance or a deficit; a signed one (e.g. 2 − order, negative above order 2) crashed the
    table's digits column, and a NaN reported as passed would be a wrong "verified"."""
    from curvsym.errors import OptionError
    from curvsym.verify.checks import CheckResult

    with pytest.raises(OptionError, match="≥ 0"):
        CheckResult("deficit", -0.02, 0.1, True)
    with pytest.raises(OptionError, match="NaN"):
        CheckResult("distance", float("nan"), 0.1, True)
    assert not CheckResult("distance", float("nan"), 0.1, False).passed
    assert CheckResult("distance", 1e-12, 1e-10, True).digits == pytest.approx(12)


def test_the_singular_time_of_an_exponential_law_is_the_root_of_its_determinant():
    """det(T + (W(0) − T)e^{−rt}) for W(0) = W_2W_1 = diag(−1, 3), T = I: 1 − 2s = 0 at s = ½, so t* = ln 2 / r."""
    import math

    from curvsym.verify.checks import exponential_law_singular_time

    W1, W2 = np.diag([1.0, 3.0]), np.diag([-1.0, 1.0])
    for rate in (1.0, 3.0):
        assert exponential_law_singular_time([W1, W2], np.eye(2), rate, 2.0) == pytest.approx(math.log(2) / rate)
    assert exponential_law_singular_time([W1, W2], np.eye(2), 1.0, 0.5) is None      # beyond t_max
    assert exponential_law_singular_time([np.eye(2) * 2], np.eye(2), 1.0, 5.0) is None  # never singular
