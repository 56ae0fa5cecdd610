"""The compiled multi-word kernels as an optional build artefact (everything else is in setup.cfg).

``curvsym/kernels/multiword/ddtaylor.c`` is built at install time into the extension
``curvsym.kernels.multiword._ddtaylor`` (a shared library that curvsym loads with ctypes).  It is
optional: without a C compiler the install succeeds and curvsym compiles the same file on first use
into ~/.cache/curvsym, or runs the NumPy routines (``curvsym info`` says which).  The build is
portable (no ``-march``/``-mfma``: Dekker's TwoProd gives the same bits as a fused multiply-add), and
the file's SHA-256 is compiled in, so that a stale build of another version is never loaded.
"""

import hashlib
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = "curvsym/kernels/multiword/ddtaylor.c"
# the double-double error-free transformations need IEEE rounding of every operation: no contraction into
# fused multiply-adds, no fast-math reassociation (MSVC: /fp:precise)
GCC_FLAGS = ["-O2", "-ffp-contract=off", "-fno-fast-math"]
MSVC_FLAGS = ["/O2", "/fp:precise"]


class BuildExt(build_ext):
    """build_ext with the floating-point flags of the compiler at hand."""

    def build_extensions(self):
        flags = MSVC_FLAGS if self.compiler.compiler_type == "msvc" else GCC_FLAGS
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
