"""A Debian package's files without installing it: `apt-get download` into a cache, then `dpkg-deb -x`.

An installed package is read in place (root "/"), which is lighter still. Extraction can be limited to a few
paths, because some packages are mostly graphics (0ad-data unpacks to 3 GB, its audio is a fraction of it).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from centaurus.data.builders.common import ToolMissing

DEFAULT_CACHE = Path.home() / ".cache" / "centaurus" / "debs"


def install_hint(package: str) -> str:
    return f"apt-get update && apt-get download {package} (or: sudo apt-get install -y {package})"


def _missing(package: str, why: str) -> ToolMissing:
    return ToolMissing(f"package {package} is not available ({why}); get it with: {install_hint(package)}")


def is_installed(package: str) -> bool:
    if shutil.which("dpkg-query") is None:
        return False
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True,
                          check=False)
    return proc.returncode == 0 and proc.stdout.split()[-1:] == ["installed"]


def download(package: str, cache: Path) -> Path:
    """The package's .deb in `cache`, fetched with `apt-get download` when absent (after one `apt-get update`
    if apt does not know the package yet)."""
    cache.mkdir(parents=True, exist_ok=True)
    # apt-get download names files <name>_<version with ':' as %3a>_<arch>.deb
    found = sorted(cache.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise _missing(package, "apt-get is not on this machine")
    for attempt in range(2):
        proc = subprocess.run(["apt-get", "download", package], cwd=cache, capture_output=True, text=True,
                              check=False)
        found = sorted(cache.glob(f"{package}_*.deb"))
        if proc.returncode == 0 and found:
            return found[-1]
        if attempt == 0 and re.search(r"Unable to locate|no installation candidate", proc.stderr):
            subprocess.run(["apt-get", "update"], capture_output=True, check=False)
            continue
        break
    reason = (proc.stderr.strip().splitlines() or ["apt-get download failed"])[-1]
    raise _missing(package, reason)


def package_root(package: str, *, cache: str | Path | None = None, members: tuple[str, ...] = ()) -> Path:
    """A folder that holds the package's files at their installed paths ("/" when it is installed).

    `members`: path prefixes inside the package (e.g. "./usr/share/games/0ad/data/mods/public/audio") to
    extract; all files when empty. The extracted tree is kept in `cache/<package>/` and reused.
    """
    if is_installed(package):
        return Path("/")
    cache = Path(cache) if cache is not None else DEFAULT_CACHE
    root = cache / package
    done = root / ".extracted"
    if done.is_file():
        return root
    deb = download(package, cache)
    if root.exists():
        shutil.rmtree(root)  # a half-finished extraction from an interrupted run
    root.mkdir(parents=True)
    if members:
        members = (*members, f"./usr/share/doc/{package}/")
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        proc = subprocess.run(["tar", "-x", "-C", str(root), "--wildcards", *[f"{m}*" for m in members]],
                              stdin=tar.stdout, capture_output=True, text=True, check=False)
        tar.stdout.close()
        ok = tar.wait() == 0 and proc.returncode == 0
    else:
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True,
                              check=False)
        ok = proc.returncode == 0
    if not ok:
        raise ToolMissing(f"package {package}: cannot unpack {deb}: {proc.stderr.strip()[:200]}")
    done.write_text(deb.name + "\n")
    return root


def licence_of(root: Path, package: str) -> str:
    """A short SPDX-ish licence string from `usr/share/doc/<package>/copyright` (DEP-5 `License:` fields),
    e.g. "GPL-2+ AND CC-BY-SA-3.0"; "unknown" when the file is absent."""
    path = root / "usr" / "share" / "doc" / package / "copyright"
    if not path.is_file():
        return "unknown"
    names = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("License:"):
            name = line.partition(":")[2].strip()
            if name and name not in names:
                names.append(name)
    return " AND ".join(names[:4]) if names else "see copyright"
