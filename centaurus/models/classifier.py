"""`CentaurusClassifier`: SSM blocks with down-sampling, then mean over time and an MLP head (spec §7.1).

Causal throughout. Streaming carries the backbone state plus a running sum and count of the final
features, so the logits after the last chunk equal the one-shot logits.
"""
from dataclasses import dataclass, field

import torch
from torch import nn

from ..layers import AvgPool, SSMLayer, StreamingModule, StreamingSequential, StridedConvDown, Subsample
from ..layers.blocks import FeedForward, act_block
from ..layers.ssm_block import ResidualSSMBlock

DOWNSAMPLE_MODES = ("downsampling", "average", "subsampling")


def _per_layer(value, depth: int) -> list:
    """A scalar, or a list padded with its last element, as one value per layer."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or len(values) > depth:
        raise ValueError(f"expected 1 to {depth} per-layer values, got {len(values)}")
    return values + [values[-1]] * (depth - len(values))


@dataclass
class ClassifierConfig:
    """Everything that rebuilds a `CentaurusClassifier` (stored in checkpoints)."""

    in_channels: int = 1
    num_classes: int = 35
    channels: list[int] = field(default_factory=lambda: [32, 64, 64, 128])
    downsample: list[int] = field(default_factory=lambda: [4, 4, 2, 2])
    mode: list[str] = field(default_factory=lambda: ["full", "s5"])
    num_states: int = 16
    state_blocks: int = 4
    downsample_mode: str = "downsampling"
    norm: str | None = "batch"
    postact: str | None = "relu"
    dropout: float | None = None
    residual: bool = False
    ffn: int = 0  # with residual: a `FeedForward` block of this expansion after each residual SSM block (0: none)
    discretization: str = "simplified"
    projection_init: str = "reference"
    dt_min: float = 1e-3  # Δ range in samples (frames after a front end): 1/(|Re λ|Δ) bounds the time constants
    dt_max: float = 1e-1


class CentaurusClassifier(StreamingModule):
    """(B, in_channels, L) → logits (B, num_classes); `features` gives the per-frame (B, C_last, L/R)."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        cfg = self.config = config
        depth = len(cfg.channels)
        if cfg.downsample_mode not in DOWNSAMPLE_MODES:
            raise ValueError(f"downsample_mode must be one of {DOWNSAMPLE_MODES}, got {cfg.downsample_mode!r}")
        if cfg.ffn < 0 or (cfg.ffn and not cfg.residual):
            raise ValueError(f"ffn must be 0, or a positive expansion with residual=True; got ffn={cfg.ffn}, "
                             f"residual={cfg.residual}")
        modes, ratios = _per_layer(cfg.mode, depth), _per_layer(cfg.downsample or [1], depth)
        act = dict(norm=cfg.norm, postact=cfg.postact, dropout=cfg.dropout)
        ssm_options = dict(discretization=cfg.discretization, projection_init=cfg.projection_init,
                           dt_min=cfg.dt_min, dt_max=cfg.dt_max)
        layers, c_in = [], cfg.in_channels
        for c_out, mode, r in zip(cfg.channels, modes, ratios):
            med = c_in if (r > 1 and cfg.downsample_mode == "downsampling") else c_out
            if cfg.residual and c_in == med:
                layers.append(ResidualSSMBlock(med, num_states=cfg.num_states, mode=mode,
                                               state_blocks=cfg.state_blocks, **ssm_options, **act))
                layers += [FeedForward(med, cfg.ffn, **act)] if cfg.ffn else []
            else:
                layers.append(SSMLayer(cfg.num_states, c_in, med, mode=mode, state_blocks=cfg.state_blocks,
                                       use_activations=True, **ssm_options, **act))
            if r > 1 and cfg.downsample_mode == "downsampling":
                layers += [StridedConvDown(med, c_out, r), act_block(c_out, **act)]
            elif r > 1:
                layers.append(AvgPool(r) if cfg.downsample_mode == "average" else Subsample(r))
            c_in = c_out
        self.backbone = StreamingSequential(*layers)
        self.head = nn.Sequential(nn.Linear(c_in, c_in), nn.ReLU(), nn.Linear(c_in, cfg.num_classes))
        self.feature_channels = c_in
        self.downsample_factor = int(torch.tensor(ratios).prod())

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame features (B, C_last, ⌊L/R⌋), R the product of the down-sampling ratios."""
        return self.backbone.forward_full(x)

    def forward_full(self, x):
        return self.head(self.features(x).mean(-1))

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        zeros = torch.zeros(batch_size, self.feature_channels, device=device, dtype=dtype)
        return (self.backbone.init_state(batch_size, device=device, dtype=dtype), zeros,
                torch.zeros(batch_size, device=device, dtype=dtype))

    def forward_chunk(self, x, state):
        """Logits of the running mean of all features so far, and the new state."""
        backbone_state, total, count = state
        h, backbone_state = self.backbone.forward_chunk(x, backbone_state)
        total, count = total + h.sum(-1), count + h.shape[-1]
        logits = self.head(total / count.clamp(min=1)[:, None])
        return logits, (backbone_state, total, count)
