"""A causal, streamable log-mel front end: frame k covers samples [k·hop, k·hop + n_fft), and is emitted as
soon as its window is complete, so it adds n_fft − 1 samples of latency and streams at any chunk size."""
from __future__ import annotations

from typing import Literal

import torch
import torchaudio.functional as AF
from pydantic import Field, model_validator
from torch import nn

from centaurus.layers import ExponentialMeanNorm, StreamingModule, StreamingSequential

from .base import Strict


class LogMel(StreamingModule):
    """(B, 1, L) → (B, n_mels, ⌊(L − n_fft)/hop⌋ + 1) log-mel power frames."""

    def __init__(self, *, sample_rate: int = 16000, n_fft: int = 400, hop: int = 160, n_mels: int = 40):
        super().__init__()
        self.n_fft, self.hop, self.n_mels = n_fft, hop, n_mels
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        # The real DFT as one matrix product: exact, fast for 400-point frames, and exportable to ONNX.
        angle = 2 * torch.pi * torch.outer(torch.arange(n_fft), torch.arange(n_fft // 2 + 1)) / n_fft
        self.register_buffer("dft", torch.cat([torch.cos(angle), -torch.sin(angle)], dim=1), persistent=False)
        fbank = AF.melscale_fbanks(n_fft // 2 + 1, 20.0, sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("fbank", fbank, persistent=False)

    @property
    def latency_samples(self) -> int:
        return self.n_fft - 1

    def _frames(self, x: torch.Tensor) -> torch.Tensor:
        length = int(x.shape[-1])  # a plain int under tracing too, so exported graphs get fixed indices
        if length < self.n_fft:
            return x.new_zeros(x.shape[0], self.n_mels, 0)
        starts = torch.arange((length - self.n_fft) // self.hop + 1, device=x.device) * self.hop
        with torch.autocast(x.device.type, enabled=False):  # the DFT and logs stay in float32
            frames = x[:, 0].float()[:, starts[:, None] + torch.arange(self.n_fft, device=x.device)] * self.window
            spectrum = (frames @ self.dft).unflatten(-1, (2, -1))                       # (B, K, re|im, F)
            power = spectrum.pow(2).sum(-2)
            return (power @ self.fbank + 1e-6).log().transpose(1, 2)

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        return None  # no pending samples yet

    def forward_full(self, x):
        return self._frames(x)

    def forward_chunk(self, x, state):
        x = x if state is None else torch.cat([state, x], dim=-1)
        count = (x.shape[-1] - self.n_fft) // self.hop + 1 if x.shape[-1] >= self.n_fft else 0
        return self._frames(x), x[..., count * self.hop:]


class SpecAugmentSpec(Strict):
    """SpecAugment (Park et al., 2019) on the normalised log-mel frames: per example, `freq_masks` bands of up
    to `freq_width` mel bins and `time_masks` spans of up to `time_width` frames (and at most `time_fraction` of
    the batch's frames) are set to 0, the per-band mean after the front end's BatchNorm."""

    freq_masks: int = Field(2, ge=0)
    freq_width: int = Field(8, ge=0)
    time_masks: int = Field(2, ge=0)
    time_width: int = Field(40, ge=0)
    time_fraction: float = Field(0.2, ge=0, le=1)


class SpecAugment(StreamingModule):
    """(B, F, T) → (B, F, T): random masks in training mode, the identity in eval mode and when streaming."""

    def __init__(self, spec: SpecAugmentSpec):
        super().__init__()
        self.spec = spec

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        return None

    def forward_full(self, x):
        if not self.training:
            return x
        spec = self.spec
        for _ in range(spec.freq_masks):
            x = AF.mask_along_axis_iid(x, spec.freq_width, 0.0, axis=1)
        for _ in range(spec.time_masks):
            x = AF.mask_along_axis_iid(x, spec.time_width, 0.0, axis=2, p=spec.time_fraction)
        return x

    def forward_chunk(self, x, state):
        return x, state


HOP = 160
N_FFT = 400
N_MELS = 40


class ClassifierSpec(Strict):
    """`ClassifierConfig` without `num_classes` (the data task decides) and `in_channels` (the front end
    decides), as a recipe's model section; 'logmel' puts a causal 40-band log-mel front end (25 ms windows,
    10 ms hop) before it. Tasks subclass it to change the defaults or add task fields (ASR's tokens)."""

    frontend: Literal["raw", "logmel"] = "logmel"
    channels: list[int] = [32, 64, 64, 128]
    downsample: list[int] = [4, 4, 2, 2]
    mode: list[str] = ["full", "s5"]
    num_states: int = 16
    state_blocks: int = 4
    downsample_mode: Literal["downsampling", "average", "subsampling"] = "downsampling"
    norm: Literal["batch", "layer"] | None = "batch"
    postact: str | None = "relu"
    dropout: float | None = None
    residual: bool = False
    ffn: int = Field(0, ge=0)
    discretization: str = "simplified"
    projection_init: Literal["reference", "random"] = "reference"
    dt_min: float = Field(1e-3, gt=0)
    dt_max: float = Field(1e-1, gt=0)
    spec_augment: SpecAugmentSpec | None = None  # training-time masking of the log-mel frames
    # Time constant (frames) of a causal running mean subtracted from each log-mel band: a voice's or a
    # channel's average spectrum leaves the features. None: the raw log-mel frames.
    mean_norm_frames: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check_options(self):
        if self.ffn and not self.residual:
            raise ValueError("ffn adds a feed-forward block after each residual SSM block; it needs residual: true")
        for option in ("spec_augment", "mean_norm_frames"):
            if getattr(self, option) is not None and self.frontend != "logmel":
                raise ValueError(f"{option} works on log-mel frames; it needs frontend: logmel")
        return self


FRONTEND_FIELDS = {"frontend", "spec_augment", "mean_norm_frames"}  # the model section's front-end part


def classifier_config(spec: ClassifierSpec, *, num_classes: int) -> dict:
    """`ClassifierConfig` fields from a KWS/ASR model section: `in_channels` follows the front end."""
    fields = spec.model_dump(include=set(ClassifierSpec.model_fields) - FRONTEND_FIELDS)
    return dict(in_channels=N_MELS if spec.frontend == "logmel" else 1, num_classes=num_classes, **fields)


def frontend_config(spec: ClassifierSpec) -> dict:
    """The front-end part of a KWS/ASR model config (stored in checkpoints)."""
    return spec.model_dump(include=FRONTEND_FIELDS)


def with_frontend(config: dict, network: StreamingModule) -> StreamingSequential:
    """`network` behind the front end of a model `config` ('raw' passes the waveform through). Log-mel values
    sit far from zero; a per-band BatchNorm (pointwise in time, so still causal) brings them to unit scale."""
    if config["frontend"] != "logmel":
        return StreamingSequential(network)
    first = [LogMel(n_fft=N_FFT, hop=HOP, n_mels=N_MELS)]
    if config.get("mean_norm_frames") is not None:  # absent from checkpoints older than the option
        first.append(ExponentialMeanNorm(N_MELS, config["mean_norm_frames"]))
    first.append(nn.BatchNorm1d(N_MELS))
    if config["spec_augment"] is not None:
        first.append(SpecAugment(SpecAugmentSpec(**config["spec_augment"])))
    return StreamingSequential(*first, network)


def frontend_latency(model: StreamingSequential) -> int:
    """Samples the last output waits for: the front end's window plus the network's down-sampling window."""
    front, network = model.layers[0], model.layers[-1]
    if not isinstance(front, LogMel):
        return network.downsample_factor - 1
    return front.latency_samples + (network.downsample_factor - 1) * front.hop
