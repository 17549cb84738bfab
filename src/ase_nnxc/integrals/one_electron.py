"""One-electron integrals (overlap, kinetic, nuclear attraction, ECP) with nuclear derivatives.

Each integral matrix is a function of the nuclear positions. The forward pass calls
libcint through PySCF at the positions the ``Mole`` was built with; the backward pass
contracts the incoming gradient with the first-derivative integrals (``int1e_ip*``,
``ECPscalar_ipnuc``), so forces never need a materialised ``(natom, 3, nao, nao)``
derivative tensor. The nuclear attraction and the effective core potentials are operators
centred on the nuclei, so they also move with their own centre (``int1e_iprinv``,
``ECPscalar_iprinv``), as in PySCF's ``grad.rhf.hcore_generator``.
"""

from __future__ import annotations

import numpy as np
import torch

_FORWARD = {"overlap": "int1e_ovlp", "kinetic": "int1e_kin", "nuclear": "int1e_nuc", "ecp": "ECPscalar"}
_BACKWARD = {"overlap": "int1e_ipovlp", "kinetic": "int1e_ipkin", "nuclear": "int1e_ipnuc", "ecp": "ECPscalar_ipnuc"}


def ecp_atoms(mol) -> list[int]:
    """Indices of the atoms that carry an effective core potential (sorted; empty without ECPs)."""
    from pyscf import gto

    return sorted({int(a) for a in mol._ecpbas[:, gto.ATOM_OF]})


def operator_centre_integrals(mol, kind: str):
    """Yield ``(atom, <d_x m|O_C|n>)`` for each centre ``C`` of an operator that moves with its atom.

    ``kind`` is ``"nuclear"`` (``O_C = -Z_C/|r - R_C|``, effective charges with ECPs) or
    ``"ecp"`` (the ECP of atom ``C``); the integrals are ``(3, nao, nao)`` and the derivative of
    ``<m|O_C|n>`` along ``R_C`` is their sum with their transpose. Other kinds yield nothing.
    """
    if kind == "nuclear":
        for atom in range(mol.natm):
            with mol.with_rinv_at_nucleus(atom):
                yield atom, -mol.atom_charge(atom) * mol.intor("int1e_iprinv", comp=3)
    elif kind == "ecp":
        for atom in ecp_atoms(mol):
            with mol.with_rinv_at_nucleus(atom):  # selects the ECP centre, as for 1/|r - R_C|
                yield atom, mol.intor("ECPscalar_iprinv", comp=3)


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
        sym = g + g.T
        for atom, centre in operator_centre_integrals(mol, kind):
            out[atom] += np.einsum("xmn,mn->x", centre, sym)
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


def ecp_potential(mol, positions: torch.Tensor) -> torch.Tensor:
    """Scalar (spin-free) effective core potentials ``U``, shape ``(nao, nao)``, differentiable in ``positions``.

    Zero when no atom of ``mol`` carries an ECP. The derivative includes the basis
    functions' centres and the ECPs' own centres.
    """
    if len(mol._ecpbas) == 0:
        return positions.new_zeros((mol.nao_nr(), mol.nao_nr()))
    return _OneElectron.apply(positions, "ecp", mol)


def core_hamiltonian(mol, positions: torch.Tensor) -> torch.Tensor:
    """``h = T + V + U`` (kinetic, nuclear attraction, ECPs), shape ``(nao, nao)``, differentiable in ``positions``."""
    core = kinetic(mol, positions) + nuclear_attraction(mol, positions)
    if len(mol._ecpbas):
        core = core + ecp_potential(mol, positions)
    return core


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
