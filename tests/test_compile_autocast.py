"""torch.compile matches eager, and autocast leaves the FFTs and the discretisation in fp32."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from centaurus import SSMLayer, set_run_mode
from centaurus.models import MiniCentaur
from centaurus.ssm import choose_contraction


def _network():
    return torch.nn.Sequential(
        SSMLayer(8, 2, 4, mode="dws", norm="layer", use_activations=True),
        SSMLayer(8, 4, 4, mode="s5", state_blocks=2, discretization="zoh"),
        SSMLayer(8, 4, 3, mode="full", discretization="bilinear"),
        SSMLayer(8, 3, 2, mode="neck", state_blocks=2, skip=True),
    )


def compiled_matches_eager(device: str, length: int, *, rtol: float, atol: float) -> None:
    """torch.compile of a four-mode network equals eager in output and input gradient (also run on CUDA)."""
    torch.manual_seed(0)
    model = _network().to(device)
    x = torch.randn(2, 2, length, device=device, requires_grad=True)
    y = model(x)
    (g,) = torch.autograd.grad(y.square().sum(), x)
    compiled = torch.compile(model)
    yc = compiled(x)
    (gc,) = torch.autograd.grad(yc.square().sum(), x)
    torch.testing.assert_close(yc, y, rtol=rtol, atol=atol)
    # The input gradient sums over every later output, so fused kernels round it a few times more than the output.
    torch.testing.assert_close(gc, g, rtol=rtol, atol=10 * atol)


@pytest.mark.slow  # over 20 s: the default suite stays within CI's 15 minutes
@pytest.mark.parametrize("length", [64, 2048])
def test_compiled_model_matches_eager_forward_and_backward(length):
    """At 2048 samples the s5 layer filters by chunks, at 64 it assembles the kernels first."""
    assert choose_contraction(2, 4, 4, 16, 1, length).order == {64: "kernel-first", 2048: "chunked"}[length]
    compiled_matches_eager("cpu", length, rtol=1e-5, atol=1e-6)


def test_compiled_streaming_matches_eager():
    model = MiniCentaur().eval()
    x = torch.randn(1, 1, 96)
    with torch.no_grad():
        y = model(x)
        set_run_mode(model, "inference")
        compiled = torch.compile(model)
        chunks = torch.cat([compiled(c) for c in x.split(32, -1)], -1)
    torch.testing.assert_close(chunks, y, rtol=1e-5, atol=1e-6)


class _FilterDtypes(TorchDispatchMode):
    """The input dtypes of every FFT, and of every complex number made from real parts: the chunked order's
    states, made from its real products, and the poles."""

    def __init__(self):
        super().__init__()
        self.dtypes = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "fft" in func.__name__ or func.__name__.startswith("complex"):
            self.dtypes.add(args[0].dtype)
        return func(*args, **(kwargs or {}))


def autocast_keeps_fp32(layer: SSMLayer, x: torch.Tensor, dtype: torch.dtype) -> None:
    """Under autocast to `dtype` on x's device every FFT (or chunked product) runs in fp32/complex64 and the
    discretisation in complex64, the output stays within 2 % of fp32 and every gradient is finite (also run on CUDA)."""
    reference = layer(x)
    recorder = _FilterDtypes()
    with torch.autocast(x.device.type, dtype=dtype), recorder:
        y = layer(x)
        ops = layer.operands()
    assert recorder.dtypes and recorder.dtypes <= {torch.float32, torch.complex64}
    assert ops.log_pole.dtype == torch.complex64 and ops.beta.dtype == torch.complex64
    if layer.mode == "dws":  # its 1×1 mixer runs under autocast; the other modes contract inside the fp32 filter
        assert y.dtype == dtype
    assert (y.float() - reference).abs().max() < 0.02 * reference.abs().max()
    y.float().square().mean().backward()
    assert torch.isfinite(layer.A.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters() if p.grad is not None)


@pytest.mark.parametrize("mode", ["dws", "s5", "neck", "full"])
def test_bf16_autocast_keeps_ffts_and_discretisation_in_fp32(mode):
    autocast_keeps_fp32(SSMLayer(8, 4, 4, mode=mode, state_blocks=2), torch.randn(2, 4, 128), torch.bfloat16)
