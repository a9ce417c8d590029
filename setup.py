"""Cython build: every .pyx under edge-image/ becomes an extension named after its path.

`edge-image/sequence_edge/market/book.pyx` -> `sequence_edge.market.book`. New extensions only
add .pyx files; nothing here needs to change.
"""

from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent
SRC = ROOT / "edge-image"

extensions = [
    Extension(
        ".".join(pyx.relative_to(SRC).with_suffix("").parts),
        [str(pyx.relative_to(ROOT))],
        extra_compile_args=["-O3", "-fno-strict-aliasing"],
    )
    for pyx in sorted(SRC.rglob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=[str(SRC)],
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
