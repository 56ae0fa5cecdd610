"""``curvsym info``: which engines, compiled kernels and array backends are active here, and why.

    $ curvsym info
    curvsym 0.3.0 (Python 3.11.7, Linux x86_64)
    engines (engine=…)
      multiword    double/triple/quad-double on float64 arrays (NumPy 2.1.3), up to 62 digits
      ...
    compiled kernels (ddtaylor.c)
      active       compiled extension /…/_ddtaylor.cpython-311-x86_64-linux-gnu.so (built at install time)
    array backends
      numpy        active (the default)
      torch        not installed (pip install 'curvsym[torch]')

The parser registers the command without importing the library; :func:`cmd_info` imports it when it runs.
"""

from __future__ import annotations

import argparse
import platform
import sys
from typing import Any

__all__ = ["add_parser", "cmd_info", "describe"]

_KERNEL_NAMES = {"extension": "compiled extension", "cache": "cached build", "numpy": "NumPy route"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``curvsym info`` on the subcommand parsers ``sub``."""
    p = sub.add_parser("info", help="which engines, compiled kernels and array backends are active here, and why",
                       description="Print the arbitrary-precision engines, the compiled multi-word kernels (the "
                                   "install-time extension, a cached first-use build, or the NumPy route, and "
                                   "why) and the array backends this installation uses.  Building the compiled "
                                   "kernel on first use, if that is where it comes from, happens now.")
    p.set_defaults(func=cmd_info)
    return p


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def describe() -> list[str]:
    """The lines ``curvsym info`` prints."""
    import warnings

    from ..codegen import backends
    from ..integrate.series_engines import ENGINES, make_engine
    from ..kernels.multiword import compiled
    from ..version import __version__

    st = compiled.status()
    out = [f"curvsym {__version__} (Python {platform.python_version()}, {platform.system()} {platform.machine()})",
           f"engines (engine=…: {', '.join(ENGINES)})"]
    flint = _version("python-flint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the no-compiler warning: said below, in its own words
        small = make_engine("auto", 30, width=3)
        wide = make_engine("auto", 30, width=16)
        high = make_engine("auto", 80, width=16)
    kernel = "compiled kernel" if st.kind != "numpy" else "NumPy route: no compiled kernel"
    out += [f"  {'auto':<17} 30 digits: {small.name} at width 3 ({kernel}), {wide.name} at width 16 (BLAS); "
            f"80 digits: {high.name}",
            f"  {'multiword':<17} double/triple/quad-double (dd, td, qd) on float64 arrays (NumPy "
            f"{_version('numpy')}), up to 62 digits",
            f"  {'flint':<17} " + (f"python-flint {flint} (arb balls)" if flint else
                                    "not installed (pip install python-flint): engine='auto' uses mpmath instead"),
            f"  {'mpmath':<17} mpmath {_version('mpmath')} (object arrays, the independent route)",
            "compiled kernels (ddtaylor.c: double-double Taylor recurrence, multi-word GBS arithmetic)",
            f"  {'active':<17} {_KERNEL_NAMES[st.kind]}" + (f" {st.path}" if st.path else ""),
            f"  {'why':<17} {st.reason}"]
    if st.kind == "cache":
        out.append(f"  {'flags':<17} {' '.join(compiled.flags())} (compiler: {compiled._compiler()})")
    out.append("array backends (codegen.backends; generated code runs on any of them)")
    active = backends.available()
    for name in ("numpy", "array_api_strict", "torch", "jax", "cupy"):
        if name in active:
            gpu = " with a GPU" if name != "numpy" and backends.has_gpu(name) else ""
            note = f"installed{gpu}" + (" (the default)" if name == "numpy" else "")
        else:
            note = f"not installed (pip install 'curvsym[{backends._EXTRA.get(name, name)}]')"
        out.append(f"  {name:<17} {note}")
    return out


def cmd_info(args: Any) -> int:
    """``curvsym info``: print :func:`describe`; 0."""
    print("\n".join(describe()))
    sys.stdout.flush()
    return 0
