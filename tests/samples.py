"""Molecules shared by the tests (ASE's G2 geometries) and how to build them.

References are never stored here: every test computes its PySCF reference in the same run.
"""

from __future__ import annotations

from ase import Atoms
from ase.build import molecule

from ase_nnxc.system import MolecularSystem

CLOSED_SHELL = ("H2O", "NH3", "CH4", "C2H4", "HCN")
OPEN_SHELL = ("O", "N", "CH3", "NO", "OH")
#: Unpaired electrons of the open-shell species (ground states).
SPINS = {"O": 2, "N": 3, "CH3": 1, "NO": 1, "OH": 1}


def atoms(name: str) -> Atoms:
    """ASE atoms of a G2 molecule or a single atom, with its ground-state moments."""
    if name in ("O", "N"):
        return Atoms(name, positions=[(0.0, 0.0, 0.0)])
    return molecule(name)


def system(name: str, basis: str = "def2-svp") -> MolecularSystem:
    """The :class:`MolecularSystem` of ``name`` in ``basis``."""
    return MolecularSystem.from_atoms(atoms(name), basis=basis, charge=0, spin=SPINS.get(name, 0))
