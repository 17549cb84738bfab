"""Basis-function values on blocks of grid points, leaving out the functions that vanish there.

PySCF sorts the grid points into small boxes of space, so a block of consecutive points is
compact and only the shells that reach it matter: in a 60-atom molecule a block of 1024
points sees about 40 % of the basis functions, which cuts the ``O(n nao^2)`` contractions
on the block five-fold. The shells kept on a block are those of PySCF's screen index
(:func:`pyscf.gto.eval_gto.make_screen_index`, the estimate ``numint`` uses to skip AO
values below its cutoff), and within the block the same index skips shells on each
56-point sub-block, as ``pyscf.dft.numint.block_loop`` does.

Every array of a block is indexed by that block's own basis functions; :meth:`AOCache.indices`
maps them to the full basis.
"""

from __future__ import annotations

import numpy as np
import torch

#: Grid points per block.
BLOCK = 1024
#: AO values below this are treated as zero (PySCF's default for DFT grids).
AO_CUTOFF = 1e-15


class _Shells:
    """The parts of a PySCF ``Mole`` that ``eval_gto`` reads, restricted to some shells."""

    def __init__(self, mol, shells: np.ndarray):
        self._atm = mol._atm
        self._bas = np.ascontiguousarray(mol._bas[shells])
        self._env = mol._env
        self.cart = mol.cart


class _Block:
    """Screening data of one block of points: the shells that reach it and their sub-block index."""

    def __init__(self, mol, coords: np.ndarray, ao_loc: np.ndarray):
        from pyscf.gto.eval_gto import make_screen_index

        screen = make_screen_index(mol, coords, cutoff=AO_CUTOFF)  # (nsub, nbas), 0 = negligible
        shells = np.flatnonzero(screen.any(axis=0))
        self.shells = _Shells(mol, shells)
        self.screen = np.ascontiguousarray(screen[:, shells])
        functions = [np.arange(ao_loc[s], ao_loc[s + 1]) for s in shells]
        index = np.concatenate(functions) if functions else np.zeros(0, dtype=np.int64)
        #: Basis functions of the block in the full basis, or None when all are kept.
        self.index = None if len(index) == ao_loc[-1] else torch.from_numpy(index.astype(np.int64))
        self.nao = len(index)


class AOCache:
    """AO values (and first derivatives) on a fixed set of grid points, block by block.

    Parameters
    ----------
    mol
        PySCF ``Mole``.
    coords
        Grid points in Bohr, ``(ngrid, 3)``, ordered so that consecutive points are close
        (PySCF's ``sort_grids``); any order is correct, a sorted one is faster.
    family
        ``"lda"``, ``"gga"`` or ``"mgga"``: decides whether AO gradients are needed.
    max_memory_mb
        Memory for AO values kept between uses: blocks are cached in order until the next one
        would not fit; the others are recomputed whenever they are needed.

    """

    def __init__(self, mol, coords: np.ndarray, family: str, max_memory_mb: float = 2000.0):
        self.mol = mol
        self.coords = coords
        self.nao = mol.nao_nr()
        self.deriv = 0 if family == "lda" else 1
        self.blocks = [slice(s, min(s + BLOCK, len(coords))) for s in range(0, len(coords), BLOCK)]
        ao_loc = mol.ao_loc_nr()
        self._screening = [_Block(mol, coords[sl], ao_loc) for sl in self.blocks]
        ncomp = 1 if self.deriv == 0 else 4
        sizes = [ncomp * (sl.stop - sl.start) * b.nao * 8 / 1e6 for sl, b in zip(self.blocks, self._screening)]
        #: Size of all AO values (MB), whether cached or not.
        self.size_mb = sum(sizes)
        ncached = int(np.searchsorted(np.cumsum(sizes), max_memory_mb, side="right"))
        self._cache = [self._evaluate(index, self.deriv) for index in range(ncached)]

    def _evaluate(self, index: int, deriv: int) -> torch.Tensor:
        """AO values of block ``index`` up to derivative order ``deriv``, ``(ncomp, nao_block, n)``.

        This AO-major layout is PySCF's own, so no copy is made; the contractions on a block
        are written for it.
        """
        from pyscf import gto

        block, sl = self._screening[index], self.blocks[index]
        npoint, ncomp = sl.stop - sl.start, (deriv + 1) * (deriv + 2) * (deriv + 3) // 6
        if block.nao == 0:
            return torch.zeros(ncomp, 0, npoint, dtype=torch.float64)
        name = f"GTOval_{'cart' if self.mol.cart else 'sph'}_deriv{deriv}"
        values = gto.eval_gto(block.shells, name, self.coords[sl], non0tab=block.screen)
        return torch.from_numpy(np.asarray(values).reshape(ncomp, npoint, block.nao).transpose(0, 2, 1))

    @property
    def cached(self) -> bool:
        """Whether all AO values are held in memory (else some requests recompute them)."""
        return len(self._cache) == len(self.blocks)

    def indices(self, index: int) -> torch.Tensor | None:
        """Basis functions of block ``index`` in the full basis ``(nao_block,)``; None when all are kept."""
        return self._screening[index].index

    def values(self, index: int) -> torch.Tensor:
        """AO values (and gradients) of block ``index``, AO-major: ``(ncomp, nao_block, nblock)``, ``ncomp`` 1 or 4."""
        if index < len(self._cache):
            return self._cache[index]
        return self._evaluate(index, self.deriv)

    def hessian_values(self, index: int) -> torch.Tensor:
        """AO values up to second derivatives on block ``index``, AO-major: ``(10, nao_block, nblock)``."""
        return self._evaluate(index, 2)


def restrict(matrix: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    """``matrix[..., index, index]`` of ``(..., nao, nao)``: the block's part of a matrix."""
    if index is None:
        return matrix
    return matrix.index_select(-2, index).index_select(-1, index)


def add_block(total: torch.Tensor, block: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    """``total[index, index] += block`` for ``(nao, nao)`` and ``(nao_block, nao_block)``; autograd-safe."""
    if index is None:
        return total.add_(block)
    rows = index[:, None].expand(-1, index.numel())
    cols = index[None, :].expand(index.numel(), -1)
    return total.index_put_((rows, cols), block, accumulate=True)
