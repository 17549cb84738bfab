"""Differentiable predictions of dataset entries under a (neural) functional.

Energies use the variational argument: at self-consistency ``dE/dtheta`` is the partial
derivative at fixed density, so an energy is re-evaluated with gradients at the converged
density, with no SCF backward. Density-matrix and density entries go through
:func:`ase_nnxc.scf.implicit.differentiable_density` (coupled-perturbed Kohn-Sham), and
force entries through :func:`ase_nnxc.scf.implicit.differentiable_nuclear_gradient` (the
Lagrangian gradient with the responses of the density and the energy-weighted density).

Converged densities are cached per system and warm-start the next SCF.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ase_nnxc.integrals import JKEngine
from ase_nnxc.scf import KohnSham, SCFConfig, SCFNotConverged, SCFResult, run_scf
from ase_nnxc.scf.implicit import differentiable_density, differentiable_nuclear_gradient
from ase_nnxc.train.dataset import Entry, SystemSpec
from ase_nnxc.xc.base import XCFunctional


class EntryFailed(RuntimeError):
    """An entry could not be evaluated (its SCF did not converge, for example)."""


class Predictor:
    """Predictions for entries, with per-system caches of Kohn-Sham setups and densities.

    Parameters
    ----------
    functional
        The functional being trained or evaluated.
    config
        SCF settings for every system.

    """

    def __init__(self, functional: XCFunctional, config: SCFConfig | None = None):
        self.functional = functional
        self.config = config or SCFConfig()
        self._ks: dict[tuple, KohnSham] = {}
        self.densities: dict[tuple, torch.Tensor] = {}
        """Converged density of each system (the warm start of the next SCF)."""

    def kohn_sham(self, spec: SystemSpec) -> KohnSham:
        """The cached Kohn-Sham setup of ``spec``."""
        if spec.key not in self._ks:
            self._ks[spec.key] = KohnSham(spec.to_system(), self.functional, self.config)
        return self._ks[spec.key]

    def solve(self, spec: SystemSpec) -> tuple[KohnSham, SCFResult]:
        """Converge ``spec`` with the current parameters (warm-started)."""
        ks = self.kohn_sham(spec)
        with torch.no_grad():
            try:
                result = run_scf(ks, self.densities.get(spec.key))
            except SCFNotConverged as err:
                if spec.key not in self.densities:
                    raise EntryFailed(str(err)) from err
                try:  # a stale warm start can mislead the SCF; retry from PySCF's guess
                    result = run_scf(ks)
                except SCFNotConverged as err2:
                    raise EntryFailed(str(err2)) from err2
        self.densities[spec.key] = result.density
        return ks, result

    def energy(self, spec: SystemSpec) -> torch.Tensor:
        """Total energy (Hartree) of ``spec``, differentiable in the functional's parameters."""
        ks, result = self.solve(spec)
        energy, _ = ks.energy(result.density)
        return energy

    def predict(self, entry: Entry) -> torch.Tensor:
        """Prediction for ``entry``: a scalar (ae, ie) or an array (dm, dens; force: ``(natom, 3)`` Hartree/Bohr)."""
        if entry.e_type in ("ae", "ie"):
            return sum(c * self.energy(s) for c, s in zip(entry.coefficients(), entry.systems))
        ks, result = self.solve(entry.systems[0])
        return self.array_prediction(entry, ks, result)

    def array_prediction(self, entry: Entry, ks: KohnSham, result: SCFResult) -> torch.Tensor:
        """Prediction for a ``dm``, ``dens`` or ``force`` entry from its system's converged ``result``."""
        if entry.e_type == "force":
            if not isinstance(ks.jk, JKEngine):
                raise EntryFailed(
                    f"entry {entry.name}: force entries need exact two-electron integrals, not density fitting"
                )
            return -differentiable_nuclear_gradient(ks, result)
        density = differentiable_density(ks, result).sum(0)
        if entry.e_type == "dm":
            return density
        return _density_on_grid(ks, density)

    def target(self, entry: Entry) -> torch.Tensor:
        """The label of ``entry`` as a tensor comparable with :meth:`predict`."""
        if entry.e_type in ("ae", "ie"):
            return torch.tensor(float(entry.true_val), dtype=torch.float64)
        value = torch.as_tensor(entry.true_val, dtype=torch.float64)
        if entry.e_type == "force":
            natom = len(self.kohn_sham(entry.systems[0]).system.numbers)
            if value.dim() == 0:  # 0: an equilibrium geometry
                return value.expand(natom, 3).clone()
            if value.shape != (natom, 3):
                raise EntryFailed(
                    f"entry {entry.name}: reference forces have shape {tuple(value.shape)}, want ({natom}, 3)"
                )
            return value
        if entry.e_type != "dens":
            return value
        ks = self.kohn_sham(entry.systems[0])
        if value.dim() == 2:
            return _density_on_grid(ks, value)
        if value.numel() != ks.grid.size:
            raise EntryFailed(
                f"entry {entry.name}: reference density has {value.numel()} points, the grid has {ks.grid.size}"
            )
        return torch.from_numpy(ks.grid.weights).sqrt() * value

    def forget(self, key: tuple, density: bool = True) -> None:
        """Drop the Kohn-Sham setup (and with ``density`` the cached density) of system ``key``."""
        self._ks.pop(key, None)
        if density:
            self.densities.pop(key, None)

    def with_config(self, **changes) -> Predictor:
        """A predictor sharing nothing, with changed SCF settings."""
        return Predictor(self.functional, replace(self.config, **changes))


def _density_on_grid(ks: KohnSham, density: torch.Tensor) -> torch.Tensor:
    """``sqrt(w_g) rho(r_g)``: its squared distance to a reference is the L2 density error."""
    from ase_nnxc.grid.density import density_features

    coords = torch.from_numpy(ks.grid.coords)
    rho = density_features(density[None], coords, ks.positions, ks.ao_cache, 1)[0, 0]
    return torch.from_numpy(ks.grid.weights).sqrt() * rho
