"""Contraction order of the bottleneck modes (s5, neck), chosen per shape by a cost model (spec §13.4).

The bottleneck map is  y[b,d] = Re Σ_m W_out[d,m] · (h_m * (W_in u)_m)[b]  with per-channel kernels
h_m[l] = Σ_n w[m,n]·p_{m,n}^l. Three orders compute it:

* kernel-first: assemble K[d,c,l] = Re Σ_{m,n} W_out[d,m] W_in[m,c] w[m,n] p^l, then one full FFT conv;
* project-first: x = W_in u, a depthwise FFT conv of the M channels, then W_out x;
* frequency: one multi-operand contraction 'bcf,mf,mc,dm->bdf' of the spectra, ordered by opt_einsum
  (projections per frequency bin, or the C·D kernel spectra assembled from the M channel spectra);
* chunked: project first, but filter the M channels by chunks (`centaurus.ssm.chunked`), with no FFT.

Costs count real flops of the FFTs, the kernel generation and the contractions, and depend on the length;
the frequency order's per-bin products count double, for the rate they run at.
The choice, and the chunked order's chunk length, are cached per (B, C, D, M, N, L, complex readout).
"""
import functools
import math
from dataclasses import dataclass

import opt_einsum
import torch

from .._lazy import compile_disabled
from .chunked import best_chunk, chunked_conv, chunked_kernel
from .fftconv import _causal, _spectrum, fft_conv
from .kernel import power_sum

ORDERS = ("kernel-first", "project-first", "frequency", "chunked")
FREQUENCY_EQUATION = "bcf,mf,mc,dm->bdf"
_MEMORY_CAP = 2**30  # bytes of the largest intermediate an order may create


@dataclass(frozen=True)
class ContractionPlan:
    """The chosen order, its estimated flops, and every candidate's (flops, bytes) for inspection; the frequency
    order's opt_einsum path and the chunked order's chunk length when chosen."""

    order: str
    flops: float
    candidates: tuple[tuple[str, float, float], ...]
    path: tuple[tuple[int, ...], ...] | None = None
    chunk: int | None = None


def fft_flops(length: int) -> float:
    """Real flops of one real FFT of size 2L (≈ 2.5·n·log2 n)."""
    n = 2 * max(length, 1)
    return 2.5 * n * math.log2(n)


@functools.lru_cache(maxsize=512)
def choose_contraction(batch: int, in_channels: int, out_channels: int, channels: int, states: int,
                       length: int, complex_readout: bool = False) -> ContractionPlan:
    """Pick the cheapest order for one bottleneck shape.

    Args:
        batch, in_channels, out_channels: B, C, D.
        channels: bottleneck width M (J·N for s5, J for neck).
        states: poles per bottleneck channel N' (1 for s5, N for neck).
        length: L.
        complex_readout: whether W_out is complex (doubles the real kernels of the spectral orders).
    """
    B, C, D, M, N, L = batch, in_channels, out_channels, channels, states, length
    F = L + 1
    Mr = 2 * M if complex_readout else M       # real kernels the spectral orders need
    fft = fft_flops(L)
    kernel_first = (8 * D * C * M * N * L + (B * C + C * D + B * D) * fft + 8 * B * C * D * F,
                    8 * D * C * F)
    project_first = (8 * Mr * N * L + 2 * B * Mr * L * (C + D) + (2 * B * Mr + Mr) * fft + 6 * B * Mr * F,
                     8 * B * Mr * F)
    path, info = opt_einsum.contract_path(FREQUENCY_EQUATION, (B, C, F), (Mr, F), (Mr, C), (D, Mr),
                                          shapes=True, optimize="optimal")
    # opt_cost counts 2 per multiply-add, a complex one is 8 real flops: 4×. The per-bin products run at about half
    # the FFTs' flop rate (benchmarks/contraction_orders.py), hence 8×.
    frequency = (8 * Mr * N * L + (B * C + Mr + B * D) * fft + 8 * float(info.opt_cost),
                 8 * float(info.largest_intermediate))
    chunk, filter_flops = best_chunk(B, Mr, N, L)
    chunked = (2 * B * Mr * L * (C + D) + filter_flops, 4 * B * Mr * L)
    candidates = (("kernel-first", *kernel_first), ("project-first", *project_first),
                  ("frequency", *frequency), ("chunked", *chunked))
    fitting = [c for c in candidates if c[2] <= _MEMORY_CAP] or list(candidates)
    order, flops, _ = min(fitting, key=lambda c: c[1])
    return ContractionPlan(order, flops, candidates, tuple(path) if order == "frequency" else None,
                           chunk if order == "chunked" else None)


def bottleneck_kernels(*, w_in: torch.Tensor, w_out: torch.Tensor, weight: torch.Tensor,
                       log_pole: torch.Tensor, length: int, order: str, chunk: int | None = None) -> tuple:
    """The kernel operands an order needs for length L (cacheable while the parameters do not change).

    Args:
        w_in: real (M, C). w_out: real or complex (D, M).
        weight, log_pole: complex (M, N'): channel kernel h_m[l] = Re Σ_n weight[m,n]·p[m,n]^l.
        chunk: the chunked order's chunk length.

    Returns:
        kernel-first: (K (D, C, L),); otherwise (h, W_in (M', C), W_out (D, M')) with h the (M', L) kernels
        (the chunked order: their `ChunkedKernel`), and M' = 2M when W_out is complex, since
        Re(W_out·h) = W_out.re·Re h − W_out.im·Im h.
    """
    if order == "kernel-first":
        full_weight = w_out[:, None, :, None] * w_in.T[None, :, :, None] * weight  # (D, C, M, N')
        return (power_sum(full_weight.flatten(-2), log_pole.flatten(), length),)   # (D, C, L)
    if w_out.is_complex():                                                         # Im h = Re(−i·h)
        weight, log_pole = torch.cat([weight, -1j * weight]), torch.cat([log_pole, log_pole])
        w_in, w_out = torch.cat([w_in, w_in]), torch.cat([w_out.real, -w_out.imag], dim=1)
    if order == "chunked":
        return chunked_kernel(weight, log_pole, length, chunk), w_in, w_out
    return power_sum(weight, log_pole, length), w_in, w_out                       # (M', L)


def bottleneck_apply(u: torch.Tensor, kernels: tuple[torch.Tensor, ...], plan: ContractionPlan) -> torch.Tensor:
    """Apply the bottleneck map with operands from `bottleneck_kernels`. u: (B, C, L) → (B, D, L)."""
    if plan.order == "kernel-first":
        return fft_conv(u, kernels[0])
    h, w_in, w_out = kernels
    if plan.order == "project-first":
        x = _pointwise(w_in, u)                                                    # (B, M', L)
        return _pointwise(w_out, fft_conv(x, h.to(x.dtype)))
    if plan.order == "chunked":
        return _pointwise(w_out, chunked_conv(_pointwise(w_in, u), h))
    return _frequency_contract(u, h, w_in, w_out, plan.path)


def _pointwise(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Σ_m weight[d, m]·x[b, m, l], as one matrix product per batch item against the broadcast weight. On the
    CPU its forward and backward take a half to a third of einsum's time, which moves the long axis into one
    matrix product and the result back through fresh tensors, and 15-70 % less than a 1×1 convolution's."""
    return torch.bmm(weight.expand(x.shape[0], -1, -1), x)


@compile_disabled  # complex spectra, as in fft_conv
def _frequency_contract(u, h, w_in, w_out, path):
    """The frequency order in one of its two forms, as opt_einsum's path puts it: when the input spectrum meets
    W_in first, project, filter and project, each product batched over the input's items; otherwise assemble
    the (C, D) kernel spectra from the M channel spectra, then one matrix product per bin, on frequency-major
    spectra: torch.einsum on channel-major ones left bmm's batch axis with unit stride, which CPU kernels loop
    over item by item (about 20 times slower)."""
    length = u.shape[-1]
    with torch.autocast(u.device.type, enabled=False):
        dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
        cplx = torch.complex128 if dtype == torch.float64 else torch.complex64
        spec_u = _spectrum(u.to(dtype), length)                                        # (B, C, F)
        spec_h = _spectrum(h.to(dtype), length)                                        # (M, F)
        w_in, w_out = w_in.to(cplx), w_out.to(cplx)
        if 0 in path[0]:
            return _causal(w_out @ ((w_in @ spec_u) * spec_h), length)                 # (B, D, L)
        C, D = u.shape[1], w_out.shape[0]
        pair = (w_in[:, :, None] * w_out.t()[:, None]).flatten(1)                      # (M, C·D)
        spec_k = (spec_h.t() @ pair).view(-1, C, D)                                    # (F, C, D)
        spec_y = torch.bmm(spec_u.permute(2, 0, 1).contiguous(), spec_k)               # (F, B, D)
        return _causal(spec_y.permute(1, 2, 0), length)                                # (B, D, L)
