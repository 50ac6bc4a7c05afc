"""Norms, activations and the `act(F)` block (spec §3.1): [norm(F), postact, dropout], each optional; the
1×1 convolution and a position-wise feed-forward block built from them."""
import torch
from torch import nn

NORMS = ("batch", "layer", "rms", "group", "instance", None)
#: Norms that use statistics over time and so cannot stream exactly.
TIME_NORMS = ("group", "instance")
ACTIVATIONS = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "lelu": lambda: nn.LeakyReLU(0.1), "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU,
}


class ChannelNorm(nn.Module):
    """LayerNorm (or RMSNorm) over the channel axis of (B, F, L): pointwise in time, so it streams."""

    def __init__(self, features: int, *, rms: bool = False, eps: float = 1e-5):
        super().__init__()
        self.norm = nn.RMSNorm(features, eps=eps) if rms else nn.LayerNorm(features, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class PointwiseConv1d(nn.Conv1d):
    """A 1×1 `nn.Conv1d` (same parameters) computed as a matrix product per batch item: faster on CPU.
    Its input gradient comes out contiguous, which a batch norm before it needs for its fast backward."""

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = False):
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.bmm(self.weight[..., 0].expand(x.shape[0], -1, -1), x)      # (B, D, L)
        return y if self.bias is None else y + self.bias[:, None]


class BatchNorm(nn.BatchNorm1d):
    """`nn.BatchNorm1d` (same parameters, buffers and state dict). Out of training it is the affine map
    x·scale + shift of the running statistics; without gradients that map is kept while no parameter or
    statistic changes, so the few frames of a streaming chunk cost one fused multiply-add (~2 µs) instead of
    the generic kernel (~20 µs)."""

    def __init__(self, features: int):
        super().__init__(features)
        self._affine = None  # (key, shift, scale) of the last parameters and statistics seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled() or torch.compiler.is_compiling():
            return super().forward(x)
        shift, scale = self._affine_map()
        shape = (-1,) + (1,) * (x.dim() - 2)                                  # channels on axis 1
        return torch.addcmul(shift.view(shape), x, scale.view(shape))

    def _affine_map(self) -> tuple[torch.Tensor, torch.Tensor]:
        # A training step updates the running statistics inside the batch-norm kernel, which leaves their
        # version counters alone; `num_batches_tracked` is incremented in Python on every such step.
        tensors = (self.weight, self.bias, self.running_mean, self.running_var, self.num_batches_tracked)
        key = tuple((t.data_ptr(), t._version) for t in tensors), self.eps
        if self._affine is None or self._affine[0] != key:
            scale = self.weight * torch.rsqrt(self.running_var + self.eps)
            self._affine = key, self.bias - self.running_mean * scale, scale
        return self._affine[1:]


def make_norm(kind: str | None, features: int) -> nn.Module | None:
    """A norm over F features of a (B, F, L) tensor; None for kind None or F = 1."""
    if kind is None or features == 1:
        return None
    if kind == "batch":
        return BatchNorm(features)
    if kind in ("layer", "rms"):
        return ChannelNorm(features, rms=kind == "rms")
    if kind == "group":
        return nn.GroupNorm(4 if features % 4 == 0 else 1, features)
    if kind == "instance":
        return nn.InstanceNorm1d(features, affine=True)
    raise ValueError(f"unknown norm {kind!r}; expected one of {NORMS}")


def make_activation(kind: str | None) -> nn.Module | None:
    if kind is None:
        return None
    if kind == "glu":
        raise ValueError("'glu' halves the channel count; use it in a block that plans for that")
    if kind not in ACTIVATIONS:
        raise ValueError(f"unknown activation {kind!r}; expected one of {sorted(ACTIVATIONS)} or None")
    return ACTIVATIONS[kind]()


def act_block(features: int, *, norm: str | None, postact: str | None, dropout: float | None) -> nn.Sequential:
    """[norm(F), postact, dropout], leaving out each part whose setting is None."""
    parts = [make_norm(norm, features), make_activation(postact),
             nn.Dropout(dropout) if dropout else None]
    return nn.Sequential(*[p for p in parts if p is not None])


def post_norm_parts(channels: int, *, norm: str | None, postact: str | None,
                    dropout: float | None) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(norm, dropout, act) of the post-norm residual join out = act(x + dropout(norm(h))) (spec §7.1),
    each an identity where its setting is None."""
    return (make_norm(norm, channels) or nn.Identity(), nn.Dropout(dropout) if dropout else nn.Identity(),
            act_block(channels, norm=None, postact=postact, dropout=None))


class FeedForward(nn.Module):
    """Position-wise residual feed-forward block at constant width: out = act(x + dropout(norm(W₂·σ(W₁·x)))),
    W₁ widening C channels `expansion` times, the same post-norm residual as `ResidualSSMBlock`. It adds
    per-frame nonlinear capacity between SSM layers, whose only nonlinearity is their activation. Pointwise in
    time, so it streams as it is. (B, C, L) → (B, C, L)."""

    def __init__(self, channels: int, expansion: int, *, norm: str | None, postact: str | None,
                 dropout: float | None):
        super().__init__()
        hidden = channels * expansion
        self.inner = nn.Sequential(PointwiseConv1d(channels, hidden, bias=True), make_activation(postact or "relu"),
                                   PointwiseConv1d(hidden, channels, bias=True))
        self.norm, self.dropout, self.act = post_norm_parts(channels, norm=norm, postact=postact, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.dropout(self.norm(self.inner(x))))
