import pytest
import torch

from centaurus.ssm import chunked_conv, chunked_kernel, fft_conv, power_sum, toeplitz
from centaurus.ssm.chunked import best_chunk, chunked_flops


def _problem(channels: int, states: int, length: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(channels * 100 + states)
    cplx = torch.complex128 if dtype == torch.float64 else torch.complex64
    x = torch.randn(3, channels, length, dtype=dtype, generator=g)
    weight = torch.randn(channels, states, dtype=cplx, generator=g)
    # decay rates from slow (|p| ≈ 0.999) to fast, and oscillations up to near Nyquist
    log_pole = torch.complex(-torch.rand(channels, states, dtype=dtype, generator=g) * 0.3 - 1e-3,
                             torch.rand(channels, states, dtype=dtype, generator=g) * 3)
    return [t.requires_grad_() for t in (x, weight, log_pole)]


def test_toeplitz_puts_tap_t_minus_s_below_the_diagonal():
    taps = torch.tensor([1.0, 2.0, 3.0])
    assert toeplitz(taps).tolist() == [[1, 0, 0], [2, 1, 0], [3, 2, 1]]


@pytest.mark.parametrize("states", [1, 3])
@pytest.mark.parametrize("length,chunk", [(60, 4), (61, 4), (50, 7), (9, 16), (1, 4), (200, 3)])
def test_chunked_conv_equals_the_fft_convolution_and_its_gradients(states, length, chunk):
    """Chunks that divide L, that do not, longer than L, one sample; block counts from 1 to 9 per level."""
    leaves = _problem(4, states, length)
    x, weight, log_pole = leaves
    want = fft_conv(x, power_sum(weight, log_pole, length))
    got = chunked_conv(x, chunked_kernel(weight, log_pole, length, chunk))
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    probe = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad(got, leaves, probe), torch.autograd.grad(want, leaves, probe)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_chunked_conv_in_fp32_at_a_long_length_stays_within_fp32_rounding():
    x, weight, log_pole = (t.detach() for t in _problem(2, 1, 16000))
    want = fft_conv(x, power_sum(weight, log_pole, 16000))
    got = chunked_conv(x.float(), chunked_kernel(weight.to(torch.complex64), log_pole.to(torch.complex64), 16000, 32))
    assert got.dtype == torch.float32
    assert (got.double() - want).abs().max() < 1e-4 * want.abs().max()


def test_chunked_conv_is_causal():
    x, weight, log_pole = (t.detach() for t in _problem(2, 2, 40))
    kernel = chunked_kernel(weight, log_pole, 40, 8)
    y = chunked_conv(x, kernel)
    x2 = x.clone()
    x2[..., 21] += 1.0
    y2 = chunked_conv(x2, kernel)
    assert torch.equal(y[..., :21], y2[..., :21]) and not torch.equal(y[..., 21], y2[..., 21])


def test_best_chunk_minimises_the_counted_flops():
    chunk, flops = best_chunk(8, 16, 1, 16000)
    assert flops == min(chunked_flops(8, 16, 1, 16000, T) for T in (32, 64, 128, 256))
    assert flops == chunked_flops(8, 16, 1, 16000, chunk)
    # more poles per channel make the per-sample state products dearer, so chunks grow
    assert best_chunk(8, 4, 16, 16000)[0] >= chunk
