"""tools/run_notebooks.py loses nothing (issue 15): atomic writes, and no silent overwrite of uncommitted work.

Checked in a throw-away git repository, with the tool's kernel client replaced by a stand-in (executing
a real kernel is what every ``make notebooks`` does; here only what decides whether a file is written).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "run_notebooks.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("run_notebooks_under_test", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Executed:
    """Stands in for nbclient's NotebookClient: 'executes' by giving every code cell the output "ran"."""

    runs: list[str] = []

    def __init__(self, nb, **kwargs) -> None:
        self.nb = nb

    def execute(self) -> None:
        for cell in self.nb.cells:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
        _Executed.runs.append("ran")


@pytest.fixture()
def fake_kernel(tool, monkeypatch):
    monkeypatch.setattr(tool, "NotebookClient", _Executed)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # main() sets the reproducible environment
    _Executed.runs = []
    return _Executed


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=repo, check=True,
                   capture_output=True)


def _notebook(path: Path, source: str = "print(1 + 1)") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    _notebook(tmp_path / "01_committed.ipynb")
    _git(tmp_path, "add", "01_committed.ipynb")
    _git(tmp_path, "commit", "-q", "-m", "one notebook")
    return tmp_path


def test_a_committed_notebook_with_uncommitted_changes_is_not_overwritten(tool, fake_kernel, repo, capsys) -> None:
    path = _notebook(repo / "01_committed.ipynb", "print('my edit, not committed yet')")
    edited = path.read_bytes()
    assert tool.main([str(path)]) == 1 and path.read_bytes() == edited and not fake_kernel.runs
    message = capsys.readouterr().err
    assert "refusing to overwrite notebooks with changes not yet committed" in message
    assert str(path) in message and "tools/run_notebooks.py --force" in message
    _git(repo, "add", path.name)  # staged is not committed: still refused
    assert tool.main([str(path)]) == 1 and path.read_bytes() == edited
    assert tool.main(["--force", str(path)]) == 0 and fake_kernel.runs == ["ran"]
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"] == "ran\n"


def test_an_unchanged_or_a_new_notebook_is_run_and_written(tool, fake_kernel, repo) -> None:
    committed = repo / "01_committed.ipynb"
    new = _notebook(repo / "02_new.ipynb")  # never committed: another helper's lesson in progress
    _git(repo, "add", "--intent-to-add", new.name)
    assert tool.main([str(committed), str(new)]) == 0 and fake_kernel.runs == ["ran", "ran"]
    for path in (committed, new):
        cell = nbformat.read(path, as_version=4).cells[0]
        assert cell.outputs[0]["text"] == "ran\n" and cell.id == "c000"
    assert not list(repo.glob(".*.tmp"))  # each temporary file was moved over its notebook


def test_a_missing_notebook_is_named(tool, fake_kernel, repo, capsys) -> None:
    assert tool.main([str(repo / "nope.ipynb")]) == 2 and "no such notebook" in capsys.readouterr().err


def test_changed_since_commit_outside_git_and_the_atomic_write(tool, repo, tmp_path_factory) -> None:
    committed = repo / "01_committed.ipynb"
    assert not tool.changed_since_commit(committed)
    committed.write_text(committed.read_text() + " ")
    assert tool.changed_since_commit(committed)
    outside = _notebook(tmp_path_factory.mktemp("no_git") / "03.ipynb")
    assert not tool.changed_since_commit(outside)
    committed.chmod(0o640)
    tool.write_atomically(committed, "{}\n")
    assert committed.read_text() == "{}\n" and committed.stat().st_mode & 0o777 == 0o640


def test_a_failing_notebook_or_one_edited_while_it_ran_is_left_as_it_was(tool, repo, monkeypatch) -> None:
    path = _notebook(repo / "05_new.ipynb")
    before = path.read_text()

    class Failing(_Executed):
        def execute(self) -> None:
            raise RuntimeError("a cell failed")

    monkeypatch.setattr(tool, "NotebookClient", Failing)
    with pytest.raises(RuntimeError, match="a cell failed"):
        tool.run(path)
    assert path.read_text() == before

    class EditedWhileRunning(_Executed):
        def execute(self) -> None:
            path.write_text(path.read_text().replace("1 + 1", "1 + 2"))  # saved from an editor meanwhile

    monkeypatch.setattr(tool, "NotebookClient", EditedWhileRunning)
    with pytest.raises(RuntimeError, match="changed on disk while it ran"):
        tool.run(path)
    assert "1 + 2" in path.read_text() and not list(repo.glob(".*.tmp"))
