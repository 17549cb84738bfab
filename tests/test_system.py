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


@pytest.mark.parametrize(
    ("symbol", "basis", "core"),
    [
        # Published core sizes: def2 uses ECP28MWB for Rb-Xe and ECP60MWB for Hf-Rn
        # (Weigend and Ahlrichs, PCCP 7, 3297 (2005)); LANL2DZ has a 46-electron core for I
        # (Hay and Wadt, JCP 82, 299 (1985)); cc-pVDZ-PP a 10-electron one for Kr
        # (Peterson et al., JCP 119, 11113 (2003)).
        ("Rb", "def2-tzvp", 28),
        ("Xe", "def2-svp", 28),
        ("Bi", "def2-svp", 60),
        ("Rn", "def2-tzvp", 60),
        ("I", "lanl2dz", 46),
        ("Kr", "cc-pvdz-pp", 10),
        ("Kr", "def2-svp", 0),  # def2 is all-electron up to Kr
        ("I", "sto-3g", 0),  # an all-electron basis needs no ECP
    ],
)
def test_electrons_an_ecp_replaces_are_not_counted(symbol, basis, core):
    z = MolecularSystem.from_symbols([symbol], [[0, 0, 0]], basis=basis, spin=1 if symbol in ("Rb", "I", "Bi") else 0)
    assert z.core_electrons == (core,)
    assert z.nelectron == z.numbers[0] - core
    mol = z.to_mole()
    assert mol.nelectron == z.nelectron and mol.atom_charges().tolist() == [z.numbers[0] - core]
    moved = z.with_positions([[0.0, 0.0, 1.0]])
    assert moved.core_electrons == (core,) and moved.nalpha_nbeta == z.nalpha_nbeta


def test_spin_check_counts_valence_electrons_and_says_so():
    with pytest.raises(
        ValueError, match="26 electrons .besides the 28 that the def2-svp ECPs replace. are inconsistent"
    ):
        MolecularSystem.from_symbols(["Xe"], [[0, 0, 0]], spin=1)
    with pytest.raises(ValueError, match="Charge 27 leaves -1 electrons .besides the 28"):
        MolecularSystem.from_symbols(["Xe"], [[0, 0, 0]], charge=27, spin=1)
    # Iodine, def2-SVP: 25 valence electrons, so a doublet; 2S = 27 would exceed the valence count.
    assert MolecularSystem.from_symbols(["I"], [[0, 0, 0]], spin=1).nalpha_nbeta == (13, 12)
    with pytest.raises(ValueError, match="25 electrons .* spin 2S = 27"):
        MolecularSystem.from_symbols(["I"], [[0, 0, 0]], spin=27)


def test_elements_beyond_radon_are_rejected():
    with pytest.raises(ValueError, match=r"Element Fr \(Z=87\) is not supported: elements beyond Rn"):
        MolecularSystem.from_symbols(["Fr"], [[0, 0, 0]], spin=1)


def test_heavy_element_missing_from_the_basis_is_named():
    with pytest.raises(ValueError, match="Basis '6-31g' could not be built for H/I: Basis set not found for I"):
        MolecularSystem.from_symbols(["I", "H"], [[0, 0, 0], [0, 0, 3.0]], basis="6-31g").to_mole()


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
