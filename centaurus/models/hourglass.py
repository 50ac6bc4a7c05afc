"""`CentaurusHourglass`: a causal SSM encoder–decoder on raw waveforms (spec §7.2), e.g. for denoising.

Encoder level i:  skip_i = x → SSM(c_i → c_i) → strided conv c_i → c_{i+1} (factor r_i)
Neck:             two s5 SSM layers at the last width
Decoder level i:  transposed conv c_{i+1} → c_i, delayed r_i − 1 → + skip_i → SSM(c_i → c_i)
Output:           SSM(c_0 → c_0) with activation, then SSM(c_0 → out_channels) without.

c_0 is `in_channels` as in the spec, or `stem` channels lifted from the input by a 1×1 convolution: one
channel at the full rate leaves the finest level almost no capacity, which costs quality on small models.

Every part is causal, so y[t] depends on x[≤ t] only. In streaming, a level emits samples once both the
up-sampled path and its skip have them: output lags input by at most R − 1 samples (R = Π r_i), the
algorithmic latency that block down-sampling costs.
"""
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..layers import SSMLayer, StreamingModule, StridedConvDown, TransposedUpsample
from ..layers.blocks import PointwiseConv1d
from ..layers.ssm_block import GatedSSMBlock
from .classifier import _per_layer


@dataclass
class HourglassConfig:
    """Everything that rebuilds a `CentaurusHourglass` (stored in checkpoints)."""

    in_channels: int = 1
    out_channels: int = 1
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 96])
    downsample: list[int] = field(default_factory=lambda: [4, 4, 2, 2])
    mode: list[str] = field(default_factory=lambda: ["s5"])
    num_states: int = 16
    state_blocks: int = 4
    norm: str | None = "layer"
    postact: str | None = "silu"
    discretization: str = "simplified"
    projection_init: str = "reference"
    stem: int | None = None  # full-rate width c_0; None keeps the spec's layout (c_0 = in_channels)
    skip: bool = False  # D skip term in every SSM layer: a direct path for the waveform's upper band
    block: str = "plain"  # "plain": SSM → act(c); "gated": x + a ⊙ σ(g) (`GatedSSMBlock`, no norm or postact)

    @property
    def downsample_factor(self) -> int:
        """R = Π r_i: one-shot inputs are whole multiples of it."""
        return math.prod(self.downsample)


def _prepend(pending, x):
    return x if pending is None or pending.shape[-1] == 0 else torch.cat([pending, x], dim=-1)


def align(a, b, pending_a, pending_b):
    """Two streams cut to the samples both have, then what each holds back that the other has not yet."""
    a, b = _prepend(pending_a, a), _prepend(pending_b, b)
    n = min(a.shape[-1], b.shape[-1])
    return a[..., :n], b[..., :n], a[..., n:], b[..., n:]


class CentaurusHourglass(StreamingModule):
    """(B, in_channels, L) → (B, out_channels, L') with L' = L in one shot when R divides L."""

    def __init__(self, config: HourglassConfig):
        super().__init__()
        cfg = self.config = config
        depth = len(cfg.channels)
        if len(cfg.downsample) != depth:
            raise ValueError("downsample needs one ratio per entry of channels")
        width0 = cfg.stem or cfg.in_channels
        widths, modes = [width0, *cfg.channels], _per_layer(cfg.mode, depth + 1)
        self.lift = PointwiseConv1d(cfg.in_channels, width0) if cfg.stem else nn.Identity()

        if cfg.block not in ("plain", "gated"):
            raise ValueError(f"block must be 'plain' or 'gated', got {cfg.block!r}")

        def ssm(c_in, c_out, mode, act=True):
            if cfg.block == "gated" and act:  # every activated layer keeps its width
                return GatedSSMBlock(c_in, num_states=cfg.num_states, mode=mode, state_blocks=cfg.state_blocks,
                                     discretization=cfg.discretization, projection_init=cfg.projection_init,
                                     skip=cfg.skip)
            return SSMLayer(cfg.num_states, c_in, c_out, mode=mode, state_blocks=cfg.state_blocks,
                            discretization=cfg.discretization, projection_init=cfg.projection_init,
                            use_activations=act, norm=cfg.norm, postact=cfg.postact, skip=cfg.skip)

        self.encoders = nn.ModuleList(ssm(widths[i], widths[i], modes[i]) for i in range(depth))
        self.downs = nn.ModuleList(StridedConvDown(widths[i], widths[i + 1], r)
                                   for i, r in enumerate(cfg.downsample))
        self.neck = nn.ModuleList([ssm(widths[-1], widths[-1], "s5"), ssm(widths[-1], widths[-1], "s5")])
        self.ups = nn.ModuleList(TransposedUpsample(widths[i + 1], widths[i], r)
                                 for i, r in enumerate(cfg.downsample))
        self.decoders = nn.ModuleList(ssm(widths[i], widths[i], modes[i]) for i in range(depth))
        self.head = nn.ModuleList([ssm(widths[0], widths[0], modes[0]),
                                   ssm(widths[0], cfg.out_channels, modes[0], act=False)])
        self.downsample_factor = cfg.downsample_factor

    @property
    def latency_samples(self) -> int:
        """Worst-case samples an output waits for in streaming: R − 1."""
        return self.downsample_factor - 1

    def _stateful(self):
        return [*self.encoders, *self.downs, *self.neck, *self.ups, *self.decoders, *self.head]

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        modules = tuple(m.init_state(batch_size, device=device, dtype=dtype) for m in self._stateful())
        return modules, tuple((None, None) for _ in self.encoders)

    def forward_full(self, x):
        x, skips = self.lift(x), []
        for enc, down in zip(self.encoders, self.downs):
            skips.append(x)
            x = down.forward_full(enc.forward_full(x))
        for layer in self.neck:
            x = layer.forward_full(x)
        for i in reversed(range(len(self.encoders))):
            up, skip, _, _ = align(self.ups[i].forward_full(x), skips[i], None, None)
            x = self.decoders[i].forward_full(up + skip)
        for layer in self.head:
            x = layer.forward_full(x)
        return x

    def forward_chunk(self, x, state):
        module_states, pending = state
        states, pending, x = list(module_states), list(pending), self.lift(x)
        d = len(self.encoders)  # states sit in `_stateful()` order: encoders, downs, neck (2), ups, decoders, head

        def run(position, module, value):
            out, states[position] = module.forward_chunk(value, states[position])
            return out

        skips = []
        for i, (enc, down) in enumerate(zip(self.encoders, self.downs)):
            skips.append(x)
            x = run(d + i, down, run(i, enc, x))
        for j, layer in enumerate(self.neck):
            x = run(2 * d + j, layer, x)
        for i in reversed(range(d)):
            up, skip, *held = align(run(2 * d + 2 + i, self.ups[i], x), skips[i], *pending[i])
            pending[i] = tuple(held)
            x = run(3 * d + 2 + i, self.decoders[i], up + skip)
        for j, layer in enumerate(self.head):
            x = run(4 * d + 2 + j, layer, x)
        return x, (tuple(states), tuple(pending))
