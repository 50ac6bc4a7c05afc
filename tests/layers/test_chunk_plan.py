"""The chunked scan of the chunk plans against the float64 recurrence: every mode and readout, chunk lengths
with many divisors and none, carried state in and out."""
import itertools

import pytest
import torch

from centaurus import SSMLayer
from centaurus.layers.chunk_plan import FullChunkPlan, block_length, build_plan, plan_size, run_plan
from centaurus.ssm.reference import recurrence_reference


def _layer(mode, **options):
    layer = SSMLayer(4, 3, 5, mode=mode, state_blocks=2, dt_min=0.01, dt_max=0.5, norm=None, **options)
    with torch.no_grad():
        for p in layer.parameters(recurse=False):
            p.add_(0.1 * torch.randn_like(p))
    return layer.eval()


@pytest.mark.parametrize("mode,complex_readout", itertools.product(["dws", "s5", "neck", "full"], [False, True]))
def test_plan_chunks_equal_the_float64_recurrence(mode, complex_readout):
    layer = _layer(mode, skip=True, complex_readout=complex_readout)
    u = torch.randn(2, 3, 97 + 64 + 1 + 12)
    reference = recurrence_reference(u, mode=mode, discretization="simplified",
                                     **dict(layer.named_parameters(recurse=False)))
    with torch.no_grad():
        ops = layer.operands()
        state = torch.view_as_real(layer.init_state(2))
        outputs, start = [], 0
        for T in (97, 64, 1, 12):  # a prime, a power of two, one sample, a length with many divisors
            plan = build_plan(mode, ops, length=T, skip=layer.D_skip)
            y, state = run_plan(plan, u[..., start:start + T], state)
            outputs.append(y)
            start += T
    err = (torch.cat(outputs, -1).double() - reference).abs().max() / reference.abs().max()
    assert err < 2e-6


def test_block_length_divides_the_chunk_and_grows_like_its_square_root():
    def cost(T):  # one pole: the states at the block starts, then the blocks
        return lambda b: (T + 2) * 2 * (T // b + 1) + T * (b + 2)
    for T in (1, 7, 12, 97, 256, 512):
        assert T % block_length(T, cost(T)) == 0
    assert block_length(256, cost(256)) in (16, 32)   # √(2T) ≈ 23: not one long block, nor tiny ones
    assert block_length(97, cost(97)) == 97          # a prime length is one block: the Toeplitz form


@pytest.mark.parametrize("mode", ["dws", "s5", "neck", "full"])
def test_plan_size_is_the_largest_plan_tensor(mode):
    layer = _layer(mode)
    with torch.no_grad():
        ops = layer.operands()
        for T in (8, 30, 256):
            plan = build_plan(mode, ops, length=T, skip=None)
            fields = ("drive_map", "taps", "carry_map", "decay") if isinstance(plan, FullChunkPlan) \
                else ("state_map", "block_map")
            assert plan_size(mode, ops, length=T) == max(getattr(plan, f).numel() for f in fields)
