"""Channel mixing of spectra, bin by bin, in channel-major layout (…, channels, F): the three products of the
"full" FFT convolution (spec §4.1).

    mix(u, k)          Y[b, d] = Σ_x K[d, x] · U[b, x]
    mix_adjoint(g, k)  G_U[b, x] = Σ_d conj(K[d, x]) · G[b, d]
    outer_sum(g, u)    G_K[d, x] = Σ_b G[b, d] · conj(U[b, x])

On the CPU they run in the C kernels of `_spectral_mix.c` (built at install; see setup.py), on torch's
number of threads: a batched matrix product would need frequency-major (F, …) spectra, and the transposes to
and from that layout cost more than the products themselves. Elsewhere, or without the built library,
torch.einsum does the same.
"""
import ctypes
import importlib.machinery
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

WIDTHS = ("_avx512", "_avx2", "_base")  # the C kernels' vector widths (x86); base is 128-bit


def _load() -> ctypes.CDLL | None:
    """The built library, or None (no compiler at install, or a stale build without these kernels)."""
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if (here / f"_spectral_mix{suffix}").exists():
            try:
                lib = ctypes.CDLL(str(here / f"_spectral_mix{suffix}"))
                size, ptr, flag = ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_int
                for real in ("f32", "f64"):
                    for variant in ("", *WIDTHS):
                        # in, items, K, so, si, conj, out, items, accumulate, batch, n_in, n_out, bins, f0, f1
                        getattr(lib, f"centaurus_mix_{real}{variant}").argtypes = [
                            ptr, size, ptr, size, size, flag, ptr, size, flag] + [size] * 6
                        # G, items, U, items, out, batch, P, Q, bins, f0, f1
                        getattr(lib, f"centaurus_outer_sum_{real}{variant}").argtypes = [
                            ptr, size, ptr, size, ptr] + [size] * 6
            except (OSError, AttributeError):
                return None
            return lib
    return None


_LIB = _load()
width = ""  # "" takes the widest vectors the CPU has; one of WIDTHS forces those (for the tests)
_SUFFIX = {torch.complex64: "f32", torch.complex128: "f64"}
_CHUNK_BINS = 64  # bins of complex64 in one chunk of the C kernels (CHUNK_BYTES / 8)
_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}  # by (process, threads): fork leaves threads behind


def native(*spectra: torch.Tensor) -> bool:
    """Whether the C kernels take these spectra: CPU, one complex dtype, unit-stride rows of whole bins."""
    first = spectra[0]
    return (_LIB is not None and first.dtype in _SUFFIX and first.device.type == "cpu"
            and all(s.dtype == first.dtype and s.device == first.device and s.stride(-1) == 1
                    and s.stride(-2) == s.shape[-1] and s.stride(0) % s.shape[-1] == 0 for s in spectra))


def _run(name: str, dtype: torch.dtype, bins: int, *args) -> None:
    """Call the C kernel `name` on the bins shared out among torch's threads (ctypes releases the GIL)."""
    function = getattr(_LIB, f"centaurus_{name}_{_SUFFIX[dtype]}{width}")
    threads = max(1, min(torch.get_num_threads(), bins // _CHUNK_BINS))
    share = -(-bins // (threads * _CHUNK_BINS)) * _CHUNK_BINS  # whole chunks: the C kernels' tails are scalar
    ranges = [(start, min(start + share, bins)) for start in range(0, bins, share)]
    if len(ranges) == 1:
        codes = [function(*args, bins, 0, bins)]
    else:
        key = (os.getpid(), threads)
        pool = _POOLS.get(key) or _POOLS.setdefault(key, ThreadPoolExecutor(threads, "centaurus-mix"))
        codes = list(pool.map(lambda r: function(*args, bins, *r), ranges))
    if any(codes):
        raise MemoryError(f"spectral {name}: the C kernel could not allocate its packing buffers")


def _items(t: torch.Tensor) -> int:
    """Rows between batch items."""
    return t.stride(0) // t.shape[-1]


def mix(u: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None, accumulate: bool = False):
    """Y = Σ_x K[:, x] · U[:, x]: u (B, X, F), k (D, X, F) → (B, D, F), written to (or added into) `out`."""
    return _mixed(u, k, conj=False, out=out, accumulate=accumulate)


def mix_adjoint(g: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None, accumulate: bool = False):
    """G_U = Σ_d conj(K[d]) · G[:, d]: g (B, D, F), k (D, X, F) → (B, X, F), written to (or added into) `out`."""
    return _mixed(g, k, conj=True, out=out, accumulate=accumulate)


def _mixed(x: torch.Tensor, k: torch.Tensor, conj: bool, out: torch.Tensor | None, accumulate: bool):
    batch, bins = x.shape[0], x.shape[-1]
    channels = k.shape[1] if conj else k.shape[0]
    if out is None:
        out = x.new_empty(batch, channels, bins)
        accumulate = False
    if native(x, k, out) and k.is_contiguous():
        n_in, n_out = x.shape[1], channels
        so, si = (1, channels) if conj else (k.shape[1], 1)   # K row of (out, in): o·so + i·si
        _run("mix", x.dtype, bins, x.data_ptr(), _items(x), k.data_ptr(), so, si, int(conj),
             out.data_ptr(), _items(out), int(accumulate), batch, n_in, n_out)
        return out
    product = torch.einsum("bdf,dxf->bxf", x, k.conj()) if conj else torch.einsum("bxf,dxf->bdf", x, k)
    return out.add_(product) if accumulate else out.copy_(product)


def outer_sum(g: torch.Tensor, u: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """G_K = Σ_b G[b, :, None] · conj(U[b, None]): g (B, D, F), u (B, X, F) → (D, X, F), in `out` if given."""
    (batch, P, bins), Q = g.shape, u.shape[1]
    out = g.new_empty(P, Q, bins) if out is None else out
    if native(g, u, out) and out.is_contiguous():
        _run("outer_sum", g.dtype, bins, g.data_ptr(), _items(g), u.data_ptr(), _items(u), out.data_ptr(),
             batch, P, Q)
        return out
    return out.copy_(torch.einsum("bdf,bxf->dxf", g, u.conj()))
