"""Only the extension modules live here; all metadata is in pyproject.toml."""

import os
from pathlib import Path

from setuptools import Extension, setup

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "embedsignature": True,
    "cdivision": True,
    "initializedcheck": False,
}


def ext_modules():
    if os.environ.get("TRADESTORE_NO_EXTENSIONS"):
        return []
    from Cython.Build import cythonize

    ext = Path("src/tradestore/codec/_ext")
    sources = sorted(ext.glob("[!_]*.pyx"))
    extensions = [
        Extension(f"tradestore.codec._ext.{src.stem}", [str(src)], extra_compile_args=["-O3"])
        for src in sources
    ]
    return cythonize(
        extensions, compiler_directives=COMPILER_DIRECTIVES, include_path=[str(ext)], quiet=True
    )


setup(ext_modules=ext_modules())
