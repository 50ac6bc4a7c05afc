"""Denoising, waveform in and waveform out, by a causal `CentaurusHourglass`: on the waveform itself
(`frontend: waveform`, algorithmic latency R − 1 samples, R = product of `model.downsample`), or masking the
input's short-time spectrum (`frontend: stft`, a `SpectralMasker`, whose output is delayed by n_fft − hop
samples; latency n_fft − 1 + hop·(R − 1)). Both are set by the recipe. Loss: L1 + multi-resolution STFT
(+ optional −SI-SDR), against the clean speech delayed as the output is. Metrics: PESQ-WB/NB, STOI, SI-SDR, each
also for the noisy input as baseline.

Training data: the VoiceBank-layout pairs under `data.root`, or, with a `data.engine` section, examples drawn
afresh by the dynamic mixing engine (`centaurus.data.mixing`); `data.root` then holds the real validation set
(`denoise/{noisy,clean}/<id>.wav` and `denoise/pairs.csv`), used for both validation and test."""
from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from centaurus.audio import SAMPLE_RATE, load_audio
from centaurus.data import PairItem, VoiceBankDemand, noise_labels
from centaurus.data.augment import random_eq
from centaurus.data.mixing import EngineSpec, MixingEngine
from centaurus.errors import DatasetError, RecipeError
from centaurus.layers.stft import check_frames
from centaurus.models import CentaurusHourglass, HourglassConfig, MaskerConfig, SpectralMasker

from .base import AugmentSpec, EngineItems, EpochItems, Strict, augmented
from .losses import multi_resolution_stft_loss, si_sdr


class DenoiseData(Strict):
    root: str  # VoiceBank layout; with `engine`, the real validation set (see the module docstring)
    segment_samples: int = 32768  # training crop; rounded down to a multiple of R
    valid_count: int = 50  # the last pairs of the train split are held out for validation
    remix: float = 0.0  # dynamic mixing: chance that a training item's noise comes from another training pair
    remix_db: float = 5.0  # ... scaled by a gain drawn uniformly within ± this many dB
    remix_eq_db: float = Field(0.0, ge=0)  # ... and re-coloured by a random smooth EQ within ± this many dB (0: off)
    engine: EngineSpec | None = None  # train on the mixing engine (segment_samples long examples) instead of root


class DenoiseModel(Strict):
    channels: list[int] = [16, 32, 64, 96]
    downsample: list[int] = [4, 4, 2, 2]
    mode: list[str] = ["s5"]
    num_states: int = 16
    state_blocks: int = 4
    norm: Literal["batch", "layer"] | None = "layer"
    postact: str | None = "silu"
    discretization: str = "simplified"
    projection_init: Literal["reference", "random"] = "reference"
    stem: int | None = None  # full-rate width (see `HourglassConfig.stem`)
    skip: bool = False  # D skip term in every SSM layer (see `HourglassConfig.skip`)
    block: Literal["plain", "gated"] = "plain"  # see `HourglassConfig.block`
    frontend: Literal["waveform", "stft"] = "waveform"  # stft: the hourglass masks the STFT (`SpectralMasker`)
    n_fft: int = Field(512, ge=2)  # stft frame length (32 ms): frequency resolution, and the latency
    hop: int = Field(128, ge=1)  # stft frame step; must divide n_fft at least twice
    # stft: also feed the log power less its running mean per bin, over about this many frames (`ExponentialMeanNorm`)
    mean_norm_frames: float | None = Field(None, gt=0)
    bands: int | None = Field(None, ge=1)  # stft: also feed the log power of this many mel bands
    # stft: read and gain ERB bands instead of bins (DeepFilterNet's and RNNoise's split) ...
    erb_bands: int | None = Field(None, ge=2)
    df_bins: int = Field(0, ge=0)  # ... plus a deep filter on this many low bins ...
    df_order: int = Field(3, ge=1)  # ... over this many frames

    @model_validator(mode="after")
    def _check_frames(self):
        if self.frontend == "stft":
            check_frames(self.n_fft, self.hop)
        elif self.mean_norm_frames is not None or self.bands is not None or self.erb_bands is not None:
            raise ValueError("mean_norm_frames, bands and erb_bands need frontend: stft (they are STFT features)")
        return self


class DenoiseLoss(Strict):
    l1_weight: float = 1.0
    stft_weight: float = 1.0
    stft_log_weight: float = 1.0  # weight of the log-magnitude L1 inside the STFT loss
    stft_power_weight: float = 0.0  # weight of the compressed-magnitude MSE inside the STFT loss
    stft_power: float = Field(0.3, gt=0)  # ... and its compression exponent
    si_sdr_weight: float = 0.0


class _Split(torch.utils.data.Dataset):
    def __init__(self, base, indices):
        self.base, self.indices = base, indices
        self.labels = getattr(base, "labels", None)  # the real pairs' subsets

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.base[self.indices[i]]

    @property
    def items(self):
        return [self.base.items[i] for i in self.indices]


class RealPairs(torch.utils.data.Dataset):
    """The real validation pairs: `root/denoise/pairs.csv` (columns id and subset, at least) naming
    `root/denoise/noisy/<id>.wav` and `root/denoise/clean/<id>.wav`. `labels` maps each id to its subset."""

    def __init__(self, root: str | Path):
        folder = Path(root) / "denoise"
        table = folder / "pairs.csv"
        if not table.is_file():
            raise DatasetError(f"{root}: not a real validation set (no denoise/pairs.csv); build it with "
                               "`centaurus data validation`")
        with open(table, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"id", "subset"} <= set(rows[0]):
            raise DatasetError(f"{table}: needs the columns id and subset and at least one row")
        self.items = [PairItem(folder / "noisy" / f"{r['id']}.wav", folder / "clean" / f"{r['id']}.wav")
                      for r in rows]
        self.labels = {r["id"]: r["subset"] for r in rows}

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        noisy, clean = load_audio(item.noisy), load_audio(item.clean)
        if noisy.shape != clean.shape:
            raise DatasetError(f"{item.noisy}: {noisy.shape[0]} samples but its clean file has {clean.shape[0]}")
        return noisy, clean


def _pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    return F.pad(x, (0, -x.shape[-1] % multiple))


class DenoiseTask:
    name, metric, higher_is_better = "denoise", "si_sdr", True

    def __init__(self, *, data: DenoiseData, model: DenoiseModel, loss: DenoiseLoss, augment: AugmentSpec,
                 seed: int):
        self.data, self.model_spec, self.loss_spec, self.seed = data, model, loss, seed
        if data.engine is not None and augment.enabled():
            raise RecipeError("augment: the mixing engine (data.engine) draws its own noise, rooms and devices; "
                              "drop the augment section")
        self.augment = augment.build(seed=seed)  # applied to the noisy input only
        architecture = self.architecture()
        self.factor = architecture.downsample_factor
        self.segment = max(self.factor, data.segment_samples // self.factor * self.factor)
        self.delay = getattr(architecture, "delay_samples", 0)  # output lag behind the input

    def model_config(self) -> dict:
        return dict(in_channels=1, out_channels=1, **self.model_spec.model_dump())

    def adopt(self, model_config: dict) -> None:
        """The recipe alone gives the whole model config."""

    def architecture(self) -> HourglassConfig | MaskerConfig:
        config = self.model_config()
        frontend, n_fft, hop = config.pop("frontend"), config.pop("n_fft"), config.pop("hop")
        features = {k: config.pop(k) for k in ("mean_norm_frames", "bands", "erb_bands", "df_bins", "df_order")}
        if frontend == "stft":
            return MaskerConfig(n_fft=n_fft, hop=hop, core=HourglassConfig(**config), **features)
        return HourglassConfig(**config)

    def build_model(self) -> CentaurusHourglass | SpectralMasker:
        architecture = self.architecture()
        if isinstance(architecture, MaskerConfig):
            return SpectralMasker(architecture)
        return CentaurusHourglass(architecture)

    def latency_samples(self, model) -> int:
        return model.latency_samples

    def _pairs(self, split: str):
        if self.data.engine is not None:  # validation: valid_count pairs spread over the whole set (its subsets)
            pairs = RealPairs(self.data.root)
            if split == "test" or self.data.valid_count >= len(pairs):
                return pairs
            picked = [i * len(pairs) // self.data.valid_count for i in range(self.data.valid_count)]
            return _Split(pairs, picked)
        if split == "test":
            return VoiceBankDemand(self.data.root, split="test")
        base = VoiceBankDemand(self.data.root, split="train")
        cut = max(len(base) - self.data.valid_count, 1)
        return _Split(base, range(cut) if split == "train" else range(cut, len(base)))

    def _remixed(self, clean: torch.Tensor, pool, generator) -> torch.Tensor:
        """clean + the noise (noisy − clean) of a random training pair, tiled or cut to length at a random
        offset and scaled by a random gain: new speech/noise/SNR combinations every epoch."""
        other_noisy, other_clean = pool[int(torch.randint(len(pool), (), generator=generator))]
        noise = other_noisy - other_clean
        noise = noise.repeat(-(-clean.shape[0] // noise.shape[0]))
        start = int(torch.randint(noise.shape[0] - clean.shape[0] + 1, (), generator=generator))
        db = float(torch.empty(()).uniform_(-self.data.remix_db, self.data.remix_db, generator=generator))
        noise = noise[start:start + clean.shape[0]]
        if self.data.remix_eq_db:
            noise = random_eq(noise, self.data.remix_eq_db, generator)
        return clean + 10 ** (db / 20) * noise

    def _crop(self, item, generator, pool=None):
        noisy, clean = item
        if pool is not None and self.data.remix and float(torch.rand((), generator=generator)) < self.data.remix:
            noisy = self._remixed(clean, pool, generator)
        if noisy.shape[0] < self.segment:
            noisy, clean = (F.pad(w, (0, self.segment - w.shape[0])) for w in (noisy, clean))
        start = int(torch.randint(noisy.shape[0] - self.segment + 1, (), generator=generator))
        noisy, clean = noisy[start:start + self.segment], clean[start:start + self.segment]
        return augmented(self.augment, noisy, generator), clean

    def dataset(self, split: str, *, train: bool):
        if train and self.data.engine is not None:
            return EngineItems(MixingEngine(self.data.engine, segment_samples=self.segment, seed=self.seed), "target")
        base = self._pairs(split)
        return EpochItems(base, functools.partial(self._crop, pool=base), seed=self.seed) if train else base

    def collate(self, items):
        return {"noisy": torch.stack([n for n, _ in items])[:, None], "clean": torch.stack([c for _, c in items])}

    def forward(self, model, batch):
        return model(batch["noisy"])[:, 0]

    def loss(self, batch, outputs):
        est, ref, spec = outputs.float()[:, self.delay:], batch["clean"], self.loss_spec
        ref = ref[:, : est.shape[-1]]
        total = spec.l1_weight * (est - ref).abs().mean() + spec.stft_weight * multi_resolution_stft_loss(
            est, ref, log_weight=spec.stft_log_weight, power_weight=spec.stft_power_weight, power=spec.stft_power)
        if spec.si_sdr_weight:
            total = total - spec.si_sdr_weight * si_sdr(est, ref).mean()
        return total

    def decode(self, batch, outputs) -> list[torch.Tensor]:
        return list(outputs.detach().float()[:, self.delay:].cpu())

    @torch.no_grad()
    def enhance(self, model, noisy: torch.Tensor, *, device) -> torch.Tensor:
        """(L,) → (L,): one shot, padded past the output's delay to a multiple of R, then cut to align."""
        x = _pad_to(F.pad(noisy, (0, self.delay)), self.factor)[None, None].to(device)
        return model(x)[0, 0, self.delay: self.delay + noisy.shape[0]].float().cpu()

    @torch.no_grad()
    def evaluate(self, model, split, *, device, batch_size):
        """Mean scores of the enhanced and the noisy input; also per noise type (`by_noise`) where the corpus's
        log names the noise of every file."""
        model.eval()
        pairs = self._pairs(split)
        rows, example = [], None
        for noisy, clean in pairs:
            enhanced = self.enhance(model, noisy, device=device)
            rows.append((speech_scores(clean.numpy(), enhanced.numpy()), speech_scores(clean.numpy(), noisy.numpy())))
            example = example or {"noisy": noisy.numpy(), "enhanced": enhanced.numpy(), "clean": clean.numpy()}
        report = {"metrics": _mean_scores(rows), "_example": example}
        labels = getattr(pairs, "labels", None) or noise_labels(self.data.root,
                                                                split="test" if split == "test" else "train")
        noises = [labels.get(item.noisy.stem) for item in pairs.items]
        if noises and all(noises):
            report["by_noise"] = {noise: _mean_scores([r for r, n in zip(rows, noises) if n == noise])
                                  for noise in sorted(set(noises))}
        return report

    def plots(self, report, out_dir) -> list[Path]:
        if not report.get("_example"):
            return []
        from .plots import plot_spectrograms  # matplotlib: 30 MB that inference never needs
        return [plot_spectrograms(report["_example"], Path(out_dir) / "spectrograms.png", sample_rate=SAMPLE_RATE)]


SCORES = ("pesq_wb", "pesq_nb", "stoi", "si_sdr")


def _mean_scores(rows: list[tuple[dict, dict]]) -> dict[str, float]:
    """Each score's mean over the utterances that have it (PESQ skips some), for the enhanced speech and, as
    `noisy_<score>`, for the input; plus the utterance count."""
    means = {}
    for prefix, side in (("", 0), ("noisy_", 1)):
        for key in SCORES:
            values = [row[side][key] for row in rows if key in row[side]]
            means[prefix + key] = float(np.mean(values)) if values else float("nan")
    return {**means, "examples": len(rows)}


def speech_scores(clean: np.ndarray, wav: np.ndarray) -> dict[str, float]:
    """PESQ (skipped where the reference has no detectable speech), STOI and SI-SDR of one utterance."""
    from pesq import PesqError, pesq
    from pystoi import stoi  # with scipy.signal: 1 s and 70 MB that inference never needs
    out = {"stoi": float(stoi(clean, wav, SAMPLE_RATE, extended=False)),
           "si_sdr": float(si_sdr(torch.from_numpy(wav), torch.from_numpy(clean)))}
    for key, mode in (("pesq_wb", "wb"), ("pesq_nb", "nb")):
        value = pesq(SAMPLE_RATE, clean, wav, mode, on_error=PesqError.RETURN_VALUES)
        if value >= -0.5:  # negative error codes mean PESQ could not score the pair
            out[key] = float(value)
    return out
