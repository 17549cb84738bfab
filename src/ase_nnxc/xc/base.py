"""The base class every exchange-correlation functional derives from.

A functional maps a :class:`~ase_nnxc.xc.features.FeatureMap` to an energy density per
grid point (Hartree per Bohr^3, i.e. ``rho * eps_xc``). The integrator weights and sums it;
the potential and the forces are autograd derivatives, so a new functional never touches
grid or SCF code. Hybrids add exact-exchange terms through :meth:`exchange_terms`.
"""

from __future__ import annotations

import torch

from ase_nnxc.integrals.two_electron import ExchangeTerm
from ase_nnxc.xc.features import FeatureMap

FAMILIES = ("lda", "gga", "mgga")


class XCFunctional(torch.nn.Module):
    """Abstract exchange-correlation functional.

    Subclasses set :attr:`family` and implement :meth:`energy_density`.
    """

    #: ``"lda"`` (needs rho), ``"gga"`` (adds the gradient) or ``"mgga"`` (adds tau).
    family: str = "lda"
    #: Human-readable name.
    name: str = "xc"
    #: Whether the energy density at a point depends on that point's features alone. Such a
    #: functional may be evaluated block by block of grid points, which lets large molecules
    #: compute their AO values once per Fock build; leave it False for anything non-local.
    pointwise: bool = False

    def exchange_terms(self) -> tuple[ExchangeTerm, ...]:
        """Exact-exchange terms (empty for semi-local functionals)."""
        return ()

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        """Energy density ``(ngrid,)`` in Hartree/Bohr^3 from ``features``."""
        raise NotImplementedError

    def forward(self, features: FeatureMap) -> torch.Tensor:
        return self.energy_density(features)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, family={self.family!r}"
