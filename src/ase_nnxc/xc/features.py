"""The typed contract between functionals and the grid: a feature map in, energy density out.

A :class:`FeatureMap` wraps the stacked features ``(nspin, nvar, ngrid)`` produced by
:func:`ase_nnxc.grid.density.density_features` and hands out named, differentiable views.
``nspin == 1`` means a closed-shell (restricted) calculation where the features are those of
the total density; :meth:`FeatureMap.spin_resolved` gives the equivalent alpha/beta pair.
Derived quantities (reduced gradient, spin polarisation) are computed safely: no NaN or
infinity at zero density.
"""

from __future__ import annotations

import math
from enum import Enum

import torch

#: Densities below this are treated as zero in derived quantities.
DENSITY_FLOOR = 1e-12


class Feature(str, Enum):
    """Names of grid features."""

    RHO = "rho"
    """Density per spin channel, ``(nspin, ngrid)``."""
    GRAD = "grad"
    """Density gradient per spin channel, ``(nspin, 3, ngrid)``."""
    SIGMA = "sigma"
    """Squared gradient ``|grad rho_s|^2`` per spin channel, ``(nspin, ngrid)``."""
    TAU = "tau"
    """Kinetic-energy density ``1/2 sum_i |grad phi_i|^2`` per spin channel, ``(nspin, ngrid)``."""


class FeatureMap:
    """Named views of stacked density features ``(nspin, nvar, ngrid)``."""

    def __init__(self, stacked: torch.Tensor):
        if stacked.dim() != 3 or stacked.shape[0] not in (1, 2) or stacked.shape[1] not in (1, 4, 5):
            raise ValueError(f"Features must be (nspin, nvar, ngrid) with nspin 1|2 and nvar 1|4|5, got {tuple(stacked.shape)}.")
        self.stacked = stacked

    @property
    def nspin(self) -> int:
        """1 for a restricted (total-density) map, 2 for alpha/beta."""
        return self.stacked.shape[0]

    @property
    def ngrid(self) -> int:
        """Number of grid points."""
        return self.stacked.shape[2]

    def has(self, feature: Feature) -> bool:
        """Whether this map carries ``feature``."""
        nvar = self.stacked.shape[1]
        return feature is Feature.RHO or (feature in (Feature.GRAD, Feature.SIGMA) and nvar >= 4) or (
            feature is Feature.TAU and nvar == 5
        )

    def __getitem__(self, feature: Feature) -> torch.Tensor:
        feature = Feature(feature)
        if not self.has(feature):
            raise KeyError(f"Feature {feature.value!r} is not available at this functional level.")
        if feature is Feature.RHO:
            return self.stacked[:, 0]
        if feature is Feature.GRAD:
            return self.stacked[:, 1:4]
        if feature is Feature.SIGMA:
            grad = self.stacked[:, 1:4]
            return (grad * grad).sum(1)
        return self.stacked[:, 4]

    def spin_resolved(self) -> FeatureMap:
        """The alpha/beta map: unchanged when ``nspin == 2``, else each channel is half the total."""
        if self.nspin == 2:
            return self
        half = 0.5 * self.stacked
        return FeatureMap(torch.cat([half, half]))

    def total(self) -> FeatureMap:
        """The map of the total density (``nspin == 1``)."""
        if self.nspin == 1:
            return self
        return FeatureMap(self.stacked.sum(0, keepdim=True))


def safe_density(rho: torch.Tensor) -> torch.Tensor:
    """Density clamped below at :data:`DENSITY_FLOOR` (keeps powers and logs finite)."""
    return rho.clamp(min=DENSITY_FLOOR)


def reduced_gradient(rho: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Dimensionless gradient ``s = |grad rho| / (2 (3 pi^2)^(1/3) rho^(4/3))`` of a total density."""
    rho = safe_density(rho)
    return torch.sqrt(sigma.clamp(min=0.0) + DENSITY_FLOOR**2) / (2.0 * (3.0 * math.pi**2) ** (1 / 3) * rho ** (4 / 3))


def spin_polarisation(rho_alpha: torch.Tensor, rho_beta: torch.Tensor) -> torch.Tensor:
    """``zeta = (rho_a - rho_b) / (rho_a + rho_b)``, 0 where the density vanishes."""
    total = rho_alpha + rho_beta
    return torch.where(total > DENSITY_FLOOR, (rho_alpha - rho_beta) / safe_density(total), torch.zeros_like(total))
