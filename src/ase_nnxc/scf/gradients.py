"""Analytic nuclear gradients from the Kohn-Sham Lagrangian at fixed density.

At self-consistency the energy is stationary in the orbitals, so

    dE/dR = d/dR [ E(R; D) - Tr(W S(R)) ]   with D and W held fixed,

where ``W`` is the energy-weighted density matrix. Autograd through the integrals (whose
backward passes use libcint's derivative integrals), the moving grid points and the Becke
weights gives the exact gradient, grid response included. No backpropagation through the
SCF iterations is needed.
"""

from __future__ import annotations

import torch

from ase_nnxc.integrals import overlap
from ase_nnxc.scf.driver import SCFResult
from ase_nnxc.scf.kohn_sham import KohnSham


def nuclear_gradient(ks: KohnSham, result: SCFResult) -> torch.Tensor:
    """``dE/dR`` in Hartree/Bohr, shape ``(natom, 3)``, at the converged ``result``."""
    positions = ks.system.positions_tensor(requires_grad=True)
    density = result.density.detach()
    weighted = result.energy_weighted_density().detach()
    with torch.enable_grad():
        energy, _ = ks.energy(density, positions)
        lagrangian = energy - (weighted * overlap(ks.mol, positions)).sum()
        (gradient,) = torch.autograd.grad(lagrangian, positions)
    return gradient
