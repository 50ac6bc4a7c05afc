import pytest
import torch

from centaurus.ssm import ORDERS, bottleneck_apply, bottleneck_kernels, choose_contraction
from centaurus.ssm.contraction import ContractionPlan


@pytest.mark.parametrize("states,complex_out", [(1, False), (1, True), (4, False)])
def test_every_order_gives_the_same_output(states, complex_out):
    g = torch.Generator().manual_seed(states)
    B, C, D, M, L = 2, 3, 5, 6, 40
    u = torch.randn(B, C, L, dtype=torch.float64, generator=g)
    w_in = torch.randn(M, C, dtype=torch.float64, generator=g)
    w_out = torch.randn(D, M, dtype=torch.complex128 if complex_out else torch.float64, generator=g)
    weight = torch.randn(M, states, dtype=torch.complex128, generator=g)
    log_pole = torch.complex(-torch.rand(M, states, dtype=torch.float64, generator=g) * 0.1,
                             torch.rand(M, states, dtype=torch.float64, generator=g))
    outs = []
    for order in ORDERS:
        plan = choose_contraction(B, C, D, M, states, L, complex_out)
        plan = ContractionPlan(order, 0.0, (), plan.path if plan.order == "frequency" else None)
        if order == "frequency" and plan.path is None:
            plan = ContractionPlan(order, 0.0, (), ((0, 2), (0, 1), (0, 1)))
        kernels = bottleneck_kernels(w_in=w_in, w_out=w_out, weight=weight, log_pole=log_pole, length=L,
                                     order=order)
        outs.append(bottleneck_apply(u, kernels, plan))
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=1e-9, atol=1e-9)


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
