"""The result of a self-consistent field run: energy, orbitals, densities, and what follows from them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ase_nnxc.scf.kohn_sham import EnergyTerms


@dataclass(frozen=True)
class SCFResult:
    """A converged Kohn-Sham solution (atomic units)."""

    energy: float
    """Total energy in Hartree."""
    terms: EnergyTerms
    """Energy components."""
    density: torch.Tensor = field(repr=False)
    """Density matrices ``(nspin, nao, nao)``: total (restricted) or alpha, beta."""
    mo_energy: torch.Tensor = field(repr=False)
    """Orbital energies ``(nspin, nmo)``."""
    mo_coeff: torch.Tensor = field(repr=False)
    """Orbital coefficients ``(nspin, nao, nmo)``."""
    mo_occ: torch.Tensor = field(repr=False)
    """Occupation numbers ``(nspin, nmo)`` (2/0 restricted, 1/0 unrestricted)."""
    cycles: int
    """Fock builds used, fallbacks included."""
    energy_history: tuple[float, ...] = field(repr=False, default=())
    """Energy after every cycle."""

    @property
    def homo_lumo(self) -> tuple[float, float]:
        """Highest occupied and lowest unoccupied orbital energies (Hartree) over spins."""
        occupied = self.mo_energy[self.mo_occ > 0]
        virtual = self.mo_energy[self.mo_occ == 0]
        return float(occupied.max()), float(virtual.min()) if virtual.numel() else math.inf

    def energy_weighted_density(self) -> torch.Tensor:
        """``W = sum_i n_i eps_i c_i c_i^T`` summed over spins, ``(nao, nao)``."""
        weighted = self.mo_coeff * (self.mo_occ * self.mo_energy)[:, None, :]
        return torch.einsum("smi,sni->mn", weighted, self.mo_coeff)

    def spin_square(self, overlap: torch.Tensor) -> float:
        """``<S^2>`` of the Kohn-Sham determinant (0 for restricted)."""
        if self.density.shape[0] == 1:
            return 0.0
        occ_a = self.mo_coeff[0][:, self.mo_occ[0] > 0]
        occ_b = self.mo_coeff[1][:, self.mo_occ[1] > 0]
        na, nb = occ_a.shape[1], occ_b.shape[1]
        cross = occ_a.T @ overlap @ occ_b
        sz = 0.5 * (na - nb)
        return float(sz * (sz + 1) + nb - (cross**2).sum())
