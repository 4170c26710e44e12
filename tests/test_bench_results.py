"""bench/_results.py: a default bench run never replaces a result the course ships (issue 15)."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
# every bench script that writes a file the course ships (found by what it names, so a new one is checked too)
RESULT_SCRIPTS = sorted(
    path.name for path in BENCH.glob("*.py")
    if path.name != "_results.py" and any(word in path.read_text(encoding="utf-8")
                                          for word in ("RESULTS_PATH", "CHECKPOINT_PATH", "SEEDS_PATH", "data/results"))
)


@pytest.fixture()
def results(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_results_under_test", BENCH / "_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(results, argv: list[str], shipped: dict) -> dict:
    parser = argparse.ArgumentParser()
    results.add_output_options(parser, shipped)
    return results.output_paths(parser, parser.parse_args(argv), shipped)


def test_a_default_run_writes_to_bench_out_never_to_the_shipped_file(results) -> None:
    data = results.REPOSITORY / "data"
    shipped = {"out": data / "results" / "x.json", "checkpoint": data / "x.pt"}
    paths = _parse(results, [], shipped)
    assert paths == {"out": results.SCRATCH / "x.json", "checkpoint": results.SCRATCH / "x.pt"}
    assert results.SCRATCH == BENCH / "out"
    assert "unchanged (rerun with --replace-shipped to replace it)" in results.note(paths, shipped)


def test_replacing_the_shipped_file_is_explicit(results, tmp_path: Path) -> None:
    shipped = {"out": results.REPOSITORY / "data" / "results" / "x.json"}
    assert _parse(results, ["--replace-shipped"], shipped) == shipped
    assert results.note(shipped, shipped) == "wrote data/results/x.json (the shipped result)"
    assert _parse(results, ["--out", str(shipped["out"])], shipped) == shipped  # naming it is explicit too
    assert _parse(results, ["--out", str(tmp_path / "y.json")], shipped) == {"out": tmp_path / "y.json"}


def test_replace_shipped_and_another_out_conflict_before_the_run(results, tmp_path: Path, capsys) -> None:
    shipped = {"out": results.REPOSITORY / "data" / "results" / "x.json"}
    with pytest.raises(SystemExit) as exit_info:
        _parse(results, ["--replace-shipped", "--out", str(tmp_path / "y.json")], shipped)
    assert exit_info.value.code == 2
    assert "--replace-shipped writes data/results/x.json; give either it or --out, not both" in capsys.readouterr().err


def test_an_interrupted_write_leaves_the_previous_file_whole(results, tmp_path: Path) -> None:
    target = tmp_path / "sub" / "result.json"
    results.write_text(target, '{"old": 1}\n')
    assert target.read_text() == '{"old": 1}\n' and oct(target.stat().st_mode & 0o777) != "0o600"

    def interrupted(path: Path) -> None:
        path.write_text('{"new": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        results.write_atomically(target, interrupted)
    assert target.read_text() == '{"old": 1}\n' and sorted(p.name for p in target.parent.iterdir()) == ["result.json"]


def test_the_result_scripts_are_found() -> None:
    assert {"recall_task.py", "lstm_char_model.py", "rnn_lm_seeds.py", "gru_vs_lstm.py"} <= set(RESULT_SCRIPTS)


@pytest.mark.parametrize("script", RESULT_SCRIPTS)
def test_every_result_script_takes_its_paths_from_the_helper(script: str) -> None:
    """Read, not run (two of them restart themselves under the reproducible environment when imported)."""
    source = (BENCH / script).read_text(encoding="utf-8")
    tree = ast.parse(source)
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"add_output_options", "output_paths", "write_text", "note"} <= called, script
    out_arguments = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                     and getattr(node.func, "attr", "") == "add_argument" and node.args
                     and isinstance(node.args[0], ast.Constant) and node.args[0].value in ("--out", "--checkpoint")]
    assert not out_arguments, f"{script} defines its own --out: its default would write the shipped file"
    assert "--replace-shipped" in ast.get_docstring(tree), f"{script}'s docstring does not say how to replace it"


def test_recall_task_help_shows_the_scratch_default(monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_recall_task_under_test", BENCH / "recall_task.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["recall_task.py"])
    with pytest.raises(SystemExit):
        module.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "default: bench/out/recall_task.json" in shown and "--replace-shipped" in shown
