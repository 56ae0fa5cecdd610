"""The error contract, kept by a lint over the package source (the rule a linter would enforce).

1. No ``raise`` of a built-in exception: every error a user can trigger is a
   :class:`curvsym.CurvsymError` subclass.  Protocol exceptions are allowed where
   Python requires them: ``AttributeError`` in ``__getattr__``, ``NotImplementedError``
   in abstract methods.
2. Every public function or method that raises a curvsym error itself documents it
   under ``Raises:`` in its docstring, naming the class.
"""

import ast
import builtins
import inspect
from pathlib import Path

import pytest

import curvsym
from curvsym import errors

PACKAGE = Path(curvsym.__file__).parent
BUILTIN_EXCEPTIONS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
import curvsym.sweep  # noqa: E402,F401  (its errors join the hierarchy)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


CURVSYM_ERRORS = {errors.CurvsymError.__name__} | {c.__name__ for c in _subclasses(errors.CurvsymError)
                                                   if c.__module__.startswith("curvsym")}
SOURCES = sorted(p for p in PACKAGE.rglob("*.py"))


def _raised_name(node: ast.Raise) -> str | None:
    exc = node.exc
    if isinstance(exc, ast.Call):
        exc = exc.func
    if isinstance(exc, ast.Name):
        return exc.id
    if isinstance(exc, ast.Attribute):
        return exc.attr
    return None


def _functions(tree):
    """(qualified name, function node, is public) for module functions and methods of public classes."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node, not node.name.startswith("_")
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    public = not node.name.startswith("_") and (not sub.name.startswith("_") or sub.name == "__call__")
                    yield f"{node.name}.{sub.name}", sub, public


def _own_raises(func):
    """Raise statements of ``func`` itself, not of functions nested in it."""
    out = []

    def visit(n):
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Raise):
                out.append(child)
            visit(child)
    visit(func)
    return out


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_builtin_exception_is_raised(path):
    tree = ast.parse(path.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for r in _own_raises(node):
                name = _raised_name(r)
                if name not in BUILTIN_EXCEPTIONS:
                    continue
                if name == "AttributeError" and node.name == "__getattr__":
                    continue
                if name == "NotImplementedError":
                    continue
                bad.append(f"{path.name}:{r.lineno} raise {name} in {node.name}")
    assert not bad, "raise a curvsym.errors class instead:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_public_functions_document_what_they_raise(path):
    tree = ast.parse(path.read_text())
    missing = []
    for qual, func, public in _functions(tree):
        if not public:
            continue
        doc = ast.get_docstring(func) or ""
        for r in _own_raises(func):
            name = _raised_name(r)
            if name in CURVSYM_ERRORS and ("Raises" not in doc or name not in doc):
                missing.append(f"{path.name}:{r.lineno} {qual} raises {name} without documenting it")
    assert not missing, "\n".join(sorted(set(missing)))


def test_every_error_class_is_a_curvsym_error_exported_at_top_level():
    for name in CURVSYM_ERRORS & set(vars(errors)):
        assert getattr(curvsym, name) is getattr(errors, name)
    assert inspect.getmro(errors.UnknownNameError)[1] is errors.CurvsymError


def test_the_lint_can_fail(tmp_path):
    """The checks above reject what they should (a lint that cannot fail is no lint)."""
    tree = ast.parse("def f(x):\n    '''No raises section.'''\n    raise ShapeError('bad')\n"
                     "def g():\n    raise ValueError('bare')\n")
    funcs = {q: f for q, f, _ in _functions(tree)}
    assert [_raised_name(r) for r in _own_raises(funcs["f"])] == ["ShapeError"]
    assert "Raises" not in (ast.get_docstring(funcs["f"]) or "")
    assert _raised_name(_own_raises(funcs["g"])[0]) in BUILTIN_EXCEPTIONS


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_public_functions_have_type_hints(path):
    """Every public function and method annotates its arguments and its result."""
    tree = ast.parse(path.read_text())
    bare = []
    for qual, func, public in _functions(tree):
        if not public or func.name.startswith("_"):
            continue
        args = [a for a in func.args.args + func.args.kwonlyargs if a.arg not in ("self", "cls")]
        if func.returns is None or any(a.annotation is None for a in args):
            bare.append(f"{path.name}:{func.lineno} {qual}")
    assert not bare, "add type hints:\n" + "\n".join(bare)
