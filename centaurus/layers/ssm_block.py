"""SSM blocks at constant width around one `SSMLayer`: `ResidualSSMBlock`, out = act(x + dropout(norm(SSM(x)))),
the post-norm residual of spec §7.1; and `GatedSSMBlock`, out = x + a ⊙ σ(g)."""
import torch

from .blocks import post_norm_parts
from .ssm_layer import SSMLayer
from .streaming import StreamingModule


class _AroundSSM(StreamingModule):
    """out = self._combine(x, self.ssm(x)): the SSM's state is the block's."""

    def _combine(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        return self.ssm.init_state(batch_size, device=device, dtype=dtype)

    def forward_full(self, x):
        return self._combine(x, self.ssm.forward_full(x))

    def forward_chunk(self, x, state):
        h, state = self.ssm.forward_chunk(x, state)
        return self._combine(x, h), state


class ResidualSSMBlock(_AroundSSM):
    """Residual SSM block at constant width. (B, C, L) → (B, C, L).

    The norm must be pointwise in time ('batch' in eval mode, 'layer' or 'rms') for exact streaming.
    """

    def __init__(self, channels: int, *, num_states: int, mode: str, state_blocks: int,
                 norm: str | None, postact: str | None, dropout: float | None, **ssm_options):
        super().__init__()
        self.ssm = SSMLayer(num_states, channels, channels, mode=mode, state_blocks=state_blocks,
                            use_activations=False, norm=norm, postact=postact, **ssm_options)
        self.norm, self.dropout, self.act = post_norm_parts(channels, norm=norm, postact=postact, dropout=dropout)

    def _combine(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.dropout(self.norm(h)))


class GatedSSMBlock(_AroundSSM):
    """Gated residual SSM block at constant width: out = x + a ⊙ σ(g), with (a, g) = SSM(x) split in two
    halves of C channels. The gate lets the block scale its input's components up or down, which pointwise
    activations on small waveform-scale signals barely do. (B, C, L) → (B, C, L)."""

    def __init__(self, channels: int, *, num_states: int, mode: str, state_blocks: int, **ssm_options):
        super().__init__()
        self.ssm = SSMLayer(num_states, channels, 2 * channels, mode=mode, state_blocks=state_blocks,
                            use_activations=False, mixer_act=False, **ssm_options)

    def _combine(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a, g = h.chunk(2, dim=1)
        return x + a * torch.sigmoid(g)
