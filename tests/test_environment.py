"""pyproject.toml is the one source of dependencies; environment.yml must list the same pins."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
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
        name = re.split(r"[=<>]", dep, maxsplit=1)[0]
        version = dep[len(name):].lstrip("=")
        if _canonical(name) not in NOT_PACKAGES:
            assert version, f"environment.yml: {dep!r} is not pinned"
            pins[_canonical(name)] = version
    return pins


def test_environment_yml_lists_the_pyproject_pins() -> None:
    assert environment_pins() == pyproject_pins()


def test_environment_installs_seqlib_and_the_supported_pythons() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python>=3.11,<3.14" in env["dependencies"] and "conda-forge" in env["channels"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_the_supported_pythons_agree_everywhere() -> None:
    """pyproject, environment.yml, the Makefile's search and 00's environment check: 3.11 to 3.13."""
    from seqlib.course.nb00_welcome import SUPPORTED_PYTHON

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    assert SUPPORTED_PYTHON == ((3, 11), (3, 13))
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "IN_RANGE := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))\n" in makefile
    assert "SUPPORTED_PYTHONS := python3.11 python3.12 python3.13 python3 python\n" in makefile
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Python 3.11, 3.12 or 3.13" in readme


def _fake_python(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_skips_a_python_that_does_not_run_and_says_when_none_is_there(tmp_path: Path) -> None:
    """A version manager's shim for an inactive version is on PATH but only prints an error."""
    make = shutil.which("make")
    _fake_python(tmp_path, "python3.11", 'echo "pyenv: python3.11: command not found" >&2; exit 127')
    _fake_python(tmp_path, "python3.12", f'exec "{sys.executable}" "$@"')  # runs (this test's 3.11-3.13)
    _fake_python(tmp_path, "python3", "exit 1")  # runs, but is too old: the version check exits 1
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    found = subprocess.run([make, "-s", "-C", str(ROOT), "print-python"], env=env, capture_output=True,
                           text=True, check=True)
    assert found.stdout.strip() == str(tmp_path / "python3.12")

    (tmp_path / "python3.12").unlink()
    project = tmp_path / "project"  # a copy without .venv, so that make must look for a Python
    project.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    (project / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "jupyterlab_overrides.json", project / "tools")
    none = subprocess.run([make, "-C", str(project), "test"], env=env, capture_output=True, text=True)
    assert none.returncode != 0
    assert "no Python 3.11, 3.12 or 3.13 found" in none.stdout + none.stderr
    assert "PYTHON=" in none.stdout + none.stderr


def test_jupyterlab_settings_ship_with_the_course_not_in_the_home() -> None:
    overrides = json.loads((ROOT / "tools" / "jupyterlab_overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json" in makefile
    assert "cp tools/jupyterlab_overrides.json $(LAB_OVERRIDES)" in makefile


def test_torch_is_pinned_to_the_cpu_release() -> None:
    assert pyproject_pins()["torch"] == "2.13.0"


def test_makefile_exports_the_reproducible_environment() -> None:
    from seqlib._determinism import REPRODUCIBLE_ENV

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for name, value in REPRODUCIBLE_ENV.items():
        assert f"export {name} := {value}\n" in makefile, f"Makefile must export {name} := {value}"
