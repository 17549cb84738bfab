"""PySCF/libcint integrals wrapped as torch autograd Functions of the nuclear positions."""

from ase_nnxc.integrals.one_electron import (
    dipole_integrals,
    kinetic,
    nuclear_attraction,
    nuclear_repulsion,
    overlap,
)
from ase_nnxc.integrals.two_electron import ExchangeTerm, JKEngine, two_electron_energy

__all__ = [
    "ExchangeTerm",
    "JKEngine",
    "dipole_integrals",
    "kinetic",
    "nuclear_attraction",
    "nuclear_repulsion",
    "overlap",
    "two_electron_energy",
]
