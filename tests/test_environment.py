"""pyproject.toml is the one source of dependencies; environment.yml must list the same pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOT_PACKAGES = {"python", "pip"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    pins = {}
    for spec in specs:
        name, sep, version = spec.partition("==")
        assert sep, f"pyproject.toml: {spec!r} is not pinned with =="
        pins[_canonical(name)] = version
    return pins


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if line.startswith("-"):  # index options and the editable install of seqlib
                    continue
                name, sep, version = line.partition("==")
                assert sep, f"environment.yml pip: {line!r} is not pinned with =="
                pins[_canonical(name)] = version
            continue
        name, _, version = dep.partition("=")
        if _canonical(name) not in NOT_PACKAGES:
            assert version, f"environment.yml: {dep!r} is not pinned"
            pins[_canonical(name)] = version
    return pins


def test_environment_yml_lists_the_pyproject_pins() -> None:
    assert environment_pins() == pyproject_pins()


def test_environment_installs_seqlib_and_python_311() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"] and "conda-forge" in env["channels"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_torch_is_pinned_to_the_cpu_release() -> None:
    assert pyproject_pins()["torch"] == "2.13.0"


def test_makefile_exports_the_reproducible_environment() -> None:
    from seqlib._determinism import REPRODUCIBLE_ENV

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for name, value in REPRODUCIBLE_ENV.items():
        assert f"export {name} := {value}\n" in makefile, f"Makefile must export {name} := {value}"
