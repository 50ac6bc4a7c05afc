"""Sums of damped complex exponentials without (…, N, L) tensors (spec §13.3b, blocked powers).

Write l = k·T + r with T ≈ √L. Then p^l = p^{kT}·p^r, and a sum over the modes n becomes a real matrix
product of an (…, K, 2N) and an (…, 2N, T) operand: only O(N·√L) powers are ever evaluated or stored, in
the forward pass and in autograd's backward alike.
"""
import math

import torch


def _block(length: int) -> tuple[int, int]:
    inner = max(1, math.isqrt(max(length - 1, 0)) + 1)  # T ≥ √L
    return inner, -(-length // inner)


def _dtypes(*tensors: torch.Tensor) -> tuple[torch.dtype, torch.dtype]:
    """(real, complex) working dtypes: double if any input is, else single."""
    wide = any(t.dtype in (torch.float64, torch.complex128) for t in tensors)
    return (torch.float64, torch.complex128) if wide else (torch.float32, torch.complex64)


def _tap_exponents(length: int, shift: int, real: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The exponents l + shift = k·T + (r + shift) of `length` taps, split as r + shift (T,) and the block
    indices k (K,): the far powers p^{kT} are taken as (p^T)^k, see `_log_power`."""
    inner, outer = _block(length)
    return (torch.arange(inner, device=device, dtype=real) + shift,
            torch.arange(outer, device=device, dtype=real))


def _log_power(log_pole: torch.Tensor, step: int) -> torch.Tensor:
    """log p^step with its phase wrapped into [−π, π), in double precision: the powers of p^step then have
    angles of at most a few hundred radians, where cos and sin are exact to fp32 and several times faster than
    at θ·step (tens of thousands of radians), whose fp32 product alone loses ~θ·step·2^-24 of phase."""
    phase = torch.remainder(log_pole.imag.double() * step + math.pi, 2 * math.pi) - math.pi
    return torch.complex(log_pole.real * step, phase.to(log_pole.real.dtype))


def _polar_powers(log_pole: torch.Tensor, exponents: torch.Tensor,
                  wrapped: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Re and Im of p^e, (..., N, E) each, as |p|^e·cos and |p|^e·sin: real exp, cos and sin vectorise,
    where torch's complex exp is several times slower. `wrapped` takes the angles θ·e modulo 2π in double
    precision: for exponents in the thousands, whose fp32 product loses ~θ·e·2^-24 of phase (the blocked power
    sums never need it, their exponents stay near √L)."""
    log_magnitude = log_pole.real[..., None] * exponents
    # Powers below ~tiny^0.45 (e^-39 in fp32) are set to zero: products of two such blocked powers, and the
    # kernels' decayed tails, would be subnormal numbers, on which x86 arithmetic runs many times slower (a
    # third of a full-mode layer's kernel work). What is dropped is far below the precision of any sum. exp
    # runs on the clamped exponents: it too is slow where its result underflows.
    floor = 0.45 * math.log(torch.finfo(log_magnitude.dtype).tiny)
    magnitude = torch.exp(log_magnitude.clamp(min=floor)).masked_fill(log_magnitude < floor, 0)
    if wrapped:
        turns = log_pole.imag.double()[..., None] * exponents.double()
        angle = (torch.remainder(turns + math.pi, 2 * math.pi) - math.pi).to(log_magnitude.dtype)
    else:
        angle = log_pole.imag[..., None] * exponents
    return magnitude * torch.cos(angle), magnitude * torch.sin(angle)


def powers(log_pole: torch.Tensor, exponents: torch.Tensor, *, wrapped: bool = True) -> torch.Tensor:
    """p^e for every exponent: complex (..., N, E), with the phase exact to the dtype's precision for any e
    (angles wrapped in double precision; `wrapped=False` for exponents known to be small). Materialises N·E
    powers: for short E only."""
    return torch.complex(*_polar_powers(log_pole, exponents.to(log_pole.real.dtype), wrapped=wrapped))


def power_sum(weight: torch.Tensor, log_pole: torch.Tensor, length: int, *, shift: int = 0,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """K[..., l] = Re Σ_n weight[..., n] · p_n^{l + shift},  l = 0 … length−1.

    Args:
        weight: complex (..., N), broadcastable with `log_pole`.
        log_pole: complex (..., N), log of the discrete poles.
        length: number of taps L.
        shift: exponent offset (1 gives the carried-state response p^{l+1}).
        out: optional real buffer (broadcast(...), ≥ 2L) with unit stride along its last axis, such as a
            zero-padded FFT input: the taps go to out[..., :L], and out[..., L:] up to the last whole block
            (< 2L) is zeroed; the rest is left as it is. Saves allocating the blocks' products.

    Returns:
        real (broadcast(...), L), in fp32 (fp64 if an input is double), with autocast off; a view of `out` if given.
    """
    real, cplx = _dtypes(weight, log_pole)
    with torch.autocast(log_pole.device.type, enabled=False):
        weight, log_pole = weight.to(cplx), log_pole.to(cplx)
        r, k = _tap_exponents(length, shift, real, log_pole.device)
        near_re, near_im = _polar_powers(log_pole, r)                        # (..., N, T)
        far_re, far_im = _polar_powers(_log_power(log_pole, len(r)), k)      # (..., N, K)
        w_re, w_im = weight.real[..., None], weight.imag[..., None]
        # Re(w·a·b) = Re(w·a)·Re b − Im(w·a)·Im b, as one real matrix product over the stacked axis 2N
        far = torch.cat([w_re * far_re - w_im * far_im, -(w_re * far_im + w_im * far_re)], dim=-2)
        far = far.transpose(-1, -2)                                          # (..., K, 2N)
        near = torch.cat([near_re, near_im], dim=-2)                         # (..., 2N, T)
        if out is None:
            return torch.matmul(far, near).flatten(-2)[..., :length]         # (..., K, T) → (..., L)
        span = len(k) * len(r)
        near = near.expand(far.shape[:-2] + near.shape[-2:])
        blocks = out[..., :span].unflatten(-1, (len(k), len(r)))             # (..., K, T), a view
        torch.bmm(far.flatten(0, -3), near.flatten(0, -3), out=blocks.flatten(0, -3))
        out[..., length:span].zero_()
        return out[..., :length]


def _block_products(x: torch.Tensor, near: torch.Tensor) -> torch.Tensor:
    """x (..., L) cut into blocks of T = near.shape[-2] taps, the last one short, each times near (..., T, M):
    (..., K, M). The whole blocks are a view of x, so it is never copied into a zero-padded (..., K, T)."""
    inner = near.shape[-2]
    whole, rest = divmod(x.shape[-1], inner)
    sums = torch.matmul(x[..., :whole * inner].unflatten(-1, (whole, inner)), near)
    if rest:
        tail = torch.matmul(x[..., None, whole * inner:], near[..., :rest, :])
        sums = torch.cat([sums, tail], dim=-2)
    return sums


def power_sum_vjp(grad: torch.Tensor, weight: torch.Tensor, log_pole: torch.Tensor, *,
                  shift: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients of `power_sum` for an upstream gradient `grad`, in closed form.

    With e = l + shift, S0 = Σ_l g_l·p^e and S1 = Σ_l g_l·e·p^e, they are conj(S0) for the weight and
    conj(w·S1) for the log pole (torch's convention for complex leaves). Both sums run blocked like `power_sum`,
    as real matrix products of the blocks of T taps of g with the near powers and their r-weighted copies:
    twice the forward's work, where autograd through `power_sum` also backpropagates every elementwise step.

    Args:
        grad: real (..., L), the gradient of the taps.
        weight, log_pole: complex (..., N), as given to `power_sum`.

    Returns:
        (grad_weight, grad_log_pole), complex, shaped like weight and log_pole (summed over broadcast axes).
    """
    real, cplx = _dtypes(grad, weight, log_pole)
    length, states = grad.shape[-1], log_pole.shape[-1]
    with torch.autocast(log_pole.device.type, enabled=False):
        weight, log_pole = weight.to(cplx), log_pole.to(cplx)
        r, k = _tap_exponents(length, shift, real, log_pole.device)
        near_re, near_im = _polar_powers(log_pole, r)                        # (..., N, T)
        far = powers(_log_power(log_pole, len(r)), k, wrapped=False)         # (..., N, K), k < √L
        near = torch.cat([near_re, near_im, near_re * r, near_im * r], dim=-2).transpose(-1, -2)  # (..., T, 4N)
        sums = _block_products(grad.to(real), near)                          # (..., K, 4N)
        near_sum = torch.complex(sums[..., :states], sums[..., states:2 * states]).transpose(-1, -2)   # (..., N, K)
        weighted_sum = torch.complex(sums[..., 2 * states:3 * states], sums[..., 3 * states:]).transpose(-1, -2)
        s0 = (far * near_sum).sum(-1)
        s1 = (far * (k * len(r) * near_sum + weighted_sum)).sum(-1)
        return s0.conj().sum_to_size(weight.shape), (weight * s1).conj().sum_to_size(log_pole.shape)


def decayed_sum(drive: torch.Tensor, log_pole: torch.Tensor) -> torch.Tensor:
    """S[..., n] = Σ_l drive[..., l] · p_n^{L−1−l}: the state reached from zero after L steps of drive.

    Args:
        drive: real (..., L); its leading axes broadcast against those of `log_pole`.
        log_pole: complex (..., N).

    Returns:
        complex (broadcast(...), N).
    """
    real, cplx = _dtypes(drive, log_pole)
    length = drive.shape[-1]
    with torch.autocast(log_pole.device.type, enabled=False):
        drive, log_pole = drive.to(real), log_pole.to(cplx)
        if length == 0:
            shape = torch.broadcast_shapes(drive.shape[:-1], log_pole.shape[:-1]) + log_pole.shape[-1:]
            return torch.zeros(shape, dtype=cplx, device=log_pole.device)
        inner, outer = _block(length)
        drive = torch.nn.functional.pad(drive, (outer * inner - length, 0))  # left-pad: last sample aligns
        blocks = drive.unflatten(-1, (outer, inner))                          # (..., K, T)
        r = torch.arange(inner - 1, -1, -1, device=log_pole.device, dtype=real)
        near = powers(log_pole, r, wrapped=False).transpose(-1, -2)          # (..., T, N): p^{T−1−r}
        ends = torch.complex(blocks @ near.real, blocks @ near.imag)          # (..., K, N)
        k = torch.arange(outer - 1, -1, -1, device=log_pole.device, dtype=real)
        far = powers(_log_power(log_pole, inner), k, wrapped=False).transpose(-1, -2)  # p^{(K−1−k)T}: (..., K, N)
        return (far * ends).sum(-2)                                           # (..., N)
