"""Atomic text writes: the text goes to a temporary sibling that is renamed over the target, so a reader
never sees half a file, and a failed write leaves the old file (or none) and no temporary behind."""
from __future__ import annotations

import os
from pathlib import Path


def write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
