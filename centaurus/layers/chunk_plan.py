"""A layer's streaming operands frozen for chunks of exactly T samples: the chunked scan of spec §13.5.

Every mode is a bank of channels g (axes G...), each with n diagonal complex poles driven by one real input
x_g and read out to R real outputs z_g, which a last step maps to y:

    dws   G = (C,)    x = u               z = Re Σ_n E s                 y = z      (the mixer follows)
    full  G = (D, C)  x = u, for every d  z = Re Σ_n E s                 y = Σ_c z
    s5    G = (M,)    x = W_in u          z = Re s (R = 2: Re s, Im s)   y = W_out z
    neck  G = (J,)    x = W_in u          z = Re Σ_n E s                 y = W_out z

The chunk is cut into K blocks of b samples (T = K·b). With S_k the state at the start of block k,

    S_k = p^{bk} s + Σ_{τ<bk} β p^{bk−1−τ} x_τ                          k = 0 … K; S_K is the new state
    z_{kb+t} = Σ_{τ≤t} h_{t−τ} x_{kb+τ} + Re Σ_n r_n p_n^{t+1} S_{k,n}     h_j = Re Σ_n r_n β_n p_n^j

so a chunk is two batched matrix products: [x, s] → S per pole, then [x block, S_k] → z block per channel,
T·(2n(K+1) + R·b) multiply-adds per channel instead of the T² of one Toeplitz product, with b near √(2nT).
Complex numbers are (real, imaginary) pairs, so the same code runs fast on CPU and exports to runtimes
without complex types (ONNX). Plans are built from a layer's `Operands`.

A chunk is a few dozen small tensor operations, so their count, not their arithmetic, sets the cost:
products are `mm`/`bmm` on ready-made shapes, and activations stay time-major ((B·T, C) in memory) between
layers, the layout that matrix products and a layer norm over channels read without copies.
"""
from dataclasses import dataclass

import torch

from .. import ssm


@dataclass(frozen=True)
class ChunkPlan:
    """Real tensors for chunks of T = K·b samples. P counts the poles, G the channels (module docstring)."""

    mode: str
    outputs: int                        # C for dws, D otherwise
    readouts: int                       # R
    state_map: torch.Tensor             # (P, T + 2, 2(K+1)): [x, Re s, Im s] → S_k of one pole, as (k, re|im)
    block_map: torch.Tensor             # (G·R, b + 2n, b): [x block, S_k] → z block of one readout
    w_in: torch.Tensor | None           # (M, C) drive projection of s5 and neck
    w_out_t: torch.Tensor | None        # (G·R, D) real readout projection of s5 and neck, transposed
    skip_t: torch.Tensor | None         # D_skip: (C,) for dws, else transposed (C, D)

    @property
    def blocks(self) -> int:
        return self.state_map.shape[-1] // 2 - 1


def _cost(length: int, block: int, states: int, readouts: int) -> int:
    """Multiply-adds per channel of a chunk cut into blocks of `block`."""
    return states * (length + 2) * 2 * (length // block + 1) + length * (block + 2 * states) * readouts


def block_length(length: int, states: int, readouts: int) -> int:
    """The divisor b of T with the fewest multiply-adds per channel."""
    return min((b for b in range(1, length + 1) if length % b == 0),
               key=lambda b: _cost(length, b, states, readouts))


def channel_readout(mode: str, ops) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Readout weights r (G..., R, n) of the channel form of `ops`, and the real W_out (D, G·R) or None."""
    if mode != "s5" or not ops.w_out.is_complex():
        return ops.readout[..., None, :], ops.w_out
    # Re(w·s) = Re w·Re s − Im w·Im s, with Re s = Re(1·s) and Im s = Re(−i·s): two readouts per mode
    readout = torch.stack([ops.readout, -1j * ops.readout], -2)                      # (M, 2, 1)
    return readout, torch.stack([ops.w_out.real, -ops.w_out.imag], -1).flatten(-2)     # (D, M·2)


def plan_size(mode: str, ops, *, length: int) -> int:
    """Entries of the largest tensor of the plan `build_plan` would make."""
    readouts = channel_readout(mode, ops)[0].shape[-2]
    channels, n = ops.log_pole.shape[:-1].numel(), ops.log_pole.shape[-1]
    b = block_length(length, n, readouts)
    return channels * max(n * (length + 2) * 2 * (length // b + 1), (b + 2 * n) * readouts * b)


def _toeplitz(taps: torch.Tensor) -> torch.Tensor:
    """(..., T) taps → (..., T, T) with [t, s] = taps[t − s] for s ≤ t, else 0."""
    T = taps.shape[-1]
    index = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    return torch.where(index >= 0, taps[..., index.clamp(min=0)], taps.new_zeros(()))


def _pairs(z: torch.Tensor) -> torch.Tensor:
    """complex (...) → real (..., 2) as (real, imaginary)."""
    return torch.stack([z.real, z.imag], -1)


def state_map(log_pole: torch.Tensor, beta: torch.Tensor, *, length: int, block: int) -> torch.Tensor:
    """(P, T + 2, 2(K+1)): [x_τ, Re s, Im s] → S_k = p^{bk} s + Σ_{τ<bk} β p^{bk−1−τ} x_τ for k = 0 … K."""
    tau = torch.arange(length, device=log_pole.device, dtype=log_pole.real.dtype)
    starts = torch.arange(length // block + 1, device=log_pole.device, dtype=tau.dtype) * block
    exponent = starts - 1 - tau[:, None]                                               # (T, K+1)
    drive = beta[..., None] * ssm.powers(log_pole, exponent.clamp(min=0).flatten())    # (G..., n, T·(K+1))
    drive = drive.unflatten(-1, exponent.shape) * (exponent >= 0)                      # (G..., n, T, K+1)
    q = ssm.powers(log_pole, starts)                                                   # (G..., n, K+1)
    carry = torch.stack([q, 1j * q], -2)                        # q·s = q·Re s + (i·q)·Im s: (G..., n, 2, K+1)
    return _pairs(torch.cat([drive, carry], -2)).flatten(-2).flatten(0, -3)            # (P, T + 2, 2(K+1))


def block_map(log_pole: torch.Tensor, beta: torch.Tensor, readout: torch.Tensor, *, block: int) -> torch.Tensor:
    """(G·R, b + 2n, b): [x_{kb+τ} for τ < b, S_k] → z_{kb+t} for t < b, with readout r (G..., R, n)."""
    log_pole, beta = log_pole[..., None, :], beta[..., None, :]                        # (G..., 1, n)
    taps = ssm.power_sum(readout * beta, log_pole, block)                              # (G..., R, b)
    drive = _toeplitz(taps).transpose(-1, -2)                                          # (G..., R, b, b)
    t = torch.arange(1, block + 1, device=log_pole.device, dtype=log_pole.real.dtype)
    read = readout[..., None] * ssm.powers(log_pole, t)                                # (G..., R, n, b)
    # Re(w·S) = Re w·Re S − Im w·Im S: rows for Re S_k and Im S_k
    state = _pairs(read.conj()).movedim(-1, -2).flatten(-3, -2)                        # (G..., R, 2n, b)
    return torch.cat([drive, state], -2).flatten(0, -3)


def build_plan(mode: str, ops, *, length: int, skip: torch.Tensor | None) -> ChunkPlan:
    """Freeze `ops` (a layer's `Operands`) for chunks of `length` samples."""
    readout, w_out = channel_readout(mode, ops)
    b = block_length(length, ops.log_pole.shape[-1], readout.shape[-2])
    outputs = ops.log_pole.shape[0] if w_out is None else w_out.shape[0]
    skip_t = None if skip is None else skip.detach().t().contiguous()
    return ChunkPlan(mode, outputs, readout.shape[-2], state_map(ops.log_pole, ops.beta, length=length, block=b),
                     block_map(ops.log_pole, ops.beta, readout, block=b),
                     None if ops.w_in is None else ops.w_in.detach(),
                     None if w_out is None else w_out.detach().t().contiguous(), skip_t)


def _drive(plan: ChunkPlan, u_t: torch.Tensor) -> torch.Tensor:
    """Time-major input u_t (B·T, C) → channel-major drive x (G, B·T)."""
    if plan.w_in is not None:
        return torch.mm(plan.w_in, u_t.t())                                            # (M|J, B·T)
    if plan.mode == "full":
        return u_t.t().expand(plan.outputs, -1, -1).reshape(-1, u_t.shape[0])          # (D·C, B·T)
    return u_t.t()                                                                     # (C, B·T)


def _collapse(plan: ChunkPlan, z: torch.Tensor) -> torch.Tensor:
    """Channel-major outputs z (G·R, B·T) → time-major y_t (B·T, C|D)."""
    if plan.w_out_t is not None:
        return torch.mm(z.t(), plan.w_out_t)
    if plan.mode == "full":
        return z.view(plan.outputs, -1, z.shape[1]).sum(1).t()
    return z.t()


def run_plan(plan: ChunkPlan, u: torch.Tensor, state: torch.Tensor):
    """One chunk u: (B, C, T) from state (B, P..., 2) → (y (B, C|D, T), new state). Real ops only.

    y is time-major in memory (a transposed view), which is what the next layer reads fastest."""
    B, C, T = u.shape
    K, n, R = plan.blocks, state.shape[-2], plan.readouts
    u_t = u.transpose(1, 2).reshape(B * T, C)                    # a view when u is time-major
    x = _drive(plan, u_t)                                        # (G, B·T)
    G = x.shape[0]
    s = state.reshape(B, G * n, 2).transpose(0, 1)               # (G·n, B, 2)
    x_poles = x.view(G, B, T) if n == 1 else x.view(G, 1, B, T).expand(G, n, B, T).reshape(G * n, B, T)
    starts = torch.bmm(torch.cat([x_poles, s], -1), plan.state_map).view(G, n, B, K + 1, 2)
    carried = starts[:, :, :, :K].permute(0, 2, 3, 1, 4).reshape(G, B * K, 2 * n)
    blocks = torch.cat([x.reshape(G, B * K, T // K), carried], -1)                     # (G, B·K, b + 2n)
    if R > 1:
        blocks = blocks.repeat_interleave(R, 0)                                        # (G·R, B·K, b + 2n)
    y = _collapse(plan, torch.bmm(blocks, plan.block_map).view(G * R, B * T))          # (B·T, C|D)
    if plan.skip_t is not None:
        y = y + u_t * plan.skip_t if plan.mode == "dws" else torch.addmm(y, u_t, plan.skip_t)
    new_state = starts[:, :, :, K].permute(2, 0, 1, 3).reshape(state.shape).contiguous()
    return y.view(B, T, -1).transpose(1, 2), new_state
