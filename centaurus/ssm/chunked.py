"""Causal depthwise convolution with SSM kernels by chunks, without FFTs: the state-passing form (spec §13.5).

One channel's kernel is h[l] = Re Σ_n w_n p_n^l. Cut L into Q chunks of T samples; chunk q holds
x[qT + s], s < T. Then

    y[qT + t] = Σ_{s≤t} h[t−s] x[qT+s]  +  Re Σ_n w_n p_n^{t+1} H_q[n]      (Toeplitz product, read-out)
    H_q = Σ_{j<q} P^{q−1−j} S_j,   S_j = Σ_s p^{T−1−s} x[jT+s],   P = p^T   (carried states, chunk-end sums)

The carried states run over the chunks in blocks of U ≈ √Q chunks: a dense (U+1, U) matrix of powers of P
within a block (its last row gives the block's end sum), then a dense one over the blocks. Every step is a
matrix product that autograd differentiates. The work is about B·M·L·(T + 4N) real multiply-adds, linear in
L, where the FFT path pays for 2L-point FFTs of every input and output channel: with one pole per channel
(s5) it costs half as much or less.
"""
import math
from typing import NamedTuple

import torch

from .._lazy import compile_disabled
from .kernel import powers

CHUNKS = (32, 64, 128, 256)  # candidate T: shorter chunks make matrix products too small to run efficiently
_FULL_RATE_CHUNKS = 64       # (Q, T)·(T, T) products with fewer rows than this run at a fraction of the rate


def toeplitz(taps: torch.Tensor) -> torch.Tensor:
    """(..., T) taps → (..., T, T) with [t, s] = taps[t − s] for s ≤ t, else 0."""
    T = taps.shape[-1]
    steps = torch.arange(T, device=taps.device)
    index = steps[:, None] - steps[None, :]
    return torch.where(index >= 0, taps[..., index.clamp(min=0)], taps.new_zeros(()))


def _blocks(chunks: int) -> tuple[int, int]:
    """(U, A): chunks per block and blocks, U ≈ √Q."""
    per_block = max(1, math.isqrt(chunks - 1) + 1) if chunks > 1 else 1
    return per_block, -(-chunks // per_block)


def chunked_flops(batch: int, channels: int, states: int, length: int, chunk: int) -> float:
    """Real flops of `chunked_conv` (forward): the three products over every sample, then the carried states.
    Each counts at the rate it runs at, relative to large products: the complex ones double, and products of
    fewer than `_FULL_RATE_CHUNKS` chunks as that many (benchmarks/contraction_orders.py)."""
    chunks = -(-length // chunk)
    U, A = _blocks(chunks)
    products = 2 * batch * channels * max(chunks, _FULL_RATE_CHUNKS) * chunk * (chunk + 4 * states)
    scan = 16 * batch * channels * states * (A * (U + 1) * U + A * A)
    return float(products + scan)


def best_chunk(batch: int, channels: int, states: int, length: int) -> tuple[int, float]:
    """(T, flops) of the cheapest chunk length."""
    return min(((T, chunked_flops(batch, channels, states, length, T)) for T in CHUNKS), key=lambda c: c[1])


class ChunkedKernel(NamedTuple):
    """The operands of `chunked_conv` for one length and chunk: M channels of N poles, T = chunk."""

    toeplitz: torch.Tensor    # (M, T, T) real: [s, t] = h[t − s]
    to_state: torch.Tensor    # (M, T, 2N) real: x[s] → (Re, Im) of S, weights p^{T−1−s}
    readout: torch.Tensor     # (M, 2N, T) real: (Re, Im) of H → y[t], weights w p^{t+1}
    within: torch.Tensor      # (M, N, U+1, U) complex: P^{c−1−j} for j < c
    across: torch.Tensor      # (M, N, A, A) complex: P^{U(a−1−a')} for a' < a
    entry: torch.Tensor       # (M, N, U, 1) complex: P^c


def _lag_powers(log_pole: torch.Tensor, step: int, rows: int, cols: int) -> torch.Tensor:
    """(..., rows, cols): p^{step·(i−1−j)} where i − 1 − j ≥ 0, else 0."""
    steps = torch.arange(max(rows, cols), device=log_pole.device)
    lag = steps[:rows, None] - steps[None, :cols] - 1
    exponent = step * lag.clamp(min=0)
    return powers(log_pole, exponent.flatten()).unflatten(-1, exponent.shape) * (lag >= 0)


def chunked_kernel(weight: torch.Tensor, log_pole: torch.Tensor, length: int, chunk: int) -> ChunkedKernel:
    """The operands of `chunked_conv` for kernels h_m[l] = Re Σ_n weight[m,n]·p[m,n]^l.

    Args:
        weight, log_pole: complex (M, N).
        length: L.
        chunk: T.
    """
    real = log_pole.real.dtype
    steps = torch.arange(chunk + 1, device=log_pole.device, dtype=real)
    near = powers(log_pole, steps)                                              # (M, N, T+1): p^0 … p^T
    taps = (weight[..., None] * near[..., :chunk]).real.sum(-2)                   # (M, T)
    decay = near[..., :chunk].flip(-1)                                            # p^{T−1−s}
    read = weight[..., None] * near[..., 1:]                                      # w p^{t+1}
    # Re(w p^{t+1} H) = Re H·Re(w p^{t+1}) − Im H·Im(w p^{t+1})
    U, A = _blocks(-(-length // chunk))
    block_steps = torch.arange(U, device=log_pole.device, dtype=real)
    return ChunkedKernel(toeplitz(taps).transpose(-1, -2),
                         torch.cat([decay.real, decay.imag], -2).transpose(-1, -2),
                         torch.cat([read.real, -read.imag], -2),
                         _lag_powers(log_pole, chunk, U + 1, U),
                         _lag_powers(log_pole, chunk * U, A, A),
                         powers(log_pole, chunk * block_steps)[..., None])


@compile_disabled  # complex products, as in fft_conv
def chunked_conv(x: torch.Tensor, kernel: ChunkedKernel) -> torch.Tensor:
    """y[b, m] = h_m * x[b, m], causal, from a zero state, for the kernels of `chunked_kernel`. x: (B, M, L) →
    (B, M, L), in fp32 (fp64 for double operands), autocast off."""
    B, M, L = x.shape
    T, N, U = kernel.toeplitz.shape[-1], kernel.to_state.shape[-1] // 2, kernel.within.shape[-1]
    Q, A = -(-L // T), kernel.across.shape[-1]
    with torch.autocast(x.device.type, enabled=False):
        x = x.to(kernel.toeplitz.dtype)
        chunks = (x if Q * T == L else torch.nn.functional.pad(x, (0, Q * T - L))).reshape(B, M, Q, T)
        y = torch.matmul(chunks, kernel.toeplitz)                                 # (B, M, Q, T)
        sums = torch.matmul(chunks, kernel.to_state)                              # (B, M, Q, 2N)
        sums = torch.complex(sums[..., :N], sums[..., N:]).permute(1, 3, 2, 0)    # (M, N, Q, B)
        sums = torch.nn.functional.pad(sums, (0, 0, 0, A * U - Q)).unflatten(2, (A, U))
        inner = torch.matmul(kernel.within[:, :, None], sums)                     # (M, N, A, U+1, B)
        entering = torch.matmul(kernel.across, inner[:, :, :, U])                 # (M, N, A, B)
        states = inner[:, :, :, :U] + kernel.entry[:, :, None] * entering[:, :, :, None]
        states = states.flatten(2, 3)[:, :, :Q].permute(3, 0, 2, 1)               # (B, M, Q, N)
        y = y + torch.matmul(torch.cat([states.real, states.imag], -1), kernel.readout)
        return y.view(B, M, Q * T)[..., :L]
