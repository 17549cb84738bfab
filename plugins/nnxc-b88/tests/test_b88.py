"""nnxc-b88 against libxc's b88,pw: energy densities, potentials, SCF energies, forces, training.

References are computed in the same run through PySCF's libxc; nothing is stored.
"""

import math

import numpy as np
import pytest
import torch

pytest.importorskip("nnxc_b88", reason="the plugin is not installed: pip install -e plugins/nnxc-b88")

from ase.build import molecule
from ase.optimize import BFGS
from nnxc_b88.functional import B88PW92
from pyscf.dft import numint

from ase_nnxc import NNXC
from ase_nnxc.plugins import manager
from ase_nnxc.scf import KohnSham, SCFConfig
from ase_nnxc.system import MolecularSystem
from ase_nnxc.testing import TIGHT, check_forces
from ase_nnxc.units import HARTREE_TO_EV
from ase_nnxc.xc import FeatureMap, LibXCFunctional, get_functional

NAME = "torch-b88pw"
#: Small basis and coarse grid keep the SCF checks cheap; the comparisons hold on any grid.
SETTINGS = {"basis": "6-31g", "grid_level": 1}


def random_features(nspin, npoint=3000, seed=0):
    """Spin densities over eight decades, ``|zeta| <= 0.95``, reduced gradients 0 to 3."""
    rng = np.random.default_rng(seed)
    total = 10 ** rng.uniform(-6, 2, npoint)
    zeta = rng.uniform(-0.95, 0.95, npoint) if nspin == 2 else np.zeros(npoint)
    rho = np.stack([total * (1 + zeta) / 2, total * (1 - zeta) / 2])[:nspin] * (2 / nspin)
    s = rng.uniform(0, 3, rho.shape)
    direction = rng.normal(size=(nspin, 3, npoint))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    grad = direction * (s * 2 * (3 * math.pi**2) ** (1 / 3) * rho ** (4 / 3))[:, None]
    return np.concatenate([rho[:, None], grad], axis=1)


def libxc(code, features, xctype="GGA"):
    """libxc energy density and its derivatives in the stacked features."""
    features = features[:, :1] if xctype == "LDA" else features
    rho = features[0] if features.shape[0] == 1 else features
    rho = rho[..., 0, :] if xctype == "LDA" else rho
    exc, vxc = numint.NumInt().eval_xc_eff(code, np.ascontiguousarray(rho), deriv=1, xctype=xctype)[:2]
    return exc * features[:, 0].sum(0), np.asarray(vxc).reshape(features.shape)


def torch_energy_and_potential(functional, features):
    stacked = torch.tensor(features, requires_grad=True)
    energy = functional(FeatureMap(stacked))
    (potential,) = torch.autograd.grad(energy.sum(), stacked)
    return energy.detach().numpy(), potential.numpy()


def test_registered_through_the_entry_point():
    registration = manager.base_functionals()[NAME]
    assert (registration.plugin, registration.package) == ("b88", "nnxc-b88")
    assert isinstance(get_functional(NAME), B88PW92)


@pytest.mark.parametrize("nspin", (1, 2))
def test_energy_density_and_potential_match_libxc(nspin):
    features = random_features(nspin)
    energy, potential = torch_energy_and_potential(B88PW92(), features)
    ref_energy, ref_potential = libxc("b88,pw", features)
    assert np.abs(energy / ref_energy - 1).max() < 1e-10
    scale = np.abs(ref_potential).max(axis=(0, 1))
    assert (np.abs(potential - ref_potential) / scale).max() < 1e-10


def test_beta_zero_is_slater_plus_pw92_and_zero_density_is_safe():
    features = random_features(2)
    energy, _ = torch_energy_and_potential(B88PW92(beta=0.0), features)
    np.testing.assert_allclose(energy, libxc("lda_x,lda_c_pw", features, "LDA")[0], rtol=1e-10)
    empty = torch.zeros(2, 4, 3, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        empty[0, 0, 1] = 0.5  # one channel empty, one without gradient
    energy = B88PW92()(FeatureMap(empty))
    (potential,) = torch.autograd.grad(energy.sum(), empty)
    assert energy[0] == 0 and torch.isfinite(energy).all() and torch.isfinite(potential).all()


@pytest.fixture(scope="module")
def water():
    """H2O with the plugin functional and with libxc's b88,pw through the ASE calculator."""
    results = {}
    for xc in (NAME, "b88,pw"):
        atoms = molecule("H2O")
        atoms.calc = NNXC(xc=xc, conv_tol=1e-11, **SETTINGS)
        results[xc] = (atoms.get_potential_energy(), atoms.get_forces(), atoms.calc)
    return results


def test_ase_energy_and_forces_match_libxc(water):
    energy, forces, calc = water[NAME]
    ref_energy, ref_forces, _ = water["b88,pw"]
    assert abs(energy - ref_energy) < 1e-8 * HARTREE_TO_EV
    assert np.abs(forces - ref_forces).max() < 1e-6
    assert np.abs(forces.sum(0)).max() < 1e-4


def test_forces_match_finite_differences_open_shell():
    system = MolecularSystem.from_atoms(molecule("OH"), basis=SETTINGS["basis"], charge=0, spin=1)
    config = SCFConfig(grid_level=SETTINGS["grid_level"], conv_tol=TIGHT.conv_tol, conv_tol_grad=TIGHT.conv_tol_grad)
    assert check_forces(system, get_functional(NAME), config, directions=1, atol=1e-5) < 1e-5


def test_training_beta_at_fixed_density_recovers_libxc(water):
    """Fit beta to libxc's E_xc on the converged density: the gradient in beta comes from autograd."""
    calc = water[NAME][2]
    density = calc.scf_result.density
    ks = KohnSham(calc.system, B88PW92(beta=0.003), SCFConfig(grid_level=SETTINGS["grid_level"]))
    target = KohnSham(calc.system, LibXCFunctional("b88,pw"), ks.config).xc_energy(density).detach()
    optimiser = torch.optim.LBFGS([ks.functional.beta], lr=1.0, max_iter=50, tolerance_grad=1e-14, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        # scaled so the loss curvature in beta is of order one
        loss = (1e2 * (ks.xc_energy(density) - target)) ** 2
        loss.backward()
        return loss

    for _ in range(3):
        optimiser.step(closure)
    assert abs(ks.functional.beta.detach().item() - 0.0042) < 1e-8


@pytest.mark.slow
def test_geometry_optimisation_matches_libxc():
    bonds = {}
    for xc in (NAME, "b88,pw"):
        atoms = molecule("H2O")
        atoms.calc = NNXC(xc=xc, **SETTINGS)
        BFGS(atoms, logfile=None).run(fmax=1e-3)
        assert np.abs(atoms.get_forces()).max() < 1e-3
        bonds[xc] = (atoms.get_distance(0, 1), atoms.get_angle(1, 0, 2))
    np.testing.assert_allclose(bonds[NAME], bonds["b88,pw"], atol=1e-4)
