"""Where a result bench writes: a default run never replaces a file the course ships.

The result files under ``data/`` (``data/results/*.json``, ``data/lstm_char_model.pt``) are read and
asserted by the notebooks; a run that overwrote one by accident (a smoke test with two seeds, say)
would change what a notebook shows.  So every bench script that writes one takes:

- no option: the result goes to ``bench/out/<the shipped file's name>`` (git-ignored scratch);
- ``--out PATH`` (``--checkpoint PATH`` …): the result goes there, whatever it is;
- ``--replace-shipped``: the result replaces the shipped file, on purpose.

Files are written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted run leaves the previous file whole.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SCRATCH = REPOSITORY / "bench" / "out"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPOSITORY))
    except ValueError:
        return str(path)


def add_output_options(parser: argparse.ArgumentParser, shipped: Mapping[str, Path]) -> None:
    """``--<name> PATH`` for each output (``shipped``: option name -> the shipped file), and ``--replace-shipped``."""
    for option, path in shipped.items():
        parser.add_argument(
            f"--{option}", type=Path, default=None,
            help=f"where to write it (default: {_shown(SCRATCH / path.name)}; the shipped {_shown(path)} is "
                 "replaced only with --replace-shipped, or when named here)",
        )
    names = ", ".join(_shown(path) for path in shipped.values())
    parser.add_argument("--replace-shipped", action="store_true", help=f"write the shipped file(s): {names}")


def output_paths(parser: argparse.ArgumentParser, args: argparse.Namespace, shipped: Mapping[str, Path]) -> dict:
    """The path each output goes to (resolved before the run starts, so a conflict costs no compute)."""
    paths = {}
    for option, path in shipped.items():
        given = getattr(args, option.replace("-", "_"))
        if args.replace_shipped:
            if given is not None and given.resolve() != path.resolve():
                parser.error(f"--replace-shipped writes {_shown(path)}; give either it or --{option}, not both")
            paths[option] = path
        else:
            paths[option] = given if given is not None else SCRATCH / path.name
    return paths


def note(paths: Mapping[str, Path], shipped: Mapping[str, Path]) -> str:
    """A line after the run: where the files went, and how to replace the shipped ones if they did not."""
    wrote = ", ".join(_shown(path) for path in paths.values())
    kept = [_shown(path) for option, path in shipped.items() if paths[option].resolve() != path.resolve()]
    if not kept:
        return f"wrote {wrote} (the shipped result)"
    return f"wrote {wrote}; the shipped {', '.join(kept)} unchanged (rerun with --replace-shipped to replace it)"


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(temporary path)``, then move the temporary file over ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's file is private (0600); a result is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
