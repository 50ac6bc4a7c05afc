"""LibriSpeech from a local root: `<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac` with transcripts
in `<speaker>-<chapter>.trans.txt` (one `<utt-id> <TEXT>` line per file). 16 kHz flac."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from centaurus.audio import SAMPLE_RATE, audio_info, load_audio
from centaurus.data.text import normalize_text
from centaurus.errors import DatasetError

SPLITS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean",
          "test-other")


@dataclass(frozen=True)
class Utterance:
    """One utterance: audio path, ids and the normalised transcript (see `normalize_text`)."""

    path: Path
    speaker: str
    chapter: str
    utt_id: str
    text: str


def _read_transcripts(trans: Path) -> dict[str, str]:
    out = {}
    for n, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        utt_id, _, text = line.strip().partition(" ")
        if not text:
            raise DatasetError(f"{trans}:{n}: malformed line {line!r}; expected '<utterance-id> <TEXT>'")
        out[utt_id] = normalize_text(text)
    return out


def list_utterances(root: str | Path, *, split: str) -> list[Utterance]:
    """All utterances of `split` under `root` (the folder that holds the split folders), sorted by id."""
    if split not in SPLITS:
        raise DatasetError(f"unknown LibriSpeech split {split!r}; expected one of {', '.join(SPLITS)}")
    folder = Path(root) / split
    if not folder.is_dir():
        raise DatasetError(f"{Path(root)}: not a LibriSpeech root: missing {split}/ "
                           "(expected <split>/<speaker>/<chapter>/*.flac and <speaker>-<chapter>.trans.txt)")
    utterances = []
    for chapter_dir in sorted(p for p in folder.glob("*/*") if p.is_dir()):
        speaker, chapter = chapter_dir.parent.name, chapter_dir.name
        trans = chapter_dir / f"{speaker}-{chapter}.trans.txt"
        if not trans.is_file():
            raise DatasetError(f"{chapter_dir}: missing transcript {trans.name}")
        texts = _read_transcripts(trans)
        flacs = {p.stem: p for p in chapter_dir.glob("*.flac")}
        for utt_id in sorted(set(texts) | set(flacs)):
            if utt_id not in flacs:
                raise DatasetError(f"{trans}: lists {utt_id}, but {utt_id}.flac is missing")
            if utt_id not in texts:
                raise DatasetError(f"{flacs[utt_id]}: no transcript line in {trans.name}")
            utterances.append(Utterance(flacs[utt_id], speaker, chapter, utt_id, texts[utt_id]))
    if not utterances:
        raise DatasetError(f"{folder}: no <speaker>/<chapter>/*.flac utterances")
    return utterances


class LibriSpeech(Dataset):
    """(wav (L,) float32 at 16 kHz, normalised transcript) for one or more splits."""

    def __init__(self, root: str | Path, *, splits: tuple[str, ...] | list[str]):
        self.items = [u for s in splits for u in list_utterances(root, split=s)]
        self._lengths: list[int] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str]:
        item = self.items[i]
        return load_audio(item.path, sample_rate=SAMPLE_RATE), item.text

    def lengths(self) -> list[int]:
        """Samples per utterance at 16 kHz, from the file headers (a corrupt one is a one-line error)."""
        if self._lengths is None:
            self._lengths = [round(info.frames * SAMPLE_RATE / info.sample_rate)
                             for info in map(audio_info, (u.path for u in self.items))]
        return self._lengths
