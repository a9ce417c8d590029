"""Cython build: every .pyx under edge-image/sequence_edge (subpackages included) becomes an
extension named after its path (algo/native.pyx -> sequence_edge.algo.native).

Later work only adds .pyx files; nothing here needs to change.
"""

from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent
PKG = ROOT / "edge-image" / "sequence_edge"

extensions = [
    Extension(
        "sequence_edge." + ".".join(pyx.relative_to(PKG).with_suffix("").parts),
        [str(pyx.relative_to(ROOT))],
        extra_compile_args=["-O3", "-fno-strict-aliasing"],
    )
    for pyx in sorted(PKG.rglob("*.pyx"))
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
