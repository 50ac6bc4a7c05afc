import math

import pytest
import torch

from centaurus import set_run_mode
from centaurus.layers import ExponentialMeanNorm
from tests.layers.test_resample import _stream

SIZES = [1, 2, 0, 5, 3, 11, 7, 1, 30, 4, 97, 1, 350, 300]  # 812 frames in odd chunks, blocks of 256 crossed


def _recursion(x: torch.Tensor, frames: float) -> torch.Tensor:
    """x − m_t / w_t with m_t = α·m_{t−1} + (1 − α)·x_t and w_t = α·w_{t−1} + (1 − α), from zero, step by step."""
    decay, total, weight, out = math.exp(-1 / frames), torch.zeros_like(x[..., 0]), 0.0, []
    for t in range(x.shape[-1]):
        total, weight = decay * total + (1 - decay) * x[..., t], decay * weight + (1 - decay)
        out.append(x[..., t] - total / weight)
    return torch.stack(out, -1)


@pytest.mark.parametrize("frames", [1.0, 12.5, 400.0])
def test_equals_the_step_by_step_recursion(frames):
    x = torch.randn(2, 5, 700, dtype=torch.float64) * 3 + 7
    y = ExponentialMeanNorm(5, frames).double()(x)
    torch.testing.assert_close(y, _recursion(x, frames), rtol=0, atol=1e-10)
    assert y[..., 0].abs().max() < 1e-12  # the first frame is its own mean


def test_streams_exactly_at_any_chunk_size():
    module = ExponentialMeanNorm(3, 50.0)
    x = torch.randn(2, 3, sum(SIZES)) - 10
    one_shot = module(x)
    set_run_mode(module, "inference")
    torch.testing.assert_close(_stream(module, x, SIZES), one_shot, rtol=1e-5, atol=1e-5)


def test_a_level_change_per_channel_leaves_the_output_unchanged():
    """What it is for: on log spectra, a noise floor's colour and level are constant offsets per band."""
    x = torch.randn(1, 4, 300, dtype=torch.float64)
    offsets = torch.tensor([-20.0, -3.0, 0.5, 9.0], dtype=torch.float64)[None, :, None]
    module = ExponentialMeanNorm(4, 30.0).double()
    torch.testing.assert_close(module(x + offsets), module(x), rtol=0, atol=1e-10)


def test_rejects_a_time_constant_that_is_not_positive():
    with pytest.raises(ValueError, match="positive"):
        ExponentialMeanNorm(4, 0)
