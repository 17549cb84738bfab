"""Atom-centred grids with differentiable Becke weights, and density features on them."""

from ase_nnxc.grid.ao import AOCache
from ase_nnxc.grid.becke import MolecularGrid
from ase_nnxc.grid.density import density_features

__all__ = ["AOCache", "MolecularGrid", "density_features"]
