"""Input manifests and output paths of the eval and calibrate commands, checked before any work starts.

An evaluation embeds or verifies thousands of files for minutes; a typo in row 1,900 or an output folder
that does not exist should stop it in the first second with a message naming the problem, not end it with
a traceback after the work is done (or, worse, with silently fewer rows).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

SHOWN = 5  # problems listed by name; the rest are counted


def _listing(problems: list[str]) -> str:
    more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    return "; ".join(problems[:SHOWN]) + more


def read_rows(
    path: Path, columns: tuple[str, ...], root: Path, labels: dict[int, set[str]] | None = None
) -> list[list[str]]:
    """The rows of a tab-separated manifest whose first column is a file path, all checked.

    ``columns`` names the columns a row needs (extra columns are ignored, as is a header row whose
    first cell is ``path``). ``labels`` maps a column index to its allowed values. Paths are relative
    to ``root`` unless absolute. Raises ``ValueError`` for no rows, short rows, unknown labels or
    missing files, naming the lines.
    """
    try:
        with path.open(newline="", encoding="utf-8") as f:
            lines = [(n, r) for n, r in enumerate(csv.reader(f, delimiter="\t"), start=1) if any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    if lines and lines[0][1][0].strip().lower() == "path":
        lines = lines[1:]
    if not lines:
        raise ValueError(f"{path}: no rows; expected {'<TAB>'.join(columns)}")
    short = [f"line {n}" for n, r in lines if len(r) < len(columns)]
    if short:
        raise ValueError(
            f"{path}: rows need {len(columns)} tab-separated columns ({', '.join(columns)}): {_listing(short)}"
        )
    wrong = [
        f"line {n}: {columns[i]} {r[i]!r} (allowed: {', '.join(sorted(allowed))})"
        for n, r in lines
        for i, allowed in (labels or {}).items()
        if r[i] not in allowed
    ]
    if wrong:
        raise ValueError(f"{path}: {_listing(wrong)}")
    missing = [f"line {n}: {r[0]}" for n, r in lines if not (root / r[0]).is_file()]
    if missing:
        raise ValueError(
            f"{path}: {len(missing)} of {len(lines)} listed files not found under {root}: {_listing(missing)}"
        )
    return [r[: len(columns)] for _, r in lines]


def writable(*paths: Path | None) -> None:
    """Create the folders of the output ``paths`` now, so that a long run cannot fail at its last step."""
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            raise ValueError(f"{path} is a folder; give a file name")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the folder of {path}: {exc.strerror}") from None
        if not os.access(path.parent, os.W_OK):
            raise ValueError(f"cannot write to {path.parent}")
