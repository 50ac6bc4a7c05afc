"""Manifests for users' own data: a TSV (.tsv) or CSV (.csv) file with a header row.

The header is `path` plus exactly one of `label` (classification), `text` (ASR) or `clean_path` (enhancement:
`path` is the noisy file). Relative paths are resolved against the manifest's folder.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from centaurus.audio import load_audio
from centaurus.data.text import normalize_text
from centaurus.errors import DatasetError

KINDS = ("label", "text", "clean_path")


@dataclass(frozen=True)
class ManifestRow:
    """One manifest line: `path` and its target (a label, a normalised transcript or a clean path)."""

    path: Path
    target: str | Path


@dataclass(frozen=True)
class Manifest:
    """The rows of a manifest and which kind of target they carry ("label", "text" or "clean_path")."""

    kind: str
    rows: list[ManifestRow]

    def labels(self) -> list[str]:
        """Sorted distinct labels of a "label" manifest (the label-index order)."""
        return sorted({str(r.target) for r in self.rows})


def read_manifest(path: str | Path) -> Manifest:
    """Parse and check a manifest; a missing file, bad header, empty field or missing audio file is an error."""
    path = Path(path)
    delimiter = {".tsv": "\t", ".csv": ","}.get(path.suffix.lower())
    if delimiter is None:
        raise DatasetError(f"{path}: a manifest must be a .tsv or .csv file")
    if not path.is_file():
        raise DatasetError(f"{path}: manifest not found")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        kinds = [k for k in KINDS if header and k in header]
        if not header or "path" not in header or len(kinds) != 1 or len(header) != 2:
            raise DatasetError(f"{path}: header must be 'path' and one of {', '.join(KINDS)}; got {header}")
        kind = kinds[0]
        i_path, i_target = header.index("path"), header.index(kind)
        rows = []
        for n, fields in enumerate(reader, 2):
            if not any(fields):
                continue
            if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
                raise DatasetError(f"{path}:{n}: expected 2 non-empty fields, got {fields}")
            rows.append(_row(path, n, kind, fields[i_path].strip(), fields[i_target].strip()))
    if not rows:
        raise DatasetError(f"{path}: no rows after the header")
    return Manifest(kind, rows)


def _row(manifest: Path, n: int, kind: str, audio: str, target: str) -> ManifestRow:
    audio_path = manifest.parent / audio
    if not audio_path.is_file():
        raise DatasetError(f"{manifest}:{n}: audio file {audio_path} not found")
    if kind == "clean_path":
        clean = manifest.parent / target
        if not clean.is_file():
            raise DatasetError(f"{manifest}:{n}: clean file {clean} not found")
        return ManifestRow(audio_path, clean)
    return ManifestRow(audio_path, normalize_text(target) if kind == "text" else target)


class ManifestDataset(Dataset):
    """Items at `sample_rate` Hz: (wav (L,), label index) for "label" manifests, (wav (L,), text) for "text",
    (noisy (L,), clean (L,)) for "clean_path"."""

    def __init__(self, path: str | Path, *, sample_rate: int = 16000):
        self.manifest = read_manifest(path)
        self.sample_rate = sample_rate
        self.classes = self.manifest.labels() if self.manifest.kind == "label" else []
        self._index = {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.manifest.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int | str | torch.Tensor]:
        row = self.manifest.rows[i]
        wav = load_audio(row.path, sample_rate=self.sample_rate)
        if self.manifest.kind == "label":
            return wav, self._index[str(row.target)]
        if self.manifest.kind == "text":
            return wav, str(row.target)
        return wav, load_audio(row.target, sample_rate=self.sample_rate)
