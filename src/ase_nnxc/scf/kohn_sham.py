"""Kohn-Sham energy assembly: one differentiable function of density matrices and nuclei.

    E = Tr(D h) + 1/2 Tr(D J[D]) - 1/2 sum_s Tr(D_s K[D_s]) + E_xc[rho_D] + E_nuc

:class:`KohnSham` evaluates it with torch, so that

* the Fock matrix is its gradient w.r.t. the density matrices (used every SCF cycle),
* the nuclear gradient at fixed ``D`` and energy-weighted ``W`` (minus ``Tr(W S)``) is the
  exact force, grid response included (:mod:`ase_nnxc.scf.gradients`),
* gradients w.r.t. functional parameters at fixed ``D`` give energy-loss training gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ase_nnxc.grid.becke import MolecularGrid
from ase_nnxc.grid.density import NVAR, AOCache, density_features, xc_energy_and_potential
from ase_nnxc.integrals import (
    DensityFittedJK,
    JKEngine,
    core_hamiltonian,
    dipole_integrals,
    nuclear_repulsion,
    overlap,
    two_electron_energy,
)
from ase_nnxc.scf.config import SCFConfig
from ase_nnxc.system import MolecularSystem
from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.features import FeatureMap


@dataclass(frozen=True)
class EnergyTerms:
    """Kohn-Sham energy components in Hartree (floats)."""

    one_electron: float
    """``Tr(D h)``: kinetic plus electron-nuclear attraction (and effective core potentials)."""
    coulomb_exchange: float
    """Hartree energy minus exact exchange."""
    xc: float
    """Semi-local (or neural) exchange-correlation energy on the grid."""
    nuclear: float
    """Nuclear repulsion."""

    @property
    def total(self) -> float:
        """Sum of all terms."""
        return self.one_electron + self.coulomb_exchange + self.xc + self.nuclear


class KohnSham:
    """Everything fixed by the molecule, basis, grid and functional.

    Parameters
    ----------
    system
        The molecule.
    functional
        An :class:`~ase_nnxc.xc.base.XCFunctional` (libxc, neural, plugin).
    config
        SCF and grid settings (``grid_level``, ``jk_mode``, ``density_fit``, ``auxbasis`` and
        ``max_memory_mb`` are used here).
    restricted
        Closed-shell RKS (one total density matrix) or UKS (alpha and beta).
        Defaults to RKS when ``system.spin == 0``, unless ``config.break_symmetry`` asks for
        a broken-symmetry (necessarily unrestricted) solution.

    """

    def __init__(
        self,
        system: MolecularSystem,
        functional: XCFunctional,
        config: SCFConfig | None = None,
        restricted: bool | None = None,
    ):
        self.system = system
        self.functional = functional
        self.config = config or SCFConfig()
        if restricted is None:
            restricted = system.spin == 0 and not self.config.break_symmetry
        self.restricted = bool(restricted)
        if self.restricted and system.spin != 0:
            raise ValueError(f"Restricted Kohn-Sham needs a closed shell, but spin is {system.spin}.")
        if self.restricted and self.config.break_symmetry:
            raise ValueError("break_symmetry needs an unrestricted calculation (restricted=False).")
        self.mol = system.to_mole()
        self.positions = system.positions_tensor()
        self.charges = torch.tensor(self.mol.atom_charges(), dtype=torch.float64)
        self.overlap = overlap(self.mol, self.positions)
        self.core_hamiltonian = core_hamiltonian(self.mol, self.positions)
        self.exchange_terms = functional.exchange_terms()
        memory = self.config.max_memory_mb
        if self.config.density_fit:
            self.jk = DensityFittedJK(self.mol, self.config.auxbasis, bool(self.exchange_terms), memory)
            resident = self.jk.resident_mb * len(self._omegas())
        else:
            self.jk = JKEngine(self.mol, self.config.jk_mode, memory)
            resident = self.jk.resident_mb(len(self._omegas()))
        self.grid = MolecularGrid(self.mol, self.config.grid_level)
        self.nvar = NVAR[functional.family]
        # max_memory_mb bounds what is kept between Fock builds: the two-electron tensors first
        # (as PySCF keeps them), then AO values on the grid in half of what is left, the other
        # half staying free for the working buffers PySCF sizes from it (DF exchange blocks).
        self.ao_cache = AOCache(self.mol, self.grid.coords, functional.family, max(0.0, 0.5 * (memory - resident)))

    def _omegas(self) -> set[float]:
        """Range-separation parameters of the Coulomb-like operators: 0 for J, one per exchange range."""
        return {0.0} | {term.omega for term in self.exchange_terms}

    @property
    def nao(self) -> int:
        """Number of basis functions."""
        return self.mol.nao_nr()

    @property
    def nspin(self) -> int:
        """1 (restricted, total density) or 2 (alpha, beta)."""
        return 1 if self.restricted else 2

    def xc_energy(self, density: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """``E_xc = sum_g w_g e(features_g)``; differentiable in ``density``, ``positions`` and the functional."""
        if positions is None:
            coords, weights = torch.from_numpy(self.grid.coords), torch.from_numpy(self.grid.weights)
            positions = self.positions
        else:
            coords, weights = self.grid.coords_tensor(positions), self.grid.weights_tensor(positions)
        features = density_features(density, coords, positions, self.ao_cache, self.nvar)
        return (weights * self.energy_density(features)).sum()

    def energy_density(self, features: torch.Tensor) -> torch.Tensor:
        """The functional's energy density ``(n,)`` at stacked features ``(nspin, nvar, n)``."""
        energy_density = self.functional(FeatureMap(features))
        npoint = features.shape[-1]
        if energy_density.shape != (npoint,):
            raise ValueError(
                f"Functional {self.functional.name!r} returned shape {tuple(energy_density.shape)}, "
                f"expected ({npoint},)."
            )
        return energy_density

    @property
    def xc_in_one_pass(self) -> bool:
        """Whether Fock builds and forces take the functional block by block of grid points.

        So they are for a pointwise functional whose AO values are not cached: each block's
        AO values are then computed once per Fock build (and once, to second order, per
        gradient) instead of once for the features and again for their derivatives.
        """
        return bool(getattr(self.functional, "pointwise", False)) and not self.ao_cache.cached

    def energy(
        self, density: torch.Tensor, positions: torch.Tensor | None = None, two_electron: bool = True, xc: bool = True
    ):
        """Total energy and its terms for spin density matrices ``(nspin, nao, nao)``.

        With ``positions`` given (Bohr, ``(natom, 3)``, equal to the system's), every term is
        differentiable in them; otherwise cached matrices are used. ``two_electron=False`` or
        ``xc=False`` leave the Coulomb and exact-exchange or the XC term out (it is then zero),
        for callers that add that term, or its derivative, by a faster route.

        Returns
        -------
        (torch.Tensor, dict[str, torch.Tensor])
            Scalar total energy and the terms ``one_electron``, ``coulomb_exchange``,
            ``xc``, ``nuclear``.

        """
        if positions is None:
            hcore, pos = self.core_hamiltonian, self.positions
        else:
            hcore = core_hamiltonian(self.mol, positions)
            pos = positions
        total_density = density.sum(0)
        terms = {
            "one_electron": (total_density * hcore).sum(),
            "coulomb_exchange": (
                two_electron_energy(self.jk, pos, density, self.exchange_terms)
                if two_electron
                else density.new_zeros(())
            ),
            "xc": self.xc_energy(density, positions) if xc else density.new_zeros(()),
            "nuclear": nuclear_repulsion(self.charges, pos),
        }
        return sum(terms.values()), terms

    def fock(self, density: torch.Tensor):
        """Fock matrices ``dE/dD`` ``(nspin, nao, nao)``, the energy and its terms at ``density``."""
        one_pass = self.xc_in_one_pass
        with torch.enable_grad():
            dens = density.detach().requires_grad_(True)
            energy, terms = self.energy(dens, xc=not one_pass)
            (fock,) = torch.autograd.grad(energy, dens)
        if one_pass:
            weights = torch.from_numpy(self.grid.weights)
            xc = xc_energy_and_potential(density, self.ao_cache, self.nvar, self.energy_density, weights)
            terms["xc"], potential = xc
            energy, fock = energy + terms["xc"], fock + potential
        fock = 0.5 * (fock + fock.transpose(-1, -2))
        return fock, energy.detach(), EnergyTerms(**{k: float(v.detach()) for k, v in terms.items()})

    def dipole(self, density: torch.Tensor) -> torch.Tensor:
        """Dipole moment about the origin in atomic units (e*Bohr), ``(3,)``."""
        electronic = torch.einsum("xmn,mn->x", dipole_integrals(self.mol), density.sum(0))
        return (self.charges[:, None] * self.positions).sum(0) - electronic

    def initial_guess(self) -> torch.Tensor:
        """PySCF's initial density ``(nspin, nao, nao)`` for :attr:`SCFConfig.init_guess`."""
        from pyscf import scf

        method = scf.RHF(self.mol) if self.restricted else scf.UHF(self.mol)
        guess = method.get_init_guess(self.mol, self.config.init_guess)
        return torch.as_tensor(guess, dtype=torch.float64).reshape(self.nspin, self.nao, self.nao)
