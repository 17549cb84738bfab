"""Becke-88 exchange with a trainable ``beta``, plus PW92 correlation, on ase_nnxc's feature map.

Per spin channel (A. D. Becke, Phys. Rev. A 38, 3098 (1988)):

    e_x = rho_s^(4/3) [ -(3/2) (3 / 4 pi)^(1/3) - beta x^2 / (1 + 6 beta x asinh x) ],
    x = |grad rho_s| / rho_s^(4/3),

with ``beta = 0.0042``. Correlation is ase_nnxc's torch PW92, so the whole functional equals
libxc's ``b88,pw`` (``gga_x_b88`` + ``lda_c_pw``) at the default ``beta``. Only the energy
density is written here: potential, forces and the gradient in ``beta`` come from autograd.
"""

from __future__ import annotations

import math

import torch

from ase_nnxc.xc import Feature, FeatureMap, XCFunctional
from ase_nnxc.xc.features import DENSITY_FLOOR, safe_density, spin_polarisation
from ase_nnxc.xc.torch_functionals import PW92, pw92_correlation

#: Slater exchange of one spin channel: ``e = LDA_X_SPIN * rho_s^(4/3)``.
LDA_X_SPIN = -1.5 * (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
#: Below this ``x^2``, ``x asinh x`` is summed from its series (the square root has no derivative at 0).
_SERIES_BELOW = 1e-4


def x_asinh_x(x2: torch.Tensor) -> torch.Tensor:
    """``x asinh(x)`` as a smooth function of ``x^2`` (finite derivatives at ``x = 0``)."""
    small = x2 < _SERIES_BELOW
    x = torch.sqrt(torch.where(small, _SERIES_BELOW, x2))
    series = x2 * (1.0 - x2 / 6.0 + 3.0 * x2**2 / 40.0)
    return torch.where(small, series, x * torch.asinh(x))


def b88_exchange_channel(rho: torch.Tensor, sigma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Becke-88 exchange energy density of one spin channel.

    Parameters
    ----------
    rho, sigma
        The channel's density and ``|grad rho_s|^2``, ``(ngrid,)``.
    beta
        The B88 parameter (a scalar tensor; may require grad).

    Returns
    -------
    torch.Tensor
        ``(ngrid,)``, zero where ``rho`` is below the density floor.

    """
    r = safe_density(rho)
    r43 = r ** (4.0 / 3.0)
    x2 = sigma.clamp(min=0.0) / r43**2
    value = r43 * (LDA_X_SPIN - beta * x2 / (1.0 + 6.0 * beta * x_asinh_x(x2)))
    return torch.where(rho > DENSITY_FLOOR, value, torch.zeros_like(value))


class B88PW92(XCFunctional):
    """Becke-88 exchange + PW92 correlation (libxc ``b88,pw`` at the default ``beta``).

    Parameters
    ----------
    beta
        B88's gradient-correction parameter, a trainable :class:`torch.nn.Parameter`.

    Examples
    --------
    >>> functional = B88PW92()
    >>> functional.family, round(functional.beta.item(), 4)
    ('gga', 0.0042)

    """

    family = "gga"
    name = "torch-b88pw"

    def __init__(self, beta: float = 0.0042):
        super().__init__()
        self.beta = torch.nn.Parameter(torch.tensor(beta, dtype=torch.float64))

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        spins = features.spin_resolved()
        rho, sigma = spins[Feature.RHO], spins[Feature.SIGMA]
        exchange = b88_exchange_channel(rho[0], sigma[0], self.beta) + b88_exchange_channel(rho[1], sigma[1], self.beta)
        if features.nspin == 1:
            zeta = torch.zeros_like(rho[0])
        else:
            zeta = spin_polarisation(rho[0], rho[1]).clamp(-1.0, 1.0)
        return exchange + pw92_correlation(rho.sum(0), zeta, PW92)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, beta={self.beta.detach().item():.6g}"
