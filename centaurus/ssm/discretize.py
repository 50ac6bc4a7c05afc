"""Continuous poles → discrete poles and input factors (spec §2.3, §13.2).

The discrete system per mode is x_t = p ⊙ x_{t−1} + β ⊙ drive_t. We return log p rather than p, so that
powers p^l = exp(l·log p) are computed directly and errors never accumulate.
"""
import torch
import torch.nn.functional as F

DISCRETIZATIONS = ("simplified", "zoh", "bilinear")


def continuous_poles(A: torch.Tensor) -> torch.Tensor:
    """A: real (..., 2) → λ = −softplus(A[..., 0]) + i·A[..., 1], complex (...)."""
    return torch.complex(-F.softplus(A[..., 0]), A[..., 1])


def phi1(z: torch.Tensor) -> torch.Tensor:
    """(e^z − 1)/z, with a Taylor series where |z| is small enough for cancellation to matter."""
    small = z.abs() < 0.5
    zs = torch.where(small, z, torch.zeros_like(z))
    series = torch.ones_like(z)
    term = torch.ones_like(z)
    for k in range(2, 10):  # truncation error |z|^8/9! < 1e-8 for |z| < 0.5
        term = term * zs / k
        series = series + term
    zd = torch.where(small, torch.ones_like(z), z)
    return torch.where(small, series, torch.expm1(zd) / zd)


def discretize(poles: torch.Tensor, dt: torch.Tensor, *, method: str = "simplified"):
    """Discretise continuous poles with step dt.

    Args:
        poles: complex (...), Re < 0.
        dt: real, broadcastable to `poles` (already multiplied by the rate).
        method: 'simplified' (exp(Δλ), β = Δ), 'zoh' (β = (e^{Δλ}−1)/λ) or 'bilinear'.

    Returns:
        (log_pole, beta): complex tensors of the broadcast shape.
    """
    z = dt * poles
    if method == "simplified":
        return z, torch.complex(dt, torch.zeros_like(dt)).expand_as(z)
    if method == "zoh":
        return z, dt * phi1(z)
    if method == "bilinear":
        denom = 1 - z / 2
        return torch.log((1 + z / 2) / denom), dt / denom
    raise ValueError(f"unknown discretization {method!r}; expected one of {DISCRETIZATIONS}")
