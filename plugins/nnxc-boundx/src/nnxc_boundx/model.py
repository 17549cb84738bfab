"""``nn-boundx``: a neural GGA exchange correction that obeys three exact constraints by construction.

For a spin-unpolarised density ``n`` with ``sigma = |grad n|^2`` the energy density is

    e(n, sigma) = e_x^unif(n) * kappa * tanh(x h(x)),
    e_x^unif(n) = -C_X n^(4/3),   x = s^2 / (1 + s^2),   s^2 = sigma / (4 (3 pi^2)^(2/3) n^(8/3)),

with ``h`` a small MLP. Spin-polarised densities use exact exchange spin scaling,
``e[n_a, n_b] = (e[2 n_a] + e[2 n_b]) / 2``. Added to LDA exchange with weight one (a
``HybridXC`` with ``a = 1`` on an LDA base) it gives the GGA exchange enhancement factor
``F(s) = 1 + kappa tanh(x h(x))``, which

* is exactly 1 for the uniform electron gas (``s = 0``), so LDA is recovered there, and
  grows like ``mu s^2`` for small gradients with ``mu = kappa h(0)`` (PBE: 0.2195);
* stays below ``1 + kappa`` (``kappa = 0.804``: the local Lieb-Oxford bound, as in PBE) and
  above ``1 - kappa``, so exchange stays negative;
* vanishes with the density like ``n^(4/3)``, and is smooth in ``sigma`` at ``sigma = 0``
  (the network sees ``s^2``, not ``s``), so the potential has no cusp where the gradient vanishes.
"""

from __future__ import annotations

import math

import torch

from ase_nnxc.xc import FeatureMap, XCFunctional
from ase_nnxc.xc.features import DENSITY_FLOOR, safe_density
from ase_nnxc.xc.torch_functionals import spin_scaled_exchange

#: ``e_x^unif(n) = -C_X n^(4/3)`` for a spin-unpolarised gas.
C_X = 0.75 * (3.0 / math.pi) ** (1.0 / 3.0)
#: ``s^2 = sigma / (S2_SCALE n^(8/3))``.
S2_SCALE = 4.0 * (3.0 * math.pi**2) ** (2.0 / 3.0)
#: Largest enhancement ``1 + kappa`` allowed by the local Lieb-Oxford bound (PBE's value).
LIEB_OXFORD_KAPPA = 0.804


class BoundedExchange(XCFunctional):
    """Spin-scaled GGA exchange correction ``e_x^unif kappa tanh(x h(x))``, ``x = s^2 / (1 + s^2)``.

    Parameters
    ----------
    hidden
        Widths of the hidden layers of ``h`` (tanh activations).
    kappa
        Bound of the correction to the enhancement factor, in ``(0, 1]`` so that exchange
        stays negative; the default is the Lieb-Oxford value 0.804.
    seed
        Seed of the weight initialisation (``None``: torch's global generator).

    """

    family = "gga"
    name = "nn-boundx"

    def __init__(self, hidden: tuple[int, ...] = (8,), kappa: float = LIEB_OXFORD_KAPPA, seed: int | None = 0):
        super().__init__()
        if not 0.0 < float(kappa) <= 1.0:
            raise ValueError(f"kappa must lie in (0, 1] so that exchange stays negative, got {kappa}.")
        self.hidden = tuple(int(h) for h in hidden)
        self.kappa = float(kappa)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            layers: list[torch.nn.Module] = []
            width = 1
            for size in self.hidden:
                layers += [torch.nn.Linear(width, size, dtype=torch.float64), torch.nn.Tanh()]
                width = size
            layers.append(torch.nn.Linear(width, 1, dtype=torch.float64))
            self.net = torch.nn.Sequential(*layers)

    def options(self) -> dict:
        """Constructor arguments, for checkpoints."""
        return {"hidden": list(self.hidden), "kappa": self.kappa}

    def enhancement_correction(self, s2: torch.Tensor) -> torch.Tensor:
        """``F(s) - 1 = kappa tanh(x h(x))`` as a function of ``s^2``, ``(ngrid,)``."""
        x = s2 / (1.0 + s2)
        # the factor x makes the uniform-gas limit exact to the last bit, whatever h is
        return self.kappa * torch.tanh(x * self.net(x[:, None])[:, 0])

    def unpolarised(self, rho: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Energy density of a spin-unpolarised density ``rho`` with ``sigma = |grad rho|^2``, ``(ngrid,)``."""
        # Computed on the floored density so that the discarded branch of torch.where (and
        # hence every gradient) stays finite where the density vanishes.
        n = safe_density(rho)
        s2 = sigma.clamp(min=0.0) / (S2_SCALE * n ** (8.0 / 3.0))
        value = -C_X * n ** (4.0 / 3.0) * self.enhancement_correction(s2)
        return torch.where(rho > DENSITY_FLOOR, value, torch.zeros_like(value))

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        return spin_scaled_exchange(features, self.unpolarised)
