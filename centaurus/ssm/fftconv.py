"""Causal long convolution by FFT with 2L zero padding, with an exact, memory-saving backward (spec §4.1).

The input spectrum (2× the size of u) is kept for backward; the kernel spectra of the "full" variant are
recomputed there instead, block by block over output channels, so no (D, C, L+1) spectrum of the whole
kernel is ever held at once.

Inference that applies one kernel to many inputs of one length (a keyword spotter's windows) can hold the
kernel's spectrum instead: `kernel_spectrum` once, then `spectrum_conv` per input, with no kernel FFTs.
"""
import torch

_BLOCK_BYTES = 64 * 2**20  # spectrum bytes per block of output channels


def _spectrum(x: torch.Tensor, length: int) -> torch.Tensor:
    return torch.fft.rfft(x, n=2 * length)


def _causal(spec: torch.Tensor, length: int) -> torch.Tensor:
    return torch.fft.irfft(spec, n=2 * length)[..., :length]


def _blocks(out_channels: int, in_channels: int, length: int):
    per_channel = max(1, in_channels * (length + 1) * 8)
    size = max(1, min(out_channels, _BLOCK_BYTES // per_channel))
    return [slice(s, min(s + size, out_channels)) for s in range(0, out_channels, size)]


def _frequency_major(spec: torch.Tensor, order: tuple[int, int, int]) -> torch.Tensor:
    """A contiguous (F, ·, ·) copy: complex bmm is fast on it, while einsum's strided layout loops per bin."""
    return spec.permute(*order).contiguous()


def _causal_from_frequency_major(spec: torch.Tensor, length: int) -> torch.Tensor:
    """irfft along the leading frequency axis of (F, P, Q), cropped to L: (P, Q, L)."""
    return torch.fft.irfft(spec, n=2 * length, dim=0)[:length].permute(1, 2, 0)


class _FFTConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, k):
        length = u.shape[-1]
        spec_u = _spectrum(u, length)                                         # (B, X, F)
        if k.dim() == 2:                                                      # depthwise: k (X, L)
            spec_k = _spectrum(k, length)
            ctx.save_for_backward(spec_u, spec_k)
            return _causal(spec_u * spec_k, length)
        spec_u = _frequency_major(spec_u, (2, 0, 1))                          # (F, B, X)
        ctx.save_for_backward(spec_u, k)
        out = u.new_empty(u.shape[0], k.shape[0], length)                     # (B, D, L)
        for blk in _blocks(k.shape[0], k.shape[1], length):
            spec_k = _frequency_major(_spectrum(k[blk], length), (2, 1, 0))   # (F, X, d)
            out[:, blk] = _causal_from_frequency_major(torch.bmm(spec_u, spec_k), length)
        return out

    @staticmethod
    def backward(ctx, grad):
        spec_u, k = ctx.saved_tensors
        length = grad.shape[-1]
        if k.dim() == 2:                                                      # both saved are spectra
            spec_g = _spectrum(grad, length)                                  # (B, X, F)
            grad_u = _causal(spec_g * k.conj(), length)
            grad_k = _causal((spec_g * spec_u.conj()).sum(0), length)  # einsum would bmm 1×B·B×1 per bin
            return grad_u, grad_k
        spec_g = _frequency_major(_spectrum(grad, length), (2, 0, 1))         # (F, B, D)
        conj_u_t = torch.conj_physical(spec_u).transpose(1, 2)                # (F, X, B)
        grad_spec_u = torch.zeros_like(spec_u)                                # (F, B, X)
        grad_k = torch.empty_like(k)
        for blk in _blocks(k.shape[0], k.shape[1], length):
            conj_k = torch.conj_physical(_spectrum(k[blk], length))           # (d, X, F)
            g = spec_g[:, :, blk]                                             # (F, B, d)
            grad_spec_u += torch.bmm(g, _frequency_major(conj_k, (2, 0, 1)))  # (F, B, d) @ (F, d, X)
            grad_spec_k = torch.bmm(conj_u_t, g)                              # (F, X, d)
            grad_k[blk] = _causal_from_frequency_major(grad_spec_k, length).permute(1, 0, 2)
        return _causal_from_frequency_major(grad_spec_u, length), grad_k


# Kept out of torch.compile: inductor mis-strides complex FFT outputs inside a custom autograd Function.
@torch.compiler.disable
def fft_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal convolution y[t] = Σ_{s≤t} k[s]·u[t−s], in fp32 (fp64 for double inputs), autocast off.

    Args:
        u: (B, X, L) input.
        k: (X, L) depthwise kernel, or (D, X, L) full kernel summed over X.

    Returns:
        (B, X, L) for a depthwise kernel, (B, D, L) for a full one.
    """
    dtype = torch.float64 if torch.float64 in (u.dtype, k.dtype) else torch.float32
    with torch.autocast(u.device.type, enabled=False):
        return _FFTConv.apply(u.to(dtype), k.to(dtype))


def kernel_spectrum(k: torch.Tensor, length: int) -> torch.Tensor:
    """The half spectrum of a causal kernel for `spectrum_conv`, in complex64 (complex128 for double).

    Args:
        k: (X, L) depthwise kernel, or (D, X, L) full kernel.
        length: L.

    Returns:
        (X, F) for a depthwise kernel, frequency-major (F, X, D) for a full one; F = L + 1.
    """
    with torch.autocast(k.device.type, enabled=False):
        spec = _spectrum(k if k.dtype == torch.float64 else k.float(), length)
        return spec if k.dim() == 2 else _frequency_major(spec, (2, 1, 0))


@torch.compiler.disable  # complex spectra, as in fft_conv
def spectrum_conv(u: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
    """`fft_conv` of u: (B, X, L) with the kernel whose `kernel_spectrum` is `spec`: (B, X|D, L). No gradient
    reaches the kernel."""
    length = u.shape[-1]
    with torch.autocast(u.device.type, enabled=False):
        spec_u = _spectrum(u.to(spec.real.dtype), length)                     # (B, X, F)
        if spec.dim() == 2:
            return _causal(spec_u * spec, length)
        return _causal_from_frequency_major(torch.bmm(_frequency_major(spec_u, (2, 0, 1)), spec), length)
