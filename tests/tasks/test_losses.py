"""The multi-resolution STFT loss's terms: where each one pushes."""
import torch

from centaurus.tasks.losses import multi_resolution_stft_loss


def test_every_term_is_zero_for_a_perfect_estimate():
    ref = torch.randn(2, 4000)
    for weights in (dict(log_weight=0.0), dict(log_weight=1.0), dict(log_weight=0.0, power_weight=1.0)):
        assert float(multi_resolution_stft_loss(ref.clone(), ref, **weights)) < 1e-6


def _quiet_to_loud_gradient(**weights):
    """Gradient norm on the silent half of an estimate over that on its loud half, for the same hiss in both."""
    torch.manual_seed(0)
    t = torch.arange(8000) / 16000
    ref = (0.1 * torch.randn(8000) * (t < 0.25) + 1e-6 * torch.randn(8000))[None]   # sound, then silence
    est = (ref + 1e-3 * torch.randn(8000)).requires_grad_()                          # hiss 40 dB down
    multi_resolution_stft_loss(est, ref, **weights).backward()
    grad = est.grad[0]
    return float(grad[t >= 0.3].norm() / grad[t < 0.2].norm())


def test_log_term_pulls_hardest_on_silence_and_the_compressed_term_much_less():
    # Measured: 44 for the log term, 5.2 for the compressed one, 1.6 for spectral convergence alone.
    log = _quiet_to_loud_gradient(log_weight=1.0)
    power = _quiet_to_loud_gradient(log_weight=0.0, power_weight=1.0)
    convergence = _quiet_to_loud_gradient(log_weight=0.0)
    assert log > 4 * power and power > 2 * convergence, (log, power, convergence)


def test_subnormal_bins_in_the_estimate_keep_the_gradient_finite():
    """Over the digital silence of a clean input's pauses a denoiser's output decays to subnormal numbers, where
    |S|'s gradient S/|S| is 0/0. That once stopped a training run with a NaN loss."""
    torch.manual_seed(0)
    silent = torch.arange(8000) >= 4000
    ref = 0.1 * torch.randn(1, 8000) * ~silent                                 # speech, then digital silence
    for tiny in (0.0, 1e-40):
        est = (0.9 * ref + tiny * silent).requires_grad_()
        for weights in ({"log_weight": 0.0, "power_weight": 10.0}, {"log_weight": 1.0}):
            est.grad = None
            multi_resolution_stft_loss(est, ref, **weights).backward()
            assert torch.isfinite(est.grad).all() and float(est.grad.abs().max()) > 0
