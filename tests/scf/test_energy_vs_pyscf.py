"""Total energies agree with PySCF (same basis, grid and functional) to 1e-6 Hartree."""

import pytest
from pyscf import dft
from samples import CLOSED_SHELL, OPEN_SHELL, system

from ase_nnxc.scf import KohnSham, SCFConfig, SCFNotConverged, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.xc import get_functional

FUNCTIONALS = ("lda,vwn", "pbe", "b3lyp", "r2scan")
CONFIG = SCFConfig(conv_tol=1e-10)


def pyscf_method(sys_, xc):
    mf = (dft.RKS if sys_.spin == 0 else dft.UKS)(sys_.to_mole())
    mf.xc = xc
    mf.conv_tol = 1e-10
    mf.grids.level = CONFIG.grid_level
    return mf


def _matrix(names, quick):
    """Every (molecule, functional) pair; pairs outside ``quick`` run with the slow tests."""
    return [
        pytest.param(name, xc, marks=() if (name, xc) in quick or (xc == "pbe") else pytest.mark.slow)
        for name in names
        for xc in FUNCTIONALS
    ]


#: Default-suite subset: PBE for every molecule plus every functional for one molecule each.
QUICK = {("H2O", xc) for xc in FUNCTIONALS} | {("CH3", xc) for xc in FUNCTIONALS}


@pytest.mark.parametrize(("name", "xc"), _matrix(CLOSED_SHELL, QUICK))
def test_restricted_energy_matches_pyscf(name, xc):
    sys_ = system(name)
    result = run_scf(KohnSham(sys_, get_functional(xc), CONFIG))
    mf = pyscf_method(sys_, xc)
    mf.kernel()
    assert mf.converged
    assert result.energy == pytest.approx(mf.e_tot, abs=1e-6)


#: NO with LDA has no integer-occupation (aufbau) solution: the two pi* orbitals swap order
#: whenever one is filled. PySCF does not converge either; we must say so, not give a number.
NO_AUFBAU_SOLUTION = {("NO", "lda,vwn")}


def test_missing_aufbau_solution_is_reported_not_hidden():
    sys_ = system("NO")
    with pytest.raises(SCFNotConverged, match="did not converge for NO.*commutator norm"):
        run_scf(KohnSham(sys_, get_functional("lda,vwn"), SCFConfig(conv_tol=1e-10, max_cycle=40)))
    mf = pyscf_method(sys_, "lda,vwn")
    mf.max_cycle = 80
    mf.kernel()
    assert not mf.converged


def test_non_aufbau_state_returns_the_density_whose_energy_it_reports():
    # Training accepts stationary non-aufbau states (require_aufbau=False). NO with LDA settles
    # in one: an alpha pi* orbital stays filled above an empty one. The result must give that
    # state's density, not the aufbau filling of its Fock matrix (1.3 kcal/mol higher here).
    sys_ = system("NO")
    config = SCFConfig(conv_tol=1e-10, max_cycle=60, require_aufbau=False)
    result = run_scf(KohnSham(sys_, get_functional("lda,vwn"), config))
    filled = result.mo_occ[0] > 0
    assert not bool(filled[: int(filled.sum())].all())  # a filled orbital above an empty one
    mf = pyscf_method(sys_, "lda,vwn")
    assert result.energy == pytest.approx(mf.energy_tot(dm=result.density.numpy()), abs=1e-7)


@pytest.mark.parametrize(("name", "xc"), _matrix(OPEN_SHELL, QUICK))
def test_unrestricted_energy_matches_pyscf(name, xc):
    if (name, xc) in NO_AUFBAU_SOLUTION:
        pytest.skip("no aufbau solution exists; see test_missing_aufbau_solution_is_reported_not_hidden")
    # Open shells have near-degenerate states (p or pi* orientation on an anisotropic grid),
    # and two SCF codes may settle in different ones from the same guess. So PySCF evaluates
    # its own energy functional at our solution and checks that the solution is stationary
    # for PySCF too; PySCF's SCF, restarted from it, must not find a lower state.
    sys_ = system(name)
    ks = KohnSham(sys_, get_functional(xc), CONFIG)
    result = run_scf(ks)
    mf = pyscf_method(sys_, xc)
    density = result.density.numpy()
    assert result.energy == pytest.approx(mf.energy_tot(dm=density), abs=1e-6)
    orbital_gradient = mf.get_grad(result.mo_coeff.numpy(), result.mo_occ.numpy())
    assert abs(orbital_gradient).max() < 1e-4
    mf.max_cycle = 30
    mf.kernel(dm0=density)
    if mf.converged:
        assert mf.e_tot > result.energy - 1e-6
    nalpha, nbeta = sys_.nalpha_nbeta
    sz = 0.5 * (nalpha - nbeta)
    assert result.spin_square(ks.overlap) == pytest.approx(sz * (sz + 1), abs=0.02)


@pytest.mark.parametrize(("symbol", "spin"), [("Ca", 0), ("K", 1)])
def test_atoms_beyond_argon_match_pyscf(symbol, spin):
    # Fourth-row atoms enter training through their ionisation energies (ase_nnxc.train.g2).
    sys_ = MolecularSystem.from_symbols([symbol], [[0.0, 0.0, 0.0]], "def2-svp", charge=0, spin=spin)
    result = run_scf(KohnSham(sys_, get_functional("r2scan"), CONFIG))
    mf = pyscf_method(sys_, "r2scan")
    mf.kernel()
    assert mf.converged
    assert result.energy == pytest.approx(mf.e_tot, abs=1e-6)
