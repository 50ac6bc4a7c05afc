"""A layer's streaming operands frozen for chunks of exactly T samples, in real arithmetic.

For short chunks every part of the exact chunk update (spec §5.2) is a small dense product:

    y  = Toeplitz(taps) u  +  Re Σ_p (readout·p^{t+1})_p s_p          zero-state part + carried-state part
    s' = p^T ⊙ s  +  β ⊙ Σ_τ p^{T−1−τ} drive_τ                           state update

Complex numbers are kept as (real, imaginary) pairs, so the same code runs fast on CPU and exports to
runtimes without complex types (ONNX). Plans are built from a layer's `Operands` and cached by the layer.
"""
from dataclasses import dataclass

import torch

from .. import ssm

# Per mode: carried-state readout and state update (drive, basis) → state.
_EQUATIONS = {
    "dws": ("cnt,bcn->bct", "bct,cnt->bcn"),
    "full": ("dcnt,bdcn->bdt", "bct,dcnt->bdcn"),
    "s5": ("dmnt,bmn->bdt", "bmt,mnt->bmn"),
    "neck": ("dmnt,bmn->bdt", "bmt,mnt->bmn"),
}
_DEPTHWISE, _DENSE = "cts,bcs->bct", "dcts,bcs->bdt"  # zero-state products with per-channel or (D, C) taps


@dataclass(frozen=True)
class ChunkPlan:
    """Real tensors for one chunk length T. Shapes use the pole shape P of the layer's mode."""

    mode: str
    zero_state: str                             # einsum of the Toeplitz taps with the (projected) input
    toeplitz: torch.Tensor                      # (C|D,C|M', T, T) lower-triangular taps
    read_re: torch.Tensor                       # readout·p^{t+1}: (P..., T) or (D, M, N', T)
    read_im: torch.Tensor
    update_re: torch.Tensor                     # β·p^{T−1−τ}: (P..., T)
    update_im: torch.Tensor
    decay_re: torch.Tensor                      # p^T: (P...)
    decay_im: torch.Tensor
    w_in: torch.Tensor | None                   # bottleneck drive (M, C)
    mix_in: torch.Tensor | None                 # project-first zero-state projections (M', C), (D, M')
    mix_out: torch.Tensor | None
    skip: torch.Tensor | None                   # D_skip


def _toeplitz(taps: torch.Tensor) -> torch.Tensor:
    """(..., T) taps → (..., T, T) with [t, s] = taps[t − s] for s ≤ t, else 0."""
    T = taps.shape[-1]
    index = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    return torch.where(index >= 0, taps[..., index.clamp(min=0)], taps.new_zeros(()))


def plan_size(pole_count: int, channels: int, length: int) -> int:
    """Entries of the largest plan tensor: the bases (poles × T) or the Toeplitz block (channels × T²)."""
    return max(pole_count * length, channels * length * length)


def build_plan(mode: str, ops, *, length: int, skip: torch.Tensor | None) -> ChunkPlan:
    """Freeze `ops` (a layer's `Operands`) for chunks of `length` samples."""
    taps = torch.arange(length, device=ops.log_pole.device, dtype=ops.log_pole.real.dtype)
    P = ssm.powers(ops.log_pole, taps + 1)                                             # (P..., T)
    Q = ops.beta[..., None] * ssm.powers(ops.log_pole, length - 1 - taps)              # (P..., T)
    decay = torch.exp(ops.log_pole * length)
    readout = ops.readout[..., None] * P
    mix_in = mix_out = None
    if mode in ("dws", "full"):
        kernel = ssm.power_sum(ops.readout * ops.beta, ops.log_pole, length)           # (C|D,C, T)
        zero_state = _DEPTHWISE if mode == "dws" else _DENSE
    else:
        readout = ops.w_out.to(P.dtype)[:, :, None, None] * readout                    # (D, M, N', T)
        (D, M), C = ops.w_out.shape, ops.w_in.shape[1]
        # Taps per (d, c) pair, or per bottleneck channel between two projections: whichever is fewer.
        order = "kernel-first" if D * C <= M * (2 if ops.w_out.is_complex() else 1) else "project-first"
        kernels = ssm.bottleneck_kernels(w_in=ops.w_in, w_out=ops.w_out, weight=ops.readout * ops.beta,
                                         log_pole=ops.log_pole, length=length, order=order)
        kernel, zero_state = kernels[0], _DENSE if order == "kernel-first" else _DEPTHWISE
        if order == "project-first":
            mix_in, mix_out = kernels[1:]
    return ChunkPlan(mode, zero_state, _toeplitz(kernel), readout.real, readout.imag, Q.real, Q.imag,
                     decay.real, decay.imag, ops.w_in, mix_in, mix_out, skip)


def run_plan(plan: ChunkPlan, u: torch.Tensor, s_re: torch.Tensor, s_im: torch.Tensor):
    """One chunk u: (B, C, T) from state (s_re, s_im) → (y (B, C|D, T), new s_re, new s_im). Real ops only."""
    read, update = _EQUATIONS[plan.mode]
    if plan.mix_in is None:
        y = torch.einsum(plan.zero_state, plan.toeplitz, u)
    else:
        x = torch.einsum("mc,bcs->bms", plan.mix_in, u)
        y = torch.einsum("dm,bmt->bdt", plan.mix_out, torch.einsum(plan.zero_state, plan.toeplitz, x))
    drive = u if plan.w_in is None else torch.einsum("mc,bct->bmt", plan.w_in, u)
    y = y + torch.einsum(read, plan.read_re, s_re) - torch.einsum(read, plan.read_im, s_im)
    driven_re, driven_im = torch.einsum(update, drive, plan.update_re), torch.einsum(update, drive, plan.update_im)
    new_re = plan.decay_re * s_re - plan.decay_im * s_im + driven_re
    new_im = plan.decay_re * s_im + plan.decay_im * s_re + driven_im
    if plan.skip is not None:
        y = y + (plan.skip[:, None] * u if plan.mode == "dws" else torch.einsum("dc,bct->bdt", plan.skip, u))
    return y, new_re, new_im
