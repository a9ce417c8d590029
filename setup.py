"""Cython build: every .pyx under edge-image/sequence_edge becomes an extension.

Later work only adds .pyx files; nothing here needs to change.
"""

from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent
PKG = ROOT / "edge-image" / "sequence_edge"

extensions = [
    Extension(
        f"sequence_edge.{pyx.stem}",
        [str(pyx.relative_to(ROOT))],
        extra_compile_args=["-O3", "-fno-strict-aliasing"],
    )
    for pyx in sorted(PKG.glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=[str(PKG.parent)],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
        quiet=True,
    ),
)
