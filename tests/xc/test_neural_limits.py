"""Exact limits the neural models are built to keep, and the hybrid's base weight ``b``."""

import math

import pytest
import torch

from ase_nnxc.train.checkpoint import build_functional
from ase_nnxc.xc.features import FeatureMap
from ase_nnxc.xc.registry import get_functional

#: Spin-unpolarised uniform gas: ``tau = (3/10) (3 pi^2)^(2/3) rho^(5/3)``.
C_F = 0.3 * (3.0 * math.pi**2) ** (2.0 / 3.0)


def uniform_gas(rho_total: torch.Tensor, zeta: float = 0.0) -> FeatureMap:
    """Alpha/beta features of a uniform gas of total densities ``rho_total`` and polarisation ``zeta``."""
    channels = []
    for sign in (1, -1):
        rho = rho_total * (1 + sign * zeta) / 2
        tau = C_F * 2 ** (2.0 / 3.0) * rho ** (5.0 / 3.0)  # each spin: a gas of density 2 rho, halved
        zero = torch.zeros_like(rho)
        channels.append(torch.stack([rho, zero, zero, zero, tau]))
    return FeatureMap(torch.stack(channels))


DENSITIES = torch.logspace(-4, 3, 15, dtype=torch.float64)


@pytest.mark.parametrize("model", ["nn-gga", "nn-mgga"])
def test_uniform_gas_option_makes_the_network_vanish_for_the_uniform_gas(model):
    functional = build_functional(model, {"hidden": [6, 6], "uniform_gas": True, "seed": 4}, "r2scan").model
    features = uniform_gas(DENSITIES)
    with torch.no_grad():
        constrained = functional(features)
        free = build_functional(model, {"hidden": [6, 6], "uniform_gas": False, "seed": 4}, "r2scan").model(features)
    # The same random network without the constraint is far from zero there (the test can fail).
    scale = float((free.abs() / DENSITIES ** (4.0 / 3.0)).min())
    assert scale > 1e-3
    # Not exactly zero: the reduced gradient carries a 1e-12 floor under sqrt(sigma).
    assert float((constrained.abs() / DENSITIES ** (4.0 / 3.0)).max()) < 1e-6


@pytest.mark.parametrize("train_b", [True, False])
def test_fixed_b_keeps_the_base_functional_s_uniform_gas_limit_through_training(train_b):
    functional = build_functional("nn-mgga", {"hidden": [4], "uniform_gas": True, "seed": 1}, "r2scan", train_b=train_b)
    base = get_functional("r2scan")
    features = uniform_gas(DENSITIES)
    optimiser = torch.optim.Adam([p for p in functional.parameters() if p.requires_grad], lr=0.05)
    # Any loss moves the parameters; this one asks for more binding wherever the density is.
    for _ in range(5):
        optimiser.zero_grad()
        functional(uniform_gas(DENSITIES[::2] * 1.7)).sum().backward()
        optimiser.step()
    with torch.no_grad():
        deviation = ((functional(features) - base(features)) / base(features)).abs().max()
    assert float(functional.a.detach()) != 0.0
    if train_b:
        assert float(functional.b.detach()) != pytest.approx(1.0, abs=1e-3)
        assert deviation > 1e-3  # a trained b scales the base, uniform gas included
    else:
        assert float(functional.b.detach()) == 1.0
        assert deviation < 1e-12


@pytest.mark.parametrize("zeta", [0.3, 0.8])
def test_polarised_alpha_extends_the_uniform_gas_limit_to_spin_polarised_gases(zeta):
    options = {"hidden": [6, 6], "uniform_gas": True, "seed": 4}
    features = uniform_gas(DENSITIES, zeta)
    scale = DENSITIES ** (4.0 / 3.0)
    with torch.no_grad():
        default = build_functional("nn-mgga", options, "r2scan").model(features)
        polarised = build_functional("nn-mgga", {**options, "polarised_alpha": True}, "r2scan").model(features)
    assert float((default.abs() / scale).max()) > 1e-4  # unpolarised tau_unif: alpha != 1 here
    assert float((polarised.abs() / scale).max()) < 1e-6
