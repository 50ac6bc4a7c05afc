import pytest
import torch
from torch import nn

from centaurus import SSMLayer, reset_state, set_run_mode, streamable
from centaurus.layers import AvgPool, RepeatUpsample, StridedConvDown, Subsample, TransposedUpsample


def _stream(module, x, sizes):
    outs, start = [], 0
    for size in sizes:
        outs.append(module(x[..., start:start + size]))
        start += size
    return torch.cat(outs, -1)


SIZES = [1, 2, 0, 5, 3, 11, 7, 1, 30, 4]  # 64 samples in odd chunks


@pytest.mark.parametrize("make", [lambda: AvgPool(4), lambda: Subsample(3), lambda: StridedConvDown(2, 5, 4),
                                  lambda: RepeatUpsample(3), lambda: TransposedUpsample(2, 3, 4)])
def test_resamplers_stream_exactly_at_any_chunk_size(make):
    module = make()
    x = torch.randn(2, 2, 64)
    with torch.no_grad():
        one_shot = module(x)
        module.set_run_mode("inference")
        torch.testing.assert_close(_stream(module, x, SIZES), one_shot)


def test_avgpool_equals_torch_avgpool_and_upsamplers_are_delayed():
    x = torch.randn(1, 2, 30)
    torch.testing.assert_close(AvgPool(4)(x), nn.AvgPool1d(4)(x))
    up = RepeatUpsample(3)(torch.arange(1.0, 4.0)[None, None])
    torch.testing.assert_close(up[0, 0], torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 3.0]))


def test_streamable_makes_a_plain_avgpool_stream_exactly():
    model = nn.Sequential(SSMLayer(4, 1, 2, mode="dws", norm=None), nn.AvgPool1d(4), nn.ReLU())
    x = torch.randn(2, 1, 64)
    with torch.no_grad():
        one_shot = model(x)
        set_run_mode(model, "inference")
        plain = _stream(model, x, [6] * 10 + [4])
        assert plain.shape[-1] < one_shot.shape[-1]  # stateless pooling drops straddling windows
        streamable(model)
        assert isinstance(model[1], AvgPool)
        set_run_mode(model, "inference")
        torch.testing.assert_close(_stream(model, x, [6] * 10 + [4]), one_shot)
        reset_state(model)
        torch.testing.assert_close(_stream(model, x, [1] * 64), one_shot)
    with pytest.raises(ValueError, match="kernel == stride"):
        streamable(nn.Sequential(nn.AvgPool1d(4, stride=2)))
