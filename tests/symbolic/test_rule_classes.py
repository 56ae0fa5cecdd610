"""Rules are classes that carry their own metadata; the registry and `curvsym rules` read it from them."""

from dataclasses import dataclass

import pytest
import sympy as sp

import curvsym as cs
from curvsym import rules
from curvsym.cli import main
from curvsym.symbolic.rules import RULE_CLASSES, AbstractRule, Inverse


def test_registry_is_built_from_the_classes():
    assert list(rules.RULES) == ["gd", "ngd", "ngd-frac", "kfac", "kfac-frac", "bernacchia",
                                 "heavy-ball", "nesterov", "nesterov-3t", "rmsprop", "adam", "adam-nobc"]
    for key, cls in RULE_CLASSES.items():
        rule = rules.get_rule(key)
        assert isinstance(rule, cls) and rule.key == key
        assert cls.text and cls.formula and cls.title and cls.references
    assert rules.get_rule("ngd-frac").q == sp.Rational(1, 2)
    assert rules.get_rule("kfac", strict=False).inverse is Inverse.PSEUDO
    assert rules.get_rule("kfac").inverse is Inverse.STRICT


def test_unknown_rule_lists_the_known_keys():
    with pytest.raises(cs.UnknownNameError, match="available: gd, ngd"):
        rules.get_rule("lion")
    with pytest.raises(KeyError):  # still a KeyError for callers that catch one
        rules.get_rule("lion")


def test_rule_options_are_validated():
    with pytest.raises(cs.OptionError, match=r"\[0, 1\]"):
        rules.kfac(q=2)
    with pytest.raises(cs.OptionError, match="strict"):
        rules.NaturalGradient(inverse="sometimes")


def test_a_new_rule_is_one_class():
    @dataclass(frozen=True)
    class Momentumless(AbstractRule):
        key = "half-gd"
        title = "half gradient flow"
        formula = r"\dot W_e = -\tfrac12 \nabla_{W_e} L"
        text = "dW_e/dt = −½ ∇_{W_e} L"
        references = ("a test",)

        @property
        def row_space(self):
            return True

        def velocities(self, m):
            return tuple(sp.MatMul(sp.Rational(-1, 2), g) for g in cs.gradient(m))

    m = cs.model(cs.chain([2, 3, 2]))
    flow = Momentumless().flow(m)
    assert flow.name == "half gradient flow"
    assert all(p.holds for p in cs.prove_conserved(flow))  # row space ⇒ balance, proved


def test_rules_cli_prints_each_rules_own_text(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for key, cls in RULE_CLASSES.items():
        assert key in out and cls.text in out
