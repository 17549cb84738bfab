"""The ASE calculator: units, warm starts and ASE error classes."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import CalculatorSetupError, InputError, SCFError
from pyscf import dft
from samples import pyscf_broken_symmetry

from ase_nnxc import NNXC
from ase_nnxc.system import MolecularSystem
from ase_nnxc.units import BOHR_TO_ANGSTROM, EBOHR_TO_DEBYE, HARTREE_TO_EV


@pytest.fixture(scope="module")
def water():
    atoms = molecule("H2O")
    atoms.calc = NNXC(xc="pbe", basis="def2-svp")
    return atoms


def test_energy_forces_and_dipole_in_ase_units(water):
    energy = water.get_potential_energy()
    forces = water.get_forces()
    dipole = water.get_dipole_moment()
    mf = dft.RKS(MolecularSystem.from_atoms(water).to_mole())
    mf.xc = "pbe"
    mf.conv_tol = 1e-10
    mf.kernel()
    grad = mf.nuc_grad_method()
    grad.grid_response = True
    assert energy == pytest.approx(mf.e_tot * HARTREE_TO_EV, abs=1e-5)
    assert np.abs(forces + grad.kernel() * HARTREE_TO_EV / BOHR_TO_ANGSTROM).max() < 5e-4
    reference_debye = mf.dip_moment(unit="Debye", verbose=0)
    assert np.abs(dipole / BOHR_TO_ANGSTROM * EBOHR_TO_DEBYE - reference_debye).max() < 1e-4


def test_warm_start_needs_fewer_cycles():
    atoms = molecule("H2O")
    atoms.calc = NNXC(xc="pbe", basis="def2-svp", grid_level=1)
    atoms.get_potential_energy()
    cold = atoms.calc.scf_cycles
    atoms.positions[0, 2] += 0.01
    atoms.get_potential_energy()
    assert atoms.calc.scf_cycles < cold


def test_forces_after_energy_reuse_the_density():
    atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)])
    atoms.calc = NNXC(xc="pbe", basis="sto-3g", grid_level=1)
    energy = atoms.get_potential_energy()
    cold = atoms.calc.scf_cycles
    forces = atoms.get_forces()  # continues from the converged density to the forces' threshold
    assert atoms.calc.scf_cycles < cold and atoms.get_potential_energy() == pytest.approx(energy, abs=1e-8)
    scf = atoms.calc.scf_result
    atoms.get_forces()
    assert atoms.calc.scf_result is scf  # converged for forces once: reused
    fresh = atoms.copy()
    fresh.calc = NNXC(xc="pbe", basis="sto-3g", grid_level=1)
    assert np.abs(fresh.get_forces() - forces).max() < 1e-6


def test_changing_a_parameter_discards_results():
    atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)])
    atoms.calc = NNXC(xc="pbe", basis="sto-3g", grid_level=1)
    pbe = atoms.get_potential_energy()
    atoms.calc.set(xc="lda,vwn")
    lda = atoms.get_potential_energy()
    reference = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)])
    reference.calc = NNXC(xc="lda,vwn", basis="sto-3g", grid_level=1)
    assert lda == pytest.approx(reference.get_potential_energy(), abs=1e-6)
    assert abs(lda - pbe) > 0.1


def test_unknown_parameter_is_an_input_error():
    with pytest.raises(InputError, match="Unknown NNXC parameter.*functional"):
        NNXC(functional="pbe")


@pytest.mark.parametrize(
    ("atoms", "params", "error", "match"),
    [
        (molecule("H2O"), {"xc": "pbee"}, InputError, "pbee"),
        (molecule("H2O"), {"spin": 1}, InputError, "inconsistent with spin"),
        (Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.05)]), {}, InputError, "Angstrom apart"),
        (Atoms(), {}, InputError, "empty"),
        (molecule("H2O", vacuum=3.0, pbc=True), {}, CalculatorSetupError, "periodic"),
        (Atoms("Br", positions=[(0, 0, 0)]), {"basis": "6-31g", "spin": 1}, InputError, "Br"),
        (Atoms("HI", positions=[(0, 0, 0), (0, 0, 1.6)]), {"basis": "6-31g"}, InputError, "'6-31g'.*not found for I"),
        (Atoms("Fr", positions=[(0, 0, 0)]), {"spin": 1}, InputError, "Fr .Z=87. is not supported"),
        (molecule("H2O"), {"grid_level": 12}, InputError, "grid_level"),
        (Atoms("H", positions=[(0, 0, 0)]), {"spin": 1, "restricted": True}, InputError, "closed shell"),
    ],
)
def test_bad_input_raises_ase_errors(atoms, params, error, match):
    # Bad parameter values fail when given, bad atoms at the first calculation.
    with pytest.raises(error, match=match):
        atoms.calc = NNXC(**params)
        atoms.get_potential_energy()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"conv_tol": -1e-9}, "conv_tol.*-1e-09"),
        ({"max_cycle": 0}, "max_cycle.*0"),
        ({"damping": 1.5}, "damping.*1.5"),
        ({"level_shift": -0.1}, "level_shift.*-0.1"),
        ({"init_guess": "sad"}, "init_guess.*sad"),
        ({"charge": 0.5}, "charge.*0.5"),
        ({"spin": 1.5}, "spin.*1.5"),
        ({"xc": 42}, "42"),
        ({"restricted": "yes"}, "restricted.*yes"),
        ({"break_symmetry": 1}, "break_symmetry.*1"),
        ({"restricted": True, "break_symmetry": True}, "break_symmetry needs an unrestricted"),
    ],
)
def test_bad_parameter_values_are_input_errors_when_given(params, match):
    with pytest.raises(InputError, match=match):
        NNXC(**params)
    calc = NNXC()
    with pytest.raises(InputError, match=match):
        calc.set(**params)


def test_break_symmetry_reaches_the_unrestricted_solution_of_a_stretched_bond():
    # Stretched H2: the broken-symmetry energy is PySCF's UKS energy from mixed frontier
    # orbitals; restricted=False alone stays on the symmetric (restricted) solution.
    atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, 2.0)])
    energies = {}
    for name, params in {
        "default": {},
        "unrestricted": {"restricted": False},
        "broken": {"break_symmetry": True},
    }.items():
        atoms.calc = NNXC(xc="pbe", basis="def2-svp", **params)
        energies[name] = atoms.get_potential_energy() / HARTREE_TO_EV
    rks, uks = pyscf_broken_symmetry(MolecularSystem.from_atoms(atoms, basis="def2-svp").to_mole(), "pbe")

    assert abs(energies["default"] - rks.e_tot) < 1e-6
    assert abs(energies["unrestricted"] - rks.e_tot) < 1e-6
    assert abs(energies["broken"] - uks.e_tot) < 1e-6
    assert rks.e_tot - uks.e_tot > 0.01


def test_break_symmetry_survives_warm_starts_from_the_symmetric_solution():
    # A scan from equilibrium (no broken solution) out to 2 Angstrom must still break symmetry.
    atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.75)])
    atoms.calc = NNXC(xc="pbe", basis="def2-svp", break_symmetry=True)
    for distance in (0.75, 1.4, 2.0):
        atoms.positions[1, 2] = distance
        scanned = atoms.get_potential_energy()
    fresh = Atoms("H2", positions=[(0, 0, 0), (0, 0, 2.0)])
    fresh.calc = NNXC(xc="pbe", basis="def2-svp", break_symmetry=True)

    assert abs(scanned - fresh.get_potential_energy()) < 1e-6 * HARTREE_TO_EV
    assert atoms.calc.scf_result.spin_square(atoms.calc._ks.overlap) > 0.5


def test_unknown_basis_is_an_input_error():
    atoms = molecule("H2O")
    atoms.calc = NNXC(basis="no-such-basis")
    with pytest.raises(InputError, match="no-such-basis"):
        atoms.get_potential_energy()


def test_unconverged_scf_is_an_scf_error():
    atoms = molecule("H2O")
    atoms.calc = NNXC(xc="pbe", max_cycle=2, fallback=False)
    with pytest.raises(SCFError, match="did not converge.*last energy change"):
        atoms.get_potential_energy()


def test_density_fitting_settings_are_checked():
    with pytest.raises(InputError, match="auxbasis='weigend' is only used with density_fit=True"):
        NNXC(auxbasis="weigend")
    atoms = molecule("H2O")
    atoms.calc = NNXC(density_fit=True, auxbasis="no-such-auxbasis")
    with pytest.raises(InputError, match="Auxiliary basis 'no-such-auxbasis'"):
        atoms.get_potential_energy()
