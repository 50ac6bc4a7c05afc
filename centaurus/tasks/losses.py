"""Waveform losses for denoising: multi-resolution STFT loss and scale-invariant SDR."""
from __future__ import annotations

import torch


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB over the last axis (Le Roux et al., 2019)."""
    reference = reference - reference.mean(-1, keepdim=True)
    estimate = estimate - estimate.mean(-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + eps)
    target = scale * reference
    return 10 * torch.log10(target.pow(2).sum(-1).clamp(min=eps) / (estimate - target).pow(2).sum(-1).clamp(min=eps))


def _magnitude(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.view_as_real(torch.stft(x, n_fft, hop, window=window, return_complex=True))
    # |S| as the root of a clamped power: complex abs() has a 0/0 gradient on subnormal bins, which a
    # denoiser's output over digital silence decays to
    return spec.square().sum(-1).clamp(min=1e-14).sqrt()


def multi_resolution_stft_loss(estimate: torch.Tensor, reference: torch.Tensor,
                               resolutions: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (256, 64)),
                               *, log_weight: float = 1.0, power_weight: float = 0.0, power: float = 0.3
                               ) -> torch.Tensor:
    """Mean over (n_fft, hop) resolutions of spectral convergence + `log_weight` × L1 of log magnitudes
    (Yamamoto et al., 2020) + `power_weight` × MSE of compressed magnitudes |S|^power. Inputs (B, L).

    The log term's gradient grows as 1/|S|, so near-silent bins dominate it (for the same hiss, it pulls 44×
    harder on a silent stretch than on a loud one; the compressed term 5×). On 16 white-noise clips of our
    denoising corpus a causal model trained 200 steps with it lost 0.5 dB SI-SDR (PESQ-WB 1.13 → 1.53); with
    the compressed term instead (power 0.3, weight 10) it gained 2.1 dB (PESQ-WB 1.60). Over a whole
    offline-recipe run, though, the compressed term gained SI-SDR and lost PESQ (recipes/denoise/offline.yaml)."""
    total = estimate.new_zeros(())
    for n_fft, hop in resolutions:
        est, ref = _magnitude(estimate, n_fft, hop), _magnitude(reference, n_fft, hop)
        convergence = torch.linalg.norm(ref - est, dim=(-2, -1)) / torch.linalg.norm(ref, dim=(-2, -1))
        total = total + convergence.mean()
        if log_weight:
            total = total + log_weight * (est.log() - ref.log()).abs().mean()
        if power_weight:
            total = total + power_weight * (est ** power - ref ** power).pow(2).mean()
    return total / len(resolutions)
