"""pyproject.toml in the form current setuptools reads without deprecation warnings (a fresh
`make run` printed "`project.license` as a TOML table is deprecated" twice)."""

import re
import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def test_the_license_is_an_spdx_expression():
    license_ = PYPROJECT["project"]["license"]
    assert isinstance(license_, str), "a TOML table here is deprecated by setuptools"
    assert re.fullmatch(r"[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*", license_)


def test_the_build_backend_is_one_that_reads_spdx_expressions():
    (setuptools,) = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    floor = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert floor, setuptools
    # setuptools 77 is the first to take `project.license` as a string.
    assert int(floor.group(1)) >= 77
