"""VoiceBank+DEMAND (Valentini) clean/noisy pairs from a local root, resampled from 48 kHz to 16 kHz.

Layout: `clean_trainset_28spk_wav/`, `noisy_trainset_28spk_wav/`, `clean_testset_wav/`, `noisy_testset_wav/`,
each holding `<speaker>_<utt>.wav` files with the same names in the clean and noisy folder of a split.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from centaurus.audio import SAMPLE_RATE, load_audio
from centaurus.errors import DatasetError

FOLDERS = {
    "train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav"),
    "test": ("clean_testset_wav", "noisy_testset_wav"),
}
LOGS = {"train": "log_trainset.txt", "test": "log_testset.txt"}


@dataclass(frozen=True)
class PairItem:
    """A noisy file and its clean reference, with the same name in the two folders."""

    noisy: Path
    clean: Path


def list_pairs(root: str | Path, *, split: str) -> list[PairItem]:
    """The sorted (noisy, clean) pairs of `split` ("train" or "test"); every name must be in both folders."""
    if split not in FOLDERS:
        raise DatasetError(f"unknown VoiceBank+DEMAND split {split!r}; expected train or test")
    root = Path(root)
    clean_dir, noisy_dir = (root / name for name in FOLDERS[split])
    for folder in (clean_dir, noisy_dir):
        if not folder.is_dir():
            raise DatasetError(f"{root}: not a VoiceBank+DEMAND root: missing folder {folder.name}/ (expected "
                               + ", ".join(f"{c}/ and {n}/" for c, n in FOLDERS.values()) + ")")
    clean = {p.name for p in clean_dir.glob("*.wav")}
    noisy = {p.name for p in noisy_dir.glob("*.wav")}
    if not clean:
        raise DatasetError(f"{clean_dir}: no .wav files")
    unpaired = sorted(clean ^ noisy)
    if unpaired:
        side = clean_dir if unpaired[0] in clean else noisy_dir
        raise DatasetError(f"{side / unpaired[0]}: has no partner of the same name in the other folder")
    return [PairItem(noisy_dir / n, clean_dir / n) for n in sorted(clean)]


def noise_labels(root: str | Path, *, split: str) -> dict[str, str]:
    """{file stem: noise name} from the split's log (`<name> <noise> <snr>` per line, as the corpus ships it);
    empty where the root has no log."""
    path = Path(root) / LOGS[split]
    if not path.is_file():
        return {}
    return {fields[0]: fields[1] for line in path.read_text(errors="replace").splitlines()
            if len(fields := line.split()) >= 2}


class VoiceBankDemand(Dataset):
    """(noisy (L,), clean (L,)) float32 tensors at 16 kHz for one split."""

    def __init__(self, root: str | Path, *, split: str):
        self.items = list_pairs(root, split=split)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.items[i]
        noisy = load_audio(item.noisy, sample_rate=SAMPLE_RATE)
        clean = load_audio(item.clean, sample_rate=SAMPLE_RATE)
        if noisy.shape != clean.shape:
            raise DatasetError(f"{item.noisy}: {noisy.shape[0]} samples but its clean file has {clean.shape[0]}")
        return noisy, clean
