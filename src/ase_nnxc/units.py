"""Unit constants: the one place where Hartree, Bohr, eV and Angstrom meet.

Everything inside ase_nnxc works in atomic units (Hartree, Bohr, electron charge).
Only :mod:`ase_nnxc.calculator` and user-facing reports convert, using these names.
"""

from __future__ import annotations

from ase import units as _ase_units

#: One Hartree in eV.
HARTREE_TO_EV: float = _ase_units.Hartree
#: One Bohr in Angstrom.
BOHR_TO_ANGSTROM: float = _ase_units.Bohr
#: One Angstrom in Bohr.
ANGSTROM_TO_BOHR: float = 1.0 / _ase_units.Bohr
#: One Hartree in kcal/mol.
HARTREE_TO_KCAL_PER_MOL: float = _ase_units.Hartree / (_ase_units.kcal / _ase_units.mol)
#: One e*Bohr in Debye.
EBOHR_TO_DEBYE: float = _ase_units.Bohr / _ase_units.Debye
#: One Hartree in cm^-1 (twice the Rydberg constant; CODATA 2018).
HARTREE_TO_CM1: float = 219474.6313632
