"""Short-time Fourier analysis and overlap-add synthesis that stream exactly at any chunk size.

Frames of `n_fft` samples every `hop`, windowed by a periodic √Hann window on both sides, so that synthesis
after analysis returns the input (the squared window sums to n_fft / (2·hop) at every sample). Frame k covers
samples [(k+1)·hop − n_fft, (k+1)·hop), the stream starting after n_fft − hop samples of silence: a frame is
ready when its last hop has arrived. A sample is complete once the last frame over it is added, so the
synthesis emits the input delayed by n_fft − hop samples: causal, with that delay as its latency.

Both directions are real matrix products with a windowed DFT basis: for a streaming chunk's few frames that
is cheaper than an FFT call, and it exports to ONNX as it is. Spectra travel as (B, 2F, K) real tensors, the
F = n_fft/2 + 1 real parts stacked over the imaginary parts.
"""
import math

import torch

from .streaming import StreamingModule


def sqrt_hann(n_fft: int, *, dtype=torch.float64) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, dtype=dtype).sqrt()


def check_frames(n_fft: int, hop: int) -> None:
    """ValueError unless `hop` divides `n_fft` at least twice, where √Hann frames add up exactly."""
    if hop < 1 or n_fft % hop or n_fft // hop < 2:
        raise ValueError(f"hop {hop} must divide n_fft {n_fft} at least twice (√Hann frames then add up exactly)")


def dft_bases(n_fft: int, hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(analysis (n_fft, 2F), synthesis (2F, n_fft)), float32: windowed forward and inverse real DFTs, the
    synthesis scaled so that overlap-adding its frames every `hop` samples reconstructs the signal."""
    check_frames(n_fft, hop)
    window, bins = sqrt_hann(n_fft), n_fft // 2 + 1
    angle = torch.outer(torch.arange(n_fft, dtype=torch.float64), torch.arange(bins, dtype=torch.float64))
    angle *= 2 * math.pi / n_fft
    analysis = torch.cat([torch.cos(angle), -torch.sin(angle)], dim=1) * window[:, None]
    weight = torch.full((bins,), 2.0, dtype=torch.float64)   # the bins between DC and Nyquist stand for two
    weight[0] = weight[-1] = 1.0
    overlap = n_fft / (2 * hop)                              # Σ_k window²[n − k·hop], the same for every n
    synthesis = analysis.t() * torch.cat([weight, weight])[:, None] / (n_fft * overlap)
    return analysis.float(), synthesis.float()


class _Framed(StreamingModule):
    """Shared by both directions: frames of n_fft samples every hop, one of the two DFT bases, and a state of
    n_fft − hop samples (pending input, or partial sums)."""

    def __init__(self, n_fft: int, hop: int, *, inverse: bool):
        super().__init__()
        self.register_buffer("basis", dft_bases(n_fft, hop)[inverse], persistent=False)
        self.n_fft, self.hop, self.hops_per_frame = n_fft, hop, n_fft // hop

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        return torch.zeros(batch_size, 1, self.n_fft - self.hop, device=device, dtype=dtype)

    def extra_repr(self):
        return f"n_fft={self.n_fft}, hop={self.hop}"


class STFTAnalysis(_Framed):
    """(B, 1, L) → (B, 2F, ⌊L/hop⌋) spectra; holds the last n_fft − hop (+ an unfinished hop) samples."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__(n_fft, hop, inverse=False)

    def forward_chunk(self, x, state):
        x = torch.cat([state.to(x.dtype), x], dim=-1)
        m = self.hops_per_frame
        frames = (x.shape[-1] - (self.n_fft - self.hop)) // self.hop
        hops = x[:, 0, : (frames + m - 1) * self.hop].unflatten(-1, (-1, self.hop))
        # frame k is hops k … k + m − 1 (slices and a concatenation, which ONNX exports, unlike unfold)
        windows = torch.cat([hops[:, i:i + frames] for i in range(m)], dim=-1)            # (B, K, n_fft)
        return (windows @ self.basis.to(x.dtype)).transpose(1, 2), x[..., frames * self.hop:]


class STFTSynthesis(_Framed):
    """(B, 2F, K) spectra → (B, 1, K·hop) samples by overlap-add, delayed by n_fft − hop; holds the partial
    sums of the last n_fft − hop samples."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__(n_fft, hop, inverse=True)

    def forward_chunk(self, x, state):
        B, _, K = x.shape
        m = self.hops_per_frame
        parts = (x.transpose(1, 2) @ self.basis.to(x.dtype)).unflatten(-1, (m, self.hop))   # (B, K, m, hop)
        pad = torch.nn.functional.pad  # hop i of frame k lands on hop k + i of the output
        sums = sum(pad(parts[:, :, i], (0, 0, i, m - 1 - i)) for i in range(m))
        sums = sums.reshape(B, 1, -1) + pad(state.to(x.dtype), (0, K * self.hop))
        return sums[..., : K * self.hop], sums[..., K * self.hop:]
