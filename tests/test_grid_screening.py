"""Screened AO blocks, the one-pass XC route and the analytic Becke derivative.

References: PySCF's ``eval_rho`` on unscreened AO values and its ``nr_rks`` potential; autograd
through the two-pass features and through the torch Becke partition.
"""

import numpy as np
import pytest
import torch
from pyscf import dft
from pyscf.dft import numint
from samples import system

from ase_nnxc.grid.ao import AOCache
from ase_nnxc.grid.becke import MolecularGrid, partition_derivative, partition_gradient
from ase_nnxc.grid.density import density_features
from ase_nnxc.scf import KohnSham, SCFConfig
from ase_nnxc.scf.gradients import xc_gradient
from ase_nnxc.system import MolecularSystem
from ase_nnxc.xc import get_functional
from ase_nnxc.xc.features import FeatureMap


def water_pair(separation: float = 24.0) -> MolecularSystem:
    """Two water molecules ``separation`` Bohr apart: most blocks see one molecule's functions only."""
    single = system("H2O")
    positions = np.concatenate([single.positions, single.positions + [0.0, 0.0, separation]])
    return MolecularSystem(single.numbers * 2, positions, "def2-svp")


def random_density(nao: int, nocc: int, seed: int = 0) -> np.ndarray:
    """A rank-``nocc`` closed-shell-like density matrix."""
    coeff = np.random.default_rng(seed).normal(size=(nao, nocc)) / np.sqrt(nao)
    return 2.0 * coeff @ coeff.T


def test_screened_features_and_potential_match_pyscf():
    mol = water_pair().to_mole()
    grid = MolecularGrid(mol, 1)
    cache = AOCache(mol, grid.coords, "gga")
    kept = [cache.values(i).shape[1] / mol.nao_nr() for i in range(len(cache.blocks))]
    assert min(kept) < 0.6, "the separated pair should leave functions out of some blocks"
    density = random_density(mol.nao_nr(), 10)
    dens = torch.tensor(density, requires_grad=True)
    features = density_features(dens[None], torch.tensor(grid.coords), torch.tensor(mol.atom_coords()), cache, 4)
    ao = numint.eval_ao(mol, grid.coords, deriv=1)  # unscreened
    reference = numint.eval_rho(mol, ao, density, xctype="GGA")
    scale = np.abs(reference).max(axis=1, keepdims=True)
    assert np.abs(features[0].detach().numpy() - reference).max() / scale.min() < 1e-12

    energy = (torch.from_numpy(grid.weights) * get_functional("pbe")(FeatureMap(features))).sum()
    (potential,) = torch.autograd.grad(energy, dens)
    grids = dft.gen_grid.Grids(mol)
    grids.level = 1
    grids.build()
    _, exc, vxc = numint.NumInt().nr_rks(mol, grids, "pbe", density)
    assert abs(float(energy.detach()) - exc) < 1e-10
    assert np.abs(potential.numpy() - vxc).max() < 1e-9


@pytest.mark.parametrize("name,xc", [("H2O", "pbe"), ("H2O", "r2scan"), ("OH", "pbe"), ("OH", "lda,vwn")])
def test_one_pass_fock_and_gradient_match_autograd(name, xc):
    sys_ = system(name)
    functional = get_functional(xc)
    cached = KohnSham(sys_, functional, SCFConfig(grid_level=1))
    streamed = KohnSham(sys_, functional, SCFConfig(grid_level=1, max_memory_mb=0.01))
    assert not cached.xc_in_one_pass and streamed.xc_in_one_pass
    density = cached.initial_guess()
    fock, energy, terms = cached.fock(density)
    fock_one_pass, energy_one_pass, terms_one_pass = streamed.fock(density)
    assert abs(float(energy) - float(energy_one_pass)) < 1e-11
    assert abs(terms.xc - terms_one_pass.xc) < 1e-11
    assert (fock - fock_one_pass).abs().max() < 1e-11

    positions = cached.positions.clone().requires_grad_(True)
    (reference,) = torch.autograd.grad(cached.xc_energy(density, positions), positions)
    assert (xc_gradient(streamed, density) - reference).abs().max() < 1e-10


def test_partition_gradient_matches_autograd():
    mol = system("CH3CH2OH").to_mole()  # five elements' worth of Treutler radii pairs
    grid = MolecularGrid(mol, 0)
    assert np.abs(grid._adjust).max() > 0
    positions = torch.tensor(mol.atom_coords(), requires_grad=True)
    adjoint = torch.from_numpy(np.random.default_rng(2).normal(size=grid.size))
    (reference,) = torch.autograd.grad(grid.partition(positions, slice(0, grid.size)), positions, adjoint)
    analytic = partition_gradient(grid, positions.detach(), adjoint)
    assert (analytic - reference).abs().max() < 1e-11 * reference.abs().max()


def test_partition_derivative_matches_finite_differences_and_gradient():
    mol = system("CH3CH2OH").to_mole()
    grid = MolecularGrid(mol, 0)
    positions = torch.tensor(mol.atom_coords())
    rng = np.random.default_rng(3)
    direction = torch.from_numpy(rng.normal(size=positions.shape))
    along = partition_derivative(grid, positions, direction)
    step, every = 1e-4, slice(0, grid.size)
    numeric = (
        grid.partition(positions + step * direction, every) - grid.partition(positions - step * direction, every)
    ) / (2 * step)
    assert (along - numeric).abs().max() < 1e-6 * along.abs().max()
    adjoint = torch.from_numpy(rng.normal(size=grid.size))
    assert abs(float(adjoint @ along) - float((partition_gradient(grid, positions, adjoint) * direction).sum())) < 1e-10
