import math

import pytest
import torch

from centaurus.ssm import continuous_poles, discretize, init_poles, phi1, poles_to_A
from centaurus.ssm.init import geomspace_dt


def test_phi1_is_continuous_across_the_series_threshold():
    z = torch.tensor([1e-9 + 1e-9j, 0.3 + 0.2j, 0.49 + 0j, 0.51 + 0j, -2 + 5j], dtype=torch.complex128)
    exact = torch.tensor([1 + 0.5 * complex(1e-9, 1e-9)] + [(math.e ** complex(v) - 1) / complex(v)
                                                            for v in z.tolist()[1:]], dtype=torch.complex128)
    torch.testing.assert_close(phi1(z), exact, rtol=1e-9, atol=1e-12)  # series error |z|^9/10! < 1e-9
    small = torch.tensor([0.4999 + 0j, 0.5001 + 0j], dtype=torch.complex64)
    assert (phi1(small)[1] - phi1(small)[0]).abs() < 1e-3


@pytest.mark.parametrize("method", ["simplified", "zoh", "bilinear"])
def test_discrete_poles_are_stable_and_beta_tends_to_dt(method):
    poles = init_poles("s4d-lin", 16).to(torch.complex64)
    dt = torch.tensor(1e-3)
    log_pole, beta = discretize(poles, dt, method=method)
    assert (log_pole.real < 0).all()
    torch.testing.assert_close(beta.real, torch.full((16,), 1e-3), rtol=2e-3, atol=0)


def test_bilinear_pole_formula():
    poles = torch.tensor([-0.5 + 3j], dtype=torch.complex128)
    log_pole, beta = discretize(poles, torch.tensor(0.1, dtype=torch.float64), method="bilinear")
    z = 0.1 * poles
    torch.testing.assert_close(torch.exp(log_pole), (1 + z / 2) / (1 - z / 2))
    torch.testing.assert_close(beta, 0.1 / (1 - z / 2))


def test_pole_initialisations_match_the_published_values():
    legs = init_poles("s4d-legs", 16).imag
    inv = init_poles("s4d-inv", 16).imag.sort().values
    torch.testing.assert_close(legs[[0, 1, 2, 3, -3, -2, -1]],
                               torch.tensor([0.30, 1.08, 2.12, 3.39, 62.6, 107.1, 325.4], dtype=torch.float64),
                               atol=0.06, rtol=0)
    torch.testing.assert_close(inv[[0, 1, 2, 3, -3, -2, -1]],
                               torch.tensor([0.33, 1.05, 1.89, 2.85, 55.0, 98.5, 315.8], dtype=torch.float64),
                               atol=0.06, rtol=0)
    lin = init_poles("s4d-lin", 4)
    torch.testing.assert_close(lin, torch.tensor([-0.5, -0.5 + math.pi * 1j, -0.5 + 2 * math.pi * 1j,
                                                  -0.5 + 3 * math.pi * 1j], dtype=torch.complex128))
    assert (init_poles("s4d-legs", 16).real == -0.5).all()


def test_random_init_follows_torch_seed():
    torch.manual_seed(3)
    a = init_poles("random", 8)
    torch.manual_seed(3)
    torch.testing.assert_close(init_poles("random", 8), a)


def test_A_roundtrip_and_reference_a_re():
    poles = init_poles("s4d-lin", 4)
    A = poles_to_A(poles)
    assert A[0, 0].item() == pytest.approx(-0.43275, abs=1e-5)  # softplus⁻¹(0.5)
    torch.testing.assert_close(continuous_poles(A), poles)


def test_geomspace_dt():
    torch.testing.assert_close(geomspace_dt(1), torch.tensor([1e-3], dtype=torch.float64))
    dt = geomspace_dt(3)
    torch.testing.assert_close(dt, torch.tensor([1e-3, 1e-2, 1e-1], dtype=torch.float64))
