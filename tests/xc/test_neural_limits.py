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


@pytest.mark.parametrize("zeta", [0.0, 0.5])
def test_lda_anchor_keeps_the_uniform_gas_exact_for_any_base_weight(zeta):
    # e = e_LSDA + b (e_r2SCAN - e_LSDA) + a F e_x^unif: r2SCAN is LSDA for the uniform gas and
    # the uniform_gas network vanishes there, so b = 0.9 leaves PySCF's LSDA (Slater + PW92).
    from pyscf.dft import libxc

    options = {"hidden": [6], "uniform_gas": True, "polarised_alpha": True, "lda_anchor": True, "seed": 2}
    functional = build_functional("nn-mgga", options, "r2scan", a=0.4, b=0.9)
    plain = build_functional("nn-mgga", {**options, "lda_anchor": False}, "r2scan", a=0.4, b=0.9)
    features = uniform_gas(DENSITIES, zeta)
    rho = features.stacked[:, 0].numpy()
    exc = libxc.eval_xc("lda_x,lda_c_pw", (rho[0], rho[1]), spin=1, deriv=0)[0]
    reference = torch.from_numpy(exc) * DENSITIES
    with torch.no_grad():
        anchored, scaled = functional(features), plain(features)
    assert float(((anchored - reference) / reference).abs().max()) < 1e-6
    assert float(((scaled - reference) / reference).abs().max()) > 0.05  # 0.9 r2SCAN is not LSDA
    with pytest.raises(ValueError, match="lda_anchor"):
        build_functional("nn-mgga", {"hidden": [4], "lda_anchor": True, "one_electron": True}, "r2scan")


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


def scaled_features(scale: float) -> FeatureMap:
    """Alpha/beta features at a few points of a density under uniform scaling ``n_l(r) = l^3 n(l r)``.

    ``rho -> l^3 rho``, ``sigma -> l^8 sigma``, ``tau -> l^5 tau``: ``s`` and ``alpha`` do not change.
    """
    rho = torch.tensor([0.02, 0.3, 1.5, 7.0], dtype=torch.float64)  # per spin, open shell
    grad = torch.tensor([0.05, 0.4, 3.0, 30.0], dtype=torch.float64)
    tau = torch.tensor([0.03, 0.5, 4.0, 40.0], dtype=torch.float64)
    channels = []
    for factor in (1.0, 0.6):
        zero = torch.zeros_like(rho)
        channels.append(
            torch.stack([factor * rho * scale**3, factor * grad * scale**4, zero, zero, factor * tau * scale**5])
        )
    return FeatureMap(torch.stack(channels))


@pytest.mark.parametrize("model", ["nn-lda", "nn-gga", "nn-mgga"])
def test_high_density_option_keeps_the_correction_finite_under_scaling_to_high_density(model):
    # E[n_l] = l^-3 int e(features of n_l at l r) dr', so e / l^3 at fixed r' must converge.
    options = {"hidden": [6, 6], "uniform_gas": True, "seed": 2}
    per_volume = {}
    for high_density in (True, False):
        network = build_functional(model, {**options, "high_density": high_density}, "r2scan").model
        with torch.no_grad():
            per_volume[high_density] = [network(scaled_features(scale)) / scale**3 for scale in (1e2, 1e3, 1e4)]
    limited, free = per_volume[True], per_volume[False]
    assert float(limited[2].abs().min()) > 1e-6  # a finite, non-zero limit
    assert float(((limited[2] - limited[1]) / limited[2]).abs().max()) < 1e-2
    # Without the option the correction grows like exchange (a factor near 10 per decade of l).
    assert float((free[2] / free[1]).abs().min()) > 5.0


def test_scales_base_option_makes_the_network_a_local_base_weight():
    options = {"hidden": [6, 6], "uniform_gas": True, "high_density": True, "scales_base": True, "seed": 3}
    functional = build_functional("nn-mgga", options, "r2scan", a=0.7, b=0.98)
    base = get_functional("r2scan")
    with torch.no_grad():
        # The uniform gas: the factor vanishes, so only b scales the base.
        gas = uniform_gas(DENSITIES)
        assert float(((functional(gas) - 0.98 * base(gas)) / base(gas)).abs().max()) < 1e-6
        # Elsewhere e = e_base (b + a F): the ratio to the base is the network's factor, not 0.98.
        features = scaled_features(1.0)
        ratio = functional(features) / base(features)
        expected = 0.98 + 0.7 * functional.model.factor(features)
        assert float((ratio - 0.98).abs().max()) > 1e-3
        assert torch.allclose(ratio, expected, rtol=0, atol=1e-12)
    assert functional.model.options()["scales_base"] is True  # kept in checkpoints
    with pytest.raises(ValueError, match="scales_base"):
        build_functional("nn-mgga", {**options, "spin_scaling": True}, "r2scan")


def _pyscf_r2scan(spec) -> float:
    from pyscf import dft

    mf = dft.UKS(spec.to_system().to_mole())
    mf.xc, mf.grids.level, mf.conv_tol, mf.verbose = "r2scan", 1, 1e-11, 0
    return float(mf.kernel())


@pytest.mark.parametrize("symbol, charge", [("H", 0), ("He", 1)])
def test_one_electron_option_leaves_one_electron_systems_at_the_base_functional(symbol, charge):
    # H and He+: alpha = 0 and zeta = 1 everywhere, so network and base weight must both drop out.
    from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
    from ase_nnxc.train import g2

    spec = g2.atom_spec(symbol, "def2-svp", charge=charge)
    config = SCFConfig(grid_level=1, conv_tol=1e-11, require_aufbau=False)
    options = {"hidden": [6, 6], "uniform_gas": True, "high_density": True, "seed": 5}
    energies = {}
    for one_electron in (True, False):
        functional = build_functional("nn-mgga", {**options, "one_electron": one_electron}, "r2scan", a=0.5, b=0.97)
        energies[one_electron] = float(run_scf(KohnSham(spec.to_system(), functional, config)).energy)
    reference = _pyscf_r2scan(spec)
    assert energies[True] == pytest.approx(reference, abs=1e-8)
    assert abs(energies[False] - reference) > 1e-3  # without the mask the same weights move it


def test_one_electron_mask_keeps_the_correction_for_two_electrons_and_checkpoints():
    options = {"hidden": [6, 6], "uniform_gas": True, "high_density": True, "one_electron": True, "seed": 5}
    functional = build_functional("nn-mgga", options, "r2scan", a=0.5, b=0.97)
    base = get_functional("r2scan")
    features = scaled_features(1.0)  # zeta = 0.25, alpha > 0: the mask is close to 1
    with torch.no_grad():
        mask = functional.model.one_electron_mask(features)
        assert float(mask.min()) > 0.9
        expected = 0.5 * functional.model(features) + base(features) * (1 + mask * (0.97 - 1))
        assert torch.allclose(functional(features), expected, rtol=0, atol=1e-14)
    assert functional.model.options()["one_electron"] is True
    with pytest.raises(ValueError, match="one_electron"):
        build_functional("nn-gga", {"hidden": [4], "one_electron": True}, "r2scan")
