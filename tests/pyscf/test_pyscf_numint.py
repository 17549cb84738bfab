"""ase_nnxc functionals inside PySCF: energies, potentials, gradients, kernels, SOSCF and TDDFT.

References are computed in the same run: ase_nnxc's own Kohn-Sham code (same basis and
grid), PySCF's built-in functionals, and finite differences of PySCF's potential.
"""

import warnings

import numpy as np
import pytest
import torch
from pyscf import dft, scf
from samples import system

from ase_nnxc.plugins import manager
from ase_nnxc.pyscf import FunctionalNumInt, make_ks, pyscf_coefficients, xc_code_for
from ase_nnxc.pyscf.numint import XCCodeError
from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.xc import LibXCFunctional, get_functional

HAS_B88 = "torch-b88pw" in manager.base_functionals()
#: One of each family and kind: neural meta-GGA, torch LDA, plugin GGA, hybrid, range-separated hybrid.
FUNCTIONALS = ["nnxc-pbe-2026.12", "torch-lda", "torch-b88pw", "b3lyp", "wb97x"]
NEEDS_B88 = pytest.mark.skipif(not HAS_B88, reason="nnxc-b88 example plugin not installed")


def _cases():
    cases = [("H2O", xc) for xc in FUNCTIONALS] + [("OH", "nnxc-pbe-2026.12"), ("OH", "wb97x")]
    return [pytest.param(name, xc, marks=NEEDS_B88 if xc == "torch-b88pw" else ()) for name, xc in cases]


def quiet_ks(sys_, xc, grid_level: int = 3):
    """``make_ks`` on the system's molecule, without the trained-basis warning (tested below).

    Every check here holds on any grid shared by both sides; the slower ones use level 1.
    """
    mol = sys_.to_mole()
    mol.verbose = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mf = make_ks(mol, xc)
    mf.grids.level = grid_level
    return mf


@pytest.mark.parametrize(("name", "xc"), _cases())
def test_energy_and_fock_match_ase_nnxc_at_fixed_density(name, xc):
    """Same functional, grid and density: total energy to 1e-10 Ha, Fock matrix to 1e-9."""
    sys_ = system(name, "6-31g")
    ks = KohnSham(sys_, get_functional(xc), SCFConfig())
    density = ks.initial_guess()
    fock, energy, _ = ks.fock(density)
    mf = quiet_ks(sys_, xc)
    dm = density[0].numpy() if ks.restricted else density.numpy()
    assert mf.energy_tot(dm) == pytest.approx(float(energy), abs=1e-10)
    pyscf_fock = mf.get_fock(dm=dm)
    assert np.abs(pyscf_fock - fock.numpy().reshape(pyscf_fock.shape)).max() < 1e-9


def test_exact_exchange_coefficients_follow_pyscf():
    """Global, long-range, short-range and mixed hybrids map back onto PySCF's own triples."""
    reference = dft.numint.NumInt()
    for code in ("b3lyp", "pbe0", "wb97x", "camb3lyp", "hse06", "pbe"):
        mine = FunctionalNumInt(LibXCFunctional(code), "ase_nnxc:x").rsh_and_hybrid_coeff("ase_nnxc:x")
        assert mine == pytest.approx(reference.rsh_and_hybrid_coeff(code), abs=1e-14), code
    assert pyscf_coefficients(LibXCFunctional("pbe")) == (0.0, 0.0, 0.0)


def test_scf_energy_and_grid_response_gradient_match_ase_nnxc():
    """Independent SCFs from the minao guess: energies to 1e-8 Ha, gradients to 1e-6 Ha/Bohr."""
    sys_ = system("H2O", "6-31g")
    config = SCFConfig(conv_tol=1e-11, conv_tol_grad=1e-7, grid_level=1)
    ks = KohnSham(sys_, get_functional("nnxc-pbe-2026.12"), config)
    ours = run_scf(ks)
    mf = quiet_ks(sys_, "nnxc-pbe-2026.12", grid_level=1)
    mf.conv_tol, mf.conv_tol_grad = 1e-11, 1e-7
    assert mf.kernel() == pytest.approx(ours.energy, abs=1e-8)
    grad = mf.nuc_grad_method()
    grad.grid_response = True
    assert np.abs(grad.kernel() - nuclear_gradient(ks, ours).numpy()).max() < 1e-6


@pytest.mark.parametrize("name", ["H2O", "OH"])
def test_kernel_action_is_the_derivative_of_the_potential(name):
    """``nr_fxc`` on a random symmetric perturbation equals central differences of ``nr_vxc``.

    OH's minao guess has equal alpha and beta densities: the unrestricted kernel must stay the
    full one there (only restricted references get the spin-adapted one).
    """
    mf = quiet_ks(system(name, "6-31g"), "nnxc-pbe-2026.12", grid_level=1)
    dm0 = mf.get_init_guess()
    mf.grids.build()
    rng = np.random.default_rng(0)
    perturbation = 1e-3 * rng.standard_normal(dm0.shape)
    perturbation = 0.5 * (perturbation + np.swapaxes(perturbation, -1, -2))
    ni, spin = mf._numint, 0 if dm0.ndim == 2 else 1
    action = ni.nr_fxc(mf.mol, mf.grids, mf.xc, dm0, perturbation, spin=spin, hermi=1)
    h = 1e-4
    plus = ni.nr_vxc(mf.mol, mf.grids, mf.xc, dm0 + h * perturbation, spin=spin)[2]
    minus = ni.nr_vxc(mf.mol, mf.grids, mf.xc, dm0 - h * perturbation, spin=spin)[2]
    finite = (plus - minus) / (2 * h)
    assert np.linalg.norm(action - finite) / np.linalg.norm(finite) < 1e-6


def test_tddft_with_the_network_off_equals_pyscf_base_functional():
    """a = 0, b = 1 leaves PBE: the five lowest singlets of H2O equal PySCF's PBE to 1e-6 Ha."""
    sys_ = system("H2O", "sto-3g")
    functional = get_functional("nnxc-pbe-2026.12")
    functional.a.data.zero_()
    functional.b.data.fill_(1.0)
    energies = []
    reference = dft.RKS(sys_.to_mole(), xc="pbe")
    reference.grids.level = 1
    for mf in (quiet_ks(sys_, functional, grid_level=1), reference):
        mf.conv_tol = 1e-11
        mf.kernel()
        td = mf.TDDFT()
        td.nstates, td.conv_tol = 5, 1e-10
        td.kernel()
        energies.append(np.asarray(td.e))
    assert np.abs(energies[0] - energies[1]).max() < 1e-6


def test_closed_shell_response_is_symmetric_for_a_spin_asymmetric_network():
    """Shipped networks take zeta as a plain input (E[a, b] != E[b, a]); the singlet TDA matrix stays symmetric."""
    functional = get_functional("nnxc-pbe-2026.12")
    features = torch.rand(2, 5, 50, dtype=torch.float64) + 0.1
    from ase_nnxc.xc import FeatureMap

    asymmetry = (functional(FeatureMap(features)) - functional(FeatureMap(features.flip(0)))).abs().max()
    assert asymmetry > 1e-6  # the property the symmetrised kernel exists for
    mf = quiet_ks(system("H2O", "sto-3g"), functional, grid_level=1)
    mf.kernel()
    vind, diagonal = mf.TDA().gen_vind(mf)
    matrix = vind(np.eye(diagonal.size)).reshape(diagonal.size, diagonal.size)
    assert np.abs(matrix - matrix.T).max() < 1e-10


def test_newton_converges_from_minao():
    sys_ = system("H2O", "6-31g")
    mf = quiet_ks(sys_, "nnxc-pbe-2026.12", grid_level=1).newton()
    mf.conv_tol = 1e-10
    energy = mf.kernel()
    assert mf.converged
    reference = quiet_ks(sys_, "nnxc-pbe-2026.12", grid_level=1)
    reference.conv_tol = 1e-10
    assert energy == pytest.approx(reference.kernel(), abs=1e-8)


def test_make_ks_installs_on_an_existing_density_fitted_object():
    mol = system("H2O", "6-31g").to_mole()
    mol.verbose = 0
    mf = make_ks(dft.RKS(mol).density_fit(), "b3lyp")
    reference = dft.RKS(mol, xc="b3lyp").density_fit()
    dm = reference.get_init_guess()
    assert mf.energy_tot(dm) == pytest.approx(reference.energy_tot(dm), abs=1e-10)


def test_bad_input_is_named():
    mol = system("OH", "sto-3g").to_mole()
    with pytest.raises(ValueError, match="restricted=True needs a closed shell"):
        make_ks(mol, "pbe", restricted=True)
    with pytest.raises(TypeError, match="RHF"):
        make_ks(scf.RHF(system("H2O", "sto-3g").to_mole()), "pbe")
    with pytest.raises(ValueError, match="nosuch"):
        make_ks(mol, "nosuch")
    ni = make_ks(mol, "pbe")._numint
    with pytest.raises(XCCodeError, match="'b3lyp'"):
        ni.eval_xc_eff("b3lyp", np.ones((2, 4, 3)))
    with pytest.raises(NotImplementedError, match="third derivatives"):
        ni.eval_xc_eff(ni.xc_code, np.ones((2, 4, 3)), deriv=3)
    ni.omega = 0.4
    with pytest.raises(NotImplementedError, match="omega=0.4 cannot change it"):
        ni.rsh_and_hybrid_coeff(ni.xc_code)


def test_a_trained_functional_in_another_basis_warns():
    mol = system("H2O", "def2-svp").to_mole()
    with pytest.warns(UserWarning, match="trained in def2-tzvp"):
        make_ks(mol, "nnxc")


def test_xc_code_keeps_pyscf_from_reading_the_name():
    assert xc_code_for(LibXCFunctional("pbe")) == "ase_nnxc:pbe"
    functional = LibXCFunctional("pbe")
    functional.name = "model-d3bj"  # would switch on PySCF's D3(BJ)
    assert xc_code_for(functional) == "ase_nnxc"
    functional.name = "/home/docs/model.pt"  # 'CS' sends nr_rks to its Laplacian check
    assert xc_code_for(functional) == "ase_nnxc"
