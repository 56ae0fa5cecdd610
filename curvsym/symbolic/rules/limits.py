"""Bounds on the work of parsing a rule text: every literal, exponent and expansion is limited.

The rule parser (:mod:`curvsym.symbolic.rules.text`) evaluates nothing, but SymPy does exact
arithmetic on what it builds: ``2**10**10`` is an integer of three billion digits, ``9**9**9`` one of
370 million, and a product of sums ``(G + A) @ (G + A) @ …`` expands to 2ⁿ terms in the symmetry
check (20 factors, 230 characters, would take hours).  Each check here refuses such input *before*
the costly step, with one line naming the bound, so that a parse always ends within a fraction of a
second.  The bounds are far above what a learning rule needs.
"""

from __future__ import annotations

import ast
import math

import sympy as sp

from ...errors import RuleParseError

__all__ = ["MAX_NODES", "MAX_LITERAL", "MAX_EXPONENT", "MAX_TERMS", "check_text", "check_tree", "check_literal",
           "check_power", "check_expansion", "expanded_terms"]

MAX_NODES = 400  # syntax-tree nodes per expression
MAX_LITERAL = 10 ** 30  # |numeric literal| (and |scalar power|)
MAX_EXPONENT = 64  # |exponent| of a numeric power, of power(X, e), of X ** e
MAX_TERMS = 256  # terms of an expression when its products of sums are multiplied out


def check_text(text: str) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate cannot be encoded, printed or parsed).

    Raises:
        RuleParseError: the bound is exceeded (the message names it).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RuleParseError(f"the rule text is not valid Unicode (an unpaired surrogate at position "
                             f"{exc.start})") from None


def check_tree(tree: ast.AST) -> None:
    """At most :data:`MAX_NODES` syntax nodes.

    Raises:
        RuleParseError: the bound is exceeded (the message names it).
    """
    n = sum(1 for _ in ast.walk(tree))
    if n > MAX_NODES:
        raise RuleParseError(f"the rule expression has {n} syntax nodes; the limit is {MAX_NODES}")


def check_literal(value: int | float) -> None:
    """A numeric literal of magnitude at most :data:`MAX_LITERAL` (checked before it becomes exact).

    Raises:
        RuleParseError: the bound is exceeded (the message names it).
    """
    if isinstance(value, int) and value.bit_length() > MAX_LITERAL.bit_length() or abs(value) > MAX_LITERAL:
        raise RuleParseError(f"the constant {_short(value)} is too large (the limit is 1e{_exp10(MAX_LITERAL)})")


def check_power(base: sp.Basic, exponent: sp.Basic, where: str) -> None:
    """A numeric exponent of magnitude at most :data:`MAX_EXPONENT`; a power of two numbers at most
    :data:`MAX_LITERAL` in magnitude (decided by logarithms, before the exact power is formed).

    Raises:
        RuleParseError: the bound is exceeded (the message names it).
    """
    if not (isinstance(exponent, sp.Basic) and exponent.is_number):
        return
    e = complex(exponent)
    if e.imag or not math.isfinite(e.real) or abs(e.real) > MAX_EXPONENT:
        raise RuleParseError(f"the exponent {_short(exponent)} in {where} is too large (the limit is "
                             f"±{MAX_EXPONENT})")
    if isinstance(base, sp.Basic) and base.is_number and base != 0:
        size = abs(e.real) * abs(math.log10(abs(complex(base))))
        if size > _exp10(MAX_LITERAL):
            raise RuleParseError(f"the power {_short(base)}**{_short(exponent)} is too large or too small "
                                 f"(beyond 1e±{_exp10(MAX_LITERAL)})")


def expanded_terms(x: sp.Basic, cap: int = MAX_TERMS + 1) -> int:
    """How many terms ``x`` has when its products of sums are multiplied out (an upper bound, at most ``cap``)."""
    if isinstance(x, (sp.Add, sp.MatAdd)):
        return min(cap, sum(expanded_terms(a, cap) for a in x.args))
    if isinstance(x, (sp.Mul, sp.MatMul)):
        n = 1
        for a in x.args:
            n = min(cap, n * expanded_terms(a, cap))
        return n
    if isinstance(x, (sp.Pow, sp.MatPow)) and x.args[1].is_Integer and x.args[1] > 1:
        base = expanded_terms(x.args[0], cap)
        return cap if base > 1 and int(x.args[1]) * math.log2(base) > math.log2(cap) else base ** int(x.args[1])
    if isinstance(x, sp.Transpose):
        return expanded_terms(x.args[0], cap)
    return 1


def check_expansion(x: sp.Basic, where: str) -> None:
    """At most :data:`MAX_TERMS` terms when multiplied out (the symmetry check and the derivation expand).

    Raises:
        RuleParseError: the bound is exceeded (the message names it).
    """
    if expanded_terms(x) > MAX_TERMS:
        raise RuleParseError(f"{where} expands to more than {MAX_TERMS} terms (a product of many sums); "
                             "write it with fewer factors")


def _exp10(n: int) -> int:
    return len(str(n)) - 1


def _short(x: object) -> str:
    text = str(x)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"
