import math

import pytest
import torch

from centaurus.ssm import decayed_sum, power_sum, power_sum_vjp, powers
from centaurus.ssm.reference import power_sum_reference


def _random_poles(*shape, generator):
    re = -torch.rand(*shape, generator=generator, dtype=torch.float64) * 0.1 - 1e-3
    im = torch.rand(*shape, generator=generator, dtype=torch.float64) * 3
    return torch.complex(re, im)


@pytest.mark.parametrize("length", [1, 2, 17, 100, 257])
@pytest.mark.parametrize("shift", [0, 1])
def test_power_sum_matches_materialised_reference(length, shift):
    g = torch.Generator().manual_seed(length)
    log_pole = _random_poles(3, 5, generator=g)
    weight = torch.randn(2, 3, 5, dtype=torch.complex128, generator=g)
    got = power_sum(weight, log_pole, length, shift=shift)
    assert got.shape == (2, 3, length)
    torch.testing.assert_close(got, power_sum_reference(weight, log_pole, length, shift=shift),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("length", [1, 5, 64, 99])
def test_decayed_sum_is_the_state_after_length_steps(length):
    g = torch.Generator().manual_seed(length)
    log_pole = _random_poles(4, 3, generator=g)
    drive = torch.randn(2, 4, length, dtype=torch.float64, generator=g)
    pole = torch.exp(log_pole)
    state = torch.zeros(2, 4, 3, dtype=torch.complex128)
    for t in range(length):
        state = pole * state + drive[..., t, None]
    torch.testing.assert_close(decayed_sum(drive, log_pole), state, rtol=1e-10, atol=1e-10)


def test_decayed_sum_of_empty_drive_is_zero():
    out = decayed_sum(torch.zeros(2, 4, 0), torch.zeros(4, 3, dtype=torch.complex64))
    assert out.shape == (2, 4, 3) and not out.abs().any()


def test_power_sum_runs_in_fp32_under_autocast():
    log_pole = _random_poles(4, 3, generator=torch.Generator().manual_seed(0)).to(torch.complex64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = power_sum(torch.ones_like(log_pole), log_pole, 50)
    assert out.dtype == torch.float32


def _subnormal(t: torch.Tensor) -> bool:
    t = torch.view_as_real(t) if t.is_complex() else t
    return bool(((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).any())


def test_power_sum_of_decayed_modes_is_free_of_subnormals():
    """Long kernels of fast-decaying modes reach the subnormal range (slow arithmetic on x86); the tails are
    exact zeros instead, in the kernel and in its gradients, and the values match the float64 reference."""
    g = torch.Generator().manual_seed(0)
    log_pole = torch.complex(-torch.rand(4, 16, generator=g, dtype=torch.float64) * 0.2 - 0.02,
                             torch.rand(4, 16, generator=g, dtype=torch.float64))
    weight = torch.randn(4, 16, dtype=torch.complex128, generator=g)
    length = 16000
    expected = power_sum_reference(weight, log_pole, length)
    assert _subnormal(expected.float())  # the float64 reference's tail would be subnormal in fp32
    w32, p32 = (t.to(torch.complex64).requires_grad_() for t in (weight, log_pole))
    got = power_sum(w32, p32, length)
    assert not _subnormal(got) and got[:, -1].eq(0).all()
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-6)
    grads = torch.autograd.grad(got, (w32, p32), torch.randn(got.shape, generator=g))
    assert not any(_subnormal(gr) for gr in grads)


@pytest.mark.parametrize("length", [1, 17, 257])
@pytest.mark.parametrize("shift", [0, 1])
def test_power_sum_vjp_equals_autograd(length, shift):
    g = torch.Generator().manual_seed(length + shift)
    log_pole = _random_poles(3, 5, generator=g).requires_grad_()
    weight = torch.randn(2, 3, 5, dtype=torch.complex128, generator=g).requires_grad_()  # broadcast over axis 0
    upstream = torch.randn(2, 3, length, dtype=torch.float64, generator=g)
    expected = torch.autograd.grad(power_sum(weight, log_pole, length, shift=shift), (weight, log_pole), upstream)
    got = power_sum_vjp(upstream, weight.detach(), log_pole.detach(), shift=shift)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("length", [1, 7, 50, 161])
def test_power_sum_into_a_padded_buffer(length):
    """With `out`, the taps land in out[..., :L] (a view is returned), the blocks' overshoot past L is zeroed
    and the rest of the buffer is left alone: an FFT's zero padding stays zero. Broadcast weights too."""
    g = torch.Generator().manual_seed(3)
    log_pole = torch.complex(-0.1 * torch.rand(2, 3, 4, generator=g), 3 * torch.rand(2, 3, 4, generator=g))
    weight = torch.randn(3, 4, dtype=torch.complex64, generator=g)
    out = torch.full((2, 3, 2 * length + 5), 7.0)
    taps = power_sum(weight, log_pole, length, out=out)
    assert taps.data_ptr() == out.data_ptr() and taps.shape == (2, 3, length)
    torch.testing.assert_close(taps, power_sum(weight, log_pole, length))
    inner = math.isqrt(max(length - 1, 0)) + 1
    span = -(-length // inner) * inner
    assert not out[..., length:span].any() and (out[..., span:] == 7).all()


def test_fp32_powers_keep_their_phase_at_large_exponents():
    """`powers` (streaming plans, chunked kernels, a long chunk's state decay p^T) wraps θ·e in double
    precision: at exponents up to 16000 fp32 powers stay within 1e-6 of float64 (the fp32 product θ·e drifted
    by ~2e-3 rad)."""
    log_pole = torch.complex(torch.full((4, 2), -1e-5, dtype=torch.float64),
                             torch.tensor([[3.0, 2.9], [1.1, 0.3], [2.2, 1.7], [0.9, 3.1]], dtype=torch.float64))
    p32 = log_pole.to(torch.complex64)
    exponents = torch.arange(0, 16000, 7)
    got, expected = powers(p32, exponents.float()), powers(p32.to(torch.complex128), exponents.double())
    assert got.dtype == torch.complex64
    torch.testing.assert_close(got.to(torch.complex128), expected, rtol=0, atol=1e-6)


def test_fp32_powers_of_slow_high_frequency_modes_keep_their_phase():
    """Over 16000 taps a mode at 3 rad per tap turns 48000 rad: its far powers come from p^T with the phase
    wrapped in double precision, so fp32 kernels, gradients and states stay within 1e-4 of float64 (the plain
    fp32 product θ·l drifts by ~2e-3 rad there, and the kernel with it)."""
    g = torch.Generator().manual_seed(0)
    log_pole = torch.complex(torch.full((4, 2), -1e-5, dtype=torch.float64),
                             torch.tensor([[3.0, 2.9], [1.1, 0.3], [2.2, 1.7], [0.9, 3.1]], dtype=torch.float64))
    weight = torch.randn(4, 2, dtype=torch.complex128, generator=g)
    length = 16000
    p32, w32 = log_pole.to(torch.complex64), weight.to(torch.complex64)
    log_pole, weight = p32.to(torch.complex128), w32.to(torch.complex128)  # the same poles, rounded to fp32
    torch.testing.assert_close(power_sum(w32, p32, length).double(), power_sum_reference(weight, log_pole, length),
                               rtol=0, atol=1e-4)
    upstream = torch.randn(4, length, dtype=torch.float64, generator=g)
    for got, expected in zip(power_sum_vjp(upstream.float(), w32, p32), power_sum_vjp(upstream, weight, log_pole)):
        assert (got.to(expected.dtype) - expected).abs().max() < 1e-4 * expected.abs().max()
    got, expected = decayed_sum(upstream.float(), p32), decayed_sum(upstream, log_pole)
    assert (got.to(expected.dtype) - expected).abs().max() < 1e-4 * expected.abs().max()
