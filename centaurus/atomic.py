"""Atomic writes: the data goes to a temporary sibling that is renamed over the target, so a reader never sees
half a file, and a failed write leaves the old file (or none) and no temporary behind. The temporary is made
with the umask's permissions, as a plain `open` would make the target (`tempfile.mkstemp` makes 0600)."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SUFFIX = ".tmp"


def _fresh_sibling(path: Path) -> Path:
    """Create an empty, uniquely named hidden sibling of `path`, mode 0666 less the umask."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{_SUFFIX}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces `path` if the block ends without an error, else is removed."""
    path = Path(path)
    tmp = _fresh_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_temporaries(path: str | os.PathLike) -> None:
    """Remove what `replacing(path)` left behind in a process killed inside its block."""
    path = Path(path)
    for tmp in path.parent.glob(f".{path.name}.*{_SUFFIX}"):
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)
