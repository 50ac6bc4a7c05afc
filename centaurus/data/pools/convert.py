"""Turn source audio files into pool clips: 16 kHz mono, digital silence trimmed, long files cut into <= 30 s
chunks, broken or empty files skipped and counted."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from centaurus.audio import SAMPLE_RATE, load_audio, save_audio
from centaurus.data.builders.common import ToolMissing
from centaurus.data.pools.extract import install_hint, licence_of, package_root
from centaurus.data.pools.manifest import PoolClip
from centaurus.errors import AudioError

MAX_SECONDS = 30.0
MIN_SECONDS = 0.1
SILENCE = 10 ** (-60 / 20)  # a 10 ms frame whose peak is below -60 dBFS is digital silence
AUDIO_SUFFIXES = (".ogg", ".oga", ".wav", ".flac")


@dataclass(frozen=True)
class Source:
    """One input file and what its clips are: `name` is the clip path stem inside the pool folder."""

    path: str
    name: str
    source: str
    licence: str
    group: str
    language: str = ""
    kind: str = "speech"
    family: str = ""
    text: str = ""


@dataclass
class BuildContext:
    """What a pool builder needs besides its output folder.

    `roots` maps a package name to an already extracted tree (tests, or a copy elsewhere); packages not in it
    are found installed or fetched with `apt-get download` into `cache`. `pools_dir` holds the pools built so
    far (the babble of `noise-generated` reads the real speech pools there).
    """

    cache: Path | None = None
    roots: dict[str, Path] = field(default_factory=dict)
    workers: int = 1
    pools_dir: Path | None = None
    seed: int = 0
    generated_per_kind: int = 8  # noise-generated: 30 s clips per kind of noise (babble: 3x as many 20 s ones)
    notes: list[str] = field(default_factory=list)  # one line each, printed after the pool's summary

    def root(self, package: str, *, members: tuple[str, ...] = ()) -> Path:
        if package in self.roots:
            root = Path(self.roots[package])
            if not root.is_dir():
                raise ToolMissing(f"package {package}: extracted root {root} does not exist; get it with: "
                                  f"{install_hint(package)}")
            return root
        return package_root(package, cache=self.cache, members=members)

    def licence(self, package: str, root: Path) -> str:
        return licence_of(root, package)


def trim_silence(wav: torch.Tensor, *, frame: int = SAMPLE_RATE // 100) -> torch.Tensor:
    """Drop leading and trailing 10 ms frames whose peak is below -60 dBFS. (L,) -> (L',)."""
    n = wav.shape[0] // frame
    if n == 0:
        return wav if wav.abs().max() > SILENCE else wav[:0]
    peaks = wav[: n * frame].reshape(n, frame).abs().amax(dim=1)
    loud = torch.nonzero(peaks > SILENCE).flatten()
    if loud.numel() == 0:
        return wav[:0]
    return wav[int(loud[0]) * frame: min(wav.shape[0], (int(loud[-1]) + 1) * frame)]


def chunks(wav: torch.Tensor, *, max_seconds: float = MAX_SECONDS) -> list[torch.Tensor]:
    """Equal pieces of at most `max_seconds` each (a 70 s file gives three 23.3 s pieces)."""
    limit = int(max_seconds * SAMPLE_RATE)
    count = -(-wav.shape[0] // limit)
    step = -(-wav.shape[0] // count)
    return [wav[i: i + step] for i in range(0, wav.shape[0], step)]


def convert(job: tuple[Source, Path]) -> list[PoolClip]:
    """Write the clips of one source into `out_dir`; [] for a broken, silent or too short file."""
    src, out_dir = job
    try:
        wav = load_audio(src.path, sample_rate=SAMPLE_RATE)
    except AudioError:
        return []
    wav = trim_silence(wav)
    if wav.shape[0] < MIN_SECONDS * SAMPLE_RATE:
        return []
    pieces = chunks(wav)
    clips = []
    for i, piece in enumerate(pieces):
        rel = f"{src.name}.wav" if len(pieces) == 1 else f"{src.name}-{i:02d}.wav"
        save_audio(out_dir / rel, piece, SAMPLE_RATE)
        clips.append(PoolClip(path=rel, source=src.source, licence=src.licence, group=src.group,
                              language=src.language, duration=round(piece.shape[0] / SAMPLE_RATE, 3),
                              kind=src.kind, family=src.family, text=src.text))
    return clips


def audio_files(folder: Path) -> list[Path]:
    """Audio files under `folder`, recursively, sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
