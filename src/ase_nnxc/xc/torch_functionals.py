"""LDA (Slater + PW92) and PBE written in plain torch on the feature map.

They reproduce libxc's ``lda_x,lda_c_pw`` (PySCF's ``"lda,pw"``) and ``pbe`` to rounding,
serve as a cross-check of the libxc path, and get every derivative (potential, forces,
second order) from autograd. The building blocks (:func:`slater_exchange`,
:func:`pw92_correlation`, :func:`pbe_exchange`, :func:`pbe_correlation`) are public so that
plugins can combine them with their own terms.

All energy densities are in Hartree/Bohr^3 and vanish, with finite derivatives, where the
density is below :data:`~ase_nnxc.xc.features.DENSITY_FLOOR`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.features import DENSITY_FLOOR, Feature, FeatureMap, safe_density, spin_polarisation

#: ``1 +- zeta`` is clamped here, as libxc does, so powers below one keep finite derivatives.
ZETA_THRESHOLD = 2.220446049250313e-16
#: Slater exchange of an unpolarised density: ``e_x = SLATER * rho^(4/3)``.
SLATER = -0.75 * (3.0 / math.pi) ** (1.0 / 3.0)


@dataclass(frozen=True)
class PW92Parameters:
    """Perdew-Wang 1992 fit; each tuple holds (unpolarised, polarised, minus spin stiffness)."""

    a: tuple[float, float, float]
    """Prefactors ``A``."""
    alpha1: tuple[float, float, float]
    """``alpha_1``."""
    beta1: tuple[float, float, float]
    """``beta_1``."""
    beta2: tuple[float, float, float]
    """``beta_2``."""
    beta3: tuple[float, float, float]
    """``beta_3``."""
    beta4: tuple[float, float, float]
    """``beta_4`` (with ``p = 1``)."""
    fz20: float
    """``f''(0)`` of the spin-interpolation function."""


_PW92_SHARED = dict(
    alpha1=(0.21370, 0.20548, 0.11125),
    beta1=(7.5957, 14.1189, 10.357),
    beta2=(3.5876, 6.1977, 3.6231),
    beta3=(1.6382, 3.3662, 0.88026),
    beta4=(0.49294, 0.62517, 0.49671),
)
#: The published parameters: libxc ``lda_c_pw`` (PySCF ``"pw"``, ``"lda,pw"``).
PW92 = PW92Parameters(a=(0.031091, 0.015545, 0.016887), fz20=1.709921, **_PW92_SHARED)
#: libxc ``lda_c_pw_mod``: more digits in ``A`` and ``f''(0)``; the correlation inside libxc's PBE.
PW92_MOD = PW92Parameters(
    a=(0.0310907, 0.01554535, 0.0168869), fz20=1.709920934161365617563962776245, **_PW92_SHARED
)

#: PBE exchange: ``kappa`` and ``mu = beta pi^2 / 3``.
PBE_KAPPA = 0.804
PBE_MU = 0.2195149727645171
#: PBE correlation: ``beta`` and ``gamma = (1 - ln 2) / pi^2``.
PBE_BETA = 0.06672455060314922
PBE_GAMMA = (1.0 - math.log(2.0)) / math.pi**2


def _masked(rho: torch.Tensor, value) -> torch.Tensor:
    """``value(safe rho)`` where ``rho`` exceeds the floor, zero elsewhere (finite gradients)."""
    return torch.where(rho > DENSITY_FLOOR, value(safe_density(rho)), torch.zeros_like(rho))


def _spin_powers(zeta: torch.Tensor, power: float) -> torch.Tensor:
    """``(1 + zeta)^power + (1 - zeta)^power`` with libxc's clamp at :data:`ZETA_THRESHOLD`."""
    return (1.0 + zeta).clamp(min=ZETA_THRESHOLD) ** power + (1.0 - zeta).clamp(min=ZETA_THRESHOLD) ** power


def wigner_seitz_radius(rho: torch.Tensor) -> torch.Tensor:
    """``r_s = (3 / (4 pi rho))^(1/3)`` of a (floored) total density."""
    return (3.0 / (4.0 * math.pi * safe_density(rho))) ** (1.0 / 3.0)


def slater_exchange(rho: torch.Tensor) -> torch.Tensor:
    """Slater (LDA) exchange energy density of an unpolarised density ``rho``, ``(ngrid,)``."""
    return _masked(rho, lambda r: SLATER * r ** (4.0 / 3.0))


def pbe_exchange(rho: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """PBE exchange energy density of an unpolarised density.

    Parameters
    ----------
    rho, sigma
        Total density and ``|grad rho|^2``, ``(ngrid,)``.

    """

    def value(r):
        s2 = sigma.clamp(min=0.0) / (4.0 * (3.0 * math.pi**2) ** (2.0 / 3.0) * r ** (8.0 / 3.0))
        enhancement = 1.0 + PBE_KAPPA - PBE_KAPPA / (1.0 + PBE_MU * s2 / PBE_KAPPA)
        return SLATER * r ** (4.0 / 3.0) * enhancement

    return _masked(rho, value)


def spin_scaled_exchange(features: FeatureMap, exchange) -> torch.Tensor:
    """Exchange of any spin state from an unpolarised one, ``(ngrid,)``.

    ``E_x[rho_a, rho_b] = (E_x[2 rho_a] + E_x[2 rho_b]) / 2``. ``exchange(rho)`` (LDA) or
    ``exchange(rho, sigma)`` (GGA, when ``features`` carries the gradient) gives the energy
    density of an unpolarised density.
    """
    if features.nspin == 1:
        args = (features[Feature.RHO][0],)
        if features.has(Feature.SIGMA):
            args += (features[Feature.SIGMA][0],)
        return exchange(*args)
    total = 0.0
    for spin in range(2):
        args = (2.0 * features[Feature.RHO][spin],)
        if features.has(Feature.SIGMA):
            args += (4.0 * features[Feature.SIGMA][spin],)
        total = total + 0.5 * exchange(*args)
    return total


def _pw92_g(rs: torch.Tensor, params: PW92Parameters, k: int) -> torch.Tensor:
    a = params.a[k]
    denominator = params.beta1[k] * rs.sqrt() + params.beta2[k] * rs + params.beta3[k] * rs**1.5 + params.beta4[k] * rs**2
    return -2.0 * a * (1.0 + params.alpha1[k] * rs) * torch.log1p(1.0 / (2.0 * a * denominator))


def pw92_epsilon(rho: torch.Tensor, zeta: torch.Tensor, params: PW92Parameters = PW92) -> torch.Tensor:
    """PW92 correlation energy per electron (Hartree) of total density ``rho`` and polarisation ``zeta``."""
    rs = wigner_seitz_radius(rho)
    unpolarised = _pw92_g(rs, params, 0)
    f_zeta = (_spin_powers(zeta, 4.0 / 3.0) - 2.0) / (2.0 ** (4.0 / 3.0) - 2.0)
    polarised, stiffness = _pw92_g(rs, params, 1), _pw92_g(rs, params, 2)
    zeta4 = zeta**4
    return (
        unpolarised
        + zeta4 * f_zeta * (polarised - unpolarised + stiffness / params.fz20)
        - f_zeta * stiffness / params.fz20
    )


def pw92_correlation(rho: torch.Tensor, zeta: torch.Tensor, params: PW92Parameters = PW92) -> torch.Tensor:
    """PW92 correlation energy density ``rho * eps_c``, ``(ngrid,)``."""
    return _masked(rho, lambda r: r * pw92_epsilon(r, zeta, params))


def pbe_correlation(rho: torch.Tensor, sigma: torch.Tensor, zeta: torch.Tensor) -> torch.Tensor:
    """PBE correlation energy density (PW92-mod local part plus ``H``), ``(ngrid,)``.

    Parameters
    ----------
    rho, sigma
        Total density and ``|grad rho|^2`` of the total density, ``(ngrid,)``.
    zeta
        Spin polarisation, ``(ngrid,)``.

    """

    def value(r):
        local = pw92_epsilon(r, zeta, PW92_MOD)
        phi = 0.5 * _spin_powers(zeta, 2.0 / 3.0)
        phi3 = phi**3
        fermi_wavevector = (3.0 * math.pi**2 * r) ** (1.0 / 3.0)
        screening2 = 4.0 * fermi_wavevector / math.pi
        t2 = sigma.clamp(min=0.0) / (4.0 * phi**2 * screening2 * r**2)
        a = PBE_BETA / PBE_GAMMA / torch.expm1(-local / (PBE_GAMMA * phi3))
        at2 = a * t2
        ratio = (1.0 + at2) / (1.0 + at2 + at2**2)
        gradient_term = PBE_GAMMA * phi3 * torch.log1p(PBE_BETA / PBE_GAMMA * t2 * ratio)
        return r * (local + gradient_term)

    return _masked(rho, value)


def _total_and_zeta(features: FeatureMap) -> tuple[FeatureMap, torch.Tensor]:
    """Return the total-density map and the spin polarisation (exactly zero for ``nspin == 1``)."""
    if features.nspin == 1:
        return features, torch.zeros_like(features[Feature.RHO][0])
    rho = features[Feature.RHO]
    zeta = spin_polarisation(rho[0], rho[1]).clamp(-1.0, 1.0)
    return features.total(), zeta


class TorchLDA(XCFunctional):
    """Slater exchange + PW92 correlation in torch (libxc ``lda_x,lda_c_pw``; PySCF ``"lda,pw"``).

    Examples
    --------
    >>> import torch
    >>> from ase_nnxc.xc.features import FeatureMap
    >>> rho = torch.tensor([[[0.0, 0.1, 1.0]]], dtype=torch.float64)
    >>> TorchLDA()(FeatureMap(rho)).shape
    torch.Size([3])

    """

    family = "lda"
    name = "torch-lda"
    pointwise = True

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        total, zeta = _total_and_zeta(features)
        exchange = spin_scaled_exchange(FeatureMap(features.stacked[:, :1]), slater_exchange)
        return exchange + pw92_correlation(total[Feature.RHO][0], zeta, PW92)


class TorchPBE(XCFunctional):
    """PBE exchange and correlation in torch (libxc ``gga_x_pbe,gga_c_pbe``; PySCF ``"pbe"``)."""

    family = "gga"
    name = "torch-pbe"
    pointwise = True

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        total, zeta = _total_and_zeta(features)
        exchange = spin_scaled_exchange(features, pbe_exchange)
        return exchange + pbe_correlation(total[Feature.RHO][0], total[Feature.SIGMA][0], zeta)
