"""The compiled multi-word kernels as an optional build artefact (everything else is in setup.cfg).

``curvsym/kernels/multiword/ddtaylor.c`` is built at install time into the extension
``curvsym.kernels.multiword._ddtaylor`` (a shared library that curvsym loads with ctypes).  It is
optional: without a C compiler the install succeeds and curvsym compiles the same file on first use
into ~/.cache/curvsym, or runs the NumPy routines (``curvsym info`` says which).  The flags are those
of the first-use build (``-mfma`` on an x86-64 CPU that has it: the same bits as Dekker's TwoProd, faster;
``CURVSYM_PORTABLE_BUILD=1`` leaves it out), and the file's SHA-256 is compiled in, so that a stale
build of another version is never loaded.
"""

import hashlib
import os
import platform
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = "curvsym/kernels/multiword/ddtaylor.c"
# the double-double error-free transformations need IEEE rounding of every operation: no contraction into
# fused multiply-adds, no fast-math reassociation (MSVC: /fp:precise)
GCC_FLAGS = ["-O2", "-ffp-contract=off", "-fno-fast-math"]
MSVC_FLAGS = ["/O2", "/fp:precise"]


def _fma() -> list:
    """``-mfma`` when building on an x86-64 Linux CPU with fused multiply-add (TwoProd in one instruction, the same
    bits; 1.3-1.8x faster triple-double products) and CURVSYM_PORTABLE_BUILD is not set (set it for wheels that
    travel: curvsym refuses an FMA build on a CPU without FMA anyway, and compiles on first use instead)."""
    if os.environ.get("CURVSYM_PORTABLE_BUILD", "").strip().lower() in ("1", "true", "yes", "on"):
        return []
    if not (sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")):
        return []
    try:
        cpu = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return []
    line = next((x for x in cpu.splitlines() if x.startswith("flags")), "")
    return ["-mfma"] if "fma" in line.partition(":")[2].split() else []


class BuildExt(build_ext):
    """build_ext with the floating-point flags of the compiler at hand."""

    def build_extensions(self):
        flags = MSVC_FLAGS if self.compiler.compiler_type == "msvc" else GCC_FLAGS + _fma()
        for ext in self.extensions:
            ext.extra_compile_args = list(flags)
        super().build_extensions()


def _source_hash() -> str:
    return hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()[:16]


setup(
    ext_modules=[Extension(
        "curvsym.kernels.multiword._ddtaylor",
        sources=[SOURCE],
        define_macros=[("CURVSYM_PYTHON_EXTENSION", "1"), ("CURVSYM_SOURCE_SHA256", f'"{_source_hash()}"')],
        libraries=[] if sys.platform == "win32" else ["m"],
        optional=True,  # no compiler: a warning, and the install goes on
    )],
    cmdclass={"build_ext": BuildExt},
)
