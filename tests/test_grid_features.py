"""Density features on the grid against PySCF's ``eval_rho``, for both contraction routes."""

import numpy as np
import pytest
import torch
from pyscf import dft
from pyscf.dft import numint
from samples import system

from ase_nnxc.grid.density import NVAR, AOCache, _factored_is_cheaper, _factorise, density_features


@pytest.mark.parametrize("family", ("lda", "gga", "mgga"))
@pytest.mark.parametrize("kind", ("orbitals", "full-rank"))
def test_features_match_pyscf(family, kind):
    mol = system("H2O").to_mole()
    grids = dft.gen_grid.Grids(mol)
    grids.level = 1
    grids.build()
    nao, nvar = mol.nao_nr(), NVAR[family]
    rng = np.random.default_rng(1)
    if kind == "orbitals":  # rank n_occ: the factored route
        coeff = rng.normal(size=(nao, 5))
        density = 2 * coeff @ coeff.T
    else:  # symmetric, indefinite, full rank: the dense route
        density = rng.normal(size=(nao, nao))
        density = density + density.T
    dens = torch.tensor(density)[None]
    # GGA needs 4 r / nao = 0.83 dense products factored against 1 unfactored: it stays dense.
    factored = kind == "orbitals" and family != "gga"
    factors = _factorise(dens[0])
    assert (factors is not None and _factored_is_cheaper(nvar, factors[1].numel(), nao)) == factored
    cache = AOCache(mol, grids.coords, family)
    features = density_features(dens, torch.tensor(grids.coords), torch.tensor(mol.atom_coords()), cache, nvar)
    ao = numint.eval_ao(mol, grids.coords, deriv=0 if family == "lda" else 1)
    xctype = {"lda": "LDA", "gga": "GGA", "mgga": "MGGA"}[family]
    reference = np.asarray(numint.eval_rho(mol, ao, density, xctype=xctype, with_lapl=False)).reshape(nvar, -1)
    scale = np.abs(reference).max(axis=1, keepdims=True)
    assert np.abs(features[0].numpy() - reference).max() / scale.min() < 1e-12
