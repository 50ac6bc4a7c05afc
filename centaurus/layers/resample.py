"""Down- and up-samplers that stream exactly at any chunk size (spec §13.1 item 8).

A down-sampler by r keeps at most r−1 pending input samples between chunks, so a pooling window that
straddles a chunk boundary is completed by the next chunk instead of being dropped. An up-sampler is
delayed by r−1 samples: output frame k needs the whole input window k, which ends r−1 samples after it
starts, so the delay is what makes the up-sampled path causal.

In streaming, the strided convolutions run as matrix products over time-major frames ((B, L, C) in memory):
for the few frames of a chunk that is several times cheaper than `conv1d`, and the outputs stay time-major,
the layout the SSM layers' chunk plans read without copies. One-shot calls keep `conv1d`, fast on long
inputs; the two agree to float rounding.
"""
import torch
from torch import nn

from .streaming import StreamingModule


def _prepend(pending: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    return x if pending is None or pending.shape[-1] == 0 else torch.cat([pending, x], dim=-1)


class _Resampler(StreamingModule):
    """Shared by both directions: a factor r ≥ 1, and a state that starts empty (None)."""

    def __init__(self, factor: int):
        super().__init__()
        if factor < 1:
            raise ValueError(f"factor must be ≥ 1, got {factor}")
        self.factor = factor

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        return None  # nothing pending; up-samplers make their zeros of the right width on first use

    def extra_repr(self):
        return f"factor={self.factor}"


class _Downsampler(_Resampler):
    """Base: applies `self.reduce` to whole windows of r samples; its state holds the pending samples."""

    def reduce(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, k·r) → (B, C', k)."""
        raise NotImplementedError

    def reduce_chunk(self, x: torch.Tensor) -> torch.Tensor:
        """`reduce` for the few frames of a streaming chunk."""
        return self.reduce(x)

    def forward_full(self, x):
        return self.reduce(x[..., : x.shape[-1] // self.factor * self.factor])

    def forward_chunk(self, x, state):
        x = _prepend(state, x)
        whole = x.shape[-1] // self.factor * self.factor
        return self.reduce_chunk(x[..., :whole]), x[..., whole:]


class AvgPool(_Downsampler):
    """Mean over each window of r samples, like `nn.AvgPool1d(r)`. (B, C, L) → (B, C, ⌊L/r⌋)."""

    def reduce(self, x):
        return x.unflatten(-1, (-1, self.factor)).mean(-1)


class Subsample(_Downsampler):
    """Every r-th sample, starting at index r−1 (the last of each window). (B, C, L) → (B, C, ⌊L/r⌋)."""

    def reduce(self, x):
        return x[..., self.factor - 1:: self.factor]


class StridedConvDown(_Downsampler):
    """Conv1d with kernel = stride = r, no bias. (B, C, L) → (B, D, ⌊L/r⌋)."""

    def __init__(self, in_channels: int, out_channels: int, factor: int):
        super().__init__(factor)
        self.conv = nn.Conv1d(in_channels, out_channels, factor, stride=factor, bias=False)

    def reduce(self, x):
        if x.shape[-1] == 0:
            return x.new_zeros(x.shape[0], self.conv.out_channels, 0)
        return self.conv(x)

    def reduce_chunk(self, x):
        B, C, L = x.shape
        weight = self.conv.weight.permute(2, 1, 0).reshape(self.factor * C, -1)      # (r·C, D) as (j, c), d
        frames = x.transpose(1, 2).reshape(B, L // self.factor, self.factor * C)    # (B, K, r·C)
        return (frames @ weight).transpose(1, 2)                                     # (B, D, K)


class _Upsampler(_Resampler):
    """Base: `self.expand` maps each frame to r samples; the output is delayed by r−1 samples."""

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, k) → (B, C', k·r)."""
        raise NotImplementedError

    def expand_chunk(self, x: torch.Tensor) -> torch.Tensor:
        """`expand` for the few frames of a streaming chunk."""
        return self.expand(x)

    def forward_full(self, x):
        y = self.expand(x)
        return nn.functional.pad(y, (self.factor - 1, 0))[..., : y.shape[-1]]

    def forward_chunk(self, x, state):
        y = self.expand_chunk(x).transpose(1, 2)                                     # (B, k·r, C'), time-major
        if state is None:
            state = y.new_zeros(y.shape[0], y.shape[2], self.factor - 1)
        y = torch.cat([state.transpose(1, 2), y], dim=1)
        cut = y.shape[1] - (self.factor - 1)
        return y[:, :cut].transpose(1, 2), y[:, cut:].transpose(1, 2)


class RepeatUpsample(_Upsampler):
    """Repeat each frame r times (then delay r−1). (B, C, k) → (B, C, k·r)."""

    def expand(self, x):
        return x.repeat_interleave(self.factor, dim=-1)


class TransposedUpsample(_Upsampler):
    """Non-overlapping transposed conv, kernel = stride = r, no bias (then delay r−1). (B, C, k) → (B, D, k·r)."""

    def __init__(self, in_channels: int, out_channels: int, factor: int):
        super().__init__(factor)
        self.conv = nn.ConvTranspose1d(in_channels, out_channels, factor, stride=factor, bias=False)

    def expand(self, x):
        if x.shape[-1] == 0:
            return x.new_zeros(x.shape[0], self.conv.out_channels, 0)
        return self.conv(x)

    def expand_chunk(self, x):
        B, C, K = x.shape
        weight = self.conv.weight.permute(0, 2, 1).reshape(C, -1)                    # (C, r·D) as c, (j, d)
        y = x.transpose(1, 2) @ weight                                               # (B, K, r·D)
        return y.reshape(B, K * self.factor, weight.shape[1] // self.factor).transpose(1, 2)   # (B, D, K·r)


def streamable(model: nn.Module) -> nn.Module:
    """Replace every plain `nn.AvgPool1d(r)` (kernel = stride, no padding) in `model` with `AvgPool(r)`.

    The two give the same one-shot output; only `AvgPool` carries its partial window between chunks.
    Pools with padding, overlap or ceil mode cannot be made causal-exact and raise ValueError. Returns `model`.
    """
    for name, child in model.named_children():
        if isinstance(child, nn.AvgPool1d):
            k, s, p = child.kernel_size[0], (child.stride or child.kernel_size)[0], child.padding[0]
            if k != s or p or child.ceil_mode:
                raise ValueError(f"{name}: only AvgPool1d with kernel == stride, no padding, can stream")
            setattr(model, name, AvgPool(k))
        else:
            streamable(child)
    return model
