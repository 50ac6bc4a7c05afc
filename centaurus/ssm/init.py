"""Initial values of the continuous poles λ and the step sizes Δ (spec §2.2, §13.2).

A pole is stored as `A[..., 0] = softplus⁻¹(−Re λ)`, `A[..., 1] = Im λ`, so Re λ < 0 always.
"""
import math

import torch

POLE_INITS = ("s4d-lin", "s4d-inv", "s4d-legs", "random")


def s4d_lin(num_states: int) -> torch.Tensor:
    """λ_n = −1/2 + iπn (the reference initialisation). Returns complex128 (N,)."""
    n = torch.arange(num_states, dtype=torch.float64)
    return torch.complex(torch.full_like(n, -0.5), math.pi * n)


def s4d_inv(num_states: int) -> torch.Tensor:
    """λ_n = −1/2 + i(N/π)(N/(2n+1) − 1) with N = 2·num_states real dimensions. Returns complex128 (N,)."""
    n = torch.arange(num_states, dtype=torch.float64)
    size = 2 * num_states
    return torch.complex(torch.full_like(n, -0.5), (size / math.pi) * (size / (2 * n + 1) - 1))


def s4d_legs(num_states: int) -> torch.Tensor:
    """Diagonal HiPPO-LegS: −1/2 + i·(positive eigenvalues of i·K), K the skew part of size 2·num_states."""
    size = 2 * num_states
    q = torch.sqrt(2 * torch.arange(size, dtype=torch.float64) + 1)
    skew = 0.5 * torch.outer(q, q)
    skew = torch.tril(skew, -1) * -1 + torch.triu(skew, 1)  # K[n,k] = ∓½√((2n+1)(2k+1)) below/above
    imag = torch.linalg.eigvalsh(1j * skew.to(torch.complex128))  # Hermitian: real eigenvalues ±ω
    imag = imag[imag > 0].sort().values[:num_states]
    return torch.complex(torch.full_like(imag, -0.5), imag)


def random_poles(num_states: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Re λ = −1/2, Im λ ~ U(0, π·N), sorted. Drawn from torch's RNG (or `generator`)."""
    imag = torch.rand(num_states, dtype=torch.float64, generator=generator) * math.pi * num_states
    return torch.complex(torch.full_like(imag, -0.5), imag.sort().values)


def init_poles(kind: str, num_states: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dispatch on `kind` in POLE_INITS. Returns complex128 (N,)."""
    if kind == "s4d-lin":
        return s4d_lin(num_states)
    if kind == "s4d-inv":
        return s4d_inv(num_states)
    if kind == "s4d-legs":
        return s4d_legs(num_states)
    if kind == "random":
        return random_poles(num_states, generator=generator)
    raise ValueError(f"unknown pole init {kind!r}; expected one of {POLE_INITS}")


def poles_to_A(poles: torch.Tensor) -> torch.Tensor:
    """complex (...,) → real (..., 2) with A[..., 0] = softplus⁻¹(−Re λ), A[..., 1] = Im λ."""
    decay = -poles.real
    return torch.stack([decay + torch.log(-torch.expm1(-decay)), poles.imag], dim=-1)


def geomspace_dt(count: int, dt_min: float = 1e-3, dt_max: float = 1e-1) -> torch.Tensor:
    """Δ geometrically spaced over `count` values; count = 1 gives dt_min, as the reference does. (count,)"""
    if count == 1:
        return torch.tensor([dt_min], dtype=torch.float64)
    return torch.logspace(math.log10(dt_min), math.log10(dt_max), count, dtype=torch.float64)


def log_uniform_dt(count: int, dt_min: float = 1e-3, dt_max: float = 1e-1, *,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Δ ~ log-uniform in [dt_min, dt_max] (S4D practice). (count,)"""
    u = torch.rand(count, dtype=torch.float64, generator=generator)
    return torch.exp(math.log(dt_min) + u * (math.log(dt_max) - math.log(dt_min)))
