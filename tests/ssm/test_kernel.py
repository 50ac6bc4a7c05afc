import pytest
import torch

from centaurus.ssm import decayed_sum, power_sum
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
