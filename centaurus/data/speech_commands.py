"""Google Speech Commands v1/v2 from a local root, with the 35-, 12- and 10-class tasks, and any dataset in
the same layout whose classes are its own word folders (task "folders").

Layout: `<word>/<speaker>_nohash_<n>.wav` (1 s, 16 kHz), `validation_list.txt`, `testing_list.txt`
(paths relative to the root) and `_background_noise_/*.wav`. Train is every word clip in neither list.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from centaurus.audio import SAMPLE_RATE, audio_info, load_audio, load_segment
from centaurus.errors import DatasetError

CLIP_SAMPLES = SAMPLE_RATE
BACKGROUND = "_background_noise_"
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
SPLITS = ("train", "validation", "test")

SC10_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SC_V1_WORDS = tuple(sorted(SC10_WORDS + (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")))
SC35_WORDS = tuple(sorted(SC_V1_WORDS + ("backward", "follow", "forward", "learn", "visual")))
SC12_CLASSES = SC10_WORDS + (UNKNOWN, SILENCE)
# All 35 words plus the two rejection classes: what a spotter trained on the mixing engine needs, where other
# words, running speech and noise are plentiful (Speech Commands itself has no other words to fill _unknown_).
SC37_CLASSES = SC35_WORDS + (UNKNOWN, SILENCE)
FOLDERS = "folders"
TASKS = ("35", "37", "12", "10", FOLDERS)


@dataclass(frozen=True)
class ClipItem:
    """One example: a word clip (offset 0), or a 1 s `_silence_` cut starting at `offset` samples of a noise file."""

    path: Path
    label: str
    offset: int = 0


def task_classes(task: str, root: str | Path | None = None) -> tuple[str, ...]:
    """Class names of a task, in label-index order: "35" (all v2 words), "37" (those + unknown + silence), "12"
    (SC10 + unknown + silence), "10", or "folders": the word folders under `root`, sorted, whatever their names
    (folders named `_unknown_` and `_silence_` hold the classes that a spotter never reports)."""
    if task not in TASKS:
        raise DatasetError(f"unknown Speech Commands task {task!r}; expected one of {', '.join(TASKS)}")
    if task == FOLDERS:
        if root is None:
            raise DatasetError("the 'folders' task takes its classes from a dataset root; none given")
        return tuple(word_folders(root, any_names=True))
    return {"35": SC35_WORDS, "37": SC37_CLASSES, "12": SC12_CLASSES, "10": SC10_WORDS}[task]


def _read_list(root: Path, name: str) -> set[str]:
    path = root / name
    if not path.is_file():
        raise DatasetError(f"{root}: not a Speech Commands root: missing {name} (expected <word>/*.wav, "
                           f"validation_list.txt, testing_list.txt and {BACKGROUND}/)")
    entries = {line.strip() for line in path.read_text().splitlines() if line.strip()}
    bad = sorted(e for e in entries if e.count("/") != 1 or not e.endswith(".wav"))
    if bad:
        raise DatasetError(f"{path}: malformed entry {bad[0]!r}; expected <word>/<file>.wav")
    return entries


def word_folders(root: str | Path, *, any_names: bool = False) -> list[str]:
    """The word folders present under `root` (v1 has 30, v2 has 35). Unless `any_names`, a folder that is not a
    Speech Commands word is an error (a wrong root, most likely); hidden folders are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: Speech Commands root not found (expected a folder of <word>/*.wav)")
    words = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != BACKGROUND
                   and not p.name.startswith("."))
    unknown = [] if any_names else [w for w in words if w not in SC35_WORDS]
    if not words or unknown:
        raise DatasetError(f"{root}: not a Speech Commands root: "
                           + (f"unexpected folder {unknown[0]!r} (for words of your own, set data.task: "
                              f"{FOLDERS})" if unknown else "no word folders"))
    return words


def _word_items(root: Path, split: str, *, any_names: bool = False) -> list[tuple[str, str]]:
    """Sorted (relative path, word) pairs of the word clips in `split`, following the official lists."""
    words = word_folders(root, any_names=any_names)
    validation, testing = _read_list(root, "validation_list.txt"), _read_list(root, "testing_list.txt")
    every = sorted(f"{w}/{p.name}" for w in words for p in (root / w).glob("*.wav"))
    present = set(every)
    for name, listed in (("validation_list.txt", validation), ("testing_list.txt", testing)):
        missing = sorted(listed - present)
        if missing:
            raise DatasetError(f"{root / name}: lists {missing[0]!r}, which is not under {root}")
    chosen = {"validation": validation, "test": testing}.get(split)
    keep = [r for r in every if (r in chosen if chosen is not None else r not in validation and r not in testing)]
    return [(r, r.split("/", 1)[0]) for r in keep]


def _silence_items(root: Path, count: int, seed: str) -> list[ClipItem]:
    """`count` deterministic 1 s cuts from the background-noise files, spread over them in turn."""
    folder = root / BACKGROUND
    files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    if count and not files:
        raise DatasetError(f"{folder}: the 12-class task cuts {SILENCE} from background-noise wavs; none found")
    rng = random.Random(seed)
    frames = [audio_info(f).frames for f in files]
    short = [f for f, n in zip(files, frames) if n < CLIP_SAMPLES]
    if short:
        raise DatasetError(f"{short[0]}: background noise shorter than 1 s")
    items = []
    for i in range(count):
        k = i % len(files)
        items.append(ClipItem(files[k], SILENCE, rng.randrange(frames[k] - CLIP_SAMPLES + 1)))
    return items


def list_items(root: str | Path, *, split: str, task: str = "35", silence_fraction: float = 0.1,
               unknown_fraction: float = 0.1, seed: int = 0, classes: tuple[str, ...] | None = None
               ) -> list[ClipItem]:
    """The examples of one split of one task, sorted and deterministic.

    Task "12" follows the published benchmark (TensorFlow's `input_data.py`): `_unknown_` draws
    `unknown_fraction` x (number of SC10 clips) clips from the other words, and `_silence_` adds
    `silence_fraction` x that number of 1 s cuts from `_background_noise_`. Task "37" adds those `_silence_`
    cuts to all 35 words (it has no other words for `_unknown_`). Tasks "35", "10" and "folders" keep only their
    own words: for "folders", `classes` (a trained model's), else every folder.
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown Speech Commands split {split!r}; expected one of {', '.join(SPLITS)}")
    classes = classes or task_classes(task, root)
    root = Path(root)
    pairs = _word_items(root, split, any_names=task == FOLDERS)
    known = [ClipItem(root / r, w) for r, w in pairs if w in classes]
    if task not in ("12", "37"):
        return known
    rng = random.Random(f"{seed}-{split}")
    others = [ClipItem(root / r, UNKNOWN) for r, w in pairs if w not in classes]
    n_unknown = min(len(others), round(unknown_fraction * len(known)))
    unknown = sorted(rng.sample(others, n_unknown), key=lambda it: it.path)
    silence = _silence_items(root, round(silence_fraction * len(known)), seed=f"{seed}-{split}-silence")
    return known + unknown + silence


def fit_clip(wav: torch.Tensor, samples: int = CLIP_SAMPLES) -> torch.Tensor:
    """Zero-pad at the end or crop a (L,) clip to exactly (samples,)."""
    if wav.shape[0] >= samples:
        return wav[:samples]
    return torch.nn.functional.pad(wav, (0, samples - wav.shape[0]))


class SpeechCommands(Dataset):
    """(wav (16000,) float32 at 16 kHz, label index into `self.classes`) for one split of one task."""

    def __init__(self, root: str | Path, *, split: str, task: str = "35", silence_fraction: float = 0.1,
                 unknown_fraction: float = 0.1, seed: int = 0, classes: tuple[str, ...] | None = None):
        self.classes = tuple(classes or task_classes(task, root))
        self.items = list_items(root, split=split, task=task, silence_fraction=silence_fraction,
                                unknown_fraction=unknown_fraction, seed=seed, classes=self.classes)
        self._index = {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        item = self.items[i]
        if item.label == SILENCE:
            wav = load_segment(item.path, offset=item.offset, frames=CLIP_SAMPLES, sample_rate=SAMPLE_RATE)
        else:
            wav = load_audio(item.path, sample_rate=SAMPLE_RATE)
        return fit_clip(wav), self._index[item.label]
