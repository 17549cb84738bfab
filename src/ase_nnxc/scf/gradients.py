"""Analytic nuclear gradients from the Kohn-Sham Lagrangian at fixed density.

At self-consistency the energy is stationary in the orbitals, so

    dE/dR = d/dR [ E(R; D) - Tr(W S(R)) ]   with D and W held fixed,

where ``W`` is the energy-weighted density matrix. Autograd through the integrals (whose
backward passes use libcint's derivative integrals), the moving grid points and the Becke
weights gives the exact gradient, grid response included. No backpropagation through the
SCF iterations is needed.

Training on forces needs that gradient as a differentiable function of the density and
the functional's parameters. :func:`gradient_along` gives ``u . dE/dR`` for a nuclear
displacement field ``u`` ``(natom, 3)`` with ``W`` written through ``D`` and the Fock matrix
(``W = 1/2 D F D`` restricted, ``W = sum_s D_s F_s D_s`` unrestricted, both exact at
convergence). Its derivative in ``D`` is the skeleton derivative of the Fock matrix along
``u`` (derivative integrals contracted with ``u``: ``int1e_ip*`` for the one-electron part,
``int2e_ip1`` through PySCF's J/K driver for Coulomb and exchange, AO values one derivative
order up, moving grid points and Becke weights for the XC part), so that
:func:`ase_nnxc.scf.implicit.differentiable_nuclear_gradient` can add the density response.
"""

from __future__ import annotations

import numpy as np
import torch

from ase_nnxc.grid.ao import restrict
from ase_nnxc.grid.becke import partition_derivative, partition_gradient
from ase_nnxc.grid.density import _HESSIAN_INDEX, density_features, xc_displacement_gradient
from ase_nnxc.integrals import JKEngine, nuclear_repulsion, overlap, two_electron_gradient
from ase_nnxc.integrals.one_electron import operator_centre_integrals
from ase_nnxc.scf.driver import SCFResult
from ase_nnxc.scf.kohn_sham import KohnSham
from ase_nnxc.xc.features import FeatureMap


def nuclear_gradient(ks: KohnSham, result: SCFResult) -> torch.Tensor:
    """``dE/dR`` in Hartree/Bohr, shape ``(natom, 3)``, at the converged ``result``."""
    positions = ks.system.positions_tensor(requires_grad=True)
    density = result.density.detach()
    weighted = result.energy_weighted_density().detach()
    one_pass = ks.xc_in_one_pass
    with torch.enable_grad():
        # J and K themselves are not needed: their derivative integrals are contracted directly.
        energy, _ = ks.energy(density, positions, two_electron=False, xc=not one_pass)
        lagrangian = energy - (weighted * overlap(ks.mol, positions)).sum()
        (gradient,) = torch.autograd.grad(lagrangian, positions)
    gradient = gradient + two_electron_gradient(ks.jk, density, ks.exchange_terms)
    if one_pass:
        gradient = gradient + xc_gradient(ks, density)
    return gradient


def xc_gradient(ks: KohnSham, density: torch.Tensor) -> torch.Tensor:
    """``dE_xc/dR`` ``(natom, 3)`` at fixed ``density`` for a pointwise functional, in one pass over the grid.

    The same derivative as autograd through :meth:`KohnSham.xc_energy` with moving points and
    weights: the AO centres' and the grid points' parts from
    :func:`~ase_nnxc.grid.density.xc_displacement_gradient` (each point moves with its atom)
    and the Becke weights' from :func:`~ase_nnxc.grid.becke.partition_gradient`.
    """
    grid = ks.grid
    energy_density, grad_points, gradient = xc_displacement_gradient(
        density, ks.ao_cache, ks.nvar, ks.energy_density, torch.from_numpy(grid.weights)
    )
    gradient.index_add_(0, torch.from_numpy(grid.atom_index), grad_points)
    return gradient + partition_gradient(grid, ks.positions.detach(), energy_density)


def energy_weighted_density(ks: KohnSham, density: torch.Tensor) -> torch.Tensor:
    """``W`` ``(nao, nao)`` from converged density matrices, differentiable in them and the functional.

    At convergence ``F C = S C eps`` and ``C^T S C = 1``, so ``D_s F_s D_s = C_s eps_s C_s^T``
    per spin; a restricted total density ``D = 2 C C^T`` gives ``W = 1/2 D F D``.
    """
    with torch.enable_grad():
        energy, _ = ks.energy(density)
        (fock,) = torch.autograd.grad(energy, density, create_graph=True)
    fock = 0.5 * (fock + fock.transpose(-1, -2))
    weighted = density @ fock @ density
    return 0.5 * weighted[0] if ks.restricted else weighted.sum(0)


def gradient_along(ks: KohnSham, density: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """``sum_A u_A . dE/dR_A`` (Hartree) at the converged ``density`` ``(nspin, nao, nao)``.

    ``displacement`` is ``u`` ``(natom, 3)``. The value equals ``(u * nuclear_gradient).sum()``
    up to the SCF convergence; it is differentiable (first order) in ``density`` and in the
    functional's parameters, with ``W`` taken from :func:`energy_weighted_density`.
    """
    mol = ks.mol
    u = displacement.detach().to(torch.float64)
    core, metric = one_electron_along(mol, u.numpy())
    energy = (density.sum(0) * core).sum()
    energy = energy + coulomb_exchange_along(ks, density, u)
    energy = energy + xc_along(ks, density, u)
    energy = energy - (energy_weighted_density(ks, density) * metric).sum()
    positions = ks.positions.detach().requires_grad_(True)
    with torch.enable_grad():
        (nuclear,) = torch.autograd.grad(nuclear_repulsion(ks.charges, positions), positions)
    return energy + (nuclear * u).sum()


# -- one-electron terms ----------------------------------------------------------------


def _ao_atoms(mol) -> np.ndarray:
    """The atom of each basis function, ``(nao,)``."""
    out = np.empty(mol.nao_nr(), dtype=np.int64)
    for atom, (_, _, p0, p1) in enumerate(mol.aoslice_by_atom()):
        out[p0:p1] = atom
    return out


def _basis_along(mol, ip_integrals: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``sum_A u_A . dO/dR_A`` from ``<d_x m|O|n>`` ``(3, nao, nao)``: both functions move with their atoms."""
    half = -np.einsum("mx,xmn->mn", u[_ao_atoms(mol)], ip_integrals)
    return half + half.T


def one_electron_along(mol, u: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Derivatives of the core Hamiltonian (ECPs included) and the overlap along ``u``, each ``(nao, nao)``."""
    ip = mol.intor("int1e_ipkin", comp=3) + mol.intor("int1e_ipnuc", comp=3)
    if len(mol._ecpbas):
        ip += mol.intor("ECPscalar_ipnuc", comp=3)
    core = _basis_along(mol, ip, u)
    for kind in ("nuclear", "ecp"):
        # The operators -Z_C/|r - R_C| and the ECP U_C move with nucleus C as well.
        for atom, centre in operator_centre_integrals(mol, kind):
            half = np.einsum("x,xmn->mn", u[atom], centre)
            core += half + half.T
    metric = _basis_along(mol, mol.intor("int1e_ipovlp", comp=3), u)
    return torch.from_numpy(core), torch.from_numpy(metric)


# -- Coulomb and exact exchange --------------------------------------------------------


def _coulomb_exchange_response(mol, density: np.ndarray, u: np.ndarray, terms) -> np.ndarray:
    """``d/dD (u . dE_2e/dR)`` ``(nspin, nao, nao)``: ``J_u[D] - K_u[D_s]`` per spin.

    ``(ij|kl)_u = -(T_ijkl + T_jikl + T_klij + T_lkij)`` with ``T_ijkl = u_A(i) . (d i j|kl)``
    (PySCF's ``int2e_ip1``), contracted atom by atom so that ``u_A`` is one vector.
    """
    from pyscf.scf import jk

    total, spins = density.sum(0), density
    scale = 0.5 if density.shape[0] == 1 else 1.0  # restricted: D_alpha = D_beta = D/2
    intor = mol._add_suffix("int2e_ip1")
    nao = mol.nao_nr()
    rows, pair = np.zeros((nao, nao)), np.zeros((nao, nao))
    k_rows = [np.zeros((len(spins), nao, nao)) for _ in terms]
    k_cols = [np.zeros((len(spins), nao, nao)) for _ in terms]
    for atom, (s0, s1, p0, p1) in enumerate(mol.aoslice_by_atom()):
        shls_slice = (s0, s1) + (0, mol.nbas) * 3
        ua = u[atom]
        # J: rows[i in A, j] = u_A . sum_kl (d i j|kl) D_kl; pair[k, l] = u_A . sum_{i in A, j} (d i j|kl) D_ij.
        # (PySCF's kernels for k-l symmetric integrals cover these index patterns; D is symmetric.)
        p, q = jk.get_jk(
            mol,
            [total, total[:, p0:p1]],
            ["ijkl,lk->ij", "ijkl,ji->kl"],
            intor=intor,
            aosym="s2kl",
            comp=3,
            shls_slice=shls_slice,
        )
        rows[p0:p1] += np.einsum("x,xij->ij", ua, p)
        pair += np.einsum("x,xkl->kl", ua, q)
        for t, term in enumerate(terms):
            with mol.with_range_coulomb(term.omega):
                for s, dm in enumerate(spins):
                    # K: (ik|jl)_u D_kl needs sum_kl T_ikjl D_kl (rows of A) and sum_kl T_kijl D_kl
                    # (from the columns of A; transposed, which the symmetrisation below absorbs).
                    a, b = jk.get_jk(
                        mol,
                        [dm, dm[:, p0:p1]],
                        ["ijkl,jk->il", "ijkl,li->kj"],
                        intor=intor,
                        aosym="s2kl",
                        comp=3,
                        shls_slice=shls_slice,
                    )
                    k_rows[t][s, p0:p1] += np.einsum("x,xik->ik", ua, a)
                    k_cols[t][s] += np.einsum("x,xjk->jk", ua, b)
    coulomb = -(rows + rows.T + 2.0 * pair)
    out = np.repeat(coulomb[None], len(spins), axis=0)
    for t, term in enumerate(terms):
        exchange = -(k_rows[t] + k_rows[t].transpose(0, 2, 1) + k_cols[t] + k_cols[t].transpose(0, 2, 1))
        out -= scale * term.coefficient * exchange
    return out


class _CoulombExchangeAlong(torch.autograd.Function):
    """``u . dE_2e/dR`` at fixed ``D``: a quadratic form in ``D`` whose gradient is the response matrix."""

    @staticmethod
    def forward(ctx, density, mol, u, terms):
        response = torch.from_numpy(_coulomb_exchange_response(mol, density.detach().numpy(), u, terms))
        ctx.save_for_backward(response)
        return 0.5 * (density * response).sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (response,) = ctx.saved_tensors
        return grad * response, None, None, None


def coulomb_exchange_along(ks: KohnSham, density: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``u . dE_2e/dR`` at fixed ``density``, differentiable (once) in it."""
    if not isinstance(ks.jk, JKEngine):
        raise NotImplementedError(
            f"Force training needs exact two-electron integrals; {type(ks.jk).__name__} has no derivative-Fock response."
        )
    return _CoulombExchangeAlong.apply(density, ks.mol, u.numpy(), tuple(ks.exchange_terms))


# -- exchange-correlation on the moving grid -------------------------------------------


def _weights_along(ks: KohnSham, u: torch.Tensor) -> torch.Tensor:
    """Derivative of the Becke weights along ``u`` ``(ngrid,)`` (a constant: no density enters)."""
    return partition_derivative(ks.grid, ks.positions.detach(), u)


def _features_along(ks: KohnSham, density: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Derivative of the density features ``(nspin, nvar, ngrid)`` along ``u`` at fixed ``density``.

    A basis function on atom ``B`` evaluated at a point of atom ``A`` changes by
    ``(u_A - u_B) . grad phi`` (both move); features are quadratic in the AO values, so
    their derivative pairs each displaced AO array with an undisplaced one.
    """
    cache, nvar = ks.ao_cache, ks.nvar
    ao_shift = u[torch.from_numpy(_ao_atoms(ks.mol))]  # (nao, 3)
    point_shift = u[torch.from_numpy(ks.grid.atom_index)]  # (ngrid, 3)
    ncomp = 1 if nvar == 1 else 4
    out = torch.zeros(density.shape[0], nvar, ks.grid.size, dtype=torch.float64)
    for index, sl in enumerate(cache.blocks):
        functions = cache.indices(index)
        ao2 = cache.hessian_values(index)  # (10, nao_block, n)
        if ao2.shape[1] == 0:
            continue
        block_shift = ao_shift if functions is None else ao_shift.index_select(0, functions)
        relative = point_shift[sl].T[:, None, :] - block_shift.T[:, :, None]  # (3, nao_block, n)
        ao = ao2[:ncomp]
        shifted = [(relative * ao2[1:4]).sum(0)]
        for i in range(1, ncomp):
            shifted.append(sum(relative[j] * ao2[_HESSIAN_INDEX[3 * (i - 1) + j]] for j in range(3)))
        dao = torch.stack(shifted)  # (ncomp, nao_block, n)
        for s in range(density.shape[0]):
            block_density = restrict(density[s], functions)
            psi = block_density @ ao[0]  # (nao_block, n)
            dpsi = block_density @ dao[0]
            rho = 2.0 * (dpsi * ao[0]).sum(0)
            if nvar == 1:
                out[s, 0, sl] = rho
                continue
            grad = 2.0 * ((dao[1:4] * psi).sum(1) + (ao[1:4] * dpsi).sum(1))
            out[s, 0, sl] = rho
            out[s, 1:4, sl] = grad
            if nvar == 5:
                out[s, 4, sl] = ((block_density @ dao[1:4]) * ao[1:4]).sum((0, 1))
    return out


def xc_along(ks: KohnSham, density: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``u . dE_xc/dR`` at fixed ``density`` (grid response included), differentiable in it and the functional."""
    coords = torch.from_numpy(ks.grid.coords)
    weights = torch.from_numpy(ks.grid.weights)
    with torch.enable_grad():
        features = density_features(density, coords, ks.positions, ks.ao_cache, ks.nvar)
        features_along = _features_along(ks, density, u)
        weights_along = _weights_along(ks, u)
        # d/dt sum_g (w_g + t w'_g) e(f_g + t f'_g) at t = 0, by autograd in the scalar t.
        t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        energy_density = ks.functional(FeatureMap(features + t * features_along))
        shifted = ((weights + t * weights_along) * energy_density).sum()
        (along,) = torch.autograd.grad(shifted, t, create_graph=True)
    return along
