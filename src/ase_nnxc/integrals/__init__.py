"""PySCF/libcint integrals wrapped as torch autograd Functions of the nuclear positions."""

from ase_nnxc.integrals.density_fitting import DensityFittedJK, default_auxbasis
from ase_nnxc.integrals.one_electron import (
    core_hamiltonian,
    dipole_integrals,
    ecp_potential,
    kinetic,
    nuclear_attraction,
    nuclear_repulsion,
    overlap,
)
from ase_nnxc.integrals.two_electron import (
    CoulombExchangeEngine,
    ExchangeTerm,
    JKEngine,
    two_electron_energy,
    two_electron_gradient,
)

__all__ = [
    "CoulombExchangeEngine",
    "DensityFittedJK",
    "ExchangeTerm",
    "JKEngine",
    "core_hamiltonian",
    "default_auxbasis",
    "dipole_integrals",
    "ecp_potential",
    "kinetic",
    "nuclear_attraction",
    "nuclear_repulsion",
    "overlap",
    "two_electron_energy",
    "two_electron_gradient",
]
