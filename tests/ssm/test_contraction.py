import pytest
import torch

from centaurus.ssm import ORDERS, bottleneck_apply, bottleneck_kernels, choose_contraction
from centaurus.ssm.contraction import ContractionPlan

# Every order, the frequency order's two forms (per-bin projections, where W_in meets the input first, or kernel
# spectra), and chunks that divide the length, that do not, and that exceed it.
PLANS = [ContractionPlan(order, 0.0, (), None) for order in ORDERS[:2]] + [
    ContractionPlan("frequency", 0.0, (), path) for path in (((0, 2), (0, 1), (0, 1)), ((2, 3), (1, 2), (0, 1)))] + [
    ContractionPlan("chunked", 0.0, (), None, chunk) for chunk in (4, 3, 64)]
LENGTH = 40


def bottleneck_problem(states: int, complex_out: bool, channels: tuple[int, int, int]) -> list[torch.Tensor]:
    """u (B, C, L), w_in, w_out, weight and log_pole in float64, each requiring grad; channels = (C, D, M)."""
    g = torch.Generator().manual_seed(states)
    B, (C, D, M) = 2, channels
    u = torch.randn(B, C, LENGTH, dtype=torch.float64, generator=g)
    w_in = torch.randn(M, C, dtype=torch.float64, generator=g)
    w_out = torch.randn(D, M, dtype=torch.complex128 if complex_out else torch.float64, generator=g)
    weight = torch.randn(M, states, dtype=torch.complex128, generator=g)
    log_pole = torch.complex(-torch.rand(M, states, dtype=torch.float64, generator=g) * 0.1,
                             torch.rand(M, states, dtype=torch.float64, generator=g))
    return [t.requires_grad_() for t in (u, w_in, w_out, weight, log_pole)]


def output_and_gradients(plan: ContractionPlan, leaves: list[torch.Tensor]):
    u, w_in, w_out, weight, log_pole = leaves
    kernels = bottleneck_kernels(w_in=w_in, w_out=w_out, weight=weight, log_pole=log_pole, length=LENGTH,
                                 order=plan.order, chunk=plan.chunk)
    out = bottleneck_apply(u, kernels, plan)
    return out, torch.autograd.grad(out.square().sum(), leaves)


@pytest.mark.parametrize("states,complex_out", [(1, False), (1, True), (4, False)])
@pytest.mark.parametrize("channels", [(3, 5, 6), (9, 10, 8)])
def test_every_order_gives_the_same_output_and_gradients(states, complex_out, channels):
    leaves = bottleneck_problem(states, complex_out, channels)
    want, want_grads = output_and_gradients(PLANS[0], leaves)
    for plan in PLANS[1:]:
        out, grads = output_and_gradients(plan, leaves)
        torch.testing.assert_close(out, want, rtol=1e-9, atol=1e-9)
        for got, expected in zip(grads, want_grads):
            torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-8)


def test_choice_depends_on_shape_and_is_cached():
    small_batch = choose_contraction(1, 64, 64, 16, 1, 16000)
    assert small_batch is choose_contraction(1, 64, 64, 16, 1, 16000)
    assert small_batch.order == min(small_batch.candidates, key=lambda c: c[1])[0]
    # Many channels, tiny bottleneck: projecting first is cheaper than assembling C·D kernels.
    assert choose_contraction(8, 64, 64, 1, 16, 16000).order != "kernel-first"
    # One input and one output channel with a wide bottleneck: the kernel is a single sequence.
    assert choose_contraction(16, 1, 1, 256, 1, 4000).order == "kernel-first"
    orders = {choose_contraction(b, c, d, m, n, L).order
              for b in (1, 16) for c, d in ((1, 1), (64, 64)) for m, n in ((64, 1), (1, 16)) for L in (64, 16000)}
    assert len(orders) >= 2
    # One pole per channel over a long input: chunks cost less than 2L-point FFTs (benchmarks/contraction_orders.py).
    s5 = choose_contraction(8, 64, 64, 16, 1, 16000)
    assert s5.order == "chunked" and s5.chunk in (32, 64)
