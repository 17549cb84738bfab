"""Atom-centred integration grids with Becke weights that are differentiable in the nuclei.

The radial and angular quadratures, pruning and Treutler radii adjustment are PySCF's
defaults (``pyscf.dft.gen_grid.Grids``), so a given ``level`` integrates exactly as PySCF
does. The Becke partition is rewritten in torch: each grid point moves with its atom and
its weight depends on every nuclear position, which is what the grid-response part of the
forces needs.
"""

from __future__ import annotations

import numpy as np
import torch

#: Grid points handled together when differentiating the partition (bounds memory).
WEIGHT_BLOCK = 16384


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
    """Weights from the cache forward; exact derivative by re-running the partition in blocks."""

    @staticmethod
    def forward(ctx, positions, grid: MolecularGrid):
        ctx.grid = grid
        ctx.save_for_backward(positions)
        return torch.from_numpy(grid.weights)

    @staticmethod
    def backward(ctx, grad_weights):
        (positions,) = ctx.saved_tensors
        grid = ctx.grid
        out = torch.zeros_like(positions)
        for start in range(0, grid.size, WEIGHT_BLOCK):
            sl = slice(start, min(start + WEIGHT_BLOCK, grid.size))
            with torch.enable_grad():
                pos = positions.detach().requires_grad_(True)
                weights = grid.partition(pos, sl)
                (g,) = torch.autograd.grad(weights, pos, grad_weights[sl])
            out += g
        return out, None
