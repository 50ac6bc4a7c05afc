"""The spectral channel mixing of the full FFT convolution: the C kernels against torch.einsum."""
import multiprocessing

import pytest
import torch

from centaurus.ssm import spectral_mix


def test_the_c_kernels_are_built_and_taken_on_the_cpu():
    """An install without the library would silently mix with einsum, several times slower."""
    spectra = torch.randn(2, 3, 10, dtype=torch.complex64), torch.randn(4, 3, 10, dtype=torch.complex64)
    assert spectral_mix.native(*spectra)


def _spectra(dtype, *shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, dtype=dtype, generator=g) for s in shapes]


# Shapes cover batches past the 8 rows held in registers (11: 8 + 3), bins past whole chunks of 64 (130, 7),
# single channels, and bins that give each thread a share.
SHAPES = [(11, 3, 5, 130), (1, 1, 1, 7), (8, 6, 4, 64), (2, 5, 3, 1000)]


_CAPABLE = {"AVX512": spectral_mix.WIDTHS, "AVX2": ("_avx2", "_base")}.get(torch.backends.cpu.get_cpu_capability(),
                                                                          ("_base",))


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("batch, ins, outs, bins", SHAPES)
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("width", spectral_mix.WIDTHS)
def test_products_equal_einsum(monkeypatch, dtype, batch, ins, outs, bins, threads, width):
    """Every vector width the CPU runs (the library picks the widest; each has its own register blocking)."""
    if width not in _CAPABLE:
        pytest.skip(f"this CPU lacks the {width[1:]} kernels' instructions")
    monkeypatch.setattr(spectral_mix, "width", width)
    u, k, g = _spectra(dtype, (batch, ins, bins), (outs, ins, bins), (batch, outs, bins))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.complex64 else dict(rtol=1e-12, atol=1e-12)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.testing.assert_close(spectral_mix.mix(u, k), torch.einsum("bxf,dxf->bdf", u, k), **tol)
        torch.testing.assert_close(spectral_mix.mix_adjoint(g, k), torch.einsum("bdf,dxf->bxf", g, k.conj()), **tol)
        torch.testing.assert_close(spectral_mix.outer_sum(g, u), torch.einsum("bdf,bxf->dxf", g, u.conj()), **tol)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_slices_of_channels_and_accumulation(dtype):
    """Blocks of output channels are slices (batch items further apart than their channels), read and
    written in place; the input gradient sums over blocks into one buffer."""
    u, k, wide_g, base = _spectra(dtype, (3, 4, 200), (5, 4, 200), (3, 9, 200), (3, 4, 200))
    g = wide_g[:, 2:7]
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.complex64 else dict(rtol=1e-12, atol=1e-12)
    assert spectral_mix.native(g, k, u)
    y = torch.zeros(3, 9, 200, dtype=dtype)
    spectral_mix.mix(u, k, out=y[:, 2:7])
    torch.testing.assert_close(y[:, 2:7], torch.einsum("bxf,dxf->bdf", u, k), **tol)
    assert not y[:, :2].any() and not y[:, 7:].any()
    summed = spectral_mix.mix_adjoint(g, k, out=base.clone(), accumulate=True)
    torch.testing.assert_close(summed, base + torch.einsum("bdf,dxf->bxf", g, k.conj()), **tol)
    torch.testing.assert_close(spectral_mix.outer_sum(g, u), torch.einsum("bdf,bxf->dxf", g, u.conj()), **tol)


def test_layouts_the_kernels_do_not_take_go_through_einsum():
    """Spectra with strided bins (not whole rows) are not for the C kernels, and still mix correctly."""
    u, k = _spectra(torch.complex64, (2, 3, 40), (4, 3, 40))
    strided_u = u[..., ::2]
    assert not spectral_mix.native(strided_u, k[..., ::2])
    torch.testing.assert_close(spectral_mix.mix(strided_u, k[..., ::2]),
                               torch.einsum("bxf,dxf->bdf", strided_u, k[..., ::2]))


def _mix_in_child(queue):
    torch.set_num_threads(2)
    u, k = _spectra(torch.complex64, (2, 3, 1000), (4, 3, 1000))
    queue.put(torch.allclose(spectral_mix.mix(u, k), torch.einsum("bxf,dxf->bdf", u, k), atol=1e-5))


def test_threads_work_in_a_forked_child():
    """The parent's worker threads do not survive fork (DataLoader workers fork): the child must not wait on them."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _mix_in_child(multiprocessing.Queue())  # the parent's pool exists now
    finally:
        torch.set_num_threads(before)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_mix_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.exitcode is None:
        child.kill()
    assert child.exitcode == 0 and queue.get(timeout=1)
