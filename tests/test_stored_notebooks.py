"""What nbval does not check: that each stored notebook *was* executed, top to bottom, and kept its outputs.

Strict nbval compares the outputs it produces with the stored ones, but a code cell stored with no outputs
at all is not compared (nbval passes a notebook saved without outputs). A learner reading the course on the
web would then see no figures and no numbers. These checks read the files only; they run no kernel.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_was_executed_in_order(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert None not in counts, f"{path.name}: code cell {counts.index(None)} was never executed (run make notebooks)"
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: not executed top to bottom in one run: {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stored(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    with_output = sum(bool(cell.outputs) for cell in code)
    assert with_output >= len(code) // 2, f"{path.name}: only {with_output} of {len(code)} code cells keep outputs"
    images = sum("image/png" in out.get("data", {}) for cell in code for out in cell.outputs)
    assert images >= 1, f"{path.name}: no stored figure (every lesson has a static figure)"
    errors = [i for i, cell in enumerate(code) for out in cell.outputs if out.output_type == "error"]
    assert not errors, f"{path.name}: code cells {errors} stored an error"
