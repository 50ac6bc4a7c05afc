import pytest
import torch
import torch.nn.functional as F

from centaurus.ssm import fft_conv, fftconv

CPU = torch.device("cpu")


def _direct(u, k):
    """Causal convolution by conv1d with a flipped, left-padded kernel."""
    L = u.shape[-1]
    if k.dim() == 2:
        return F.conv1d(F.pad(u, (L - 1, 0)), k.flip(-1)[:, None], groups=u.shape[1])
    return F.conv1d(F.pad(u, (L - 1, 0)), k.flip(-1))


@pytest.mark.parametrize("full", [False, True])
def test_fft_conv_equals_direct_convolution(full):
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 3, 37, dtype=torch.float64, generator=g)
    k = torch.randn(*((5, 3) if full else (3,)), 37, dtype=torch.float64, generator=g)
    torch.testing.assert_close(fft_conv(u, k), _direct(u, k), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("full", [False, True])
def test_fft_conv_backward_is_the_exact_adjoint(full):
    g = torch.Generator().manual_seed(1)
    u = torch.randn(2, 3, 11, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(*((4, 3) if full else (3,)), 11, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(fft_conv, (u, k))


def test_full_conv_is_blocked_over_output_channels(monkeypatch):
    """Blocking over D (to bound memory) must not change the result or its gradients."""
    g = torch.Generator().manual_seed(2)
    u = torch.randn(2, 3, 20, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(7, 3, 20, generator=g, dtype=torch.float64, requires_grad=True)
    y = fft_conv(u, k)
    gu, gk = torch.autograd.grad(y.square().sum(), (u, k))
    monkeypatch.setattr(fftconv, "_BLOCK_BYTES", 3 * 21 * 8 * 2)  # two output channels per block
    assert len(fftconv._blocks(7, 3, 20, fftconv._BLOCK_BYTES, CPU)) == 4
    y2 = fft_conv(u, k)
    gu2, gk2 = torch.autograd.grad(y2.square().sum(), (u, k))
    torch.testing.assert_close((y2, gu2, gk2), (y, gu, gk))


def test_full_conv_converts_batch_items_a_few_at_a_time(monkeypatch):
    """Input spectra and outputs go through small buffers, a few batch items at a time (here inputs 4 + 3,
    outputs 3 + 3 + 1): no change to the result or its gradients."""
    g = torch.Generator().manual_seed(7)
    u = torch.randn(7, 3, 20, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(4, 3, 20, generator=g, dtype=torch.float64, requires_grad=True)
    y = fft_conv(u, k)
    gu, gk = torch.autograd.grad(y.square().sum(), (u, k))
    monkeypatch.setattr(fftconv, "_DEPTHWISE_BLOCK_BYTES", 3 * 4 * 21 * 8)  # three batch items of 4 outputs
    assert [b.stop - b.start for b in fftconv._blocks(7, 4, 20, fftconv._DEPTHWISE_BLOCK_BYTES, CPU)] == [3, 3, 1]
    y2 = fft_conv(u, k)
    gu2, gk2 = torch.autograd.grad(y2.square().sum(), (u, k))
    torch.testing.assert_close((y2, gu2, gk2), (y, gu, gk))
    torch.testing.assert_close(y2, _direct(u, k), rtol=1e-10, atol=1e-10)
    assert y2.is_contiguous()


def test_fft_conv_stays_fp32_under_autocast():
    u, k = torch.randn(2, 3, 16), torch.randn(3, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fft_conv(u.bfloat16(), k).dtype == torch.float32


@pytest.mark.parametrize("full", [False, True])
def test_spectrum_conv_equals_fft_conv(full):
    from centaurus.ssm import kernel_spectrum, spectrum_conv
    g = torch.Generator().manual_seed(3)
    u = torch.randn(2, 3, 29, generator=g)
    k = torch.randn(*((5, 3) if full else (3,)), 29, generator=g)
    torch.testing.assert_close(spectrum_conv(u, kernel_spectrum(k, 29)), fft_conv(u, k), rtol=1e-5, atol=1e-6)


def _ssm_operands(g, D, X, N):
    weight = torch.randn(D, X, N, dtype=torch.complex128, generator=g)
    log_pole = torch.complex(-0.05 - 0.3 * torch.rand(D, X, N, dtype=torch.float64, generator=g),
                             3 * torch.rand(D, X, N, dtype=torch.float64, generator=g))
    return weight, log_pole


@pytest.mark.parametrize("block_bytes", [None, 3 * 24 * 8 * 2])
@pytest.mark.parametrize("keep_spectra", [True, False])
def test_power_sum_conv_equals_fft_conv_of_the_power_sum(monkeypatch, block_bytes, keep_spectra):
    """Generating kernels block by block inside the convolution, and keeping their spectra for backward or
    remaking them there, changes neither output nor gradients."""
    from centaurus.ssm import fftconv, power_sum, power_sum_conv
    if not keep_spectra:
        monkeypatch.setattr(fftconv, "_KEPT_SPECTRA_BYTES", 0)
    if block_bytes:
        monkeypatch.setattr(fftconv, "_BLOCK_BYTES", block_bytes)  # two output channels per block
        assert len(fftconv._blocks(5, 3, 23, fftconv._BLOCK_BYTES, CPU)) == 3
    g = torch.Generator().manual_seed(4)
    u = torch.randn(2, 3, 23, dtype=torch.float64, generator=g, requires_grad=True)
    weight, log_pole = (t.requires_grad_() for t in _ssm_operands(g, 5, 3, 4))
    y = power_sum_conv(u, weight, log_pole)
    expected = fft_conv(u, power_sum(weight, log_pole, 23))
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)
    probe = torch.randn(y.shape, dtype=torch.float64, generator=g)
    got = torch.autograd.grad((y * probe).sum(), (u, weight, log_pole))
    want = torch.autograd.grad((expected * probe).sum(), (u, weight, log_pole))
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("keep_spectra", [True, False])
def test_power_sum_conv_gradcheck(monkeypatch, keep_spectra):
    from centaurus.ssm import fftconv, power_sum_conv
    if not keep_spectra:
        monkeypatch.setattr(fftconv, "_KEPT_SPECTRA_BYTES", 0)
    g = torch.Generator().manual_seed(5)
    u = torch.randn(2, 2, 9, dtype=torch.float64, generator=g, requires_grad=True)
    weight, log_pole = (t.requires_grad_() for t in _ssm_operands(g, 3, 2, 2))
    assert torch.autograd.gradcheck(power_sum_conv, (u, weight, log_pole))


@pytest.mark.parametrize("keep_spectra", [True, False])
def test_spare_buffers_never_leak_into_a_retained_graph(monkeypatch, keep_spectra):
    """Backward hands its spectra to the spares, and the next forward overwrites them: a second backward through
    a retained graph must remake them, not read another call's. Its gradients equal the first backward's."""
    from centaurus.ssm import fftconv, power_sum_conv
    if not keep_spectra:
        monkeypatch.setattr(fftconv, "_KEPT_SPECTRA_BYTES", 0)
    monkeypatch.setattr(fftconv, "_SPARES", fftconv._Spares(limit=2**20, max_age=8))  # none left by other tests
    g = torch.Generator().manual_seed(7)
    u = torch.randn(2, 3, 23, generator=g, requires_grad=True)
    weight, log_pole = (t.to(torch.complex64).requires_grad_() for t in _ssm_operands(g, 5, 3, 4))
    y = power_sum_conv(u, weight, log_pole)
    probe = torch.randn(y.shape, generator=g)
    first = torch.autograd.grad((y * probe).sum(), (u, weight, log_pole), retain_graph=True)
    other = power_sum_conv(torch.randn(u.shape, generator=g), 2 * weight, log_pole)  # takes the spares
    torch.autograd.grad(other.sum(), (weight,))
    again = torch.autograd.grad((y * probe).sum(), (u, weight, log_pole))
    torch.testing.assert_close(again, first)


def test_spares_from_inference_mode_never_reach_a_training_call(monkeypatch):
    """Buffers made under torch.inference_mode are inference tensors, which nothing may write outside it: a
    training call after an inference call of the same shape must not take them, and gives the same output."""
    from centaurus.ssm import fftconv, power_sum_conv
    monkeypatch.setattr(fftconv, "_SPARES", fftconv._Spares(limit=2**30, max_age=8))
    g = torch.Generator().manual_seed(9)
    u = torch.randn(2, 3, 50, generator=g)
    weight, log_pole = (t.to(torch.complex64) for t in _ssm_operands(g, 5, 3, 4))
    with torch.inference_mode():
        expected = power_sum_conv(u, weight, log_pole)
    assert fftconv._SPARES._free  # the inference call handed buffers back
    y = power_sum_conv(u.requires_grad_(), weight, log_pole)
    y.sum().backward()
    torch.testing.assert_close(y.detach(), expected.clone())


def test_spare_buffers_are_reused_and_bounded():
    """A second call of one shape takes the first call's buffers back; the spares never exceed their limit in
    bytes, and those not taken back for `max_age` calls go."""
    from centaurus.ssm import fftconv
    spares = fftconv._Spares(limit=3 * 40, max_age=2)
    a = spares.take((10,), torch.float32, CPU)
    b = spares.take((10,), torch.float32, CPU)
    spares.give(a, b, None)
    assert spares.take((10,), torch.float32, CPU).data_ptr() in (a.data_ptr(), b.data_ptr())
    assert spares.take((10,), torch.float64, CPU).data_ptr() not in (a.data_ptr(), b.data_ptr())
    spares.give(*(torch.ones(10) for _ in range(5)))
    assert sum(t.nbytes for _, t in spares._free) <= 3 * 40
    zeroed = spares.take((10,), torch.float32, CPU, zero=True)
    assert not zeroed.any()
    spares.tick()
    spares.give(torch.ones(3))
    spares.tick()
    spares.tick()
    assert [t.shape for _, t in spares._free] == [(3,)]  # the (10,) spares waited three calls
    spares.tick()
    assert not spares._free


def test_a_training_step_reuses_the_full_convolutions_buffers(monkeypatch):
    """From the second step on, forward and backward take every large buffer from the spares."""
    from centaurus.ssm import fftconv, power_sum_conv
    spares = fftconv._Spares(limit=2**30, max_age=8)
    monkeypatch.setattr(fftconv, "_SPARES", spares)
    g = torch.Generator().manual_seed(8)
    u = torch.randn(2, 3, 50, generator=g, requires_grad=True)
    weight, log_pole = (t.to(torch.complex64).requires_grad_() for t in _ssm_operands(g, 5, 3, 4))
    power_sum_conv(u, weight, log_pole).sum().backward()
    first = {t.data_ptr() for _, t in spares._free}
    power_sum_conv(u, weight, log_pole).sum().backward()
    assert {t.data_ptr() for _, t in spares._free} == first and len(first) >= 5


def test_depthwise_conv_is_blocked_over_channels(monkeypatch):
    """Blocking over channels (to keep buffers reusable) must not change the result or its gradients."""
    from centaurus.ssm import fftconv
    g = torch.Generator().manual_seed(6)
    u = torch.randn(2, 5, 20, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(5, 20, generator=g, dtype=torch.float64, requires_grad=True)
    y = fft_conv(u, k)
    gu, gk = torch.autograd.grad(y.square().sum(), (u, k))
    monkeypatch.setattr(fftconv, "_DEPTHWISE_BLOCK_BYTES", 2 * 21 * 8 * 2)  # two channels per block
    assert len(fftconv._blocks(5, 2, 20, fftconv._DEPTHWISE_BLOCK_BYTES, CPU)) == 3
    y2 = fft_conv(u, k)
    gu2, gk2 = torch.autograd.grad(y2.square().sum(), (u, k))
    torch.testing.assert_close((y2, gu2, gk2), (y, gu, gk))
    torch.testing.assert_close(y2, _direct(u, k), rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(fft_conv, (u, k))


def test_blocks_on_an_accelerator_are_as_large_as_memory_allows():
    """A GPU pays per kernel launch, not per cache miss: the shapes that take 16 blocks on the CPU take one."""
    from centaurus.ssm import fftconv
    assert len(fftconv._blocks(64, 64, 16000, fftconv._BLOCK_BYTES, CPU)) == 16
    assert fftconv._blocks(64, 64, 16000, fftconv._BLOCK_BYTES, torch.device("cuda")) == [slice(0, 64)]
    assert len(fftconv._blocks(64, 8, 16000, fftconv._DEPTHWISE_BLOCK_BYTES, torch.device("cuda"))) == 1
