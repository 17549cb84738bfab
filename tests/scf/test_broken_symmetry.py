"""Broken-symmetry unrestricted solutions of closed shells: PySCF, the dissociation limit, forces."""

from dataclasses import replace

import pytest
from ase import Atoms
from samples import pyscf_broken_symmetry

from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.testing import TIGHT, check_forces
from ase_nnxc.xc import get_functional

BROKEN = SCFConfig(conv_tol=1e-11, conv_tol_grad=1e-7, break_symmetry=True)


def hydrogen_molecule(distance: float, basis: str = "def2-svp") -> MolecularSystem:
    return MolecularSystem.from_atoms(Atoms("H2", [(0, 0, 0), (0, 0, distance)]), basis=basis)


@pytest.mark.parametrize("xc", ["pbe", "r2scan"])
def test_stretched_h2_matches_pyscf_broken_symmetry(xc):
    system = hydrogen_molecule(2.0)
    ks = KohnSham(system, get_functional(xc), BROKEN)
    result = run_scf(ks)
    rks, uks = pyscf_broken_symmetry(system.to_mole(), xc)
    restricted = run_scf(KohnSham(system, get_functional(xc), TIGHT)).energy

    assert not ks.restricted
    assert abs(result.energy - uks.e_tot) < 1e-7
    assert abs(result.spin_square(ks.overlap) - uks.spin_square()[0]) < 1e-4
    assert abs(restricted - rks.e_tot) < 1e-7
    assert restricted - result.energy > 0.01  # the broken solution lies well below RKS


def test_dissociation_limit_is_two_hydrogen_atoms():
    # A fine grid: at level 3 the grids of the molecule and of the atom differ by 3e-6 Hartree.
    functional = get_functional("pbe")
    fine, fine_broken = replace(TIGHT, grid_level=5), replace(BROKEN, grid_level=5)
    atom = MolecularSystem.from_atoms(Atoms("H"), basis="def2-svp", spin=1)
    two_atoms = 2 * run_scf(KohnSham(atom, functional, fine)).energy
    far = hydrogen_molecule(6.0)
    broken = run_scf(KohnSham(far, functional, fine_broken)).energy
    restricted = run_scf(KohnSham(far, functional, fine)).energy

    assert abs(broken - two_atoms) < 1e-6
    assert restricted - two_atoms > 0.05  # RKS's static-correlation error, for contrast


def test_no_broken_solution_near_equilibrium_returns_the_restricted_one():
    system = hydrogen_molecule(0.74)
    functional = get_functional("pbe")
    ks = KohnSham(system, functional, BROKEN)
    result = run_scf(ks)

    assert abs(result.energy - run_scf(KohnSham(system, functional, TIGHT)).energy) < 1e-9
    assert result.spin_square(ks.overlap) < 1e-6


def test_broken_symmetry_forces_match_finite_differences():
    assert check_forces(hydrogen_molecule(1.8), get_functional("r2scan"), BROKEN, directions=1) < 1e-5


def test_restricted_broken_symmetry_is_refused():
    with pytest.raises(ValueError, match="break_symmetry needs an unrestricted"):
        KohnSham(hydrogen_molecule(2.0), get_functional("pbe"), BROKEN, restricted=True)
    with pytest.raises(ValueError, match="break_symmetry must be True or False"):
        SCFConfig(break_symmetry="yes")


def test_symmetric_saddle_point_is_left_downhill():
    # Plain UKS from PySCF's guess stays on the symmetric solution of stretched H2, a saddle
    # point; the probe behind break_symmetry must find that and go down to the broken minimum.
    from ase_nnxc.scf.driver import _leave_symmetric_saddle, _Solver

    system = hydrogen_molecule(2.0)
    functional = get_functional("pbe")
    symmetric_ks = KohnSham(system, functional, TIGHT, restricted=False)
    symmetric = run_scf(symmetric_ks)
    ks = KohnSham(system, functional, BROKEN)
    result = _leave_symmetric_saddle(_Solver(ks, verbose=False), symmetric, (200, 1e-11, 1e-7))
    _, uks = pyscf_broken_symmetry(system.to_mole(), "pbe")

    assert symmetric.spin_square(symmetric_ks.overlap) < 1e-8
    assert abs(result.energy - uks.e_tot) < 1e-7
    assert result.spin_square(ks.overlap) == pytest.approx(uks.spin_square()[0], abs=1e-4)
