r"""Learning rules from text, parsed safely (no ``eval``, no ``sympify``).

A rule is written as one expression for the velocity of a layer, in the
template symbols of :data:`curvsym.symbolic.rules.custom.template`::

    -power(G, -q) @ grad @ power(A, -q)            # fractional block correction
    -(1/N) * pinv(G) @ grad @ pinv(A)              # Bernacchia et al.
    -damped_power(G, -1, lam) @ grad               # one-sided, damped

The text is parsed with :mod:`ast` and walked node by node against a whitelist:
numbers, the template names, ``+ - * / @ **`` (``^`` is read as ``**``), unary
minus, the attribute ``.T`` and calls of the template functions (``inv``,
``pinv``, ``power``, ``damped_power``, ``sqrt``) with positional arguments.
Anything else — attribute access, subscripts, keywords, lambdas, comprehensions,
names outside the template — raises :class:`~curvsym.errors.RuleParseError`.
The SymPy expression is built by this module; no text is ever evaluated.

A rule *file* holds ``key = value`` lines (``#`` comments)::

    name = half block
    velocity = -power(G, -q) @ grad @ power(A, -q)
    q = 1/2
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import sympy as sp
from sympy import MatrixExpr

from ...errors import RuleParseError
from ..algebra import noncommutative
from .base import AbstractRule
from .custom import custom, template
from .limits import check_expansion, check_literal, check_power, check_text, check_tree

__all__ = ["parse_expression", "parse_rule", "load_rule_file"]

MAX_LENGTH = 2000
MAX_DEPTH = 60

_NAMES = {
    "grad": template.grad, "W": template.W, "G": template.G, "A": template.A, "W_gt": template.W_gt,
    "W_lt": template.W_lt, "Sigma_x": template.Sigma_x, "Sigma": template.Sigma_x, "E": template.E,
    "q": template.q, "lam": template.lam, "λ": template.lam, "lambda_": template.lam, "N": template.N,
}
_FUNCS = {"inv": (template.inv, 1), "pinv": (template.pinv, 1), "power": (template.power, 2),
          "damped_power": (template.damped_power, 3), "sqrt": (template.sqrt, 1)}


def _is_matrix(x) -> bool:
    return isinstance(x, MatrixExpr)


def parse_expression(text: str, names: dict | None = None, functions: dict | None = None) -> sp.Basic:
    """Parse one rule expression into SymPy without evaluating any code.

    ``names`` and ``functions`` extend the whitelist (a rule with memory adds its state
    symbols, its scalars and the entrywise functions ``hadamard``, ``inv_root``): a function
    entry is (callable, argument kinds), one letter per argument, ``M`` matrix, ``S`` scalar.

    Raises:
        RuleParseError: not text, too long or too deep, not an expression, or a construct outside the
            whitelist (the message names it).
    """
    if not isinstance(text, str):
        raise RuleParseError(f"a rule must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise RuleParseError(f"a rule expression is limited to {MAX_LENGTH} characters")
    check_text(text)
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes
        raise RuleParseError(f"not a valid expression: {getattr(exc, 'msg', exc)} at column "
                             f"{getattr(exc, 'offset', None)}") from None
    except (RecursionError, MemoryError):
        raise RuleParseError("the rule expression is nested too deeply") from None
    check_tree(tree)
    extra = ({**_NAMES, **(names or {})}, functions or {})
    result = _finite(_build(tree.body, 0, extra), "the expression")
    check_expansion(result, "the expression")
    return result


def _build(node: ast.AST, depth: int, extra: tuple = (_NAMES, {})):
    if depth > MAX_DEPTH:
        raise RuleParseError("the rule expression is nested too deeply")
    d = depth + 1
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise RuleParseError(f"only numeric constants are allowed, got {node.value!r}")
        if not math.isfinite(node.value):
            raise RuleParseError(f"the constant {node.value!r} is not finite")
        check_literal(node.value)
        return sp.nsimplify(node.value, rational=True)
    if isinstance(node, ast.Name):
        names = extra[0]
        if node.id not in names:
            raise RuleParseError(f"unknown name {node.id!r}; allowed: {', '.join(sorted(names))}")
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        x = _build(node.operand, d, extra)
        return -x if isinstance(node.op, ast.USub) else x
    if isinstance(node, ast.BinOp):
        a, b = _build(node.left, d, extra), _build(node.right, d, extra)
        op = node.op
        if isinstance(op, (ast.Add, ast.Sub)):
            if _is_matrix(a) != _is_matrix(b):
                raise RuleParseError("cannot add a matrix and a scalar")
            return a + b if isinstance(op, ast.Add) else a - b
        if isinstance(op, ast.MatMult):
            if not (_is_matrix(a) and _is_matrix(b)):
                raise RuleParseError("'@' needs matrices on both sides")
            _check_shapes(a, b)
            return sp.MatMul(a, b)
        if isinstance(op, ast.Mult):
            if _is_matrix(a) and _is_matrix(b):
                _check_shapes(a, b)
            return sp.MatMul(a, b) if (_is_matrix(a) or _is_matrix(b)) else a * b
        if isinstance(op, ast.Div):
            if _is_matrix(b):
                raise RuleParseError("division by a matrix is not defined; use inv(X) or pinv(X)")
            _check_divisor(b)
            return a / b
        if isinstance(op, ast.Pow):
            if _is_matrix(b):
                raise RuleParseError("a matrix cannot be an exponent")
            check_power(None if _is_matrix(a) else a, b, "'**'")
            if _is_matrix(a):
                _check_psd_argument(a, "'**'")
                return template.power(a, b)
            return _finite(a ** b, "a power")
        raise RuleParseError(f"operator {type(op).__name__} is not allowed")
    if isinstance(node, ast.Attribute):
        if node.attr != "T":
            raise RuleParseError(f"attribute '.{node.attr}' is not allowed (only '.T')")
        x = _build(node.value, d, extra)
        if not _is_matrix(x):
            raise RuleParseError("'.T' needs a matrix")
        return sp.Transpose(x)
    if isinstance(node, ast.Call):
        more = extra[1]
        if not isinstance(node.func, ast.Name) or node.func.id not in {**_FUNCS, **more}:
            raise RuleParseError(f"only the functions {', '.join([*_FUNCS, *more])} may be called")
        if node.keywords:
            raise RuleParseError("keyword arguments are not allowed")
        if node.func.id in more:
            return _call_extra(node, more[node.func.id], d, extra)
        f, nargs = _FUNCS[node.func.id]
        if len(node.args) != nargs:
            raise RuleParseError(f"{node.func.id} takes {nargs} argument(s), got {len(node.args)}")
        args = [_build(a, d, extra) for a in node.args]
        if not _is_matrix(args[0]) or any(_is_matrix(x) for x in args[1:]):
            raise RuleParseError(f"{node.func.id} takes a matrix, then scalars")
        if node.func.id in ("power", "damped_power"):
            check_power(None, args[1], node.func.id)
        _check_psd_argument(args[0], node.func.id)
        return f(*args)
    raise RuleParseError(f"{type(node).__name__} is not allowed in a rule expression")


def _call_extra(node: ast.Call, entry: tuple, d: int, extra: tuple):
    """A whitelisted extension function: its arguments checked against their kinds (M matrix, S scalar)."""
    f, kinds = entry
    name = node.func.id
    if len(node.args) != len(kinds):
        raise RuleParseError(f"{name} takes {len(kinds)} argument(s), got {len(node.args)}")
    args = [_build(a, d, extra) for a in node.args]
    for x, kind in zip(args, kinds):
        if _is_matrix(x) != (kind == "M"):
            raise RuleParseError(f"{name} takes " + ", ".join("a matrix" if k == "M" else "a scalar" for k in kinds))
    mats = [x for x in args if _is_matrix(x)]
    for a in mats[1:]:
        if sp.simplify(a.shape[0] - mats[0].shape[0]) != 0 or sp.simplify(a.shape[1] - mats[0].shape[1]) != 0:
            raise RuleParseError(f"{name} needs matrices of one shape, got {mats[0].shape} and {a.shape}")
    return f(*args)


_MAY_VANISH = {template.q: "q ∈ [0, 1]", template.lam: "λ ≥ 0"}


def _check_divisor(b) -> None:
    """Refuse a scalar divisor that is 0 or may be 0 (q and λ may; N may not)."""
    if b.is_number and b == 0:
        raise RuleParseError("division by zero")
    for s, why in _MAY_VANISH.items():
        if s in b.free_symbols and b.subs(s, 0) == 0:
            raise RuleParseError(f"division by {b}, which is 0 when {s} = 0 ({why}); use damped_power or a constant")


def _finite(x, what: str):
    if isinstance(x, sp.Basic) and x.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise RuleParseError(f"{what} is not finite: {x}")
    return x


def _check_psd_argument(X, where: str) -> None:
    """inv, pinv, power, damped_power, sqrt and ``**`` act on symmetric PSD matrices: X must be square and
    symmetric (as an identity of the free algebra, G, A and Σx being symmetric)."""
    check_expansion(X, f"the argument of {where}")
    if sp.simplify(X.shape[0] - X.shape[1]) != 0:
        raise RuleParseError(f"{where} needs a square, symmetric PSD matrix, but {X} is {X.shape[0]} × {X.shape[1]}")
    t = template
    symmetric = [t.G, t.A, t.Sigma_x]
    if noncommutative(X, symmetric) != noncommutative(sp.Transpose(X), symmetric):
        raise RuleParseError(f"{where} needs a symmetric PSD matrix (G, A, Sigma_x, X @ X.T, …), but {X} is not "
                             "symmetric")


def _check_shapes(a, b) -> None:
    if sp.simplify(a.shape[1] - b.shape[0]) != 0:
        raise RuleParseError(f"shape mismatch in a product: {a} is {a.shape}, {b} is {b.shape}")


def parse_rule(text: str, name: str = "custom rule", parameters: dict | None = None) -> AbstractRule:
    """A :class:`Rule` from a velocity expression given as text.

    The text is one layer's velocity in the per-layer template (``grad``, ``G``, ``A``, ``W``,
    ``W_gt``, ``W_lt``, ``Sigma_x``, ``E``, ``q``, ``lam``, ``N``; ``inv``, ``pinv``, ``power``,
    ``damped_power``, ``sqrt``), parsed by a whitelist and never evaluated.

    Example:
        >>> decay = parse_rule("-grad - lam * W", name="weight decay", parameters={"lam": 0.01})
        >>> print(decay.name, "|", decay.formula)
        weight decay | - \\frac{1}{100} W - grad
        >>> parse_rule("__import__('os')")
        Traceback (most recent call last):
        ...
        curvsym.errors.RuleParseError: ...

    Raises:
        RuleParseError: the text does not parse (see :func:`parse_expression`), or the velocity is a scalar
            or does not have the shape of ``grad``.
    """
    v = parse_expression(text)
    if not _is_matrix(v):
        raise RuleParseError("the rule's velocity must be a matrix expression (it evaluates to a scalar)")
    t = template
    if sp.simplify(v.shape[0] - t.grad.shape[0]) != 0 or sp.simplify(v.shape[1] - t.grad.shape[1]) != 0:
        raise RuleParseError(f"the velocity has shape {v.shape}, but a layer velocity must match grad {t.grad.shape}")
    return custom(name, v, parameters)


def read_rule_file(path: str | Path) -> list[tuple[int, str, str]]:
    """The ``key = value`` lines of a rule file as (line number, key, value); ``#`` starts a comment.

    The text is only split, never evaluated.

    Raises:
        RuleParseError: no such file, not a file, not UTF-8 text (or NUL bytes), or a line that is not
            ``key = value``.
    """
    path = Path(path)
    if not path.exists():
        raise RuleParseError(f"no such rule file: {path}")
    if not path.is_file():
        raise RuleParseError(f"{path} is not a file (a rule file is text: name = …, velocity = …)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RuleParseError(f"{path} is not a text file (rule files are UTF-8 text)") from None
    if "\x00" in text:
        raise RuleParseError(f"{path} is not a text file (it contains NUL bytes)")
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise RuleParseError(f"{path}:{lineno}: expected 'key = value'")
        key, value = (s.strip() for s in line.split("=", 1))
        out.append((lineno, key, value))
    return out


def load_rule_file(path: str | Path) -> AbstractRule:
    """Read a rule file (``name``, ``velocity`` and optional ``q``, ``lam``, ``N`` lines).

    Raises:
        RuleParseError: a line is not ``key = value``, a key is unknown or repeated, ``velocity`` is
            missing, a parameter is not a number, or the velocity does not parse.
    """
    path = Path(path)
    fields: dict[str, str] = {}
    for lineno, key, value in read_rule_file(path):
        if key not in ("name", "velocity", "q", "lam", "N"):
            raise RuleParseError(f"{path}:{lineno}: unknown key {key!r}")
        if key in fields:
            raise RuleParseError(f"{path}:{lineno}: a second {key!r} line (each key may appear once)")
        fields[key] = value
    if "velocity" not in fields:
        raise RuleParseError(f"{path}: no 'velocity = …' line")
    params = {}
    for key in ("q", "lam", "N"):
        if key in fields:
            val = parse_expression(fields[key])
            if not (isinstance(val, sp.Basic) and val.is_number):
                raise RuleParseError(f"{path}: {key} must be a number, got {fields[key]!r}")
            params[key] = val
    return parse_rule(fields["velocity"], fields.get("name", Path(path).stem), params)
