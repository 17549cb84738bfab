"""PySCF/libcint integrals wrapped as torch autograd Functions of the nuclear positions."""

from ase_nnxc.integrals.density_fitting import DensityFittedJK, default_auxbasis
from ase_nnxc.integrals.one_electron import (
    dipole_integrals,
    kinetic,
    nuclear_attraction,
    nuclear_repulsion,
    overlap,
)
from ase_nnxc.integrals.two_electron import CoulombExchangeEngine, ExchangeTerm, JKEngine, two_electron_energy

__all__ = [
    "CoulombExchangeEngine",
    "DensityFittedJK",
    "ExchangeTerm",
    "JKEngine",
    "default_auxbasis",
    "dipole_integrals",
    "kinetic",
    "nuclear_attraction",
    "nuclear_repulsion",
    "overlap",
    "two_electron_energy",
]
