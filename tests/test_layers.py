"""The two layers: the library (seqlib's topic modules) never imports the course (seqlib.course)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "seqlib"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_library_never_imports_the_course() -> None:
    library = [p for p in PACKAGE.glob("*.py")]
    assert len(library) > 10
    for path in library:
        course = sorted(name for name in _imports(path) if name.startswith("seqlib.course"))
        assert not course, f"{path.name} imports the course layer: {course}"


def test_every_notebook_has_its_course_module_and_test_file() -> None:
    notebooks = sorted((PACKAGE.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks
    for notebook in notebooks:
        module = f"nb{notebook.stem}"
        assert (PACKAGE / "course" / f"{module}.py").exists(), f"{notebook.name} has no seqlib/course/{module}.py"
        assert (PACKAGE.parent / "tests" / "course" / f"test_{module}.py").exists(), f"no tests/course/test_{module}.py"


def test_no_module_imports_another_modules_private_names() -> None:
    for path in PACKAGE.rglob("*.py"):
        for name in _imports(path):
            parts = name.split(".")
            private = [p for p in parts[1:] if p.startswith("_") and p not in ("__future__", "_checks", "_determinism")]
            assert not private, f"{path.relative_to(PACKAGE.parent)} imports a private name: {name}"
