r"""Custom rules with memory, from text parsed safely (:mod:`.text`, no ``eval``).

A rule with state is written per layer as its increment field F_h (``docs/mathematics.md`` §10):
one expression for the weight and one per state slot, in the template names ``grad``
(∇_{W_e}L), ``W``, the slot names, the step ``eta`` (h) and the scalars the rule declares,
with the entrywise functions ``hadamard(X, Y)`` (X ⊙ Y) and ``inv_root(S, ε)`` (1/(√S + ε))
besides the template functions.  One step of the optimiser is y + h F_h(y); the flow is
F_0 (``eta`` set to 0).  Heavy ball, for instance::

    name = my heavy ball
    velocity = V + eta * (-gamma * V - grad)
    state V = -gamma * V - grad
    gamma = 3/2

A scalar line fixes a declared scalar (``gamma = 3/2``); ``scalars=("gamma",)`` in
:func:`memory_rule` leaves it free (a keyword of the generated code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy as sp
from sympy import HadamardProduct, MatrixExpr, MatrixSymbol

from ...errors import RuleParseError
from ..scale_nodes import InvRoot
from ..step_maps import ETA
from .base import free_symbols, number
from .custom import template
from .memory import MemoryRule, check_eps
from .text import parse_expression, read_rule_file

__all__ = ["CustomMemoryRule", "memory_rule", "load_memory_rule_file"]

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}$")
_RESERVED = {"grad", "W", "G", "A", "W_gt", "W_lt", "Sigma_x", "Sigma", "E", "q", "lam", "N", "eta", "h", "name",
             "velocity", "state", "hadamard", "inv_root", "inv", "pinv", "power", "damped_power", "sqrt"}


def _inv_root(S: MatrixExpr, eps: sp.Expr) -> MatrixExpr:
    return InvRoot(S, 0, check_eps(eps))


_FUNCTIONS = {"hadamard": (HadamardProduct, "MM"), "inv_root": (_inv_root, "MS")}


@dataclass(frozen=True)
class CustomMemoryRule(MemoryRule):
    """A rule with state given by per-layer template expressions of its increment field."""

    title: str = "custom rule with memory"
    velocity: Any = None              # F_h for W (template expression)
    state: tuple = ()                 # ((slot name, template symbol, F_h expression), …)
    fixed: tuple = ()                 # ((scalar symbol, value), …)

    key = "custom-memory"
    formula = r"\text{custom}"
    text = "template expressions for the weight and each state slot (curvsym.rules.memory_rule)"

    @property
    def name(self) -> str:
        return self.title

    @property
    def slots(self) -> tuple:  # type: ignore[override]
        return tuple((name, "state") for name, _, _ in self.state)

    @property
    def initial(self) -> tuple:  # type: ignore[override]
        return tuple(0 for _ in self.state)

    @property
    def parameters(self) -> tuple:
        fixed = dict(self.fixed)
        exprs = [self.velocity, *(e for _, _, e in self.state)]
        free = free_symbols(*[e.xreplace(fixed) for e in exprs])
        return tuple(s for s in free if isinstance(s, sp.Symbol) and s not in set(template.dims) and s != ETA)

    def increments(self, m: Any, h: Any) -> tuple:
        h = sp.Integer(0) if h == 0 else h
        t = template
        p, r, _, _ = t.dims
        aux = self.auxiliary(m)
        g = m.gradient()
        out_w, out_s = [], [[] for _ in self.state]
        for k, (W, gk) in enumerate(zip(m.weights, g)):
            sub = {t.grad: gk, t.W: W, p: W.shape[0], r: W.shape[1], ETA: h, **dict(self.fixed)}
            sub.update({sym: aux[j][k] for j, (_, sym, _) in enumerate(self.state)})
            out_w.append(self.velocity.xreplace(sub))
            for j, (_, _, e) in enumerate(self.state):
                out_s[j].append(e.xreplace(sub))
        return (*out_w, *(x for slot in out_s for x in slot))


def memory_rule(name: str, velocity: str, state: dict, parameters: dict | None = None,
                scalars: tuple = ()) -> CustomMemoryRule:
    """A rule with memory from text: ``velocity`` and ``state`` (slot name → text) are F_h per layer.

    ``parameters`` fixes scalars (``{"gamma": 1.5}``), ``scalars`` names free ones.

    Raises:
        RuleParseError: a bad slot or scalar name, text that does not parse (see
            :func:`~curvsym.symbolic.rules.text.parse_expression`), an expression that is not a matrix of the
            shape of ``grad`` (a state must match its parameter), or ε ≤ 0 in ``inv_root``.
    """
    t = template
    p, r, _, _ = t.dims
    if not state:
        raise RuleParseError("a rule with memory needs at least one state slot (state={'V': '…'})")
    names: dict = {"eta": ETA, "h": ETA}
    for s in (*state, *(parameters or {}), *scalars):
        if not isinstance(s, str) or not _IDENT.match(s) or s in _RESERVED:
            raise RuleParseError(f"{s!r} cannot name a state slot or scalar (letters and digits, not a template name)")
    slot_symbols = {s: MatrixSymbol(s, p, r) for s in state}
    names.update(slot_symbols)
    scalar_symbols = {s: sp.Symbol(s) for s in (*(parameters or {}), *scalars)}
    names.update(scalar_symbols)

    def parse(text: str, what: str) -> MatrixExpr:
        try:
            e = parse_expression(text, names, _FUNCTIONS)
        except RuleParseError as exc:
            raise RuleParseError(f"{what}: {exc}") from None
        except Exception as exc:  # an option error raised by a node (ε ≤ 0) keeps its one line
            raise RuleParseError(f"{what}: {exc}") from None
        if not isinstance(e, MatrixExpr):
            raise RuleParseError(f"{what} must be a matrix expression (it evaluates to a scalar)")
        if sp.simplify(e.shape[0] - p) != 0 or sp.simplify(e.shape[1] - r) != 0:
            raise RuleParseError(f"{what} has shape {e.shape}, but a state must match its parameter "
                                 f"(grad {t.grad.shape})")
        return e

    fixed = []
    for k, v in (parameters or {}).items():
        try:
            fixed.append((scalar_symbols[k], number(v)))
        except Exception:
            raise RuleParseError(f"the scalar {k} must be a number, got {v!r}") from None
    v = parse(velocity, "the weight's velocity")
    st = tuple((s, slot_symbols[s], parse(text, f"the velocity of state {s}")) for s, text in state.items())
    return CustomMemoryRule(name, v, st, tuple(fixed))


def load_memory_rule_file(path: str | Path) -> CustomMemoryRule:
    """Read a rule-with-memory file: ``name``, ``velocity``, ``state X = …`` lines and ``scalar = number`` lines.

    Raises:
        RuleParseError: a line that is not ``key = value``, a repeated key, no ``velocity`` or no state, or an
            expression that does not parse.
    """
    path = Path(path)
    fields: dict[str, str] = {}
    state: dict[str, str] = {}
    for lineno, key, value in read_rule_file(path):
        target, key = (state, key[6:].strip()) if key.startswith("state ") else (fields, key)
        if key in target:
            raise RuleParseError(f"{path}:{lineno}: a second {key!r} line (each key may appear once)")
        target[key] = value
    if "velocity" not in fields:
        raise RuleParseError(f"{path}: no 'velocity = …' line")
    name = fields.pop("name", path.stem)
    velocity = fields.pop("velocity")
    params = {}
    for k, v in fields.items():
        val = parse_expression(v)
        if not (isinstance(val, sp.Basic) and val.is_number):
            raise RuleParseError(f"{path}: {k} must be a number, got {v!r}")
        params[k] = val
    return memory_rule(name, velocity, state, params)
