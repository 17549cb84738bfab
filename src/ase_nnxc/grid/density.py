"""Density features on the grid from density matrices, with exact backward passes.

:func:`density_features` maps spin density matrices ``(nspin, nao, nao)`` to the stacked
features ``(nspin, nvar, ngrid)`` -- ``[rho, d_x rho, d_y rho, d_z rho, tau]`` truncated to
what the functional family needs (1 for LDA, 4 for GGA, 5 for meta-GGA), the layout PySCF
uses. Its backward gives

* w.r.t. the density matrices: the XC potential matrix ``V_mn = sum_g dE/dfeature *
  dfeature/dD_mn`` (written in plain torch, so it is itself differentiable for implicit
  differentiation of the SCF);
* w.r.t. the grid points and the basis-function centres: the grid-response and
  Hellmann-Feynman parts of the XC forces, using AO values one derivative order higher.

Work runs in blocks of grid points so memory stays bounded, each with only the basis
functions that reach it (:mod:`ase_nnxc.grid.ao`); AO values at the reference geometry are
cached as far as ``max_memory_mb`` allows. For a pointwise functional,
:func:`xc_energy_and_potential` and :func:`xc_displacement_gradient` give the same numbers
block by block in one pass over the AO values.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ase_nnxc.grid.ao import AOCache, add_block, restrict
from ase_nnxc.integrals.one_electron import sum_per_atom

#: A pointwise functional as the grid sees it: stacked features ``(nspin, nvar, n)`` to the
#: energy density ``(n,)`` (the SCF wraps them in :class:`ase_nnxc.xc.features.FeatureMap`).
EnergyDensity = Callable[[torch.Tensor], torch.Tensor]

__all__ = ["NVAR", "AOCache", "density_features", "xc_displacement_gradient", "xc_energy_and_potential"]

#: Number of features per spin channel for each functional family.
NVAR = {"lda": 1, "gga": 4, "mgga": 5}
#: Components of PySCF's second-derivative AO array holding d_i d_j phi, row-major in (i, j).
_HESSIAN_INDEX = [4, 5, 6, 5, 7, 8, 6, 8, 9]
#: rho is sum_m phi_m psi_m; each gradient component carries a factor 2 (both AOs move).
_GRAD_SCALE = torch.tensor([1.0, 2.0, 2.0, 2.0], dtype=torch.float64)[:, None]
#: ``V = A + A^T`` counts the rho term twice, so it enters A with weight 1/2.
_HALF_RHO = torch.tensor([0.5, 1.0, 1.0, 1.0], dtype=torch.float64)[:, None]


def _block_features(ao: torch.Tensor, density: torch.Tensor, nvar: int) -> torch.Tensor:
    """Features ``(nvar, n)`` of one spin channel on one block of AO-major values ``(ncomp, nao, n)``."""
    psi = density @ ao[0]  # (nao, n): sum_n D_mn phi_n
    if nvar == 1:
        return (psi * ao[0]).sum(0)[None]
    rho_grad = (ao[:4] * psi).sum(1) * _GRAD_SCALE
    if nvar == 4:
        return rho_grad
    tau = 0.5 * ((density @ ao[1:4]) * ao[1:4]).sum((0, 1))
    return torch.cat([rho_grad, tau[None]])


def _factorise(density: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``D = U diag(w) U^T`` keeping only non-negligible ``w``; ``None`` when ``D`` has full rank.

    A density built from orbitals has rank ``n_occ``; contracting AO values with ``U``
    (``(nao, r)``) instead of ``D`` can be cheaper, see :func:`_factored_is_cheaper`.
    """
    values, vectors = torch.linalg.eigh(density)
    keep = values.abs() > 1e-13 * values.abs().max().clamp(min=1e-300)
    if int(keep.sum()) == density.shape[0]:
        return None
    return vectors[:, keep], values[keep]


def _factored_is_cheaper(nvar: int, rank: int, nao: int) -> bool:
    """Whether features from a rank-``rank`` factor beat the dense product on ``nao`` functions.

    The factored route costs ``4 r / nao`` dense products per block (``r / nao`` for LDA)
    against one for the dense route (four for meta-GGA: tau needs each gradient component
    times ``D``); it must win by a factor two to pay for its extra element-wise work.
    """
    dense_cost = {1: 1.0, 4: 1.0, 5: 4.0}[nvar]
    factored_cost = (1 if nvar == 1 else 4) * rank / max(nao, 1)
    return factored_cost < 0.5 * dense_cost


def _block_features_factored(ao: torch.Tensor, vectors: torch.Tensor, weights: torch.Tensor, nvar: int):
    """:func:`_block_features` from ``D = U diag(w) U^T``: the same numbers, fewer operations."""
    ncomp = 1 if nvar == 1 else 4
    orbitals = torch.matmul(vectors.T, ao[:ncomp])  # (ncomp, r, n): orbitals and their gradients
    phi = orbitals[0]
    rho = weights @ phi**2
    if nvar == 1:
        return rho[None]
    grad = 2.0 * torch.einsum("r,krn->kn", weights, orbitals[1:4] * phi)
    if nvar == 4:
        return torch.cat([rho[None], grad])
    tau = 0.5 * torch.einsum("r,krn->n", weights, orbitals[1:4] ** 2)
    return torch.cat([rho[None], grad, tau[None]])


def _block_potential(ao: torch.Tensor, v: torch.Tensor, nvar: int) -> torch.Tensor:
    """Half of ``V_mn = sum_g v . dfeatures/dD_mn`` on one block (``V = A + A^T``); ``v`` is ``(nvar, n)``."""
    if nvar == 1:
        weighted = 0.5 * v[0] * ao[0]  # (nao, n)
    else:
        weighted = ((v[:4] * _HALF_RHO)[:, None, :] * ao[:4]).sum(0)
    half = ao[0] @ weighted.T
    if nvar < 5:
        return half
    # Meta-GGA: tau's 1/2 sum_k d_k phi v_tau d_k phi, a quarter in each half.
    return half + (ao[1:4] @ (ao[1:4] * (0.25 * v[4])).transpose(1, 2)).sum(0)


def _density_times_ao(ao: torch.Tensor, functions: torch.Tensor | None, density: torch.Tensor, factor, ncomp: int):
    """``psi_k = D d_k phi`` on one block, ``(ncomp, nao_block, n)``; ``D`` symmetric.

    From ``D = U diag(w) U^T`` when that is cheaper (``2 r`` against ``nao_block`` products).
    """
    if factor is not None and 2 * factor[1].numel() < 0.8 * ao.shape[1]:
        vectors = factor[0] if functions is None else factor[0].index_select(0, functions)
        return torch.matmul(vectors, torch.matmul(vectors.T, ao[:ncomp]) * factor[1][:, None])
    return torch.matmul(restrict(density, functions), ao[:ncomp])


def _features_from_psi(ao: torch.Tensor, psi: torch.Tensor, nvar: int) -> torch.Tensor:
    """Features ``(nvar, n)`` from AO values ``(>= ncomp, nao, n)`` and ``psi_k = D d_k phi``."""
    if nvar == 1:
        return (psi[0] * ao[0]).sum(0)[None]
    rho_grad = (ao[:4] * psi[0]).sum(1) * _GRAD_SCALE
    if nvar == 4:
        return rho_grad
    tau = 0.5 * (psi[1:4] * ao[1:4]).sum((0, 1))
    return torch.cat([rho_grad, tau[None]])


def _block_displacement(ao2: torch.Tensor, psi: torch.Tensor, v: torch.Tensor, nvar: int):
    """Derivative of ``sum_g v . features`` when AOs and grid points move apart.

    ``ao2`` is AO-major, ``(10, nao, n)``, and ``psi`` ``(ncomp, nao, n)`` holds
    ``psi_k = D d_k phi``. The change of the features when basis function ``m`` is shifted
    along ``j`` relative to the grid point is ``C_j = d_j phi_m A_m + sum_i d_i d_j phi_m B_im``,
    ``A = 2 v_rho psi + 2 sum_i v_i psi_i`` and ``B_i = 2 v_i psi + v_tau psi_i``. Returns
    ``(grad_points (n, 3), per_ao (nao, 3))``: ``C`` summed over AOs (derivative w.r.t. each
    grid point) and over points (the part carried by each AO; minus it is the derivative
    w.r.t. the AO's centre).
    """
    a = 2.0 * v[0] * psi[0]
    if nvar > 1:
        for k in range(1, 4):
            a = a + 2.0 * v[k] * psi[k]
        b = [2.0 * v[1 + i] * psi[0] for i in range(3)]
        if nvar == 5:
            b = [b[i] + v[4] * psi[1 + i] for i in range(3)]
    grad_points, per_ao = [], []
    for j in range(3):
        c = ao2[1 + j] * a
        if nvar > 1:
            for i in range(3):
                c.addcmul_(ao2[_HESSIAN_INDEX[3 * i + j]], b[i])
        grad_points.append(c.sum(0))
        per_ao.append(c.sum(1))
    return torch.stack(grad_points, 1), torch.stack(per_ao, 1)


def _features_on_block(ao: torch.Tensor, functions: torch.Tensor | None, density: torch.Tensor, factors, nvar: int):
    """Features ``(nspin, nvar, n)`` of the block with AO values ``ao`` on its ``functions``."""
    out = []
    for d, factor in zip(density, factors):
        if factor is not None and _factored_is_cheaper(nvar, factor[1].numel(), ao.shape[1]):
            vectors = factor[0] if functions is None else factor[0].index_select(0, functions)
            out.append(_block_features_factored(ao, vectors, factor[1], nvar))
        else:
            out.append(_block_features(ao, restrict(d, functions), nvar))
    return torch.stack(out)


class _DensityFeatures(torch.autograd.Function):
    @staticmethod
    def forward(ctx, density, coords, positions, cache: AOCache, nvar: int):
        ctx.cache, ctx.nvar = cache, nvar
        ctx.save_for_backward(density)
        out = torch.zeros(density.shape[0], nvar, len(cache.coords), dtype=torch.float64)
        factors = [_factorise(d) for d in density]
        for index, sl in enumerate(cache.blocks):
            ao = cache.values(index)
            if ao.shape[1] > 0:  # else no basis function reaches these points
                out[:, :, sl] = _features_on_block(ao, cache.indices(index), density, factors, nvar)
        return out

    @staticmethod
    def backward(ctx, grad_features):
        (density,) = ctx.saved_tensors
        cache, nvar = ctx.cache, ctx.nvar
        grad_density = grad_coords = grad_positions = None
        if ctx.needs_input_grad[0]:
            grad_density = _potential(cache, grad_features, nvar)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            mol = cache.mol
            grad_coords = torch.zeros(len(cache.coords), 3, dtype=torch.float64)
            per_ao = torch.zeros(mol.nao_nr(), 3, dtype=torch.float64)
            dens = density.detach()
            factors = [_factorise(d) for d in dens]
            for index, sl in enumerate(cache.blocks):
                functions = cache.indices(index)
                ao2 = cache.hessian_values(index)
                if ao2.shape[1] == 0:
                    continue
                for s in range(dens.shape[0]):
                    psi = _density_times_ao(ao2, functions, dens[s], factors[s], 1 if nvar == 1 else 4)
                    points, ao_part = _block_displacement(ao2, psi, grad_features[s, :, sl].detach(), nvar)
                    grad_coords[sl] += points
                    if functions is None:
                        per_ao -= ao_part
                    else:
                        per_ao.index_add_(0, functions, ao_part, alpha=-1.0)
            grad_positions = sum_per_atom(mol, per_ao)
        return grad_density, grad_coords, grad_positions, None, None


def _potential(cache: AOCache, grad_features: torch.Tensor, nvar: int) -> torch.Tensor:
    """XC-potential-like matrices ``(nspin, nao, nao)`` from feature adjoints (differentiable)."""
    nspin, nao = grad_features.shape[0], cache.nao
    halves = [torch.zeros(nao, nao, dtype=torch.float64) for _ in range(nspin)]
    for index, sl in enumerate(cache.blocks):
        ao = cache.values(index)
        if ao.shape[1] == 0:
            continue
        for s in range(nspin):
            halves[s] = add_block(halves[s], _block_potential(ao, grad_features[s, :, sl], nvar), cache.indices(index))
    return torch.stack([half + half.T for half in halves])


def density_features(
    density: torch.Tensor, coords: torch.Tensor, positions: torch.Tensor, cache: AOCache, nvar: int
) -> torch.Tensor:
    """Stacked density features ``(nspin, nvar, ngrid)``.

    Parameters
    ----------
    density
        ``(1, nao, nao)`` total (restricted) or ``(2, nao, nao)`` spin density matrices.
    coords
        Grid points ``(ngrid, 3)``; only their gradient is used (values come from ``cache``).
    positions
        Nuclear positions ``(natom, 3)``; only their gradient is used.
    cache
        AO values at ``coords`` and ``positions``.
    nvar
        1 (rho), 4 (rho and its gradient) or 5 (plus tau = 1/2 sum_i |grad phi_i|^2).

    """
    return _DensityFeatures.apply(density, coords, positions, cache, nvar)


def _block_energy(energy_density_of: EnergyDensity, features: torch.Tensor, weights: torch.Tensor):
    """``sum_g w_g e_g`` on one block, the energy density ``e`` and ``d/dfeatures`` of the sum."""
    with torch.enable_grad():
        features = features.detach().requires_grad_(True)
        energy_density = energy_density_of(features)
        energy = (weights * energy_density).sum()
        (adjoint,) = torch.autograd.grad(energy, features)
    return energy.detach(), energy_density.detach(), adjoint


def xc_energy_and_potential(
    density: torch.Tensor, cache: AOCache, nvar: int, energy_density_of: EnergyDensity, weights: torch.Tensor
):
    """``E_xc`` and ``dE_xc/dD`` ``(nspin, nao, nao)`` in one pass over the AO values.

    For a functional whose energy density at a point depends on that point's features only
    (``functional.pointwise``), given as ``energy_density_of`` (stacked features
    ``(nspin, nvar, n)`` to ``(n,)``, as :meth:`ase_nnxc.scf.KohnSham.energy_density`): each block's features, energy and potential are finished
    before the next block's AO values are computed, so uncached AO values are computed once
    per Fock build instead of twice (once for the features, once for the potential). The
    numbers are those of autograd through :func:`density_features`. ``weights`` ``(ngrid,)``
    are the quadrature weights; nothing is differentiable.
    """
    density = density.detach()
    nspin, nao = density.shape[0], cache.nao
    factors = [_factorise(d) for d in density]
    halves = [torch.zeros(nao, nao, dtype=torch.float64) for _ in range(nspin)]
    energy = torch.zeros((), dtype=torch.float64)
    for index, sl in enumerate(cache.blocks):
        ao, functions = cache.values(index), cache.indices(index)
        features = torch.zeros(nspin, nvar, sl.stop - sl.start, dtype=torch.float64)
        if ao.shape[1] > 0:
            features = _features_on_block(ao, functions, density, factors, nvar)
        block_energy, _, adjoint = _block_energy(energy_density_of, features, weights[sl])
        energy = energy + block_energy
        if ao.shape[1] > 0:
            for s in range(nspin):
                halves[s] = add_block(halves[s], _block_potential(ao, adjoint[s], nvar), functions)
    return energy, torch.stack([half + half.T for half in halves])


def xc_displacement_gradient(
    density: torch.Tensor, cache: AOCache, nvar: int, energy_density_of: EnergyDensity, weights: torch.Tensor
):
    """XC energy density and the derivatives of ``E_xc`` w.r.t. grid points and AO centres, in one pass.

    The pointwise counterpart of backpropagating through :func:`density_features` (see
    :func:`xc_energy_and_potential`): the AO values up to second order of each block give
    its features, the functional's adjoint and the displacement derivative. Returns the
    energy density ``(ngrid,)`` (the adjoint of the quadrature weights), ``dE/dr_g``
    ``(ngrid, 3)`` and ``dE/dR`` carried by the basis functions ``(natom, 3)``.
    """
    density = density.detach()
    nspin, ncomp = density.shape[0], 1 if nvar == 1 else 4
    factors = [_factorise(d) for d in density]
    energy_density = torch.zeros(len(cache.coords), dtype=torch.float64)
    grad_coords = torch.zeros(len(cache.coords), 3, dtype=torch.float64)
    per_ao = torch.zeros(cache.nao, 3, dtype=torch.float64)
    for index, sl in enumerate(cache.blocks):
        functions = cache.indices(index)
        ao2 = cache.hessian_values(index)  # (10, nao_block, n)
        features = torch.zeros(nspin, nvar, sl.stop - sl.start, dtype=torch.float64)
        psi = []
        if ao2.shape[1] > 0:
            # psi_k = D d_k phi serves the features and the displacement alike.
            psi = [_density_times_ao(ao2, functions, d, f, ncomp) for d, f in zip(density, factors)]
            features = torch.stack([_features_from_psi(ao2, p, nvar) for p in psi])
        _, energy_density[sl], adjoint = _block_energy(energy_density_of, features, weights[sl])
        for s, block_psi in enumerate(psi):
            points, ao_part = _block_displacement(ao2, block_psi, adjoint[s], nvar)
            grad_coords[sl] += points
            if functions is None:
                per_ao -= ao_part
            else:
                per_ao.index_add_(0, functions, ao_part, alpha=-1.0)
    return energy_density, grad_coords, sum_per_atom(cache.mol, per_ao)
