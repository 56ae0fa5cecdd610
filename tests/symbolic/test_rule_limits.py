"""Hostile rule texts end in one named error, quickly (issue 24, item 5): towers of powers, huge literals
and exponents, products of sums whose expansion doubles per factor, and text that is not valid Unicode."""

from __future__ import annotations

import time

import pytest

from curvsym.cli import main
from curvsym.errors import RuleParseError
from curvsym.symbolic.rules.text import load_rule_file, parse_expression

HOSTILE = [
    ("2**10**10 * grad", r"exponent 10000000000 in '\*\*' is too large"),
    ("power(G, 10**10**10)", r"exponent 10000000000 in '\*\*' is too large"),
    ("power(G, 10**20) @ grad", r"exponent 100000000000000000000 in power is too large"),
    ("G ** 1000 @ grad", r"exponent 1000 in '\*\*' is too large"),
    ("9**9**9 * grad", r"exponent 387420489 in '\*\*' is too large"),
    ("10**40 * grad", r"power 10\*\*40 is too large"),
    ("1" + "0" * 40 + " * grad", r"constant 10000000000000000000…\(41 characters\) is too large"),
    ("1e300 * grad", r"constant 1e\+300 is too large"),
    (" @ ".join(["(G + W @ W.T)"] * 20) + " @ grad", r"expands to more than 256 terms"),
    ("power(" + " @ ".join(["(G + W @ W.T)"] * 20) + ", 2) @ grad", r"argument of power expands to more than 256 terms"),
    ("+".join(["grad"] * 300), r"syntax nodes; the limit is 400"),
    ("G\udcff @ grad", r"not valid Unicode \(an unpaired surrogate at position 1\)"),
    ("grad\x00", r"not a valid expression"),
]


@pytest.mark.parametrize("text, message", HOSTILE)
def test_hostile_rule_texts_are_refused_fast_with_one_named_error(text, message):
    t0 = time.perf_counter()
    with pytest.raises(RuleParseError, match=message):
        parse_expression(text)
    print(f"{time.perf_counter() - t0:.3f} s")  # measured: all < 0.1 s here


def test_sensible_powers_and_products_still_parse():
    parse_expression("-power(G, -1/2) @ grad @ power(A, -1/2)")
    parse_expression("-(1/N) * 2**-3 * G @ G @ grad + 1e-8 * grad")
    parse_expression(" @ ".join(["(G + W @ W.T)"] * 8) + " @ grad")  # 256 terms: at the limit


def test_a_tower_in_a_rule_file_is_refused(tmp_path, capsys):
    rule = tmp_path / "tower.rule"
    rule.write_text("velocity = -grad\nq = 9**9**9\n")
    with pytest.raises(RuleParseError, match=r"exponent 387420489"):
        load_rule_file(rule)
    assert main(["rules", "--file", str(rule)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "too large" in err
