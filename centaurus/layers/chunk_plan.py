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
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .. import ssm


@dataclass(frozen=True)
class ChunkPlan:
    """dws, s5 and neck for chunks of T = K·b samples: P poles in G channels of n (module docstring)."""

    readouts: int                       # R
    blocks: int                         # K
    state_map: torch.Tensor             # (P, T + 2, 2(K+1)): [x, Re s, Im s] → S_k of one pole, as (k, re|im)
    block_map: torch.Tensor             # (G·R, b + 2n, b): [x block, S_k] → z block of one readout
    w_in: torch.Tensor | None           # (M, C) drive projection of s5 and neck
    w_out_t: torch.Tensor | None        # (G·R, D) real readout projection of s5 and neck, transposed
    skip_t: torch.Tensor | None         # D_skip: (C,) for dws, else transposed (C, D)


@dataclass(frozen=True)
class FullChunkPlan:
    """full for chunks of T = K·b samples: poles (D, C, N), drives c, outputs d (module docstring)."""

    block: int                          # b
    blocks: int                         # K
    drive_map: torch.Tensor             # (C, T, K·D·N·2): x_c → driven part of S_k, k = 1 … K
    taps: torch.Tensor                  # (C·b, D·b): Toeplitz blocks (transposed) of every (d, c) pair
    carry_t: torch.Tensor               # (D, T, C·N·2): s → Re Σ E p^{t+1} s over the chunk, transposed
    decay: torch.Tensor                 # (2, D, C, N, 2): p^T s = s·decay[0] + (Im s, Re s)·decay[1]
    skip_t: torch.Tensor | None         # D_skip transposed, (C, D)

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
        (D, C, N) = ops.log_pole.shape
        P = D * C * N
        b = block_length(length, _full_cost(length, P, D * C))
        return max(P * length * 2 * (length // b), P * 2 * length, C * D * b * b)
    readouts = channel_readout(mode, ops)[0].shape[-2]
    channels, n = ops.log_pole.shape[:-1].numel(), ops.log_pole.shape[-1]
    b = block_length(length, _channel_cost(length, n, readouts))
    return channels * max(n * (length + 2) * 2 * (length // b + 1), (b + 2 * n) * readouts * b)


class PlanOperands(NamedTuple):
    """What a plan is built from, complex numbers as (real, imaginary) pairs (..., 2): small tensors, from which
    `plan_from_operands` builds a plan in real arithmetic only, so that an exported graph can hold these and
    build its plans itself rather than hold the plans."""

    log_pole: torch.Tensor              # (G, n, 2) or full (D, C, N, 2)
    beta: torch.Tensor                  # as log_pole
    readout: torch.Tensor               # (G, R, n, 2) or full (D, C, N, 2)
    w_in: torch.Tensor | None
    w_out_t: torch.Tensor | None
    skip_t: torch.Tensor | None


def plan_operands(mode: str, ops, *, skip: torch.Tensor | None) -> PlanOperands:
    """A layer's `Operands` in the real form `plan_from_operands` takes."""
    beta = torch.broadcast_to(ops.beta, ops.log_pole.shape)
    readout, w_out = (ops.readout, None) if mode == "full" else channel_readout(mode, ops)
    pairs = [torch.view_as_real(z.detach().resolve_conj().contiguous()) for z in (ops.log_pole, beta, readout)]
    return PlanOperands(*pairs, None if ops.w_in is None else ops.w_in.detach(),
                        None if w_out is None else w_out.detach().t().contiguous(),
                        None if skip is None else skip.detach().t().contiguous())


def _mul(a, b):
    """Complex product of (real, imaginary) pairs."""
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


def _split(pairs: torch.Tensor, *, lift: bool = True):
    """(..., 2) → (real, imaginary), each (..., 1) with `lift` (to broadcast against exponents), else (...)."""
    return (pairs[..., 0:1], pairs[..., 1:2]) if lift else (pairs[..., 0], pairs[..., 1])


def _floor(dtype: torch.dtype) -> float:
    """log of the smallest power kept: tiny^0.45, as `ssm.powers` (products of two stay normal numbers)."""
    return 0.45 * math.log(torch.finfo(dtype).tiny)


def _powers(log_pole: torch.Tensor, exponents: torch.Tensor):
    """p^e (..., n, E) as a pair, from log p (..., n, 2): `ssm.powers` in real arithmetic (angles wrapped in
    double precision; powers that would be subnormal set to zero)."""
    log_magnitude = log_pole[..., 0:1] * exponents
    floor = _floor(log_magnitude.dtype)
    magnitude = torch.exp(log_magnitude.clamp(min=floor)).masked_fill(log_magnitude < floor, 0)
    turns = log_pole[..., 1:2].double() * exponents.double()
    angle = (torch.remainder(turns + math.pi, 2 * math.pi) - math.pi).to(log_magnitude.dtype)
    return magnitude * torch.cos(angle), magnitude * torch.sin(angle)


def _taps(weight: torch.Tensor, log_pole: torch.Tensor, length: int) -> torch.Tensor:
    """h_j = Re Σ_n w_n p_n^j for j < length, from pairs (..., n, 2): (..., length)."""
    return _power_table(weight, log_pole, start=0, length=length)[..., 0].sum(-2)


def _power_table(weight: torch.Tensor, log_pole: torch.Tensor, *, start: int, length: int) -> torch.Tensor:
    """w·p^e for e = start … start + length − 1, pairs (..., n, length, 2) from pairs (..., n, 2). Made as the
    products p^{k·c}·p^j of two tables of about √length powers each (c ≈ √length, j < c), in one matrix
    product: an ONNX runtime holds every intermediate tensor while it folds a plan when it loads a graph, so
    few may have the full size."""
    inner = math.isqrt(max(length - 1, 0)) + 1
    outer = -(-length // inner)
    dtype, device = log_pole.dtype, log_pole.device
    n_re, n_im = _powers(log_pole, torch.arange(inner, device=device, dtype=dtype))             # (..., n, c)
    far = _mul(_split(weight), _powers(log_pole, torch.arange(outer, device=device, dtype=dtype) * inner + start))
    # (Re f, Im f)·[[Re p^j, Im p^j], [−Im p^j, Re p^j]] = (Re, Im) of f·p^j, for every j at once
    near = torch.stack([torch.stack([n_re, n_im], -1), torch.stack([-n_im, n_re], -1)], -3)     # (..., n, 2, c, 2)
    table = torch.matmul(torch.stack(far, -1), near.flatten(-2)).unflatten(-1, (inner, 2)).flatten(-3, -2)
    table = table if outer * inner == length else table[..., :length, :]
    # the floor of `_powers` on the product too: a plan's entries times activations must stay normal numbers
    exponents = torch.arange(start, start + length, device=device, dtype=dtype)
    return torch.where((log_pole[..., 0:1] * exponents < _floor(dtype))[..., None], 0, table)


def _driven_weights(log_pole, beta, *, length: int, starts: torch.Tensor) -> torch.Tensor:
    """β p^{k−1−τ} for τ < k, else 0, at each block start k: pairs (..., n, T, starts, 2), gathered from the T
    distinct powers."""
    tau = torch.arange(length, device=log_pole.device, dtype=starts.dtype)
    exponent = starts - 1 - tau[:, None]                                               # (T, starts)
    table = _power_table(beta, log_pole, start=0, length=length)                       # (..., n, T, 2)
    return torch.where((exponent >= 0)[..., None], table[..., exponent.clamp(min=0).long(), :], 0)


def state_map(log_pole: torch.Tensor, beta: torch.Tensor, *, length: int, block: int) -> torch.Tensor:
    """(P, T + 2, 2(K+1)): [x_τ, Re s, Im s] → S_k = p^{bk} s + Σ_{τ<bk} β p^{bk−1−τ} x_τ, k = 0 … K."""
    starts = torch.arange(length // block + 1, device=log_pole.device, dtype=log_pole.dtype) * block
    drive = _driven_weights(log_pole, beta, length=length, starts=starts)             # (G, n, T, K+1, 2)
    q_re, q_im = _powers(log_pole, starts)                                             # (G, n, K+1)
    # q·s = q·Re s + (i·q)·Im s
    carry = torch.stack([torch.stack([q_re, q_im], -1), torch.stack([-q_im, q_re], -1)], -3)  # (G, n, 2, K+1, 2)
    return torch.cat([drive, carry], -3).flatten(-2).flatten(0, -3)                    # (P, T + 2, 2(K+1))


def block_map(log_pole: torch.Tensor, beta: torch.Tensor, readout: torch.Tensor, *, block: int) -> torch.Tensor:
    """(G·R, b + 2n, b): [x_{kb+τ} for τ < b, S_k] → z_{kb+t} for t < b, with readout r (G, R, n, 2)."""
    log_pole, beta = log_pole[..., None, :, :], beta[..., None, :, :]                  # (G, 1, n, 2)
    taps = _taps(torch.stack(_mul(_split(readout, lift=False), _split(beta, lift=False)), -1), log_pole, block)
    drive = ssm.toeplitz(taps).transpose(-1, -2)                                       # (G, R, b, b)
    t = torch.arange(1, block + 1, device=log_pole.device, dtype=log_pole.dtype)
    re, im = _mul(_split(readout), _powers(log_pole, t))                               # (G, R, n, b)
    # Re(w·S) = Re w·Re S − Im w·Im S: rows for Re S_k and Im S_k
    state = torch.stack([re, -im], -2).flatten(-3, -2)                                 # (G, R, 2n, b)
    return torch.cat([drive, state], -2).flatten(0, -3)


def build_plan(mode: str, ops, *, length: int, skip: torch.Tensor | None) -> ChunkPlan | FullChunkPlan:
    """Freeze `ops` (a layer's `Operands`) for chunks of `length` samples."""
    return plan_from_operands(mode, plan_operands(mode, ops, skip=skip), length=length)


def plan_from_operands(mode: str, ops: PlanOperands, *, length: int) -> ChunkPlan | FullChunkPlan:
    """The plan for chunks of `length` samples, in real arithmetic only (traceable into an ONNX graph)."""
    if mode == "full":
        return _build_full(ops.log_pole, ops.beta, ops.readout, length=length, skip_t=ops.skip_t)
    readouts = ops.readout.shape[-3]
    b = block_length(length, _channel_cost(length, ops.log_pole.shape[-2], readouts))
    return ChunkPlan(readouts, length // b, state_map(ops.log_pole, ops.beta, length=length, block=b),
                     block_map(ops.log_pole, ops.beta, ops.readout, block=b), ops.w_in, ops.w_out_t, ops.skip_t)


def _build_full(log_pole, beta, readout, *, length: int, skip_t) -> FullChunkPlan:
    """The full plan from poles, input factors and readout E, all (D, C, N, 2) pairs."""
    (D, C, N, _), dtype = log_pole.shape, log_pole.dtype
    b = block_length(length, _full_cost(length, D * C * N, D * C))
    starts = torch.arange(1, length // b + 1, device=log_pole.device, dtype=dtype) * b   # S_0 has no drive
    drive = _driven_weights(log_pole, beta, length=length, starts=starts)             # (D, C, N, T, K, 2)
    # k outermost: the last state and the earlier ones are then whole runs of D·N·2 numbers, not strided
    drive = drive.permute(1, 3, 4, 0, 2, 5).flatten(2)                                 # (C, T, K·D·N·2)
    weight = torch.stack(_mul(_split(readout, lift=False), _split(beta, lift=False)), -1)
    taps = ssm.toeplitz(_taps(weight, log_pole, b))                                    # (D, C, b, b)
    taps = taps.permute(1, 3, 0, 2).flatten(2).flatten(0, 1)                           # (C·b(s), D·b(t))
    conj = torch.tensor([1.0, -1.0], device=log_pole.device, dtype=dtype)
    read = _power_table(readout * conj, log_pole * conj, start=1, length=length)      # conj: (D, C, N, T, 2)
    carry_t = read.permute(0, 3, 1, 2, 4).flatten(2)                                   # (D, T, C·N·2)
    q_re, q_im = (q[..., 0] for q in _powers(log_pole, torch.full((1,), length, device=log_pole.device, dtype=dtype)))
    decay = torch.stack([torch.stack([q_re, q_re], -1), torch.stack([-q_im, q_im], -1)])
    return FullChunkPlan(b, length // b, drive, taps, carry_t, decay, skip_t)


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
    driven = torch.bmm(x.view(C, B, T), plan.drive_map).view(C, B, K, D, N, 2)
    carried = torch.bmm(state.flatten(2).transpose(0, 1), plan.carry_map)              # (D, B, T)
    blocks = x.reshape(C, B * K, b).transpose(0, 1).reshape(B * K, C * b)
    z = carried.view(D, B * K, b) + torch.mm(blocks, plan.taps).view(B * K, D, b).transpose(0, 1)
    if K > 1:  # blocks after the first also start from a driven state
        S = driven[:, :, :-1].permute(3, 1, 2, 0, 4, 5)                                # (D, B, K−1, C, N, 2)
        S = torch.nn.functional.pad(S, (0, 0, 0, 0, 0, 0, 1, 0))                       # S_0 = 0: (D, B, K, C, N, 2)
        z = torch.baddbmm(z, S.view(D, B * K, -1), plan.read_map)
    decayed = torch.addcmul(state * plan.decay[0], state.flip(-1), plan.decay[1])     # p^T s
    new_state = decayed + driven[:, :, -1].permute(1, 2, 0, 3, 4)                      # (B, D, C, N, 2)
    return z.reshape(D, B * T).t(), new_state
