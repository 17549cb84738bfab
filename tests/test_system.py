"""Bad input gets a clear exception naming the problem, never a number."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from ase_nnxc.system import MolecularSystem
from ase_nnxc.units import ANGSTROM_TO_BOHR
from ase_nnxc.xc import get_functional


def test_positions_are_converted_to_bohr():
    atoms = molecule("H2O")
    sys_ = MolecularSystem.from_atoms(atoms)
    assert np.allclose(sys_.positions, atoms.positions * ANGSTROM_TO_BOHR)
    assert sys_.nelectron == 10 and sys_.nalpha_nbeta == (5, 5)


def test_unknown_element_for_basis():
    sys_ = MolecularSystem.from_symbols(["Ar"], [[0, 0, 0]], basis="6-31g**")
    sys_.to_mole()  # Ar is in 6-31G**
    with pytest.raises(ValueError, match="Basis '6-31g' could not be built for Br"):
        MolecularSystem.from_symbols(["Br"], [[0, 0, 0]], basis="6-31g", spin=1).to_mole()


def test_element_needing_ecp_is_rejected():
    with pytest.raises(ValueError, match="Xe.*effective core potentials"):
        MolecularSystem.from_symbols(["Xe"], [[0, 0, 0]])


def test_unknown_functional_name():
    with pytest.raises(ValueError, match="Unknown exchange-correlation functional 'pbee'"):
        get_functional("pbee")


def test_spin_inconsistent_with_electron_count():
    with pytest.raises(ValueError, match="10 electrons are inconsistent with spin 2S = 1"):
        MolecularSystem.from_atoms(molecule("H2O"), spin=1)


def test_atoms_too_close():
    atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.05)])
    with pytest.raises(ValueError, match="0.0500 Angstrom apart"):
        MolecularSystem.from_atoms(atoms)


def test_empty_molecule():
    with pytest.raises(ValueError, match="empty"):
        MolecularSystem.from_atoms(Atoms())


def test_periodic_atoms():
    atoms = molecule("H2O", vacuum=3.0, pbc=True)
    with pytest.raises(ValueError, match="Periodic boundary conditions"):
        MolecularSystem.from_atoms(atoms)
