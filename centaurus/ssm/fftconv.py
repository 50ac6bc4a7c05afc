"""Causal long convolution by FFT with 2L zero padding, with an exact, memory-saving backward (spec §4.1).

The input spectrum (2× the size of u) is kept for backward. The "full" variant keeps its (D, C, L+1) kernel
spectra too while they fit a budget, and beyond it remakes them in backward, block by block over output
channels. `power_sum_conv` generates each block of SSM kernels from the poles as it goes, so the (D, C, L)
kernel itself never exists, and maps their gradient back to the poles in closed form. Its spectra stay
channel-major, (…, channels, F), for the products of `spectral_mix`, and its large buffers go to `_SPARES`
for the next call rather than back to the OS.

Inference that applies one kernel to many inputs of one length (a keyword spotter's windows) can hold the
kernel's spectrum instead: `kernel_spectrum` once, then `spectrum_conv` per input, with no kernel FFTs.
"""
import functools
import threading

import torch

from .._lazy import compile_disabled
from . import spectral_mix
from .kernel import power_sum, power_sum_vjp

_BLOCK_BYTES = 32 * 2**20  # spectrum bytes per block of output channels: small enough to stay in cache
_DEPTHWISE_BLOCK_BYTES = 8 * 2**20  # input-spectrum bytes per block of depthwise channels
# On a GPU each block costs kernel launches, which outweigh cache misses: blocks there are as large as memory allows.
_ACCELERATOR_BLOCK_BYTES = 2**30


def _spectrum(x: torch.Tensor, length: int) -> torch.Tensor:
    return torch.fft.rfft(x, n=2 * length)


def _causal(spec: torch.Tensor, length: int, out: torch.Tensor | None = None) -> torch.Tensor:
    return torch.fft.irfft(spec, n=2 * length, out=out)[..., :length]


def _padded_spectrum(padded: torch.Tensor, x: torch.Tensor, length: int):
    """rfft over 2L points of x (…, L), through `padded` (…, 2L), a reused buffer whose second half stays zero:
    rfft's own padding zero-fills a fresh 2L buffer on every call."""
    padded[..., :length].copy_(x)
    return torch.fft.rfft(padded)


def _blocks(channels: int, spectra: int, length: int, budget: int, device: torch.device):
    """Slices of `channels` that each hold at most `budget` bytes (on the CPU) of complex64 spectra, when every
    channel has `spectra` spectra of L + 1 bins (at least one channel per slice)."""
    budget = budget if device.type == "cpu" else _ACCELERATOR_BLOCK_BYTES
    per_channel = max(1, spectra * (length + 1) * 8)
    size = max(1, min(channels, budget // per_channel))
    return [slice(s, min(s + size, channels)) for s in range(0, channels, size)]


def _block_spectra(x: torch.Tensor, blocks: list[slice], length: int, dim: int = 1):
    """(blk, rfft over 2L points of x's slice blk along `dim`) per block, through one `_padded_spectrum` buffer."""
    shape = list(x.shape[:-1]) + [2 * length]
    shape[dim] = blocks[0].stop - blocks[0].start
    padded = x.new_zeros(shape)
    for blk in blocks:
        part = padded.narrow(dim, 0, blk.stop - blk.start)
        yield blk, _padded_spectrum(part, x.narrow(dim, blk.start, blk.stop - blk.start), length)


def _causal_blocks(spec: torch.Tensor, length: int) -> torch.Tensor:
    """(B, X, F) spectra → contiguous (B, X, L): irfft cropped to L, a few channels at a time through small
    buffers (a whole-input temporary is fresh memory that the OS maps and zeroes page by page on every call)."""
    out = spec.real.new_empty(spec.shape[:-1] + (length,))
    for blk in _blocks(spec.shape[1], spec.shape[0], length, _DEPTHWISE_BLOCK_BYTES, spec.device):
        out[:, blk] = _causal(spec[:, blk], length)
    return out


class _DepthwiseConv(torch.autograd.Function):
    """Per-channel kernels, a few channels at a time: a block's buffers stay small enough for the allocator to
    reuse, where whole-input buffers are fresh memory mapped from the OS and page-faulted in on every call."""

    @staticmethod
    def forward(ctx, u, k):                                                   # u (B, X, L), k (X, L)
        length = u.shape[-1]
        spec_k = _spectrum(k, length)                                         # (X, F)
        y, spec_u = u.new_empty(u.shape), []
        blocks = _blocks(u.shape[1], u.shape[0], length, _DEPTHWISE_BLOCK_BYTES, u.device)
        for blk, spec in _block_spectra(u, blocks, length):
            spec_u.append(spec)                                               # (B, x, F)
            y[:, blk] = _causal(spec * spec_k[blk], length)
        ctx.save_for_backward(spec_k, *spec_u)
        return y

    @staticmethod
    def backward(ctx, grad):
        spec_k, *spec_u = ctx.saved_tensors
        length = grad.shape[-1]
        grad_u, spec_grad_k = grad.new_empty(grad.shape), torch.empty_like(spec_k)
        blocks = _blocks(grad.shape[1], grad.shape[0], length, _DEPTHWISE_BLOCK_BYTES, grad.device)
        for (blk, spec_g), spec_u_blk in zip(_block_spectra(grad, blocks, length), spec_u):
            # Σ_b G·conj(U) one batch item at a time (einsum would run a 1×B·B×1 matrix product per bin), on
            # one physical conjugate (a lazy one is materialised by every product that reads it)
            conj_u = spec_u_blk.conj_physical()
            spec_grad_k[blk] = spec_g[0] * conj_u[0]
            for g, s in zip(spec_g[1:], conj_u[1:]):
                spec_grad_k[blk].addcmul_(g, s)
            grad_u[:, blk] = _causal(spec_g.mul_(spec_k[blk].conj()), length)
        return grad_u, _causal(spec_grad_k, length)


class _Spares:
    """Large CPU buffers of finished calls, kept for the next call that needs the same shape and dtype. A fresh
    buffer is memory the OS maps and zeroes page by page, on every call (about 0.2 s per GB here): a training
    step would pay that for each of the full convolution's buffers. Spares not taken back within `max_age`
    calls (those of other lengths, say) are dropped, and the oldest go beyond `limit` bytes. (The GPU's caching
    allocator does this there already.)"""

    def __init__(self, limit: int, max_age: int):
        self.limit, self.max_age = limit, max_age
        self._free: list[tuple[int, torch.Tensor]] = []  # (the call that gave it back, buffer), oldest first
        self._calls = 0
        self._lock = threading.Lock()

    def tick(self) -> None:
        """Count a call, and drop the spares that have waited too long."""
        with self._lock:
            self._calls += 1
            self._free = [(call, b) for call, b in self._free if self._calls - call <= self.max_age]

    def take(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, zero: bool = False):
        if device.type == "cpu":
            # a spare made under torch.inference_mode is an inference tensor: nothing may write it outside
            usable = torch.is_inference_mode_enabled()
            with self._lock:
                for i, (_, spare) in enumerate(self._free):
                    if spare.shape == shape and spare.dtype == dtype and (usable or not spare.is_inference()):
                        del self._free[i]
                        return spare.zero_() if zero else spare
        return (torch.zeros if zero else torch.empty)(shape, dtype=dtype, device=device)

    def give(self, *buffers: torch.Tensor | None) -> None:
        """Hand back buffers that nothing reads any more."""
        with self._lock:
            self._free += [(self._calls, b) for b in buffers if b is not None and b.device.type == "cpu"]
            while sum(b.nbytes for _, b in self._free) > self.limit:
                self._free.pop(0)


_SPARES = _Spares(limit=2**31, max_age=8)  # a step of up to four full layers reuses them all


class _KernelBlockBuffers:
    """The buffers of one block of full kernels (zero-padded kernels, spectra, times), kept from block to block
    of a call, and handed to `_SPARES` at its end."""

    def __init__(self):
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, like: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype,
            zero: bool = False) -> torch.Tensor:
        if name not in self._buffers or self._buffers[name].shape != shape:  # the last block may be smaller
            _SPARES.give(self._buffers.get(name))
            self._buffers[name] = _SPARES.take(shape, dtype, like.device, zero=zero)
        return self._buffers[name]

    def release(self) -> None:
        _SPARES.give(*self._buffers.values())
        self._buffers.clear()

    def spectra(self, make_kernels, parts: list[torch.Tensor], like: torch.Tensor, length: int,
                out: torch.Tensor | None = None) -> torch.Tensor:
        """The rfft over 2L points (d, X, F) of the kernels make_kernels(*parts, out=…) writes into a zero-padded
        (d, X, 2L) buffer of like's dtype, in `out` if given."""
        d, X = parts[0].shape[:2]
        padded = self.get("padded", like, (d, X, 2 * length), like.dtype, zero=True)  # the padding stays 0
        make_kernels(*parts, out=padded)
        if out is None:
            out = self.get("spectrum", like, (d, X, length + 1), like.dtype.to_complex())
        return torch.fft.rfft(padded, out=out)

    def causal(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Spectra (d, X, F) → (d, X, L), a view of a kept buffer."""
        time = self.get("time", spec, spec.shape[:-1] + (2 * length,), spec.real.dtype)
        return _causal(spec, length, out=time)


def _spare_spectrum(x: torch.Tensor, length: int) -> torch.Tensor:
    """rfft over 2L points of x (B, X, L), into a spare buffer, a few channels at a time: rfft's `out` only
    receives a copy of a fresh whole-input result (and its 2L padding is a fresh buffer too), which would
    page-fault ~100 MB in on every call at B = 8, X = 64, L = 16000."""
    out = _SPARES.take(x.shape[:-1] + (length + 1,), x.dtype.to_complex(), x.device)
    for blk, spec in _block_spectra(x, _blocks(x.shape[1], x.shape[0], length, _DEPTHWISE_BLOCK_BYTES, x.device),
                                    length):
        out[:, blk] = spec
    return out


_KEPT_SPECTRA_BYTES = 2**30  # kernel spectra up to this size are kept from forward for backward, not remade


class _FullConv(torch.autograd.Function):
    """y[b, d] = Σ_x k[d, x] * u[b, x] with kernels k = make_kernels(*operands, out=…), made one block of output
    channels at a time, so the (D, X, L) kernels never exist at once. Backward maps the kernels' gradient back to
    the operands with `kernels_vjp(grad_k, *operands)`, block by block. Operands are sliced along their first
    axis, the output channels. The spectral products are those of `spectral_mix`, on channel-major spectra.

    The input's gradient needs the kernel spectra again. Forward keeps them when they fit `_KEPT_SPECTRA_BYTES`:
    then each spectral product runs once over all output channels (each block's run would pack the input's
    spectra anew). Otherwise backward remakes each block's. The kept spectra and the input's go back to
    `_SPARES` after backward; a second backward through the same graph (retain_graph) remakes both."""

    @staticmethod
    def forward(ctx, u, make_kernels, kernels_vjp, *operands):
        (batch, channels, length), out_channels = u.shape, operands[0].shape[0]
        _SPARES.tick()
        spec_u = _spare_spectrum(u, length)                                   # (B, X, F)
        kept_bytes = out_channels * channels * (length + 1) * spec_u.element_size()
        keep = ctx.needs_input_grad[0] and kept_bytes <= _KEPT_SPECTRA_BYTES
        ctx.make_kernels, ctx.kernels_vjp, ctx.operand_count = make_kernels, kernels_vjp, len(operands)
        kept = _SPARES.take((out_channels, channels, length + 1), spec_u.dtype, u.device) if keep else None
        spec_y = _SPARES.take((batch, out_channels, length + 1), spec_u.dtype, u.device)  # (B, D, F)
        buffers = _KernelBlockBuffers()
        for blk in _blocks(out_channels, channels, length, _BLOCK_BYTES, u.device):
            spec_k = buffers.spectra(make_kernels, [o[blk] for o in operands], u, length,
                                     out=kept[blk] if keep else None)         # (d, X, F)
            if not keep:
                spectral_mix.mix(spec_u, spec_k, out=spec_y[:, blk])
        if keep:
            spectral_mix.mix(spec_u, kept, out=spec_y)
        buffers.release()
        y = _causal_blocks(spec_y, length)
        _SPARES.give(spec_y)
        # On ctx, not saved: saved tensors are checked for in-place changes, and spares get overwritten
        ctx.spectra = spec_u, kept
        ctx.save_for_backward(u, *operands)
        return y

    @staticmethod
    def backward(ctx, grad):
        _SPARES.tick()
        u, *operands = ctx.saved_tensors
        spec_u, kept = ctx.spectra or (_spare_spectrum(u, grad.shape[-1]), None)
        ctx.spectra = None  # handed to _SPARES below
        length, out_channels = grad.shape[-1], operands[0].shape[0]
        spec_g = _spare_spectrum(grad, length)                                # (B, D, F)
        blocks = _blocks(out_channels, spec_u.shape[1], length, _BLOCK_BYTES, grad.device)
        buffers = _KernelBlockBuffers()
        grad_u = spec_grad_u = None
        if ctx.needs_input_grad[0]:
            if kept is not None:
                spec_grad_u = spectral_mix.mix_adjoint(spec_g, kept, out=_SPARES.take(spec_u.shape, spec_u.dtype,
                                                                                      u.device))
            else:
                spec_grad_u = _SPARES.take(spec_u.shape, spec_u.dtype, u.device, zero=True)
                for blk in blocks:
                    spec_k = buffers.spectra(ctx.make_kernels, [o[blk] for o in operands], u, length)
                    spectral_mix.mix_adjoint(spec_g[:, blk], spec_k, out=spec_grad_u, accumulate=True)
            grad_u = _causal_blocks(spec_grad_u, length)
        grads = [None] * len(operands)
        if any(ctx.needs_input_grad[3:]):
            grads = [torch.zeros_like(o) for o in operands]
            # Σ_b G·conj(U): for all output channels at once into the kept spectra, which are read no more (one
            # pass over U, where each block's run would read it anew); else block by block
            whole = spectral_mix.outer_sum(spec_g, spec_u, out=kept) if kept is not None else None
            for blk in blocks:
                shape = (blk.stop - blk.start,) + spec_u.shape[1:]
                block_spec = whole[blk] if whole is not None else spectral_mix.outer_sum(
                    spec_g[:, blk], spec_u, out=buffers.get("gradient", spec_u, shape, spec_u.dtype))
                parts = [o[blk] for o in operands]
                for total, part in zip(grads, ctx.kernels_vjp(buffers.causal(block_spec, length), *parts)):
                    total[blk] = part
        buffers.release()
        _SPARES.give(spec_u, kept, spec_g, spec_grad_u)
        return grad_u, None, None, *grads


def _given(k: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return out[..., :k.shape[-1]].copy_(k)


def _given_vjp(grad_k: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor]:
    return (grad_k,)


# Kept out of torch.compile: inductor mis-strides complex FFT outputs inside a custom autograd Function.
@compile_disabled
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
        u, k = u.to(dtype), k.to(dtype)
        return _DepthwiseConv.apply(u, k) if k.dim() == 2 else _FullConv.apply(u, _given, _given_vjp, k)


@compile_disabled  # complex spectra, as in fft_conv
def power_sum_conv(u: torch.Tensor, weight: torch.Tensor, log_pole: torch.Tensor) -> torch.Tensor:
    """`fft_conv(u, power_sum(weight, log_pole, L))` for full kernels, without the (D, X, L) kernel, and with
    the closed-form gradient `power_sum_vjp` in place of autograd through the kernels.

    Args:
        u: (B, X, L) input.
        weight, log_pole: complex (D, X, N) readout weights and log poles of the kernels.

    Returns:
        (B, D, L), in fp32 (fp64 for double inputs), autocast off.
    """
    wide = u.dtype == torch.float64 or torch.complex128 in (weight.dtype, log_pole.dtype)
    real, cplx = (torch.float64, torch.complex128) if wide else (torch.float32, torch.complex64)
    with torch.autocast(u.device.type, enabled=False):
        make_kernels = functools.partial(power_sum, length=u.shape[-1])
        return _FullConv.apply(u.to(real), make_kernels, power_sum_vjp, weight.to(cplx), log_pole.to(cplx))


def kernel_spectrum(k: torch.Tensor, length: int) -> torch.Tensor:
    """The half spectrum of a causal kernel for `spectrum_conv`, in complex64 (complex128 for double).

    Args:
        k: (X, L) depthwise kernel, or (D, X, L) full kernel.
        length: L.

    Returns:
        (X, F) for a depthwise kernel, (D, X, F) for a full one; F = L + 1.
    """
    with torch.autocast(k.device.type, enabled=False):
        return _spectrum(k if k.dtype == torch.float64 else k.float(), length)


@compile_disabled  # complex spectra, as in fft_conv
def spectrum_conv(u: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
    """`fft_conv` of u: (B, X, L) with the kernel whose `kernel_spectrum` is `spec`: (B, X|D, L). No gradient
    reaches the kernel."""
    length = u.shape[-1]
    with torch.autocast(u.device.type, enabled=False):
        u = u.to(spec.real.dtype)
        if spec.dim() == 2:
            return _causal(_spectrum(u, length) * spec, length)
        spec_u = _spare_spectrum(u, length)
        y = _causal_blocks(spectral_mix.mix(spec_u, spec), length)
        _SPARES.give(spec_u)
        return y
