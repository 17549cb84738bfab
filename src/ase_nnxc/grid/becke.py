"""Atom-centred integration grids with Becke weights that are differentiable in the nuclei.

The radial and angular quadratures, pruning and Treutler radii adjustment are PySCF's
defaults (``pyscf.dft.gen_grid.Grids``), so a given ``level`` integrates exactly as PySCF
does. The Becke partition is rewritten in torch: each grid point moves with its atom and
its weight depends on every nuclear position, which is what the grid-response part of the
forces needs. Its derivatives, :func:`partition_gradient` (for forces) and
:func:`partition_derivative` (along a displacement, for force training), are written out over
atom pairs rather than left to autograd, which would hold ``(natom, natom, npoint)`` tensors.
"""

from __future__ import annotations

import numpy as np
import torch

#: Bytes of one ``(npair, block)`` array in the analytic derivative of the weights: a block
#: that stays in cache runs several times faster than one streamed from memory.
PAIR_BLOCK_BYTES = 2 * 1024**2
#: Logarithms of cell factors are taken of at least this, and products of factors are formed as
#: ``exp`` of at least :data:`_LOG_PRODUCT_FLOOR`: values that small change no weight or
#: derivative, and subnormal numbers, on which the CPU is an order of magnitude slower, never arise.
_STEP_FLOOR = 1e-300
_LOG_PRODUCT_FLOOR = -600.0


class MolecularGrid:
    """Quadrature grid of a molecule.

    Attributes
    ----------
    coords : np.ndarray
        Grid points in Bohr, ``(ngrid, 3)``.
    weights : np.ndarray
        Becke-partitioned quadrature weights, ``(ngrid,)``.
    atom_index : np.ndarray
        The atom each point belongs to (and moves with), ``(ngrid,)``.

    """

    def __init__(self, mol, level: int = 3):
        from pyscf.dft import gen_grid, radi

        if not isinstance(level, (int, np.integer)) or not 0 <= level <= 9:
            raise ValueError(f"grid_level must be an integer from 0 to 9, not {level!r}.")
        grids = gen_grid.Grids(mol)
        grids.level = int(level)
        grids.build(with_non0tab=False, sort_grids=True)
        keep = grids.atm_idx >= 0  # drop PySCF's alignment padding
        self.level = int(level)
        self.mol = mol
        self.coords = np.ascontiguousarray(grids.coords[keep])
        self.weights = np.ascontiguousarray(grids.weights[keep])
        self.atom_index = np.ascontiguousarray(grids.atm_idx[keep]).astype(np.int64)
        self._quadrature = grids.quadrature_weights[keep]
        self._offsets = self.coords - mol.atom_coords()[self.atom_index]
        if grids.radii_adjust is radi.treutler_atomic_radii_adjust:
            self._adjust = _treutler_adjust(mol, grids.atomic_radii)
        elif grids.radii_adjust is None:
            self._adjust = np.zeros((mol.natm, mol.natm))
        else:  # pragma: no cover - only reached with a changed PySCF configuration
            raise NotImplementedError(f"Unsupported radii adjustment {grids.radii_adjust}.")

    @property
    def size(self) -> int:
        """Number of grid points."""
        return self.weights.size

    def coords_tensor(self, positions: torch.Tensor) -> torch.Tensor:
        """Grid points moving rigidly with their atoms, ``(ngrid, 3)``, differentiable."""
        offsets = torch.from_numpy(self._offsets)
        return positions[torch.from_numpy(self.atom_index)] + offsets

    def weights_tensor(self, positions: torch.Tensor) -> torch.Tensor:
        """Becke weights ``(ngrid,)`` as a differentiable function of ``positions`` ``(natom, 3)``."""
        return _GridWeights.apply(positions, self)

    def partition(self, positions: torch.Tensor, sl: slice) -> torch.Tensor:
        """Becke weights of the points in ``sl``, built in torch from ``positions``."""
        atom_index = torch.from_numpy(self.atom_index[sl])
        points = positions[atom_index] + torch.from_numpy(self._offsets[sl])
        dist = (points[None, :, :] - positions[:, None, :]).norm(dim=-1)  # (natom, n)
        natom = positions.shape[0]
        eye = torch.eye(natom, dtype=torch.bool)
        separation = (positions[:, None, :] - positions[None, :, :]).norm(dim=-1)
        inv_separation = 1.0 / torch.where(eye, torch.ones_like(separation), separation)
        mu = (dist[:, None, :] - dist[None, :, :]) * inv_separation[:, :, None]  # (natom, natom, n)
        # Treutler's adjustment is antisymmetric, a_ji = -a_ij, so g_ji = -g_ij as Becke requires.
        g = mu + torch.from_numpy(self._adjust)[:, :, None] * (1.0 - mu * mu)
        for _ in range(3):
            g = (3.0 - g * g) * g * 0.5
        step = torch.where(eye[:, :, None], torch.ones_like(g), 0.5 * (1.0 - g))
        cells = step.prod(dim=1)  # (natom, n): product over the other atoms
        own = cells.gather(0, atom_index[None, :])[0]
        return torch.from_numpy(self._quadrature[sl]) * own / cells.sum(0)


def _treutler_adjust(mol, atomic_radii: np.ndarray) -> np.ndarray:
    """Treutler's size adjustment ``a_ij`` of the Becke cell boundaries (JCP 102, 346 (1995))."""
    from pyscf.data.elements import charge

    # Element radii by proton number, as PySCF indexes them (atom_charge is Z - n_core with ECPs).
    radii = np.sqrt(atomic_radii[[charge(mol.atom_pure_symbol(i)) for i in range(mol.natm)]]) + 1e-200
    ratio = radii[:, None] / radii[None, :]
    return np.clip(0.25 * (ratio.T - ratio), -0.5, 0.5)


class _GridWeights(torch.autograd.Function):
    """Weights from the cache forward; exact derivative from :func:`partition_gradient`."""

    @staticmethod
    def forward(ctx, positions, grid: MolecularGrid):
        ctx.grid = grid
        ctx.save_for_backward(positions)
        return torch.from_numpy(grid.weights)

    @staticmethod
    def backward(ctx, grad_weights):
        (positions,) = ctx.saved_tensors
        return partition_gradient(ctx.grid, positions.detach(), grad_weights.detach()), None


def _smooth_step(mu: torch.Tensor, adjust: torch.Tensor):
    """Becke's cell step ``s(mu)`` (three iterations of ``(3 - x^2) x / 2``) and ``ds/dmu``.

    ``mu`` is ``(npair, n)`` for pairs ``B < C``; ``adjust`` ``(npair, 1)`` is Treutler's
    ``a_BC``. Returns ``s_BC``, ``s_CB = 1 - s_BC`` (each computed directly, as the partition
    does) and ``ds_BC/dmu_BC``, which equals ``ds_CB/dmu_CB``.
    """
    nu = torch.addcmul(mu, adjust, 1.0 - mu * mu)
    nu2 = nu * nu
    g1 = nu * (3.0 - nu2) * 0.5
    g1_2 = g1 * g1
    g2 = g1 * (3.0 - g1_2) * 0.5
    g2_2 = g2 * g2
    g3 = g2 * (3.0 - g2_2) * 0.5
    # d g_(k+1) / d g_k = 3/2 (1 - g_k^2); d nu / d mu = 1 - 2 a mu.
    slope = (1.0 - g2_2).mul_(1.0 - g1_2).mul_(1.0 - nu2)
    slope.mul_(torch.addcmul(torch.ones_like(mu), adjust, mu, value=-2.0)).mul_(-0.5 * 3.375)
    return 0.5 * (1.0 - g3), 0.5 * (1.0 + g3), slope


class _PairBlock:
    """The Becke partition on one block of points, in the pair form the derivatives use."""

    def __init__(self, grid: MolecularGrid, positions: torch.Tensor, pairs, sl: slice):
        first, second, inverse, adjust = pairs
        natom = positions.shape[0]
        self.sl = sl
        self.atom_index = torch.from_numpy(grid.atom_index[sl])
        n = self.atom_index.shape[0]
        self.to_points = positions[self.atom_index] + torch.from_numpy(grid._offsets[sl]) - positions[:, None, :]
        self.dist = self.to_points.norm(dim=-1)  # (natom, n)
        self.mu = (self.dist[first] - self.dist[second]) * inverse[:, None]  # (npair, n)
        step, step_t, self.slope = _smooth_step(self.mu, adjust)
        log_step, log_step_t = step.clamp(min=_STEP_FLOOR).log(), step_t.clamp(min=_STEP_FLOOR).log()
        log_cells = torch.zeros(natom, n, dtype=torch.float64)
        log_cells.index_add_(0, first, log_step).index_add_(0, second, log_step_t)
        self.cells = log_cells.clamp(min=_LOG_PRODUCT_FLOOR).exp()  # (natom, n)
        self.total = self.cells.sum(0)
        self.points_range = torch.arange(n)
        self.own = self.cells[self.atom_index, self.points_range]
        self.quadrature = torch.from_numpy(grid._quadrature[sl])
        # All factors of cell B but s_BC (forward) and of cell C but s_CB (backward), per pair.
        self.others = (log_cells[first] - log_step).clamp(min=_LOG_PRODUCT_FLOOR).exp()
        self.others_t = (log_cells[second] - log_step_t).clamp(min=_LOG_PRODUCT_FLOOR).exp()


def _pairs(grid: MolecularGrid, positions: torch.Tensor):
    """Atom pairs ``B < C``, their inverse distances and Treutler adjustments, and the block size."""
    natom = positions.shape[0]
    first, second = torch.triu_indices(natom, natom, offset=1)
    inverse = 1.0 / (positions[first] - positions[second]).norm(dim=-1)
    adjust = torch.from_numpy(grid._adjust)[first, second][:, None]
    block = int(min(4096, max(64, PAIR_BLOCK_BYTES // (8 * max(first.numel(), 1)))))
    return (first, second, inverse, adjust), block


def partition_gradient(grid: MolecularGrid, positions: torch.Tensor, grad_weights: torch.Tensor) -> torch.Tensor:
    """``sum_g grad_weights_g dw_g/dR`` ``(natom, 3)``: the Becke partition's vector-Jacobian product.

    The analytic derivative of :meth:`MolecularGrid.partition`, without an autograd graph and
    with every array indexed by atom pairs ``B < C`` (``s_CB = 1 - s_BC``, ``mu_CB = -mu_BC``
    and ``ds/dmu`` is the same for both). With cells ``P_B = prod_C s(mu_BC)``,
    ``Z = sum_B P_B`` and ``w_g = q_g P_A / Z`` (``A`` the point's own atom), the adjoint of
    ``mu_BC`` at a point is ``K_B prod_(D != C) s_BD ds/dmu_BC`` with
    ``K_B = e_g q_g (delta_AB / Z - P_A / Z^2)``; ``mu_BC = (r_B - r_C) / R_BC`` carries it to
    the distances to the points (which move with their atoms) and between the nuclei. Points
    are taken in blocks small enough to stay in cache; products of cell factors are formed
    from logarithms.
    """
    natom = positions.shape[0]
    out = torch.zeros(natom, 3, dtype=torch.float64)
    if natom == 1:
        return out
    pairs, size = _pairs(grid, positions)
    first, second, inverse, _ = pairs
    distance_adjoint_sum = torch.zeros(first.numel(), dtype=torch.float64)
    for start in range(0, grid.size, size):
        b = _PairBlock(grid, positions, pairs, slice(start, min(start + size, grid.size)))
        n = b.atom_index.shape[0]
        weighted = grad_weights[b.sl] * b.quadrature
        adjoint = (-(weighted * b.own) / (b.total * b.total)).expand(natom, n).clone()
        adjoint[b.atom_index, b.points_range] += weighted / b.total
        # Adjoints of mu_BC and of mu_CB, divided by R_BC.
        slope_r = b.slope * inverse[:, None]
        difference = (adjoint[first] * b.others - adjoint[second] * b.others_t) * slope_r
        # difference is d/dr_B of the pair's two terms, minus it d/dr_C.
        distance_adjoint_sum -= (difference * b.mu).sum(1)
        dist_adjoint = torch.zeros(natom, n, dtype=torch.float64)
        dist_adjoint.index_add_(0, first, difference).index_add_(0, second, difference, alpha=-1.0)
        along = dist_adjoint[:, :, None] * b.to_points / b.dist[:, :, None]  # (natom, n, 3)
        out.index_add_(0, b.atom_index, along.sum(0))
        out -= along.sum(1)
    separation = positions[first] - positions[second]
    pair_force = distance_adjoint_sum[:, None] * separation * inverse[:, None]
    out.index_add_(0, first, pair_force).index_add_(0, second, pair_force, alpha=-1.0)
    return out


def partition_derivative(grid: MolecularGrid, positions: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """``sum_A u_A . dw_g/dR_A`` ``(ngrid,)``: the Becke weights' change along ``u`` ``(natom, 3)``.

    The Jacobian-vector product matching :func:`partition_gradient`, in forward mode:
    ``d mu_BC = (d r_B - d r_C - mu_BC d R_BC) / R_BC``, ``d P_B = sum_C (prod_(D != C) s_BD)
    ds/dmu_BC d mu_BC`` and ``d w = q (d P_A / Z - P_A d Z / Z^2)``.
    """
    natom = positions.shape[0]
    out = torch.zeros(grid.size, dtype=torch.float64)
    if natom == 1:
        return out
    pairs, size = _pairs(grid, positions)
    first, second, inverse, _ = pairs
    separation = positions[first] - positions[second]
    d_separation = (separation * (displacement[first] - displacement[second])).sum(1) * inverse  # (npair,)
    for start in range(0, grid.size, size):
        b = _PairBlock(grid, positions, pairs, slice(start, min(start + size, grid.size)))
        # Each point moves with its atom, each nucleus with itself.
        relative = displacement[b.atom_index][None, :, :] - displacement[:, None, :]  # (natom, n, 3)
        d_dist = (b.to_points * relative).sum(-1) / b.dist
        d_mu = (d_dist[first] - d_dist[second] - b.mu * d_separation[:, None]) * inverse[:, None]
        change = b.slope * d_mu
        d_cells = torch.zeros_like(b.cells)
        d_cells.index_add_(0, first, b.others * change).index_add_(0, second, b.others_t * change, alpha=-1.0)
        d_own = d_cells[b.atom_index, b.points_range]
        out[b.sl] = b.quadrature * (d_own / b.total - b.own * d_cells.sum(0) / (b.total * b.total))
    return out
