"""Re-execute notebooks in place so their stored outputs are exactly what the code produces.

Usage: ``python tools/run_notebooks.py [--force] notebooks/*.ipynb`` (this is ``make notebooks``).

Nothing is lost:

- a notebook that git tracks and whose working copy differs from its last commit (``git diff HEAD``:
  edits not yet committed, staged or not) is **not** overwritten: the tool stops before running anything
  and says which; ``--force`` overwrites it anyway.  A notebook git does not know yet (never committed)
  is run and written as usual;
- the new file is written atomically (a temporary file beside it, then ``os.replace``): an interrupted
  run or a failing cell leaves the notebook as it was;
- if the notebook changed on disk while it ran (edited and saved elsewhere), the result is not written
  over it (again, unless ``--force``).

Each notebook runs top to bottom in its own folder with the current interpreter's kernel, then
volatile metadata is normalised so that running twice gives byte-identical files:

- per-cell timing metadata (``metadata.execution``) is dropped;
- widget model ids (random UUIDs) are renamed in order of appearance, in the outputs and in the
  saved widget state, so widgets still render on a static page (nbviewer, GitHub);
- the kernel's exact Python patch version is reduced to major.minor;
- cell ids are numbered by position (``c000``, ``c001``, …).

The kernels run under ``seqlib._determinism.REPRODUCIBLE_ENV`` (set here when unset), so the stored
digits are those every x86 CPU gives.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient

from seqlib._determinism import reproducible_env


async def _get_msg_in_slices(self: AsyncZMQSocketChannel, timeout: float | None = None) -> dict:
    """``AsyncZMQSocketChannel.get_msg``, polling in slices of at most 1 s.

    With widgets on the page, pyzmq's asyncio poll sometimes misses the wake-up for a reply that has
    arrived, and only the final check at the cell timeout finds it: the run stalls for the whole per-cell
    timeout (seen: 300 s, on widget cells of notebooks 01, 03 and 05; nbclient issue #312). Each slice's own
    timeout re-checks the socket, so a missed wake-up costs at most a second.  Only this tool is patched.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
        if await self.socket.poll(int(left * 1000)):
            return await self._recv()
        if deadline is not None and time.monotonic() >= deadline:
            raise Empty


AsyncZMQSocketChannel.get_msg = _get_msg_in_slices

UUID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")  # widget model ids, also inside IPY_MODEL_…
TIMEOUT_S = 300  # per cell


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _widget_order(nb: nbformat.NotebookNode) -> list[str]:
    """Model ids in a canonical order: those shown in outputs (in cell order) and, depth first, the
    models they reference; then the same from models nobody references (widgets never displayed)."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    order: list[str] = []

    def visit(model_id: str) -> None:
        if model_id in order:
            return
        order.append(model_id)
        text = json.dumps(state.get(model_id, {}), sort_keys=True)
        for ref in UUID.findall(text):
            visit(ref)

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for ref in UUID.findall(json.dumps(output, sort_keys=True)):
                visit(ref)
    referenced = {ref for m in state for ref in UUID.findall(json.dumps(state[m]))}
    roots = [m for m in state if m not in referenced]  # e.g. widgets built but never displayed

    def content(model_id: str) -> str:
        return UUID.sub("", json.dumps(state[model_id], sort_keys=True))

    for model_id in sorted(roots, key=content) + sorted(state, key=content):
        visit(model_id)
    return order


def _coalesce_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks: how a print is split into messages is a race."""
    merged: list = []
    for output in outputs:
        if (
            merged
            and output.get("output_type") == "stream"
            and merged[-1].get("output_type") == "stream"
            and merged[-1]["name"] == output["name"]
        ):
            merged[-1]["text"] += output["text"]
        else:
            merged.append(output)
    return merged


def normalise(nb: nbformat.NotebookNode) -> str:
    for index, cell in enumerate(nb.cells):
        cell.id = f"c{index:03d}"  # by position: a cell inserted by hand gets no random id
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _coalesce_streams(cell.outputs)
            for output in cell.outputs:
                output.get("metadata", {}).pop("execution", None)
    info = nb.metadata.get("language_info", {})
    if "version" in info:
        info["version"] = ".".join(info["version"].split(".")[:2])
    renames = {old: f"{i + 1:032x}" for i, old in enumerate(_widget_order(nb))}
    # rename before writing: nbformat sorts keys, and the widget state is keyed by model id
    text = UUID.sub(lambda m: renames.get(m.group(0), m.group(0)), json.dumps(nb))
    return nbformat.writes(nbformat.from_dict(json.loads(text))) + "\n"


def _git(path: Path, *args: str) -> subprocess.CompletedProcess | None:
    """``git args`` run in the notebook's folder; None when git is missing or the folder is not in a repository."""
    try:
        done = subprocess.run(["git", *args], cwd=path.parent, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return None if "not a git repository" in done.stderr else done


def changed_since_commit(path: Path) -> bool:
    """True when ``path`` is in git's last commit (HEAD) and its working copy differs from it (edits not yet
    committed, staged or not).  False for a notebook never committed, or outside a git repository."""
    in_head = _git(path, "cat-file", "-e", f"HEAD:./{path.name}")
    if in_head is None or in_head.returncode != 0:
        return False
    diff = _git(path, "diff", "--quiet", "HEAD", "--", path.name)
    return diff is not None and diff.returncode == 1


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then move it over ``path`` in one step (the
    file keeps its permissions)."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run(path: Path, force: bool = False) -> float:
    original = path.read_bytes()
    nb = nbformat.reads(original.decode("utf-8"), as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        shutdown_kernel="immediate",  # a graceful shutdown has been seen to hang, rarely, after the last cell
    ).execute()
    seconds = time.perf_counter() - start
    text = normalise(nb)
    json.loads(text)  # valid JSON before it replaces anything
    if not force and path.read_bytes() != original:
        raise RuntimeError(f"{path} changed on disk while it ran (saved from an editor?): not overwritten; "
                           f"rerun with --force to overwrite it")
    write_atomically(path, text)
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to execute and rewrite in place")
    parser.add_argument("--force", action="store_true",
                        help="overwrite notebooks even when they hold changes not yet committed")
    args = parser.parse_args(argv)
    if not args.paths:
        print(__doc__)
        return 2
    missing = [str(path) for path in args.paths if not path.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    changed = [] if args.force else [str(path) for path in args.paths if changed_since_commit(path)]
    if changed:
        print(
            "refusing to overwrite notebooks with changes not yet committed (git diff HEAD is not empty):\n  "
            + "\n  ".join(changed)
            + "\ncommit them first, or run again with --force to overwrite them:\n  "
            + " ".join([Path(sys.executable).name, "tools/run_notebooks.py", "--force", *map(str, args.paths)]),
            file=sys.stderr,
        )
        return 1
    os.environ.update(reproducible_env())  # inherited by every kernel started below
    for path in args.paths:
        seconds = run(path, force=args.force)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
