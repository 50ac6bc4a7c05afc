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
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)
    return spec.abs().clamp(min=1e-7)


def multi_resolution_stft_loss(estimate: torch.Tensor, reference: torch.Tensor,
                               resolutions: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (256, 64))
                               ) -> torch.Tensor:
    """Mean over (n_fft, hop) resolutions of spectral convergence + L1 of log magnitudes (Yamamoto et al.,
    2020). Inputs (B, L)."""
    total = estimate.new_zeros(())
    for n_fft, hop in resolutions:
        est, ref = _magnitude(estimate, n_fft, hop), _magnitude(reference, n_fft, hop)
        convergence = torch.linalg.norm(ref - est, dim=(-2, -1)) / torch.linalg.norm(ref, dim=(-2, -1))
        total = total + convergence.mean() + (est.log() - ref.log()).abs().mean()
    return total / len(resolutions)
