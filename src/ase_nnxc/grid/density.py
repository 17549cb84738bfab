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

Work runs in blocks of grid points so memory stays bounded; AO values at the reference
geometry are cached when they fit in ``max_memory_mb``.
"""

from __future__ import annotations

import numpy as np
import torch

from ase_nnxc.integrals.one_electron import sum_per_atom

#: Number of features per spin channel for each functional family.
NVAR = {"lda": 1, "gga": 4, "mgga": 5}
#: Components of PySCF's second-derivative AO array holding d_i d_j phi, row-major in (i, j).
_HESSIAN_INDEX = [4, 5, 6, 5, 7, 8, 6, 8, 9]
#: rho is sum_m phi_m psi_m; each gradient component carries a factor 2 (both AOs move).
_GRAD_SCALE = torch.tensor([1.0, 2.0, 2.0, 2.0], dtype=torch.float64)[:, None]
#: ``V = A + A^T`` counts the rho term twice, so it enters A with weight 1/2.
_HALF_RHO = torch.tensor([0.5, 1.0, 1.0, 1.0], dtype=torch.float64)[:, None]
#: Grid points per block.
BLOCK = 4096


class AOCache:
    """AO values (and first derivatives) on a fixed set of grid points.

    Parameters
    ----------
    mol
        PySCF ``Mole``.
    coords
        Grid points in Bohr, ``(ngrid, 3)``.
    family
        ``"lda"``, ``"gga"`` or ``"mgga"``: decides whether AO gradients are needed.
    max_memory_mb
        Keep AO values in memory when they need less than this; recompute otherwise.

    """

    def __init__(self, mol, coords: np.ndarray, family: str, max_memory_mb: float = 2000.0):
        self.mol = mol
        self.coords = coords
        self.deriv = 0 if family == "lda" else 1
        self.blocks = [slice(s, min(s + BLOCK, len(coords))) for s in range(0, len(coords), BLOCK)]
        ncomp = 1 if self.deriv == 0 else 4
        size_mb = ncomp * len(coords) * mol.nao_nr() * 8 / 1e6
        self._cache = [self._evaluate(sl, self.deriv) for sl in self.blocks] if size_mb < max_memory_mb else None

    def _evaluate(self, sl: slice, deriv: int) -> torch.Tensor:
        values = self.mol.eval_gto(f"GTOval_sph_deriv{deriv}", self.coords[sl])
        # PySCF returns a transposed view (AO index slowest); grid-major rows make every
        # contraction below run on contiguous memory.
        values = np.ascontiguousarray(np.asarray(values).reshape(-1, sl.stop - sl.start, self.mol.nao_nr()))
        return torch.from_numpy(values)

    def values(self, index: int) -> torch.Tensor:
        """AO values of block ``index``, ``(ncomp, nblock, nao)`` (``ncomp`` 1 or 4)."""
        if self._cache is not None:
            return self._cache[index]
        return self._evaluate(self.blocks[index], self.deriv)

    def hessian_values_transposed(self, index: int) -> torch.Tensor:
        """AO values up to second derivatives, AO-major: ``(10, nao, nblock)``.

        This is PySCF's native memory layout, so no copy is made.
        """
        sl = self.blocks[index]
        values = self.mol.eval_gto("GTOval_sph_deriv2", self.coords[sl])
        return torch.from_numpy(np.asarray(values).reshape(10, sl.stop - sl.start, -1).transpose(0, 2, 1))


def _block_features(ao: torch.Tensor, density: torch.Tensor, nvar: int) -> torch.Tensor:
    """Features ``(nvar, n)`` of one spin channel on one block."""
    psi = ao[0] @ density  # (n, nao): sum_n D_mn phi_n
    if nvar == 1:
        return torch.einsum("gm,gm->g", psi, ao[0])[None]
    rho_grad = torch.einsum("kgm,gm->kg", ao[:4], psi) * _GRAD_SCALE
    if nvar == 4:
        return rho_grad
    tau = 0.5 * torch.einsum("kgm,kgm->g", ao[1:4] @ density, ao[1:4])
    return torch.cat([rho_grad, tau[None]])


def _factorise(density: torch.Tensor, nvar: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``D = U diag(w) U^T`` keeping only non-negligible ``w``, when that makes the features cheaper.

    A density built from orbitals has rank ``n_occ``; contracting AO values with ``U``
    (``(nao, r)``) instead of ``D`` costs ``4 r / nao`` dense products per block instead of
    one (GGA) or four (meta-GGA: tau needs each gradient component times ``D``).
    Returns ``None`` when the dense contraction is cheaper.
    """
    values, vectors = torch.linalg.eigh(density)
    keep = values.abs() > 1e-13 * values.abs().max().clamp(min=1e-300)
    nao, rank = density.shape[0], int(keep.sum())
    dense_cost = {1: 1.0, 4: 1.0, 5: 4.0}[nvar]
    factored_cost = (1 if nvar == 1 else 4) * rank / nao
    if factored_cost >= 0.5 * dense_cost:
        return None
    return vectors[:, keep], values[keep]


def _block_features_factored(ao: torch.Tensor, vectors: torch.Tensor, weights: torch.Tensor, nvar: int):
    """:func:`_block_features` from ``D = U diag(w) U^T``: the same numbers, fewer operations."""
    ncomp, npoint, nao = (1 if nvar == 1 else 4), ao.shape[1], ao.shape[2]
    # Orbital-major (r, ncomp, n): with the thin factor on the left the product runs about
    # twice as fast as ``ao @ U``, and every sum below is a matrix-vector product over r.
    orbitals = (vectors.T.contiguous() @ ao[:ncomp].reshape(-1, nao).T).reshape(-1, ncomp, npoint)
    phi = orbitals[:, 0]
    rho = weights @ phi**2
    if nvar == 1:
        return rho[None]
    grad = 2.0 * (weights @ (orbitals[:, 1:4] * phi[:, None]).flatten(1)).reshape(3, npoint)
    if nvar == 4:
        return torch.cat([rho[None], grad])
    tau = 0.5 * (weights @ (orbitals[:, 1:4] ** 2).flatten(1)).reshape(3, npoint).sum(0)
    return torch.cat([rho[None], grad, tau[None]])


def _block_potential(ao: torch.Tensor, v: torch.Tensor, nvar: int) -> torch.Tensor:
    """``V_mn = sum_g v . dfeatures/dD_mn`` on one block; ``v`` is ``(nvar, n)``."""
    if nvar == 1:
        weighted = 0.5 * v[0][:, None] * ao[0]
    else:
        # A broadcast multiply-and-sum is several times faster than einsum for this shape.
        weighted = ((v[:4] * _HALF_RHO)[:, :, None] * ao[:4]).sum(0)
    if nvar < 5:
        half = ao[0].T @ weighted
        return half + half.T
    # Meta-GGA: the rho/gradient part and tau's 1/2 sum_k d_k phi v_tau d_k phi (a quarter in
    # each half) in one product over the stacked (phi, d_x phi, d_y phi, d_z phi) rows.
    nao = ao.shape[-1]
    right = torch.cat([weighted[None], ao[1:4] * (0.25 * v[4])[None, :, None]])
    half = ao[:4].reshape(-1, nao).T @ right.reshape(-1, nao)
    return half + half.T


def _block_displacement(ao2: torch.Tensor, density: torch.Tensor, v: torch.Tensor, nvar: int):
    """Derivative of ``sum_g v . features`` when AOs and grid points move apart.

    ``ao2`` is AO-major, ``(10, nao, n)``. With ``psi_k = D d_k phi`` the change of the
    features when basis function ``m`` is shifted along ``j`` relative to the grid point is
    ``C_j = d_j phi_m A_m + sum_i d_i d_j phi_m B_im``, ``A = 2 v_rho psi + 2 sum_i v_i psi_i``
    and ``B_i = 2 v_i psi + v_tau psi_i``. Returns ``(grad_points (n, 3), per_ao (nao, 3))``:
    ``C`` summed over AOs (derivative w.r.t. each grid point) and over points (the part
    carried by each AO; minus it is the derivative w.r.t. the AO's centre).
    """
    ncomp = 4 if nvar > 1 else 1
    psi = [density @ ao2[k] for k in range(ncomp)]  # D symmetric: (nao, n)
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


class _DensityFeatures(torch.autograd.Function):
    @staticmethod
    def forward(ctx, density, coords, positions, cache: AOCache, nvar: int):
        ctx.cache, ctx.nvar = cache, nvar
        ctx.save_for_backward(density)
        nspin = density.shape[0]
        out = torch.empty(nspin, nvar, len(cache.coords), dtype=torch.float64)
        factors = [_factorise(d, nvar) for d in density]
        for index, sl in enumerate(cache.blocks):
            ao = cache.values(index)
            for s in range(nspin):
                if factors[s] is None:
                    out[s, :, sl] = _block_features(ao, density[s], nvar)
                else:
                    out[s, :, sl] = _block_features_factored(ao, *factors[s], nvar)
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
            for index, sl in enumerate(cache.blocks):
                ao2 = cache.hessian_values_transposed(index)
                for s in range(dens.shape[0]):
                    points, ao_part = _block_displacement(ao2, dens[s], grad_features[s, :, sl].detach(), nvar)
                    grad_coords[sl] += points
                    per_ao -= ao_part
            grad_positions = sum_per_atom(mol, per_ao)
        return grad_density, grad_coords, grad_positions, None, None


def _potential(cache: AOCache, grad_features: torch.Tensor, nvar: int) -> torch.Tensor:
    """XC-potential-like matrices ``(nspin, nao, nao)`` from feature adjoints (differentiable)."""
    mats = []
    for s in range(grad_features.shape[0]):
        total = 0.0
        for index, sl in enumerate(cache.blocks):
            total = total + _block_potential(cache.values(index), grad_features[s, :, sl], nvar)
        mats.append(total)
    return torch.stack(mats)


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
