import pytest
import torch

from centaurus.ssm import ORDERS, bottleneck_apply, bottleneck_kernels, choose_contraction
from centaurus.ssm.contraction import ContractionPlan


@pytest.mark.parametrize("states,complex_out", [(1, False), (1, True), (4, False)])
def test_every_order_gives_the_same_output_and_gradients(states, complex_out):
    g = torch.Generator().manual_seed(states)
    B, C, D, M, L = 2, 3, 5, 6, 40
    u = torch.randn(B, C, L, dtype=torch.float64, generator=g)
    w_in = torch.randn(M, C, dtype=torch.float64, generator=g)
    w_out = torch.randn(D, M, dtype=torch.complex128 if complex_out else torch.float64, generator=g)
    weight = torch.randn(M, states, dtype=torch.complex128, generator=g)
    log_pole = torch.complex(-torch.rand(M, states, dtype=torch.float64, generator=g) * 0.1,
                             torch.rand(M, states, dtype=torch.float64, generator=g))
    leaves = [t.requires_grad_() for t in (u, w_in, w_out, weight, log_pole)]
    outs, grads = [], []
    # the frequency order's two forms: per-bin projections (W_in meets the input first), or kernel spectra
    plans = [ContractionPlan(order, 0.0, (), None) for order in ORDERS[:2]]
    plans += [ContractionPlan("frequency", 0.0, (), path) for path in (((0, 2), (0, 1), (0, 1)),
                                                                      ((2, 3), (1, 2), (0, 1)))]
    for plan in plans:
        kernels = bottleneck_kernels(w_in=w_in, w_out=w_out, weight=weight, log_pole=log_pole, length=L,
                                     order=plan.order)
        outs.append(bottleneck_apply(u, kernels, plan))
        grads.append(torch.autograd.grad(outs[-1].square().sum(), leaves))
    for out, grad in zip(outs[1:], grads[1:]):
        torch.testing.assert_close(out, outs[0], rtol=1e-9, atol=1e-9)
        for got, want in zip(grad, grads[0]):
            torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8)


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
