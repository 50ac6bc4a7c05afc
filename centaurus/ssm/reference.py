"""Slow, obviously correct float64 oracles for the fast paths: a sequential recurrence per mode and a
kernel built by materialising every power. Test-only; never use these in a hot path."""
import torch


def _discrete_reference(A, log_dt, rate, method):
    lam = torch.complex(-torch.log1p(torch.exp(A[..., 0].double())), A[..., 1].double())
    dt = rate * torch.exp(log_dt.double())
    return lam, dt


def _pole_and_beta(lam, dt, method):
    if method == "simplified":
        return torch.exp(dt * lam), dt.to(lam.dtype) * torch.ones_like(lam)
    if method == "zoh":
        pole = torch.exp(dt * lam)
        return pole, (pole - 1) / lam
    if method == "bilinear":
        return (1 + dt * lam / 2) / (1 - dt * lam / 2), dt / (1 - dt * lam / 2)
    raise ValueError(method)


def recurrence_reference(u: torch.Tensor, *, mode: str, discretization: str, rate: float = 1.0,
                         A, log_dt, E=None, B=None, C=None, readout_imag=None, D_skip=None) -> torch.Tensor:
    """Step-by-step float64 recurrence of spec §3.4 / §13.2 (the pre-mixer output for dws).

    Args:
        u: (B, C, L). The keyword tensors are the layer's parameters of the same names.

    Returns:
        float64 (B, C, L) for dws (z before the mixer), (B, D, L) otherwise.
    """
    u = u.double()
    lam, dt = _discrete_reference(A, log_dt, rate, discretization)
    if mode == "full":
        dt = dt[:, None, :]
    elif mode == "neck":
        dt = dt[:, None]
    pole, beta = _pole_and_beta(lam, dt, discretization)
    imag = 0 if readout_imag is None else readout_imag.double()
    outputs, x = [], None
    for t in range(u.shape[-1]):
        ut = u[..., t]                                                       # (B, C)
        if mode == "dws":
            drive = ut[:, :, None]
        elif mode == "full":
            drive = ut[:, None, :, None]
        else:
            drive = (ut @ B.double().T)[..., None] if mode == "neck" else ut @ B.double().T
        x = pole * (0 if x is None else x) + beta * drive
        if mode in ("dws", "full"):
            w = E.double() + 1j * imag
            y = (w * x).sum(-1).real if mode == "dws" else (w * x).sum((-2, -1)).real
        elif mode == "s5":
            y = (x @ (C.double() + 1j * imag).T).real
        else:
            y = ((E.double() + 1j * imag) * x).sum(-1).real @ C.double().T
        if D_skip is not None:
            y = y + (D_skip.double() * ut if mode == "dws" else ut @ D_skip.double().T)
        outputs.append(y)
    return torch.stack(outputs, dim=-1)


def power_sum_reference(weight, log_pole, length, *, shift=0):
    """Re Σ_n weight·p^{l+shift} by materialising the (..., N, L) powers (the tensor the fast path avoids)."""
    taps = torch.arange(length, dtype=torch.float64) + shift
    powers = torch.exp(log_pole.to(torch.complex128)[..., None] * taps)
    return (weight.to(torch.complex128)[..., None] * powers).sum(-2).real
