"""Pure-torch LDA and PBE against libxc (through PySCF), pointwise and self-consistently."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from pyscf import dft, scf
from pyscf.dft import numint
from samples import system

from ase_nnxc.plugins import manager
from ase_nnxc.testing import TIGHT, check_forces, scf_energy
from ase_nnxc.xc import get_functional
from ase_nnxc.xc.features import FeatureMap
from ase_nnxc.xc.torch_functionals import TorchLDA, TorchPBE

#: (registered name, class, libxc expression PySCF parses, family)
FUNCTIONALS = [("torch-lda", TorchLDA, "lda_x,lda_c_pw", "lda"), ("torch-pbe", TorchPBE, "pbe", "gga")]
#: Small basis and coarse grid: the comparisons are exact on any grid, so keep them cheap.
FAST = replace(TIGHT, grid_level=1)


def random_features(nspin, nvar, npoint=4000, seed=0):
    """Densities over eight decades, polarisation up to 0.95, reduced gradients 0 to 3."""
    rng = np.random.default_rng(seed)
    total = 10 ** rng.uniform(-6, 2, npoint)
    rho = total[None]
    if nspin == 2:
        # |zeta| <= 0.95: libxc forms 1 - zeta from zeta and loses digits near full polarisation.
        zeta = rng.uniform(-0.95, 0.95, npoint)
        rho = np.stack([total * (1 + zeta) / 2, total * (1 - zeta) / 2])
    if nvar == 1:
        return rho[:, None]
    # reduced gradient of the (doubled, for spin channels) density: s = |grad n| / (2 k_F n)
    s = rng.uniform(0, 3, rho.shape)
    direction = rng.normal(size=(nspin, 3, npoint))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    n = rho * nspin
    grad = direction * (s * 2 * (3 * math.pi**2) ** (1 / 3) * n ** (4 / 3) / nspin)[:, None]
    return np.concatenate([rho[:, None], grad], axis=1)


def molecular_features(name, nspin, nvar):
    """Features of a superposition-of-atoms (RKS) or core-Hamiltonian (UKS) density on a PySCF grid."""
    mol = system(name).to_mole()
    grids = dft.gen_grid.Grids(mol)
    grids.level = 2
    grids.build()
    ni = numint.NumInt()
    ao = ni.eval_ao(mol, grids.coords, deriv=0 if nvar == 1 else 1)
    xctype = "LDA" if nvar == 1 else "GGA"
    if nspin == 1:
        density = scf.hf.init_guess_by_minao(mol)[None]
    else:  # different alpha and beta orbitals: a genuinely spin-polarised density
        density = scf.UHF(mol).get_init_guess(key="1e")
    rho = [np.asarray(ni.eval_rho(mol, ao, d, xctype=xctype)).reshape(nvar, -1) for d in density]
    return np.stack(rho), grids.weights


def torch_and_libxc(functional, code, family, features):
    """Energy densities and their derivatives in the stacked features, from torch and from libxc."""
    stacked = torch.tensor(features, requires_grad=True)
    energy = functional(FeatureMap(stacked))
    (potential,) = torch.autograd.grad(energy.sum(), stacked)
    rho = features[0] if features.shape[0] == 1 else features
    if family == "lda":
        rho = rho[..., 0, :] if features.shape[0] == 1 else rho
    exc, vxc = numint.NumInt().eval_xc_eff(code, np.ascontiguousarray(rho), deriv=1, xctype=family.upper())[:2]
    reference = exc * features[:, 0].sum(0)
    return energy.detach().numpy(), potential.numpy(), reference, np.asarray(vxc).reshape(features.shape)


def potential_error(potential, reference):
    """Largest deviation relative to the size of each point's derivative vector (``(nspin, nvar, n)``)."""
    return (np.abs(potential - reference) / np.abs(reference).max(axis=(0, 1))).max()


@pytest.mark.parametrize("nspin", (1, 2))
@pytest.mark.parametrize(("name", "cls", "code", "family"), FUNCTIONALS)
def test_random_densities_match_libxc(name, cls, code, family, nspin):
    features = random_features(nspin, 1 if family == "lda" else 4)
    energy, potential, ref_energy, ref_potential = torch_and_libxc(cls(), code, family, features)
    assert np.abs(energy / ref_energy - 1).max() < 1e-10
    assert potential_error(potential, ref_potential) < 1e-10


@pytest.mark.parametrize(("molecule", "nspin"), (("H2O", 1), ("OH", 2)))
@pytest.mark.parametrize(("name", "cls", "code", "family"), FUNCTIONALS)
def test_molecular_densities_match_libxc(name, cls, code, family, molecule, nspin):
    features, weights = molecular_features(molecule, nspin, 1 if family == "lda" else 4)
    energy, potential, ref_energy, ref_potential = torch_and_libxc(cls(), code, family, features)
    # Below ~1e-10 libxc's log(1 + x) loses digits and its density thresholds differ from ours.
    dense = features[:, 0].sum(0) > 1e-10
    assert dense.sum() > 0.8 * dense.size
    assert np.abs(energy[dense] / ref_energy[dense] - 1).max() < 1e-10
    assert potential_error(potential[..., dense], ref_potential[..., dense]) < 1e-10
    assert abs((weights * energy).sum() / (weights * ref_energy).sum() - 1) < 1e-12


@pytest.mark.parametrize(("name", "cls", "code", "family"), FUNCTIONALS)
def test_zero_and_fully_polarised_densities_are_safe(name, cls, code, family):
    nvar = 1 if family == "lda" else 4
    # rho_a, rho_b per point: empty, one empty channel, fully polarised with a gradient
    rho = np.array([[0.0, 0.3, 0.0, 2.0], [0.0, 0.0, 0.3, 0.0]])
    features = np.zeros((2, nvar, 4))
    features[:, 0] = rho
    if nvar == 4:
        features[0, 3, 3] = 1.5
    for stacked in (features, features.sum(0, keepdims=True)):
        x = torch.tensor(stacked, requires_grad=True)
        energy = cls()(FeatureMap(x))
        (potential,) = torch.autograd.grad(energy.sum(), x, create_graph=True)
        (second,) = torch.autograd.grad(potential.sum(), x)
        assert energy[0] == 0.0
        assert torch.isfinite(energy).all() and torch.isfinite(potential).all() and torch.isfinite(second).all()
    # a one-electron-like point (rho_b = 0) agrees with libxc
    energy, _, reference, _ = torch_and_libxc(cls(), code, family, features[..., 1:])
    np.testing.assert_allclose(energy, reference, rtol=1e-10)


@pytest.mark.parametrize(("name", "cls", "code", "family"), FUNCTIONALS)
def test_registered_through_the_builtin_plugin(name, cls, code, family):
    assert isinstance(get_functional(name), cls)
    assert isinstance(get_functional(name.upper()), cls)
    assert manager.base_functionals()[name].plugin == "ase_nnxc.xc.builtin"


@pytest.mark.parametrize("molecule", ("H2O", "OH"))
def test_scf_energy_equals_libxc_pbe(molecule):
    sys_ = system(molecule, basis="6-31g")
    torch_energy, torch_result = scf_energy(sys_, get_functional("torch-pbe"), FAST)
    libxc_energy, _ = scf_energy(sys_, get_functional("pbe"), FAST, torch_result.density)
    assert abs(torch_energy - libxc_energy) < 1e-8


def test_forces_match_finite_differences():
    sys_ = system("H2O", basis="6-31g")
    assert check_forces(sys_, get_functional("torch-pbe"), FAST, directions=1, atol=1e-5) < 1e-5
