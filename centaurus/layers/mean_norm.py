"""Causal mean normalisation: subtract from each channel its exponential mean over the frames so far.

With decay α = exp(−1/τ) (τ in frames), the mean after frames x_0 … x_t is

    m̂_t = Σ_{s≤t} α^{t−s} x_s / Σ_{s≤t} α^{t−s}

the bias-corrected form of m_t = α·m_{t−1} + (1 − α)·x_t: it starts at the first frame instead of zero. On
log spectra this removes each band's running level, so what remains is how far a frame stands out of its
recent past, whatever the noise's colour (DeepFilterNet normalises its features the same way).
"""
import math

import torch

from .streaming import StreamingModule

_BLOCK = 256  # frames per matrix product: a block's (T, T) decay matrix stays small on long inputs


class ExponentialMeanNorm(StreamingModule):
    """(B, C, K) → (B, C, K): x − m̂. State: the unnormalised sum m_t (B, C) and its weight w_t (B, 1)."""

    def __init__(self, channels: int, frames: float):
        super().__init__()
        if frames <= 0:
            raise ValueError(f"the mean's time constant must be positive, got {frames} frames")
        self.channels, self.frames, self.decay = channels, frames, math.exp(-1.0 / frames)

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        """Weight 0: the first frame is its own mean."""
        return (torch.zeros(batch_size, 1, device=device, dtype=dtype),
                torch.zeros(batch_size, self.channels, device=device, dtype=dtype))

    def _decays(self, length: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """((T, T) matrix with (1 − α)·α^{t−s} for s ≤ t, else 0; (T,) vector α^{t+1})."""
        t = torch.arange(length, device=like.device, dtype=like.dtype)
        lag = t[:, None] - t[None, :]
        matrix = torch.where(lag >= 0, (1 - self.decay) * self.decay ** lag.clamp(min=0), torch.zeros_like(lag))
        return matrix, self.decay ** (t + 1)

    def forward_chunk(self, x, state):
        if x.shape[-1] == 0:
            return x, state
        weight, total = (s.to(x.dtype) for s in state)
        out = []
        for block in x.split(_BLOCK, dim=-1):
            matrix, carry = self._decays(block.shape[-1], block)
            sums = block @ matrix.t() + total[..., None] * carry                     # m_t (B, C, T)
            weights = weight[..., None] * carry + (1 - carry)                        # w_t (B, 1, T)
            out.append(block - sums / weights)
            total, weight = sums[..., -1], weights[..., -1]
        return torch.cat(out, dim=-1), (weight, total)

    def extra_repr(self):
        return f"channels={self.channels}, frames={self.frames}"
