"""`SpectralMasker`: a causal hourglass that denoises by masking the input's short-time spectrum.

Waveform in, waveform out: the STFT of the input (√Hann frames of n_fft every hop) gives F = n_fft/2 + 1 bins
per frame; the hourglass reads their log power (and, with `mean_norm_frames`, the log power less its causal
running mean per bin: the level above the recent floor, whatever the noise's colour) and estimates a gain in
[0, 1] per bin; the gained spectrum is overlap-added back. With `bands`, it also reads the log power of that many
mel bands: a bin's power fluctuates by several dB from frame to frame under noise (2 degrees of freedom), a
band's average over many bins far less. Suppressing a bin is one multiplication, where a
network that outputs the waveform must learn to reproduce the speech it keeps: far easier for a small model.

With `erb_bands` it works as DeepFilterNet and RNNoise do, at a fraction of the cost: the core reads the log
power of that many ERB bands (their average over the bins each covers) and outputs one gain per band, which is
interpolated over the bins; a band's gain cannot resolve harmonics, so with `df_bins` the core also outputs, for
the lowest bins, a short complex filter over the last `df_order` frames of the noisy spectrum (a deep filter),
added to the gained spectrum there, and reads those bins' compressed complex spectrum as further features.

The output is the input's estimate delayed by n_fft − hop samples (`delay_samples`): frame k is complete
when sample (k+1)·hop − 1 has arrived, and a sample is complete once the last frame over it is added.
"""
import math
from dataclasses import dataclass, field

import torch
from torchaudio.functional import melscale_fbanks

from ..layers import ExponentialMeanNorm, STFTAnalysis, STFTSynthesis, StreamingModule
from .hourglass import CentaurusHourglass, HourglassConfig, align

_POWER_FLOOR = 1e-8  # keeps log power finite on digital silence
_SAMPLE_RATE = 16000  # places the mel and ERB bands: the denoising task's audio rate
_DF_COMPRESSION = 0.3  # the deep-filter bins' spectrum is fed as |X|^0.3 · X/|X|: loud and quiet bins alike


def erb_interpolation(bins: int, bands: int, sample_rate: int = _SAMPLE_RATE) -> torch.Tensor:
    """(F, bands): triangular weights centred on `bands` frequencies equally spaced in ERB-rate (Glasberg and
    Moore), each row summing to 1, so a bin's gain interpolates the gains of the two bands around it. Centres
    are whole bins at least one bin apart, so every band owns at least its centre bin."""
    def erb_rate(hz):
        return 21.4 * math.log10(1 + 0.00437 * hz)

    def hz(rate):
        return (10 ** (rate / 21.4) - 1) / 0.00437

    if not 2 <= bands <= bins:
        raise ValueError(f"erb_bands must be between 2 and the bin count {bins}, got {bands}")
    top, step = erb_rate(sample_rate / 2), (bins - 1) / (sample_rate / 2)
    centres = [round(hz(top * b / (bands - 1)) * step) for b in range(bands)]
    for b in range(1, bands):  # the low bands are narrower than a bin: push them one bin apart
        centres[b] = max(centres[b], centres[b - 1] + 1)
    for b in range(bands - 2, -1, -1):  # ... and keep the top centre at the last bin
        centres[b] = min(centres[b], centres[b + 1] - 1, bins - 1 - (bands - 1 - b))
    weights = torch.zeros(bins, bands, dtype=torch.float64)
    for b, (lo, hi) in enumerate(zip(centres[:-1], centres[1:])):
        ramp = torch.arange(hi - lo + 1, dtype=torch.float64) / (hi - lo)
        weights[lo:hi + 1, b] += 1 - ramp
        weights[lo:hi + 1, b + 1] += ramp
    return (weights / weights.sum(1, keepdim=True)).float()  # a shared centre bin was counted twice


@dataclass
class MaskerConfig:
    """Everything that rebuilds a `SpectralMasker` (stored in checkpoints). The core's in/out channels are
    set to the bin count."""

    n_fft: int = 512
    hop: int = 128
    core: HourglassConfig = field(default_factory=HourglassConfig)
    mean_norm_frames: float | None = None  # time constant of the running mean (frames); None: raw log power only
    bands: int | None = None  # also the log power of this many mel bands; None: bins only
    erb_bands: int | None = None  # features and gains on this many ERB bands instead of every bin
    df_bins: int = 0  # erb_bands: the lowest bins that also get a deep filter (0: none)
    df_order: int = 3  # ... over this many frames, the current one included

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
        erb, df = config.erb_bands, config.df_bins
        if erb and config.bands:
            raise ValueError("bands (extra mel features) and erb_bands exclude each other")
        if df and not erb:
            raise ValueError("df_bins needs erb_bands")
        if not 0 <= df <= bins or config.df_order < 1:
            raise ValueError(f"df_bins must be within 0..{bins} and df_order at least 1")
        levels = erb or bins  # what the core reads the log power of, and outputs one gain for
        features = levels * (1 + normed) + (config.bands or 0) + 2 * df
        outputs = levels + 2 * df * config.df_order
        core = HourglassConfig(**{**vars(config.core), "in_channels": features, "out_channels": outputs})
        # Fixed maps, rebuilt from the config: not part of the weights.
        self.register_buffer("band_map", melscale_fbanks(bins, 0.0, _SAMPLE_RATE / 2, config.bands, _SAMPLE_RATE).T
                             if config.bands else None, persistent=False)                    # (bands, F)
        gains = erb_interpolation(bins, erb) if erb else None                                 # (F, E)
        self.register_buffer("erb_gains", gains, persistent=False)
        self.register_buffer("erb_pool", (gains / gains.sum(0)).T.contiguous() if erb else None,
                             persistent=False)                                                # (E, F) averages
        self.analysis = STFTAnalysis(config.n_fft, config.hop)
        self.mean_norm = ExponentialMeanNorm(levels, config.mean_norm_frames) if normed else None
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
        power = torch.log((linear if self.erb_pool is None else torch.matmul(self.erb_pool, linear)) + _POWER_FLOOR)
        parts = [power]
        if self.mean_norm is not None:
            normed, state = self.mean_norm(power, state)  # explicit form: state None starts a stream
            parts.append(normed)
        if self.band_map is not None:
            parts.append(torch.log(torch.matmul(self.band_map, linear) + _POWER_FLOOR))
        if k := self.config.df_bins:
            scale = (linear[:, :k] + _POWER_FLOOR) ** ((_DF_COMPRESSION - 1) / 2)
            parts.extend([real[:, :k] * scale, imag[:, :k] * scale])
        return (torch.cat(parts, dim=1) if len(parts) > 1 else power), state

    def masked(self, spectrum: torch.Tensor, logits: torch.Tensor, history: torch.Tensor | None):
        """The spectrum (B, 2F, K) with each bin's real and imaginary part scaled by its gain: sigmoid(logits)
        per bin, or per ERB band interpolated over the bins; then the deep filter's sum over the noisy spectrum's
        last frames added in the lowest bins. `history`: those bins' last df_order − 1 frames (B, 2k, order − 1)
        before this chunk, None at the start; returns the masked spectrum and the history after it."""
        if self.erb_gains is None:
            return spectrum * torch.sigmoid(logits).repeat(1, 2, 1), history
        erb, k, order = self.config.erb_bands, self.config.df_bins, self.config.df_order
        gains = torch.matmul(self.erb_gains, torch.sigmoid(logits[:, :erb]))                  # (B, F, K)
        out = spectrum * gains.repeat(1, 2, 1)
        if not k:
            return out, history
        bins, frames = spectrum.shape[1] // 2, spectrum.shape[-1]
        low = torch.cat([spectrum[:, :k], spectrum[:, bins:bins + k]], dim=1)                # (B, 2k, K)
        if history is None:
            history = low.new_zeros(low.shape[0], 2 * k, order - 1)
        past = torch.cat([history, low], dim=-1)                                              # (B, 2k, K + o − 1)
        coef = torch.tanh(logits[:, erb:]).unflatten(1, (order, 2, k))                       # (B, o, 2, k, K)
        real = imag = 0
        for lag in range(order):  # X_{t−lag}, weighted by the lag's complex coefficient
            x = past[..., order - 1 - lag: order - 1 - lag + frames]
            xr, xi, a, b = x[:, :k], x[:, k:], coef[:, lag, 0], coef[:, lag, 1]
            real, imag = real + a * xr - b * xi, imag + a * xi + b * xr
        out = torch.cat([out[:, :k] + real, out[:, k:bins], out[:, bins:bins + k] + imag, out[:, bins + k:]], dim=1)
        return out, past[..., past.shape[-1] - (order - 1):]

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        parts = (self.analysis, self.mean_norm, self.core, self.synthesis)
        states = tuple(None if m is None else m.init_state(batch_size, device=device, dtype=dtype) for m in parts)
        k, order = self.config.df_bins, self.config.df_order
        history = torch.zeros(batch_size, 2 * k, order - 1, device=device, dtype=dtype) if k else None
        return states + ((None, None), history)

    def forward_full(self, x):
        spectrum = self.analysis.forward_full(x)
        features, _ = self.features(spectrum, None)
        logits, spectrum, _, _ = align(self.core.forward_full(features), spectrum, None, None)
        return self.synthesis.forward_full(self.masked(spectrum, logits, None)[0])

    def forward_chunk(self, x, state):
        analysis, norm, core, synthesis, pending, history = state
        spectrum, analysis = self.analysis.forward_chunk(x, analysis)
        features, norm = self.features(spectrum, norm)
        logits, core = self.core.forward_chunk(features, core)
        logits, spectrum, *pending = align(logits, spectrum, *pending)  # the core holds back pooled frames
        masked, history = self.masked(spectrum, logits, history)
        y, synthesis = self.synthesis.forward_chunk(masked, synthesis)
        return y, (analysis, norm, core, synthesis, tuple(pending), history)
