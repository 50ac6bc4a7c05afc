"""A layer's streaming operands frozen for chunks of exactly T samples: the chunked scan of spec §13.5.

Every mode is a bank of diagonal complex poles, each driven by one real input x and read out with complex
weights r. The chunk is cut into K blocks of b samples (T = K·b). With S_k the state at the start of block k,

    S_k = p^{bk} s + Σ_{τ<bk} β p^{bk−1−τ} x_τ                          k = 0 … K; S_K is the new state
    z_{kb+t} = Σ_{τ≤t} h_{t−τ} x_{kb+τ} + Re Σ r p^{t+1} S_k             h_j = Re Σ r β p^j

so a chunk costs about P·2T·(T/b + 1) + T·b·(taps per sample) multiply-adds instead of the P·T² of one
Toeplitz product, with b near √(2T). Complex numbers are (real, imaginary) pairs, so the same code runs fast
on CPU and exports to runtimes without complex types (ONNX). Plans are built from a layer's `Operands`.

A chunk is a few dozen small tensor operations, so their count, not their arithmetic, sets the cost:
products are `mm`/`bmm` on ready-made shapes, and activations stay time-major ((B·T, C) in memory) between
layers, the layout that matrix products and a norm over channels read without copies. Two layouts:

* `ChunkPlan` (dws, s5, neck): channels g, each with n poles on one drive x_g and R outputs z_g, y = W_out z
  (dws: x = u, y = z; s5: x = W_in u, R = 2 for a complex W_out; neck: x = W_in u). Two batched products:
  [x, s] → every S_k, one pole at a time, then [x block, S_k] → z block, one channel at a time.
* `FullChunkPlan` (full): D·C·N poles but only C drives, so products run per drive or per output d, never per
  pole: x → the driven part of every S_k per drive, the blocks against the (d, c) Toeplitz taps as one
  product, the driven S_k and the carried state read out per d, and s' = p^T s + driven S_K elementwise.
"""
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import ssm


@dataclass(frozen=True)
class ChunkPlan:
    """dws, s5 and neck for chunks of T = K·b samples: P poles in G channels of n (module docstring)."""

    readouts: int                       # R
    state_map: torch.Tensor             # (P, T + 2, 2(K+1)): [x, Re s, Im s] → S_k of one pole, as (k, re|im)
    block_map: torch.Tensor             # (G·R, b + 2n, b): [x block, S_k] → z block of one readout
    w_in: torch.Tensor | None           # (M, C) drive projection of s5 and neck
    w_out_t: torch.Tensor | None        # (G·R, D) real readout projection of s5 and neck, transposed
    skip_t: torch.Tensor | None         # D_skip: (C,) for dws, else transposed (C, D)

    @property
    def blocks(self) -> int:
        return self.state_map.shape[-1] // 2 - 1


@dataclass(frozen=True)
class FullChunkPlan:
    """full for chunks of T = K·b samples: poles (D, C, N), drives c, outputs d (module docstring)."""

    block: int                          # b
    drive_map: torch.Tensor             # (C, T, D·N·K·2): x_c → driven part of S_k, k = 1 … K
    taps: torch.Tensor                  # (C·b, D·b): Toeplitz blocks (transposed) of every (d, c) pair
    carry_t: torch.Tensor               # (D, T, C·N·2): s → Re Σ E p^{t+1} s over the chunk, transposed
    decay: torch.Tensor                 # (2, D, C, N, 2): p^T s = s·decay[0] + (Im s, Re s)·decay[1]
    skip_t: torch.Tensor | None         # D_skip transposed, (C, D)

    @property
    def blocks(self) -> int:
        return self.carry_t.shape[1] // self.block

    @property
    def carry_map(self) -> torch.Tensor:
        """(D, C·N·2, T), as a transposed view: bmm is several times faster on it for one or two samples."""
        return self.carry_t.transpose(1, 2)

    @property
    def read_map(self) -> torch.Tensor:
        """(D, C·N·2, b): S_k → its block's outputs, the first block's columns of `carry_map`."""
        return self.carry_map[:, :, : self.block]


def block_length(length: int, cost: Callable[[int], int]) -> int:
    """The divisor b of T with the lowest `cost(b)` (multiply-adds)."""
    return min((b for b in range(1, length + 1) if length % b == 0), key=cost)


def _channel_cost(length: int, states: int, readouts: int) -> Callable[[int], int]:
    """Per channel: the states at the block starts, then the blocks."""
    return lambda b: states * (length + 2) * 2 * (length // b + 1) + length * (b + 2 * states) * readouts


def _full_cost(length: int, poles: int, pairs: int) -> Callable[[int], int]:
    """The driven states at the block starts, then the Toeplitz blocks of every (d, c) pair."""
    return lambda b: poles * 2 * length * (length // b) + length * b * pairs


def channel_readout(mode: str, ops) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Readout weights r (G, R, n) of the channel form of `ops`, and the real W_out (D, G·R) or None."""
    if mode != "s5" or not ops.w_out.is_complex():
        return ops.readout[..., None, :], ops.w_out
    # Re(w·s) = Re w·Re s − Im w·Im s, with Re s = Re(1·s) and Im s = Re(−i·s): two readouts per mode
    readout = torch.stack([ops.readout, -1j * ops.readout], -2)                      # (M, 2, 1)
    return readout, torch.stack([ops.w_out.real, -ops.w_out.imag], -1).flatten(-2)     # (D, M·2)


def plan_size(mode: str, ops, *, length: int) -> int:
    """Entries of the largest tensor of the plan `build_plan` would make."""
    if mode == "full":
        (D, C, _), P = ops.log_pole.shape, ops.log_pole.numel()
        b = block_length(length, _full_cost(length, P, D * C))
        return max(P * length * 2 * (length // b), P * 2 * length, C * D * b * b)
    readouts = channel_readout(mode, ops)[0].shape[-2]
    channels, n = ops.log_pole.shape[:-1].numel(), ops.log_pole.shape[-1]
    b = block_length(length, _channel_cost(length, n, readouts))
    return channels * max(n * (length + 2) * 2 * (length // b + 1), (b + 2 * n) * readouts * b)


def _pairs(z: torch.Tensor) -> torch.Tensor:
    """complex (...) → real (..., 2) as (real, imaginary)."""
    return torch.stack([z.real, z.imag], -1)


def _driven_weights(log_pole, beta, *, length: int, starts: torch.Tensor) -> torch.Tensor:
    """β p^{k−1−τ} for τ < k, else 0, at each block start k: complex (..., n, T, starts)."""
    tau = torch.arange(length, device=log_pole.device, dtype=starts.dtype)
    exponent = starts - 1 - tau[:, None]                                               # (T, starts)
    weight = beta[..., None] * ssm.powers(log_pole, exponent.clamp(min=0).flatten())
    return weight.unflatten(-1, exponent.shape) * (exponent >= 0)


def state_map(log_pole: torch.Tensor, beta: torch.Tensor, *, length: int, block: int) -> torch.Tensor:
    """(P, T + 2, 2(K+1)): [x_τ, Re s, Im s] → S_k = p^{bk} s + Σ_{τ<bk} β p^{bk−1−τ} x_τ, k = 0 … K."""
    starts = torch.arange(length // block + 1, device=log_pole.device, dtype=log_pole.real.dtype) * block
    drive = _driven_weights(log_pole, beta, length=length, starts=starts)             # (G, n, T, K+1)
    q = ssm.powers(log_pole, starts)                                                   # (G, n, K+1)
    carry = torch.stack([q, 1j * q], -2)                        # q·s = q·Re s + (i·q)·Im s: (G, n, 2, K+1)
    return _pairs(torch.cat([drive, carry], -2)).flatten(-2).flatten(0, -3)            # (P, T + 2, 2(K+1))


def block_map(log_pole: torch.Tensor, beta: torch.Tensor, readout: torch.Tensor, *, block: int) -> torch.Tensor:
    """(G·R, b + 2n, b): [x_{kb+τ} for τ < b, S_k] → z_{kb+t} for t < b, with readout r (G, R, n)."""
    log_pole, beta = log_pole[..., None, :], beta[..., None, :]                        # (G, 1, n)
    taps = ssm.power_sum(readout * beta, log_pole, block)                              # (G, R, b)
    drive = ssm.toeplitz(taps).transpose(-1, -2)                                       # (G, R, b, b)
    t = torch.arange(1, block + 1, device=log_pole.device, dtype=log_pole.real.dtype)
    read = readout[..., None] * ssm.powers(log_pole, t)                                # (G, R, n, b)
    # Re(w·S) = Re w·Re S − Im w·Im S: rows for Re S_k and Im S_k
    state = _pairs(read.conj()).movedim(-1, -2).flatten(-3, -2)                        # (G, R, 2n, b)
    return torch.cat([drive, state], -2).flatten(0, -3)


def build_plan(mode: str, ops, *, length: int, skip: torch.Tensor | None) -> ChunkPlan | FullChunkPlan:
    """Freeze `ops` (a layer's `Operands`) for chunks of `length` samples."""
    beta = torch.broadcast_to(ops.beta, ops.log_pole.shape)
    skip_t = None if skip is None else skip.detach().t().contiguous()
    if mode == "full":
        return _build_full(ops.log_pole, beta, ops.readout, length=length, skip_t=skip_t)
    readout, w_out = channel_readout(mode, ops)
    b = block_length(length, _channel_cost(length, ops.log_pole.shape[-1], readout.shape[-2]))
    return ChunkPlan(readout.shape[-2], state_map(ops.log_pole, beta, length=length, block=b),
                     block_map(ops.log_pole, beta, readout, block=b),
                     None if ops.w_in is None else ops.w_in.detach(),
                     None if w_out is None else w_out.detach().t().contiguous(), skip_t)


def _build_full(log_pole, beta, readout, *, length: int, skip_t) -> FullChunkPlan:
    """The full plan from poles, input factors and readout E, all (D, C, N)."""
    (D, C, _), dtype = log_pole.shape, log_pole.real.dtype
    b = block_length(length, _full_cost(length, log_pole.numel(), D * C))
    starts = torch.arange(1, length // b + 1, device=log_pole.device, dtype=dtype) * b   # S_0 has no drive
    drive = _driven_weights(log_pole, beta, length=length, starts=starts)             # (D, C, N, T, K)
    drive = _pairs(drive).permute(1, 3, 0, 2, 4, 5).flatten(2)                         # (C, T, D·N·K·2)
    taps = ssm.power_sum(readout * beta, log_pole, b)                                  # (D, C, b)
    taps = ssm.toeplitz(taps).permute(1, 3, 0, 2).flatten(2).flatten(0, 1)           # (C·b(s), D·b(t))
    t = torch.arange(1, length + 1, device=log_pole.device, dtype=dtype)
    read = _pairs((readout[..., None] * ssm.powers(log_pole, t)).conj())              # (D, C, N, T, 2)
    carry_t = read.permute(0, 3, 1, 2, 4).flatten(2)                                   # (D, T, C·N·2)
    q = ssm.powers(log_pole, torch.tensor([length], device=log_pole.device))[..., 0]
    decay = torch.stack([torch.stack([q.real, q.real], -1), torch.stack([-q.imag, q.imag], -1)])
    return FullChunkPlan(b, drive, taps, carry_t, decay, skip_t)


def run_plan(plan: ChunkPlan | FullChunkPlan, u: torch.Tensor, state: torch.Tensor):
    """One chunk u: (B, C, T) from state (B, P..., 2) → (y (B, C|D, T), new state). Real ops only.

    y is time-major in memory (a transposed view), which is what the next layer reads fastest."""
    B, C, T = u.shape
    u_t = u.transpose(1, 2).reshape(B * T, C)                    # a view when u is time-major
    run = _run_full if isinstance(plan, FullChunkPlan) else _run_channels
    y, new_state = run(plan, u_t, state, B, T)                   # (B·T, C|D)
    if plan.skip_t is not None:
        y = y + u_t * plan.skip_t if plan.skip_t.dim() == 1 else torch.addmm(y, u_t, plan.skip_t)  # dws: (C,)
    return y.view(B, T, -1).transpose(1, 2), new_state


def _run_channels(plan: ChunkPlan, u_t: torch.Tensor, state: torch.Tensor, B: int, T: int):
    """dws, s5, neck: time-major u_t (B·T, C) and state (B, G, n, 2) → (y_t (B·T, C|D), new state)."""
    K, n, R = plan.blocks, state.shape[-2], plan.readouts
    x = u_t.t() if plan.w_in is None else torch.mm(plan.w_in, u_t.t())                # (G, B·T)
    G = x.shape[0]
    s = state.reshape(B, G * n, 2).transpose(0, 1)                                     # (G·n, B, 2)
    x_poles = x.view(G, B, T) if n == 1 else x.view(G, 1, B, T).expand(G, n, B, T).reshape(G * n, B, T)
    starts = torch.bmm(torch.cat([x_poles, s], -1), plan.state_map).view(G, n, B, K + 1, 2)
    carried = starts[:, :, :, :K].permute(0, 2, 3, 1, 4).reshape(G, B * K, 2 * n)
    blocks = torch.cat([x.reshape(G, B * K, T // K), carried], -1)                     # (G, B·K, b + 2n)
    if R > 1:
        blocks = blocks.repeat_interleave(R, 0)                                        # (G·R, B·K, b + 2n)
    z = torch.bmm(blocks, plan.block_map).view(G * R, B * T)
    y = z.t() if plan.w_out_t is None else torch.mm(z.t(), plan.w_out_t)
    return y, starts[:, :, :, K].permute(2, 0, 1, 3).reshape(state.shape).contiguous()


def _run_full(plan: FullChunkPlan, u_t: torch.Tensor, state: torch.Tensor, B: int, T: int):
    """full: time-major u_t (B·T, C) and state (B, D, C, N, 2) → (y_t (B·T, D), new state)."""
    K, b, (D, C, N) = plan.blocks, plan.block, state.shape[1:4]
    # bmm takes a slow path on the odd strides of a transposed view, even where they are contiguous
    x = u_t.t().clone(memory_format=torch.contiguous_format)                          # (C, B·T)
    driven = torch.bmm(x.view(C, B, T), plan.drive_map).view(C, B, D, N, K, 2)
    carried = torch.bmm(state.flatten(2).transpose(0, 1), plan.carry_map)              # (D, B, T)
    blocks = x.reshape(C, B * K, b).transpose(0, 1).reshape(B * K, C * b)
    z = carried.view(D, B * K, b) + torch.mm(blocks, plan.taps).view(B * K, D, b).transpose(0, 1)
    if K > 1:  # blocks after the first also start from a driven state
        S = driven[..., :-1, :].permute(2, 1, 4, 0, 3, 5)                              # (D, B, K−1, C, N, 2)
        S = torch.nn.functional.pad(S, (0, 0, 0, 0, 0, 0, 1, 0))                       # S_0 = 0: (D, B, K, C, N, 2)
        z = torch.baddbmm(z, S.view(D, B * K, -1), plan.read_map)
    decayed = torch.addcmul(state * plan.decay[0], state.flip(-1), plan.decay[1])     # p^T s
    new_state = decayed + driven[..., -1, :].permute(1, 2, 0, 3, 4)                    # (B, D, C, N, 2)
    return z.reshape(D, B * T).t(), new_state
