"""Build pyxring's Cython extensions.

Every ``pyxring/**/*.pyx`` becomes one extension module.  Libraries and
include paths are declared at the top of each ``.pyx`` with Cython's
``# distutils:`` comments, so adding a backend never means editing this file.
"""
import glob
import os

import numpy
from Cython.Build import cythonize
from setuptools import find_packages, setup
from setuptools.extension import Extension

HERE = os.path.dirname(os.path.abspath(__file__))


def extensions():
    exts = []
    for pyx in sorted(glob.glob("pyxring/**/*.pyx", recursive=True)):
        name = pyx[:-4].replace(os.sep, ".")
        exts.append(Extension(
            name, [pyx],
            include_dirs=[HERE, os.path.join(HERE, "xdp_prog"), os.path.join(HERE, "kmod"),
                          numpy.get_include()],
            extra_compile_args=["-O2", "-Wno-unused-function"],
        ))
    return cythonize(exts, language_level=3, nthreads=2,
                     compiler_directives={"boundscheck": False, "wraparound": False,
                                          "cdivision": True, "embedsignature": True})


setup(
    name="pyxring",
    version="0.1.0",
    description="Fast packet capture for Python: AF_XDP, TPACKET_V3 and the myring device",
    packages=find_packages(include=["pyxring", "pyxring.*"]),
    package_data={"pyxring": ["*.pxd", "*.pyi", "**/*.pxd", "**/*.pyi", "py.typed"]},
    ext_modules=extensions(),
    entry_points={"console_scripts": ["pyxring = pyxring.cli:main"]},
    python_requires=">=3.9",
    install_requires=["numpy>=1.22"],
    extras_require={"arrow": ["pyarrow>=10"]},
    zip_safe=False,
)
