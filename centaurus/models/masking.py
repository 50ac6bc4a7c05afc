"""`SpectralMasker`: a causal hourglass that denoises by masking the input's short-time spectrum.

Waveform in, waveform out: the STFT of the input (√Hann frames of n_fft every hop) gives F = n_fft/2 + 1 bins
per frame; the hourglass reads their log power (and, with `mean_norm_frames`, the log power less its causal
running mean per bin: the level above the recent floor, whatever the noise's colour) and estimates a gain in
[0, 1] per bin; the gained spectrum is overlap-added back. With `bands`, it also reads the log power of that many
mel bands: a bin's power fluctuates by several dB from frame to frame under noise (2 degrees of freedom), a
band's average over many bins far less. Suppressing a bin is one multiplication, where a
network that outputs the waveform must learn to reproduce the speech it keeps: far easier for a small model.

The output is the input's estimate delayed by n_fft − hop samples (`delay_samples`): frame k is complete
when sample (k+1)·hop − 1 has arrived, and a sample is complete once the last frame over it is added.
"""
from dataclasses import dataclass, field

import torch
from torchaudio.functional import melscale_fbanks

from ..layers import ExponentialMeanNorm, STFTAnalysis, STFTSynthesis, StreamingModule
from .hourglass import CentaurusHourglass, HourglassConfig, align

_POWER_FLOOR = 1e-8  # keeps log power finite on digital silence
_SAMPLE_RATE = 16000  # places the mel bands: the denoising task's audio rate


@dataclass
class MaskerConfig:
    """Everything that rebuilds a `SpectralMasker` (stored in checkpoints). The core's in/out channels are
    set to the bin count."""

    n_fft: int = 512
    hop: int = 128
    core: HourglassConfig = field(default_factory=HourglassConfig)
    mean_norm_frames: float | None = None  # time constant of the running mean (frames); None: raw log power only
    bands: int | None = None  # also the log power of this many mel bands; None: bins only

    @property
    def delay_samples(self) -> int:
        """The output's lag behind the input: a sample is complete once the last frame over it is added."""
        return self.n_fft - self.hop

    @property
    def downsample_factor(self) -> int:
        """Samples per core output step: a hop per frame, times the core's pooling."""
        return self.hop * self.core.downsample_factor


class SpectralMasker(StreamingModule):
    """(B, 1, L) → (B, 1, L'), L' = L when hop·R divides L (R: the core's down-sampling), delayed by
    `delay_samples`."""

    def __init__(self, config: MaskerConfig):
        super().__init__()
        self.config = config
        bins = config.n_fft // 2 + 1
        normed = config.mean_norm_frames is not None
        features = bins * (1 + normed) + (config.bands or 0)
        core = HourglassConfig(**{**vars(config.core), "in_channels": features, "out_channels": bins})
        # A fixed map, rebuilt from the config: not part of the weights.
        self.register_buffer("band_map", melscale_fbanks(bins, 0.0, _SAMPLE_RATE / 2, config.bands, _SAMPLE_RATE).T
                             if config.bands else None, persistent=False)                    # (bands, F)
        self.analysis = STFTAnalysis(config.n_fft, config.hop)
        self.mean_norm = ExponentialMeanNorm(bins, config.mean_norm_frames) if normed else None
        self.core = CentaurusHourglass(core)
        self.synthesis = STFTSynthesis(config.n_fft, config.hop)
        self.downsample_factor = config.downsample_factor
        self.delay_samples = config.delay_samples

    @property
    def latency_samples(self) -> int:
        """Input samples an output waits for: the delay, plus a hop and the core's pooling, less one."""
        return self.delay_samples + self.downsample_factor - 1

    def features(self, spectrum: torch.Tensor, state):
        """(B, 2F, K) spectra → (log power (B, F, K) [, its mean-normalised copy] [, the bands' log power],
        concatenated over channels; the norm's state); state None: the stream's start."""
        real, imag = spectrum.chunk(2, dim=1)
        linear = real.square() + imag.square()
        power = torch.log(linear + _POWER_FLOOR)
        parts = [power]
        if self.mean_norm is not None:
            normed, state = self.mean_norm(power, state)  # explicit form: state None starts a stream
            parts.append(normed)
        if self.band_map is not None:
            parts.append(torch.log(torch.matmul(self.band_map, linear) + _POWER_FLOOR))
        return (torch.cat(parts, dim=1) if len(parts) > 1 else power), state

    @staticmethod
    def masked(spectrum: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The spectrum with each bin's real and imaginary part scaled by sigmoid(logits) (B, F, K)."""
        return spectrum * torch.sigmoid(logits).repeat(1, 2, 1)

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        parts = (self.analysis, self.mean_norm, self.core, self.synthesis)
        states = tuple(None if m is None else m.init_state(batch_size, device=device, dtype=dtype) for m in parts)
        return states + ((None, None),)

    def forward_full(self, x):
        spectrum = self.analysis.forward_full(x)
        features, _ = self.features(spectrum, None)
        logits, spectrum, _, _ = align(self.core.forward_full(features), spectrum, None, None)
        return self.synthesis.forward_full(self.masked(spectrum, logits))

    def forward_chunk(self, x, state):
        analysis, norm, core, synthesis, pending = state
        spectrum, analysis = self.analysis.forward_chunk(x, analysis)
        features, norm = self.features(spectrum, norm)
        logits, core = self.core.forward_chunk(features, core)
        logits, spectrum, *pending = align(logits, spectrum, *pending)  # the core holds back pooled frames
        y, synthesis = self.synthesis.forward_chunk(self.masked(spectrum, logits), synthesis)
        return y, (analysis, norm, core, synthesis, tuple(pending))
