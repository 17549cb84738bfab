"""Neural exchange-correlation models and the hybrid of a base functional with one.

Each model predicts an enhancement factor ``F`` over the exchange energy density of the
uniform electron gas, ``e = rho * eps_x^unif(rho) * F(features)``, so its output carries the
right scale and vanishes with the density. Options build in physical constraints:

* ``uniform_gas=True``: the correction vanishes for the uniform gas
  (``F(n, zeta, s=0, alpha=1) = 0``), by subtracting the network at those inputs. ``alpha``
  uses the spin-unpolarised ``tau_unif`` unless ``polarised_alpha=True`` (meta-GGA), so by
  default the limit is exact for the unpolarised gas; a spin-polarised gas then has
  ``alpha = ((1+zeta)^(5/3) + (1-zeta)^(5/3)) / 2`` and a small residual. In a
  :class:`HybridXC` the limit holds for the whole functional only with ``b`` fixed at 1
  (``train_b=False``) or with ``lda_anchor``;
* ``spin_scaling=True``: exact exchange spin scaling ``E[n_a, n_b] = (E[2 n_a] + E[2 n_b]) / 2``,
  by evaluating a spin-unpolarised network on each doubled spin density.
* ``high_density=True``: the correction behaves like correlation under uniform scaling to the
  high-density limit, ``n_l(r) = l^3 n(l r)`` with ``l -> infinity``: its energy stays finite
  while exchange grows like ``l``. The density enters as ``x / (1 + x)`` with ``x = rho^(1/3)``
  (bounded, so the network never extrapolates to the densities of atomic cores, which no
  energy difference in the training data constrains) and the enhancement factor is multiplied
  by ``1 / (1 + x)``, so that ``F ~ rho^(-1/3)`` and the energy density ``~ rho`` there.
* ``scales_base=True`` (in a :class:`HybridXC`): the network's factor multiplies the base
  functional's energy density instead of the uniform gas's exchange,
  ``e = e_base (b + a F)``, so it acts as a local version of the base weight ``b``.
* ``one_electron=True`` (meta-GGA): the correction vanishes for one-electron densities, where
  ``alpha = 0`` and ``|zeta| = 1``, as it must when the base functional is already free of
  one-electron self-interaction there (r2SCAN's energies of H, He+ and Li2+ are within 0.3
  kcal/mol of exact, UKS in def2-QZVP/cc-pVQZ against HF). The factor is multiplied by the mask
  ``m = 1 - zeta^2 exp(-alpha / alpha_0)``, ``alpha_0 = 0.1``; in a :class:`HybridXC` the base
  weight's part is masked too, ``e = e_base (1 + m (b - 1)) + a m F e_x^unif``, so that the
  whole functional equals its base for H, He+, Li2+, ...
* ``lda_anchor=True`` (in a :class:`HybridXC`): the base weight scales the base functional's
  departure from the local spin-density approximation (Slater exchange + PW92 correlation,
  r2SCAN's and PBE's uniform-gas limit), ``e = e_LSDA + b (e_base - e_LSDA) + a F e_x^unif``.
  A global ``b`` then leaves the uniform gas exact, and it barely moves the ionisation energies
  of compact ions: r2SCAN's departure from LSDA differs between He and He+ by 0.013 Hartree,
  its whole XC energy by 0.445 (UKS, def2-TZVP), so with ``b`` scaling the whole base
  ``b = 0.983`` alone raises He's ionisation energy by 4.7 kcal/mol, and anchored by 0.14.

:class:`HybridXC` is ``a * model + b * base`` with trainable ``a`` (0 at start) and ``b``
(1 at start), so training starts exactly at the base functional (DeepChem's ``HybridXC``).
"""

from __future__ import annotations

import math

import torch

from ase_nnxc.integrals.two_electron import ExchangeTerm
from ase_nnxc.plugins import hookimpl
from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.features import DENSITY_FLOOR, Feature, FeatureMap, reduced_gradient, spin_polarisation
from ase_nnxc.xc.libxc import LibXCFunctional

#: ``eps_x^unif = -C_X rho^(1/3)`` for a spin-unpolarised gas.
C_X = 0.75 * (3.0 / math.pi) ** (1.0 / 3.0)
#: ``tau_unif = C_F rho^(5/3)``.
C_F = 0.3 * (3.0 * math.pi**2) ** (2.0 / 3.0)
#: Constraint options that are off by default; checkpoints record them only when set.
SWITCHES = ("high_density", "scales_base", "one_electron", "lda_anchor")
#: Width in ``alpha`` of the one-electron mask (``one_electron=True``).
ONE_ELECTRON_ALPHA = 0.1


def _mlp(n_in: int, hidden: tuple[int, ...], activation: str) -> torch.nn.Sequential:
    act = {"softplus": torch.nn.Softplus, "tanh": torch.nn.Tanh, "silu": torch.nn.SiLU, "gelu": torch.nn.GELU}
    if activation not in act:
        raise ValueError(f"Unknown activation {activation!r}; choose from {', '.join(act)}.")
    layers: list[torch.nn.Module] = []
    width = n_in
    for size in hidden:
        layers += [torch.nn.Linear(width, size, dtype=torch.float64), act[activation]()]
        width = size
    layers.append(torch.nn.Linear(width, 1, dtype=torch.float64))
    return torch.nn.Sequential(*layers)


class NeuralXC(XCFunctional):
    """Enhancement-factor network on local density descriptors.

    Parameters
    ----------
    hidden
        Widths of the hidden layers.
    activation
        ``softplus`` (smooth, the default), ``tanh``, ``silu`` or ``gelu``.
    uniform_gas
        Make the output vanish for the uniform electron gas (GGA and meta-GGA levels).
    spin_scaling
        Impose exchange spin scaling (drops ``zeta`` from the inputs).
    high_density
        Bounded density input and a correction that vanishes relative to exchange at high
        density (module docstring).
    scales_base
        In a :class:`HybridXC`, scale the base functional's energy density by the network's
        factor instead of adding an energy density of its own (module docstring).
    one_electron
        Make the correction vanish for one-electron densities (meta-GGA only; module docstring).
    lda_anchor
        In a :class:`HybridXC`, let the base weight scale the base's departure from LSDA
        (module docstring).
    seed
        Seed of the weight initialisation (``None`` leaves torch's global generator alone).

    """

    family = "lda"
    name = "nn-lda"
    pointwise = True

    def __init__(
        self,
        hidden: tuple[int, ...] = (16, 16),
        activation: str = "softplus",
        uniform_gas: bool = True,
        spin_scaling: bool = False,
        high_density: bool = False,
        scales_base: bool = False,
        one_electron: bool = False,
        lda_anchor: bool = False,
        seed: int | None = 0,
    ):
        super().__init__()
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        self.uniform_gas = bool(uniform_gas)
        self.spin_scaling = bool(spin_scaling)
        self.high_density = bool(high_density)
        self.scales_base = bool(scales_base)
        self.one_electron = bool(one_electron)
        self.lda_anchor = bool(lda_anchor)
        if self.lda_anchor and (self.scales_base or self.one_electron):
            raise ValueError("lda_anchor cannot be combined with scales_base or one_electron.")
        if self.scales_base and self.spin_scaling:
            raise ValueError("scales_base and spin_scaling cannot be combined.")
        if self.one_electron and (self.family != "mgga" or self.spin_scaling or self.scales_base):
            raise ValueError("one_electron needs a meta-GGA model (alpha) without spin_scaling or scales_base.")
        generator_state = torch.random.get_rng_state() if seed is not None else None
        if seed is not None:
            torch.manual_seed(seed)
        self.net = _mlp(self.n_inputs, self.hidden, activation)
        if generator_state is not None:
            torch.random.set_rng_state(generator_state)

    @property
    def n_inputs(self) -> int:
        """Number of descriptors fed to the network."""
        return self._n_local + (0 if self.spin_scaling else 1)

    _n_local = 1

    def options(self) -> dict:
        """Constructor arguments, for checkpoints (the :data:`SWITCHES` only when set)."""
        options = {
            "hidden": list(self.hidden),
            "activation": self.activation,
            "uniform_gas": self.uniform_gas,
            "spin_scaling": self.spin_scaling,
        }
        options.update({name: True for name in SWITCHES if getattr(self, name)})
        return options

    def _local_descriptors(self, rho: torch.Tensor, sigma, tau, zeta=None) -> list[torch.Tensor]:
        """Descriptors of the total density: ``x = rho^(1/3)`` (``x / (1 + x)`` with ``high_density``)."""
        x = rho.clamp(min=DENSITY_FLOOR) ** (1.0 / 3.0)
        return [x / (1.0 + x)] if self.high_density else [x]

    def _uniform_values(self, descriptors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Descriptors of the uniform gas of the same density (only ``rho^(1/3)`` kept)."""
        return descriptors

    def _enhancement(self, descriptors: list[torch.Tensor]) -> torch.Tensor:
        out = self.net(torch.stack(descriptors, dim=-1))[..., 0]
        if self.uniform_gas and self.family != "lda":
            out = out - self.net(torch.stack(self._uniform_values(descriptors), dim=-1))[..., 0]
        return out

    def _factor(self, rho, sigma, tau, zeta=None) -> torch.Tensor:
        """The network's factor ``F`` (times ``1 / (1 + x)`` with ``high_density``)."""
        descriptors = self._local_descriptors(rho, sigma, tau, zeta)
        if zeta is not None:
            descriptors.append(zeta)
        factor = self._enhancement(descriptors)
        if self.high_density:
            factor = factor / (1.0 + rho.clamp(min=DENSITY_FLOOR) ** (1.0 / 3.0))
        if self.one_electron:
            factor = factor * self._one_electron_mask(descriptors)
        return factor

    def _one_electron_mask(self, descriptors: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError("one_electron needs alpha (a meta-GGA model).")

    def one_electron_mask(self, features: FeatureMap) -> torch.Tensor:
        """``m = 1 - zeta^2 exp(-alpha / alpha_0)`` on the grid: 0 where the density is one electron's."""
        rho, sigma, tau, zeta = self._total_inputs(features)
        return self._one_electron_mask(self._local_descriptors(rho, sigma, tau, zeta) + [zeta])

    def _unpolarised(self, rho, sigma, tau, zeta=None) -> torch.Tensor:
        eps_x = -C_X * rho.clamp(min=0.0) * rho.clamp(min=DENSITY_FLOOR) ** (1.0 / 3.0)
        return eps_x * self._factor(rho, sigma, tau, zeta)

    def _total_inputs(self, features: FeatureMap) -> tuple:
        """``(rho, sigma, tau, zeta)`` of the total density (``None`` where the family has none)."""
        total = features.total()
        sigma = total[Feature.SIGMA][0] if self.family != "lda" else None
        tau = total[Feature.TAU][0] if self.family == "mgga" else None
        spins = features.spin_resolved()[Feature.RHO]
        return total[Feature.RHO][0], sigma, tau, spin_polarisation(spins[0], spins[1])

    def factor(self, features: FeatureMap) -> torch.Tensor:
        """The network's factor on the grid, ``(ngrid,)``: what ``scales_base`` multiplies the base by."""
        return self._factor(*self._total_inputs(features))

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        sigma = tau = None
        if self.spin_scaling:
            spins = features.spin_resolved()
            rho = spins[Feature.RHO]
            if self.family != "lda":
                sigma = spins[Feature.SIGMA]
            if self.family == "mgga":
                tau = spins[Feature.TAU]
            parts = [
                self._unpolarised(2 * rho[s], None if sigma is None else 4 * sigma[s], None if tau is None else 2 * tau[s])
                for s in range(2)
            ]
            return 0.5 * (parts[0] + parts[1])
        return self._unpolarised(*self._total_inputs(features))


class NeuralGGA(NeuralXC):
    """NN-GGA (NN-PBE-like): adds the reduced gradient ``s`` (as ``s / (1 + s)``) to the inputs."""

    family = "gga"
    name = "nn-gga"
    _n_local = 2

    def _local_descriptors(self, rho, sigma, tau, zeta=None):
        s = reduced_gradient(rho, sigma)
        return super()._local_descriptors(rho, sigma, tau, zeta) + [s / (1.0 + s)]

    def _uniform_values(self, descriptors):
        return [descriptors[0], torch.zeros_like(descriptors[1])] + descriptors[2:]


class NeuralMetaGGA(NeuralGGA):
    """NN meta-GGA: adds the iso-orbital indicator ``alpha = (tau - tau_W) / tau_unif`` as ``alpha / (1 + alpha)``.

    ``polarised_alpha=True`` takes ``tau_unif`` of the spin-polarised uniform gas,
    ``C_F rho^(5/3) ((1+zeta)^(5/3) + (1-zeta)^(5/3)) / 2`` as r2SCAN does, so that
    ``alpha = 1`` for every uniform gas and ``uniform_gas`` holds at any ``zeta``. The default
    (``False``, the shipped functionals) uses the unpolarised ``tau_unif``.
    """

    family = "mgga"
    name = "nn-mgga"
    _n_local = 3

    def __init__(self, *args, polarised_alpha: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.polarised_alpha = bool(polarised_alpha)

    def options(self) -> dict:
        """Constructor arguments, for checkpoints (``polarised_alpha`` only when set)."""
        options = super().options()
        if self.polarised_alpha:
            options["polarised_alpha"] = True
        return options

    def _local_descriptors(self, rho, sigma, tau, zeta=None):
        base = super()._local_descriptors(rho, sigma, tau, zeta)
        rho_safe = rho.clamp(min=DENSITY_FLOOR)
        tau_w = sigma.clamp(min=0.0) / (8.0 * rho_safe)
        tau_unif = C_F * rho_safe ** (5.0 / 3.0)
        if self.polarised_alpha and zeta is not None:
            zeta = zeta.clamp(-1.0, 1.0)
            tau_unif = tau_unif * 0.5 * ((1.0 + zeta) ** (5.0 / 3.0) + (1.0 - zeta) ** (5.0 / 3.0))
        alpha = ((tau - tau_w).clamp(min=0.0) / tau_unif).clamp(max=1e4)
        return base + [alpha / (1.0 + alpha)]

    def _one_electron_mask(self, descriptors):
        alpha_bounded, zeta = descriptors[2], descriptors[-1]
        alpha = alpha_bounded / (1.0 - alpha_bounded)
        return 1.0 - zeta**2 * torch.exp(-alpha / ONE_ELECTRON_ALPHA)

    def _uniform_values(self, descriptors):
        # Uniform gas: s = 0 and alpha = 1, i.e. inputs s/(1+s) = 0 and alpha/(1+alpha) = 1/2.
        return [descriptors[0], torch.zeros_like(descriptors[1]), torch.full_like(descriptors[2], 0.5)] + descriptors[3:]


class HybridXC(XCFunctional):
    """``e = a * model + b * base``: a base functional plus a trainable neural correction.

    With a model built with ``scales_base=True`` it is ``e = base * (b + a * F)`` instead,
    ``F`` the model's :meth:`NeuralXC.factor`; with ``one_electron=True`` it is
    ``e = base * (1 + m (b - 1)) + a * model``, ``m`` the model's one-electron mask (the model
    is masked itself), so that it equals ``base`` for one-electron densities; with
    ``lda_anchor=True`` it is ``e = a * model + b * base + (1 - b) * lsda``, ``lsda`` Slater
    exchange + PW92 correlation (:attr:`anchor`).

    Parameters
    ----------
    base
        Any :class:`XCFunctional` (for example a libxc functional, hybrids included).
    model
        A :class:`NeuralXC` (or any trainable :class:`XCFunctional`).
    a, b
        Initial mixing weights; the defaults (0, 1) start training exactly at ``base``.
    train_b
        Whether ``b`` is trained. It is fixed when ``base`` has exact exchange, whose
        coefficient it would otherwise have to scale inside the two-electron terms.

    """

    def __init__(self, base: XCFunctional, model: XCFunctional, a: float = 0.0, b: float = 1.0, train_b: bool = True):
        super().__init__()
        self.base = base
        self.model = model
        self.a = torch.nn.Parameter(torch.tensor(float(a), dtype=torch.float64))
        has_exchange = bool(base.exchange_terms())
        self.b = torch.nn.Parameter(torch.tensor(float(b), dtype=torch.float64), requires_grad=train_b and not has_exchange)
        levels = {"lda": 0, "gga": 1, "mgga": 2}
        self.family = max(base.family, model.family, key=levels.__getitem__)
        self.name = f"{base.name}+{model.name}"
        self.anchor = LibXCFunctional(LSDA_ANCHOR) if getattr(model, "lda_anchor", False) else None
        """The LSDA functional whose energy density ``b`` is anchored to (``lda_anchor``), else ``None``."""

    @property
    def pointwise(self) -> bool:
        """Whether base and model are both pointwise (see :attr:`XCFunctional.pointwise`)."""
        return bool(getattr(self.base, "pointwise", False) and getattr(self.model, "pointwise", False))

    @property
    def scales_base(self) -> bool:
        """Whether the model's factor multiplies the base (``e = base * (b + a * F)``)."""
        return bool(getattr(self.model, "scales_base", False))

    @property
    def one_electron(self) -> bool:
        """Whether the correction, base weight included, vanishes for one-electron densities."""
        return bool(getattr(self.model, "one_electron", False))

    @property
    def additive(self) -> bool:
        """Whether it is the plain ``a * model + b * base`` (no ``scales_base``, ``one_electron``, ``lda_anchor``)."""
        return not (self.scales_base or self.one_electron or self.anchor is not None)

    def exchange_terms(self) -> tuple[ExchangeTerm, ...]:
        scale = float(self.b.detach())
        return tuple(ExchangeTerm(t.coefficient * scale, t.omega) for t in self.base.exchange_terms())

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        stacked = features.stacked
        base = self.base(FeatureMap(stacked[:, : _NVAR[self.base.family]]))
        anchor = None if self.anchor is None else self.anchor(FeatureMap(stacked[:, :1]))
        return self.combine(base, FeatureMap(stacked[:, : _NVAR[self.model.family]]), anchor)

    def combine(
        self, base: torch.Tensor, model_features: FeatureMap, anchor: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The hybrid's energy density from the base functional's, ``base``, and the model's inputs.

        ``anchor`` is :attr:`anchor`'s energy density, needed (only) with ``lda_anchor``.
        """
        if self.anchor is not None:
            return self.a * self.model(model_features) + self.b * base + (1.0 - self.b) * anchor
        if self.scales_base:
            return base * (self.b + self.a * self.model.factor(model_features))
        if self.one_electron:
            mask = self.model.one_electron_mask(model_features)
            return self.a * self.model(model_features) + base * (1.0 + mask * (self.b - 1.0))
        return self.a * self.model(model_features) + self.b * base


_NVAR = {"lda": 1, "gga": 4, "mgga": 5}
#: libxc name of the ``lda_anchor`` functional: the uniform-gas limit of r2SCAN and PBE.
LSDA_ANCHOR = "lda_x,lda_c_pw"

MODELS = {"nn-lda": NeuralXC, "nn-gga": NeuralGGA, "nn-pbe": NeuralGGA, "nn-mgga": NeuralMetaGGA}


@hookimpl
def nnxc_register_xc_models(register) -> None:
    """Register the built-in neural architectures."""
    register("nn-lda", NeuralXC, description="NN-LDA: enhancement factor of (rho^(1/3), zeta)")
    register("nn-gga", NeuralGGA, description="NN-GGA: adds the reduced gradient s")
    register("nn-pbe", NeuralGGA, description="alias of nn-gga (DeepChem's NNPBE)")
    register("nn-mgga", NeuralMetaGGA, description="NN meta-GGA: adds the iso-orbital indicator alpha")
