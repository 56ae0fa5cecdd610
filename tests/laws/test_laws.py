"""Conservation laws found, not typed (issue 26): exact counts, exact checks, wrong laws rejected."""

import json
import random
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import curvsym as cs
from curvsym.laws import step_laws
from curvsym.laws.arith import GF, Jet
from curvsym.laws.fields import FlowField
from curvsym.laws.lie import lie_rank
from curvsym.laws.search import Law, _recheck, entry_laws, logdet_laws, rational, word_laws
from curvsym.symbolic.nonlinear import data_model, gradient_flow


def gd(widths, **kw):
    return cs.gradient_flow(cs.model(cs.chain(widths), **kw))


def relu_flow(widths, act="relu"):
    return gradient_flow(data_model(cs.chain(widths, activation=act), examples=1))


# ------------------------------------------------------------------ arithmetic
def test_gf_matmul_is_exact_against_python_integers():
    ring = GF()
    rng = random.Random(1)
    a = np.array([[rng.randrange(ring.p) for _ in range(7)] for _ in range(5)], dtype=np.int64)
    b = np.array([[rng.randrange(ring.p) for _ in range(3)] for _ in range(7)], dtype=np.int64)
    exact = (a.astype(object) @ b.astype(object)) % ring.p
    assert (ring.matmul(a, b).astype(object) == exact).all()


def test_jet_inverse_is_the_exact_derivative_of_the_inverse():
    ring = GF()
    A = ring.const([[2, 1], [1, 3]])
    B = ring.const([[0, 1], [5, 0]])
    inv = Jet(ring, {0: A, 1: B}, (2, 2)).inv()
    Ai = ring.inv(A)
    expected = (-ring.matmul(ring.matmul(Ai, B), Ai)) % ring.p
    assert (inv.part(1) == expected).all() and (ring.matmul(inv.part(0), A) == np.eye(2)).all()


def test_rational_reconstruction_recovers_small_fractions_only():
    p = GF().p
    for f in (Fraction(-3, 7), Fraction(5), Fraction(1, 2)):
        assert rational(f.numerator * pow(f.denominator, -1, p) % p, p) == f
    # a denominator above √(p/2) comes back as another fraction with the same residue: the reason every
    # reconstructed law is proved or re-checked afterwards
    other = rational(pow(100003, -1, p), p)
    assert other != Fraction(1, 100003) and other.numerator * pow(other.denominator, -1, p) % p == pow(100003, -1, p)


# ------------------------------------------------------------------ the anchors (Marcotte, Gribonval & Peyré 2023)
@pytest.mark.parametrize("widths,r", [([2, 3, 2], 3), ([3, 2, 3], 2), ([3, 4, 2], 4)])
def test_two_layer_linear_net_has_exactly_r_r_plus_1_over_2_laws(widths, r):
    cert = lie_rank(FlowField(gd(widths), GF()))
    assert cert.stabilised and cert.exact
    assert cert.max_laws == r * (r + 1) // 2


def test_two_layer_relu_net_has_exactly_r_laws_and_they_are_found():
    rep = cs.laws(relu_flow([2, 3, 1]), degree=2, confirm=False)
    assert rep.maximum == 3 and rep.found == 3 and rep.complete
    assert all(law.kind == "entries" and law.degree == 2 for law in rep.laws)


def test_non_homogeneous_activation_has_no_law():
    rep = cs.laws(relu_flow([2, 2, 1], act="tanh"), degree=2, confirm=False)
    assert rep.maximum == 0 and rep.found == 0 and not rep.certificate.exact


def test_gd_report_is_complete_and_the_law_is_the_balance():
    rep = cs.laws(gd([2, 3, 2]), degree=2, confirm=False)
    assert rep.found == 6 and rep.maximum == 6 and rep.complete
    assert rep.laws[0].kind == "words" and "W_2^T*W_2" in rep.laws[0].text and "W_1*W_1^T" in rep.laws[0].text
    assert "complete" in rep.verdict
    data = json.loads(rep.to_json())
    assert data["found"] == 6 and data["certificate"]["failure_probability_bound"] < 1e-5


def test_depth_three_has_both_balances():
    rep = cs.laws(gd([2, 2, 2, 2]), degree=2, confirm=False)
    assert rep.found == rep.maximum == 6


# ------------------------------------------------------------------ exact search: a law proved, a wrong law rejected
def test_entry_search_finds_the_degree_two_laws_and_proves_them():
    F = FlowField(gd([2, 3, 2]), GF())
    laws, dim, _ = entry_laws(F, 2)
    assert dim == 6
    assert all(law.proof.startswith("proved") for law in laws)


def test_a_perturbed_law_is_refuted_exactly():
    F = FlowField(gd([2, 3, 2]), GF())
    laws, _, mono = entry_laws(F, 2, prove_limit=0)
    good = laws[0]
    coeffs = list(good.data["coeffs"])
    k = next(i for i, c in enumerate(coeffs) if c)
    coeffs[k] += Fraction(1, 20)  # the nearest wrong law: one coefficient off by 5%
    bad = Law("entries", "perturbed", "", "", 2, data={"coeffs": coeffs, "mono": mono})
    assert "REFUTED" in _recheck(F, bad, mono, 5, None)
    assert "exact" in _recheck(F, good, mono, 5, None)


def test_layer_step_sizes_move_the_law_to_the_rescaled_balance():
    # Ẇ_i = c_i V_i conserves W_2ᵀW_2/c_2 − W_1W_1ᵀ/c_1, not C_1: the search finds the former unprompted
    flow = cs.scaled_flow(gd([2, 3, 2]), [1, sp.Rational(21, 20)])
    (law,) = word_laws(FlowField(flow, GF()), 2)
    assert "20*W_2^T*W_2" in law.text and "21*W_1*W_1^T" in law.text
    assert not cs.prove_conserved(flow)[0].holds
    (plain,) = word_laws(FlowField(gd([2, 3, 2]), GF()), 2)
    assert "-W_1*W_1^T + W_2^T*W_2" in plain.text


def test_kfac_det_ratio_laws_emerge_unprompted_and_gd_has_none():
    K = FlowField(cs.rules.kfac().flow(cs.model(cs.chain([2, 2, 2, 2]))), GF())
    found = logdet_laws(K)
    assert sorted(law.data["exponents"] for law in found) == sorted([[-1, 1, 0], [-1, 0, 1]])
    assert logdet_laws(FlowField(gd([2, 2, 2, 2]), GF())) == []


def test_gd_step_map_keeps_no_balance_exactly():
    out = step_laws(gd([2, 2, 2]), "1/10", degree=2)
    assert out["flow"] == 3 and out["step"] == 0


# ------------------------------------------------------------------ interface
def test_bad_degree_is_an_option_error():
    with pytest.raises(cs.OptionError):
        cs.laws(gd([2, 2, 2]), degree=0)


def test_cli_prints_verdict_and_json(capsys):
    from curvsym.cli import main
    assert main(["laws", "gd", "--widths", "2,2,2", "--degree", "2", "--no-confirm", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["found"] == data["maximum"] == 3 and data["complete"]
    assert main(["laws", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("curvsym: error: unknown rule") and "\n" not in err


def test_one_sided_kfac_keeps_a_mixed_log_det_law_found_unprompted():
    from curvsym.rules import parse_rule
    rule = parse_rule("-inv(G) @ grad", name="one-sided K-FAC")
    rep = cs.laws(rule.flow(cs.model(cs.chain([2, 2, 2, 2]))), degree=2, confirm=False)
    assert rep.maximum == 2 and rep.found == 2 and rep.complete
    assert all(law.kind == "mixed" for law in rep.laws)
    assert sorted(law.data["exponents"] for law in rep.laws) == [[0, -2, 0], [0, 0, -2]]


def test_bench_laws_quick_rows_meet_their_targets():
    from curvsym.bench.conservation_laws import run_laws
    rows = run_laws(quick=True)
    assert rows and all(r.met for r in rows)
    assert any("float rank wrong" == r.target for r in rows)


def test_high_precision_rule_says_so_and_keeps_the_balance():
    rep = cs.laws(cs.rules.get_rule("ngd-frac").flow(cs.model(cs.chain([2, 2, 2]))), degree=2, confirm=False)
    data = json.loads(rep.to_json())
    assert not data["certificate"]["exact"] and data["certificate"]["failure_probability_bound"] is None
    assert "mpmath" in data["arithmetic"] and data["found"] == data["maximum"] == 3


def test_the_confirmation_stays_in_its_activation_region():
    """The activation pattern is the signs of W_1x: flipping a hidden unit's incoming row flips its sign, and a
    50-digit confirmation of the per-neuron laws ends inside the start's region (drift at rounding level)."""
    from curvsym.laws.api import _jet, confirm_along_trajectory
    from curvsym.laws.arith import MP

    F = FlowField(gradient_flow(data_model(cs.chain([2, 3, 1], activation="relu"), examples=1)), MP(50))
    rng = random.Random(5)
    point, data = F.sample_point(rng), F.sample_data(rng)
    theta = np.concatenate([F.ring.const(w).ravel() for w in point])
    before = F.activation_pattern(_jet(F, theta), data)
    flipped = theta.copy()
    flipped[:2] = -flipped[:2]                                   # row 0 of W_1 (3 × 2): unit 0's input weights
    after = F.activation_pattern(_jet(F, flipped), data)
    assert before and all(len(b) == 3 for b in before)           # σ and σ′ nodes of the three hidden units
    assert all(b[1:] == a[1:] and b[0] != a[0] for b, a in zip(before, after))
    assert FlowField(cs.gradient_flow(cs.model(cs.chain([2, 2]))), MP(50)).activation_pattern(_jet(F, theta), data) == ()
    rep = cs.laws(gradient_flow(data_model(cs.chain([2, 3, 1], activation="relu"), examples=1)), degree=2, seed=3)
    assert rep.found == 3 and rep.confirmed is not None and float(rep.confirmed) < 1e-40
