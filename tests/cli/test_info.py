"""``curvsym info``: which engines, compiled kernels and array backends are active, and why."""

import pytest

from curvsym.cli import main
from curvsym.integrate import series_engines
from curvsym.kernels.multiword import compiled


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("CURVSYM_CACHE", str(tmp_path))
    monkeypatch.delenv("CURVSYM_NO_COMPILE", raising=False)
    monkeypatch.setattr(series_engines, "_WARNED", set())
    compiled._load.cache_clear()
    yield tmp_path
    compiled._load.cache_clear()


def _info(capsys):
    assert main(["info"]) == 0
    return capsys.readouterr().out


def _line(out, key):
    return next(ln for ln in out.splitlines() if ln.strip().startswith(key))


def test_info_names_engines_kernel_and_backends(capsys, fresh):
    out = _info(capsys)
    for needle in ("engines", "auto", "multiword", "flint", "mpmath", "compiled kernels", "array backends", "numpy"):
        assert needle in out
    active = _line(out, "active")
    if compiled.available():
        assert ("compiled extension" in active or "cached build" in active) and str(compiled.status().path) in active
    else:
        assert "NumPy route" in active


def test_info_without_a_compiler_says_numpy_route_and_why(capsys, monkeypatch, fresh):
    monkeypatch.setattr(compiled.shutil, "which", lambda exe: None)
    monkeypatch.setattr(compiled, "_extension", lambda: (None, "no install-time build"))
    out = _info(capsys)
    assert "NumPy route" in _line(out, "active") and "no C compiler" in _line(out, "why")
    assert "double-double at width 3 (NumPy route" in _line(out, "auto")  # the same engine as with a compiler


def test_info_with_curvsym_no_compile(capsys, monkeypatch, fresh):
    monkeypatch.setenv("CURVSYM_NO_COMPILE", "1")
    out = _info(capsys)
    assert "NumPy route" in _line(out, "active") and "CURVSYM_NO_COMPILE=1" in _line(out, "why")


@pytest.mark.skipif(not compiled.available(), reason="no C compiler for the compiled kernel")
def test_info_names_an_install_time_build(capsys, monkeypatch, fresh):
    lib = compiled.build(fresh / "_ddtaylor.so")
    monkeypatch.setattr(compiled, "_extension", lambda: (compiled._open(lib), str(lib)))
    out = _info(capsys)
    assert _line(out, "active").split(None, 1)[1] == f"compiled extension {lib}"
    assert "built at install time" in _line(out, "why")
