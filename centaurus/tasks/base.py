"""The `Task` protocol that the generic trainer drives, and the strict pydantic base of every recipe section.

A task owns everything that differs between keyword spotting, denoising and ASR: its data and model config
sections, the datasets, batching, the loss, decoding and the evaluation metrics. The trainer owns the loop.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn
from torch.utils.data import Dataset

Batch = dict[str, Any]


class Strict(BaseModel):
    """Recipe sections: unknown keys and values of the wrong type are errors, never silently coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator owned by one training example in one epoch, so crops and augmentation do not depend on
    the order, the worker or the process that loads it (resume and DDP see the same data)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + index)


class EpochItems(Dataset):
    """Training wrapper: keys are (epoch, index), and `prepare(item, generator)` crops and augments."""

    def __init__(self, base: Dataset, prepare, *, seed: int):
        self.base, self.prepare, self.seed = base, prepare, seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        return self.prepare(self.base[index], item_generator(self.seed, epoch, index))

    def lengths(self) -> list[int] | None:
        """The base items' lengths in samples, where the base dataset knows them (before cropping)."""
        return self.base.lengths() if hasattr(self.base, "lengths") else None


class Task(Protocol):
    """What the trainer needs from a task plugin. `metric` names the validation number that picks the best
    checkpoint; `higher_is_better` says which way it goes."""

    name: str
    metric: str
    higher_is_better: bool

    def build_model(self) -> nn.Module: ...

    def model_config(self) -> dict: ...

    def adopt(self, model_config: dict) -> None:
        """Take from a checkpoint's stored model config what the task would otherwise derive from its data."""

    def dataset(self, split: str, *, train: bool) -> Dataset: ...

    def collate(self, items: list) -> Batch: ...

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor: ...

    def loss(self, batch: Batch, outputs: torch.Tensor) -> torch.Tensor: ...

    def decode(self, batch: Batch, outputs: torch.Tensor) -> list: ...

    def evaluate(self, model: nn.Module, split: str, *, device: torch.device, batch_size: int) -> dict: ...

    def plots(self, report: dict, out_dir) -> list: ...

    def latency_samples(self, model: nn.Module) -> int: ...


class AugmentSpec(Strict):
    """`centaurus.data.AugmentConfig` as a recipe section; every effect is off unless its probability is set."""

    noise_dir: str | None = None
    noise_prob: float = 0.0
    snr_db: list[float] = [0.0, 20.0]
    gain_prob: float = 0.0
    gain_db: list[float] = [-6.0, 6.0]
    shift_prob: float = 0.0
    max_shift_s: float = 0.1
    speed_prob: float = 0.0
    speeds: list[float] = [0.9, 1.1]
    reverb_prob: float = 0.0
    rt60_s: list[float] = [0.2, 0.7]
    rir_bank: int = 8

    def enabled(self) -> bool:
        return any(p > 0 for p in (self.noise_prob, self.gain_prob, self.shift_prob, self.speed_prob,
                                   self.reverb_prob))

    def build(self, *, seed: int):
        """An `Augment`, or None when every effect is off."""
        from centaurus.data import Augment, AugmentConfig
        if not self.enabled():
            return None
        fields = self.model_dump()
        for key in ("snr_db", "gain_db", "speeds", "rt60_s"):
            fields[key] = tuple(fields[key])
        return Augment(AugmentConfig(**fields), seed=seed)


def augmented(augment, wav: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply `augment` with randomness drawn from the example's own generator (None: unchanged)."""
    if augment is None:
        return wav
    augment.generator.manual_seed(int(torch.randint(2**62, (), generator=generator)))
    return augment(wav)


def batches(dataset: Dataset, batch_size: int, collate):
    """Plain in-order batches for evaluation."""
    for start in range(0, len(dataset), batch_size):
        yield collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])


class EngineItems(Dataset):
    """A mixing engine's examples as (noisy, `target` field) training items, keyed (epoch, index) like
    `EpochItems`: the denoiser's target waveform, the recogniser's text."""

    def __init__(self, engine, target: str):
        self.engine, self.target = engine, target

    def __len__(self):
        return len(self.engine)

    def __getitem__(self, key):
        example = self.engine[key]
        return example.noisy, getattr(example, self.target)
