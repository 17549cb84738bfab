"""Effective core potentials (def2 basis sets for Rb-Rn): the ECP integrals' nuclear derivatives
against finite differences; energies, grid-response forces and dipoles against PySCF with the
same basis, ECP and grid; forces against finite differences of the energy; density fitting.

Species from GMTKN55's HEAVY28, HAL59 and HEAVYSB11 (copies in tests/data/gmtkn55), plus the
HI+ cation for a second open shell. The default suite runs def2-SVP (and LANL2DZ for the
finite differences) on a coarse grid; the def2-TZVP matrix on PySCF's default grid is slow.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from pyscf import dft
from samples import gmtkn55_system

from ase_nnxc.integrals import core_hamiltonian, ecp_potential
from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.scf.gradients import one_electron_along
from ase_nnxc.testing import check_forces, pyscf_grid_response_radii
from ase_nnxc.xc import get_functional

QUICK = SCFConfig(conv_tol=1e-11, conv_tol_grad=1e-7, grid_level=1)
#: PySCF's default grid (level 3), as in the acceptance figures.
FULL = SCFConfig(conv_tol=1e-11, conv_tol_grad=1e-7)
#: (species, extra charge, extra spin): closed shells (RKS) and open shells (UKS).
CLOSED = [
    ("HEAVY28/hi", 0, 0),
    ("HEAVY28/teh2", 0, 0),
    ("HEAVY28/sbh3", 0, 0),
    ("HEAVY28/bih3", 0, 0),
    ("HAL59/FI", 0, 0),
]
OPEN = [("HEAVYSB11/teme", 0, 0), ("HEAVY28/hi", 1, 1)]


def _name(case) -> str:
    species, charge, _ = case
    return species.split("/")[1] + ("+" if charge else "")


def pyscf_reference(sys_, xc, config, result, density_fit=False):
    """PySCF's energy, dipole (au) and grid-response gradient with the same basis, ECP and grid.

    Open shells are differentiated at the state ``result`` converged to, with PySCF's own
    gradient code (as in test_forces.py); closed shells at PySCF's own solution.
    """
    mf = (dft.RKS if sys_.spin == 0 else dft.UKS)(sys_.to_mole())
    mf.xc = xc
    mf.conv_tol = 1e-11
    mf.grids.level = config.grid_level
    # PySCF's grid response indexes the radii by Z - n_core (BiH3, def2-SVP, grid 1: 2.3e-5 Ha/Bohr
    # from finite differences of its own energy as shipped); see pyscf_grid_response_radii.
    mf.grids.atomic_radii = pyscf_grid_response_radii(mf.mol)
    if density_fit:
        mf = mf.density_fit()
    energy = mf.kernel()
    grad = mf.nuc_grad_method()
    grad.grid_response = True
    if sys_.spin == 0:
        gradient = grad.kernel()
    else:
        orbitals = [t.numpy() for t in (result.mo_energy, result.mo_coeff, result.mo_occ)]
        mf.mo_energy, mf.mo_coeff, mf.mo_occ = orbitals
        gradient = grad.kernel(*orbitals)
    dipole = mf.dip_moment(unit="AU", verbose=0)
    return energy, dipole, gradient


def compare_with_pyscf(case, xc, basis, config, density_fit=False):
    species, charge, spin = case
    sys_ = gmtkn55_system(species, basis, charge, spin)
    config = replace(config, density_fit=density_fit)
    ks = KohnSham(sys_, get_functional(xc), config)
    result = run_scf(ks)
    gradient = nuclear_gradient(ks, result).numpy()
    energy, dipole, reference = pyscf_reference(sys_, xc, config, result, density_fit)
    assert ks.mol.has_ecp()
    assert result.energy == pytest.approx(energy, abs=1e-6)
    assert np.abs(gradient - reference).max() < 1e-5
    assert np.abs(gradient.sum(0)).max() < 1e-6
    assert np.abs(ks.dipole(result.density).numpy() - dipole).max() < 1e-5


def test_valence_electrons_and_effective_charges_follow_the_basis_ecp():
    sys_ = gmtkn55_system("HEAVY28/teh2", "def2-svp")
    mol = sys_.to_mole()
    assert sys_.core_electrons == (28, 0, 0)  # def2 ECP for Te: [Ar]3d10 core
    assert mol.nelectron == sys_.nelectron == 52 - 28 + 2
    assert mol.atom_charges().tolist() == [24, 1, 1]
    ks = KohnSham(sys_, get_functional("pbe"), QUICK)
    assert ks.charges.tolist() == [24.0, 1.0, 1.0]  # nuclear repulsion with effective charges


def test_ecp_derivative_integrals_match_finite_differences():
    # TeH2: the ECP centre and the basis functions on it and on the H atoms all move.
    sys_ = gmtkn55_system("HEAVY28/teh2", "def2-svp")
    mol = sys_.to_mole()
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(mol.nao_nr(),) * 2)  # not symmetric: backward symmetrises
    u = rng.normal(size=(mol.natm, 3))
    positions = sys_.positions_tensor(requires_grad=True)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad((ecp_potential(mol, positions) * torch.from_numpy(weights)).sum(), positions)
    core_along, _ = one_electron_along(mol, u)

    def matrices(shift):
        moved = sys_.with_positions(sys_.positions + shift * u).to_mole()
        return moved.intor_symmetric("ECPscalar"), core_hamiltonian(
            moved, torch.from_numpy(moved.atom_coords())
        ).numpy()

    # Five-point central differences: the steep core functions make the three-point error
    # 3e-7 at a step of 1e-4 Bohr (it falls as the step squared).
    step = 1e-3
    (e2, c2), (e1, c1), (em1, cm1), (em2, cm2) = (matrices(k * step) for k in (2, 1, -1, -2))
    numeric_ecp = (8 * (e1 - em1) - (e2 - em2)) / (12 * step)
    numeric_core = (8 * (c1 - cm1) - (c2 - cm2)) / (12 * step)
    assert np.abs(numeric_ecp).max() > 0.1  # the ECP matrix does move
    assert float((gradient.numpy() * u).sum()) == pytest.approx(float((numeric_ecp * weights).sum()), rel=1e-8)
    assert np.abs(core_along.numpy() - numeric_core).max() < 1e-8 * np.abs(numeric_core).max()


@pytest.mark.parametrize(
    ("case", "xc"),
    [
        (("HEAVY28/hi", 0, 0), "pbe"),
        (("HEAVY28/hi", 1, 1), "b3lyp"),
        pytest.param(("HEAVY28/bih3", 0, 0), "pbe", marks=pytest.mark.slow),
    ],
    ids=["HI-pbe-rks", "HI+-b3lyp-uks", "BiH3-pbe-rks"],
)
def test_energy_forces_and_dipole_match_pyscf_in_def2_svp(case, xc):
    compare_with_pyscf(case, xc, "def2-svp", QUICK)


def test_density_fitted_energy_and_forces_match_pyscf():
    compare_with_pyscf(("HEAVY28/hi", 0, 0), "pbe", "def2-svp", QUICK, density_fit=True)


@pytest.mark.slow
def test_density_fitted_open_shell_hybrid_matches_pyscf():
    compare_with_pyscf(("HEAVY28/hi", 1, 1), "b3lyp", "def2-svp", QUICK, density_fit=True)


@pytest.mark.parametrize(
    "basis", ["lanl2dz", pytest.param("def2-svp", marks=pytest.mark.slow)], ids=["lanl2dz", "def2-svp"]
)
def test_forces_match_finite_differences(basis):
    # BiH3: where the Becke cell sizes need the proton number, not the ECP's effective charge
    # (5 in LANL2DZ, 23 in def2).
    sys_ = gmtkn55_system("HEAVY28/bih3", basis)
    assert check_forces(sys_, get_functional("pbe"), QUICK, directions=1, atol=1e-5) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("xc", ["pbe", "b3lyp"])
@pytest.mark.parametrize("case", CLOSED + OPEN, ids=_name)
def test_energy_forces_and_dipole_match_pyscf_in_def2_tzvp(case, xc):
    compare_with_pyscf(case, xc, "def2-tzvp", FULL)


@pytest.mark.slow
@pytest.mark.parametrize("xc", ["pbe", "b3lyp"])
@pytest.mark.parametrize("case", CLOSED + OPEN, ids=_name)
def test_forces_match_finite_differences_in_def2_tzvp(case, xc):
    species, charge, spin = case
    sys_ = gmtkn55_system(species, "def2-tzvp", charge, spin)
    assert check_forces(sys_, get_functional(xc), FULL, directions=1, atol=1e-5) < 1e-5
