"""Per-keyword thresholds stored in a keyword spotter's checkpoint: the spotter streams real audio without
keywords (and, if given, keyword clips) exactly as `kws listen` would, `calibrate_thresholds` picks the
thresholds for a false-accept target, and config.json gets them (`"thresholds"`), written atomically.
No torch here when the spotter is the ONNX one."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..audio.files import SAMPLE_RATE, iter_samples
from ..errors import CheckpointError, DatasetError
from ..tasks.detection import StreamScores

SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def read_samples(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole file as float32 mono at `sample_rate`."""
    blocks = list(iter_samples(path, block_samples=60 * sample_rate, sample_rate=sample_rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def negative_scores(spotter, folder: str | Path) -> list[StreamScores]:
    """The spotter's posteriors over every recording under `folder` (each its own stream)."""
    files = _audio_files(Path(folder)) if Path(folder).is_dir() else []
    if not files:
        raise DatasetError(f"{folder}: no recordings ({', '.join(SUFFIXES)}) to count false accepts on")
    return [spotter.scores(read_samples(f, spotter.sample_rate)) for f in files]


def positive_clips(folder: str | Path, keywords: list[str]) -> list[tuple[Path, str]]:
    """(clip, keyword) for a Speech Commands-layout folder: `<keyword>/<clip>` for each keyword of the model
    that it has a folder for; only the clips of its `testing_list.txt` where it has one (the test split)."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder of keyword clips")
    listed = root / "testing_list.txt"
    if listed.is_file():
        names = [line.strip() for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()]
        clips = [(root / n, n.split("/")[0]) for n in names if n.split("/")[0] in keywords]
    else:
        clips = [(p, k) for k in keywords for p in _audio_files(root / k)]
    if not clips:
        raise DatasetError(f"{root}: no clips in folders named after the model's keywords")
    return clips


def positive_scores(spotter, folder: str | Path) -> list[StreamScores]:
    """The spotter's posteriors over each keyword clip (each streamed alone, then flushed)."""
    keywords = [c for c, a in zip(spotter.decisions.classes, spotter.decisions.active) if a]
    return [spotter.scores(read_samples(p, spotter.sample_rate), keyword=k) for p, k in
            positive_clips(folder, keywords)]


def store_thresholds(checkpoint: str | Path, thresholds: dict[str, float], calibration: dict) -> Path:
    """Put `thresholds` and how they were found into the checkpoint folder's config.json, atomically."""
    path = Path(checkpoint) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: cannot read the checkpoint config ({err})") from None
    if not isinstance(config, dict) or config.get("task") != "kws":
        raise CheckpointError(f"{path}: not a keyword spotter's checkpoint config")
    config["thresholds"] = {k: round(float(v), 4) for k, v in thresholds.items()}
    config["calibration"] = calibration
    write_text(path, json.dumps(config, indent=1) + "\n")
    return path
