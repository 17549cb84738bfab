"""One-electron integrals (overlap, kinetic, nuclear attraction) with nuclear derivatives.

Each integral matrix is a function of the nuclear positions. The forward pass calls
libcint through PySCF at the positions the ``Mole`` was built with; the backward pass
contracts the incoming gradient with the first-derivative integrals (``int1e_ip*``), so
forces never need a materialised ``(natom, 3, nao, nao)`` derivative tensor.
"""

from __future__ import annotations

import numpy as np
import torch

_FORWARD = {"overlap": "int1e_ovlp", "kinetic": "int1e_kin", "nuclear": "int1e_nuc"}
_BACKWARD = {"overlap": "int1e_ipovlp", "kinetic": "int1e_ipkin", "nuclear": "int1e_ipnuc"}


def sum_per_atom(mol, per_ao):
    """Sum rows ``(nao, 3)`` over each atom's basis functions, giving ``(natom, 3)`` (NumPy or torch)."""
    out = per_ao.new_zeros((mol.natm, 3)) if hasattr(per_ao, "new_zeros") else np.zeros((mol.natm, 3))
    for atom, (_, _, p0, p1) in enumerate(mol.aoslice_by_atom()):
        out[atom] = per_ao[p0:p1].sum(0)
    return out


def _contract_basis_derivative(mol, ip_integrals: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """``dE/dR_A = -sum_{m in A, n} (G + G^T)_mn <d_x m|O|n>`` for each atom, shape ``(natom, 3)``."""
    return sum_per_atom(mol, -np.einsum("xmn,mn->mx", ip_integrals, grad + grad.T))


class _OneElectron(torch.autograd.Function):
    @staticmethod
    def forward(ctx, positions: torch.Tensor, kind: str, mol) -> torch.Tensor:
        ctx.kind, ctx.mol = kind, mol
        return torch.from_numpy(mol.intor_symmetric(_FORWARD[kind]))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        mol, kind = ctx.mol, ctx.kind
        g = grad.detach().numpy()
        out = _contract_basis_derivative(mol, mol.intor(_BACKWARD[kind], comp=3), g)
        if kind == "nuclear":
            # The operator -Z_C/|r - R_C| moves with nucleus C as well.
            sym = g + g.T
            for atom in range(mol.natm):
                with mol.with_rinv_at_nucleus(atom):
                    iprinv = mol.intor("int1e_iprinv", comp=3)
                out[atom] -= mol.atom_charge(atom) * np.einsum("xmn,mn->x", iprinv, sym)
        return torch.from_numpy(out), None, None


def overlap(mol, positions: torch.Tensor) -> torch.Tensor:
    """Overlap matrix ``S``, shape ``(nao, nao)``, differentiable in ``positions`` ``(natom, 3)``."""
    return _OneElectron.apply(positions, "overlap", mol)


def kinetic(mol, positions: torch.Tensor) -> torch.Tensor:
    """Kinetic-energy matrix ``T``, shape ``(nao, nao)``, differentiable in ``positions``."""
    return _OneElectron.apply(positions, "kinetic", mol)


def nuclear_attraction(mol, positions: torch.Tensor) -> torch.Tensor:
    """Electron-nuclear attraction ``V``, shape ``(nao, nao)``, differentiable in ``positions``.

    The derivative includes both the basis functions' centres and the operator's own
    centres (the nuclei).
    """
    return _OneElectron.apply(positions, "nuclear", mol)


def nuclear_repulsion(charges: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Nuclear repulsion energy ``sum_{A<B} Z_A Z_B / R_AB`` in Hartree (pure torch)."""
    natom = positions.shape[0]
    if natom < 2:
        return positions.sum() * 0.0
    i, j = torch.triu_indices(natom, natom, offset=1)
    dist = (positions[i] - positions[j]).norm(dim=-1)
    return (charges[i] * charges[j] / dist).sum()


def dipole_integrals(mol) -> torch.Tensor:
    """Position integrals ``<m|r|n>`` about the origin, shape ``(3, nao, nao)``."""
    with mol.with_common_orig((0.0, 0.0, 0.0)):
        return torch.from_numpy(mol.intor_symmetric("int1e_r", comp=3))
