"""Coulomb and exact-exchange matrices, and the two-electron energy as an autograd Function.

:class:`JKEngine` builds ``J`` and ``K`` for the SCF the way PySCF does: from a cached
8-fold symmetric ERI tensor when it fits in memory, by direct integral-driven contraction
otherwise. :func:`two_electron_energy` is differentiable in the nuclear positions
(contracting ``int2e_ip1`` with the density, never materialising a 4-index gradient) and in
the density matrices (giving ``J - K``, the two-electron Fock contribution). Any engine with
the three methods of :class:`CoulombExchangeEngine` plugs in; the density-fitted one is
:class:`~ase_nnxc.integrals.density_fitting.DensityFittedJK`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ase_nnxc.integrals.one_electron import sum_per_atom

#: PySCF's Schwarz screening threshold for direct SCF.
DIRECT_SCF_TOL = 1e-13


@dataclass(frozen=True)
class ExchangeTerm:
    """One exact-exchange term ``coefficient * K_omega`` of a hybrid functional."""

    coefficient: float
    """Weight of this exchange operator."""
    omega: float = 0.0
    """Range separation: 0 full Coulomb, > 0 long-range ``erf``, < 0 short-range ``erfc``."""


class CoulombExchangeEngine(Protocol):
    """What :func:`two_electron_energy` needs from a ``J``/``K`` builder (NumPy in and out)."""

    def coulomb(self, density: np.ndarray) -> np.ndarray:
        """``J[D]`` ``(nao, nao)`` of a symmetric total density ``(nao, nao)``."""

    def exchange(self, densities: np.ndarray, terms: tuple[ExchangeTerm, ...]) -> np.ndarray:
        """``sum_t c_t K_omega_t[D_s]`` ``(n, nao, nao)`` of symmetric ``densities`` ``(n, nao, nao)``."""

    def nuclear_gradient(
        self, total: np.ndarray, spins: np.ndarray, exchange_scale: float, terms: tuple[ExchangeTerm, ...]
    ) -> np.ndarray:
        """Gradient ``(natom, 3)`` of ``1/2 Tr(D J) - exchange_scale/2 sum_s Tr(D_s K[D_s])``."""


class JKEngine:
    """Coulomb and exchange builds for one molecule (atomic units).

    Parameters
    ----------
    mol
        PySCF ``Mole``.
    mode
        ``"auto"`` (in-core when the 8-fold ERI tensor fits in ``max_memory_mb``, else
        direct), ``"incore"`` or ``"direct"``.
    max_memory_mb
        Memory allowed for a cached ERI tensor (per range-separation parameter).

    """

    def __init__(self, mol, mode: str = "auto", max_memory_mb: float = 4000.0):
        if mode not in ("auto", "incore", "direct"):
            raise ValueError(f"Unknown two-electron mode {mode!r}; use auto, incore or direct.")
        self.mol = mol
        nao = mol.nao_nr()
        if mode == "auto":
            mode = "incore" if nao**4 / 1e6 < max_memory_mb else "direct"
        self.mode = mode
        self._eri: dict[float, np.ndarray] = {}
        self._opt: dict[float, object] = {}

    def resident_mb(self, tensors: int = 1) -> float:
        """Memory (MB) the cached ERI tensors take: ``tensors`` range-separation parameters, in core."""
        nao = self.mol.nao_nr()
        pairs = nao * (nao + 1) // 2
        return tensors * pairs * (pairs + 1) // 2 * 8 / 1e6 if self.mode == "incore" else 0.0

    def _direct_opt(self, omega: float):
        from pyscf.scf import _vhf

        if omega not in self._opt:
            with self.mol.with_range_coulomb(omega):
                self._opt[omega] = _vhf._VHFOpt(
                    self.mol,
                    "int2e",
                    "CVHFnrs8_prescreen",
                    "CVHFnr_int2e_q_cond",
                    "CVHFnr_dm_cond",
                    DIRECT_SCF_TOL,
                )
        return self._opt[omega]

    def _jk(self, dms: np.ndarray, with_j: bool, with_k: bool, omega: float = 0.0):
        from pyscf.scf import hf

        if self.mode == "incore":
            if omega not in self._eri:
                with self.mol.with_range_coulomb(omega):
                    self._eri[omega] = self.mol.intor("int2e", aosym="s8")
            return hf.dot_eri_dm(self._eri[omega], dms, hermi=1, with_j=with_j, with_k=with_k)
        return hf.get_jk(self.mol, dms, 1, self._direct_opt(omega), with_j, with_k, omega)

    def coulomb(self, density: np.ndarray) -> np.ndarray:
        """``J[D]`` for the total density matrix ``(nao, nao)``."""
        return self._jk(density, True, False)[0]

    def exchange(self, densities: np.ndarray, terms: tuple[ExchangeTerm, ...]) -> np.ndarray:
        """``sum_t c_t K_omega_t[D_s]`` for each matrix in ``densities`` ``(n, nao, nao)``."""
        out = np.zeros_like(densities)
        for term in terms:
            out += term.coefficient * self._jk(densities, False, True, term.omega)[1]
        return out

    def nuclear_gradient(
        self, total: np.ndarray, spins: np.ndarray, exchange_scale: float, terms: tuple[ExchangeTerm, ...]
    ) -> np.ndarray:
        """Gradient of :func:`two_electron_energy` w.r.t. nuclear positions, ``(natom, 3)``.

        ``total`` is the total density matrix; ``spins`` the matrices whose exchange enters
        as ``-exchange_scale/2 * sum_s Tr(D_s K[D_s])``.
        """
        from pyscf.grad import rhf as rhf_grad

        mol = self.mol
        full_range = [t for t in terms if t.omega == 0]
        if full_range:
            # One pass over the derivative integrals gives J and K together (as PySCF does).
            vj, vk = rhf_grad.get_jk(mol, spins)
            vj = vj.reshape(len(spins), 3, *total.shape).sum(0)
            vk_full = vk.reshape(len(spins), 3, *total.shape)
        else:
            vk_full = None
            vj = rhf_grad.get_j(mol, total)
        grad = 2.0 * sum_per_atom(mol, np.einsum("xij,ij->ix", vj, total))
        for term in terms:
            if term.omega == 0 and vk_full is not None:
                vk = vk_full
            else:
                with mol.with_range_coulomb(term.omega):
                    vk = rhf_grad.get_k(mol, spins).reshape(len(spins), 3, *total.shape)
            per_ao = np.einsum("sxij,sij->ix", vk, spins)
            grad = grad - 2.0 * exchange_scale * term.coefficient * sum_per_atom(mol, per_ao)
        return grad


def _exchange_densities(density: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Total density, per-spin matrices and exchange scale for ``(nspin, nao, nao)`` input."""
    if density.shape[0] == 1:  # restricted: D_alpha = D_beta = D/2
        return density[0], density, 0.5
    return density.sum(0), density, 1.0


class _TwoElectronEnergy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, positions, density, engine: CoulombExchangeEngine, terms):
        dens = density.detach().numpy()
        total, spins, scale = _exchange_densities(dens)
        vj = engine.coulomb(total)
        vk = engine.exchange(spins, terms) * scale
        energy = 0.5 * np.einsum("ij,ji", total, vj) - 0.5 * np.einsum("sij,sji", spins, vk)
        ctx.engine, ctx.terms = engine, terms
        ctx.save_for_backward(density)
        ctx.fock = torch.from_numpy(vj[None] - vk)
        return torch.tensor(energy, dtype=torch.float64)

    @staticmethod
    def backward(ctx, grad_energy):
        (density,) = ctx.saved_tensors
        grad_positions = grad_density = None
        if ctx.needs_input_grad[0]:
            grad_positions = grad_energy * two_electron_gradient(ctx.engine, density, ctx.terms)
        if ctx.needs_input_grad[1]:
            grad_density = grad_energy * _FockMatrix.apply(density, ctx.engine, ctx.terms, ctx.fock)
        return grad_positions, grad_density, None, None


class _FockMatrix(torch.autograd.Function):
    """``J[D] - K[D]`` (precomputed) whose derivative, for second-order work, is the same linear map."""

    @staticmethod
    def forward(ctx, density, engine: CoulombExchangeEngine, terms, fock):
        ctx.engine, ctx.terms = engine, terms
        return fock

    @staticmethod
    def backward(ctx, grad_fock):
        # J and K are self-adjoint, so the adjoint of D -> F(D) applies J and K to the
        # (symmetrised) incoming gradient.
        grad = 0.5 * (grad_fock + grad_fock.transpose(-1, -2)).detach().numpy()
        total, spins, scale = _exchange_densities(grad)
        vj = ctx.engine.coulomb(total)
        vk = ctx.engine.exchange(spins, ctx.terms) * scale
        return torch.from_numpy(vj[None] - vk), None, None, None


def two_electron_energy(
    engine: CoulombExchangeEngine, positions: torch.Tensor, density: torch.Tensor, terms: tuple[ExchangeTerm, ...] = ()
) -> torch.Tensor:
    """Hartree plus exact-exchange energy ``1/2 Tr(D J[D]) - 1/2 sum_s Tr(D_s K[D_s])``.

    Parameters
    ----------
    engine
        The :class:`JKEngine` (exact integrals) or
        :class:`~ase_nnxc.integrals.density_fitting.DensityFittedJK` of the molecule at
        ``positions``.
    positions
        Nuclear positions in Bohr, ``(natom, 3)``; gradients flow through derivative integrals.
    density
        ``(1, nao, nao)`` total density (restricted) or ``(2, nao, nao)`` alpha and beta.
    terms
        Exact-exchange terms of a hybrid functional (empty for pure functionals).

    Returns
    -------
    torch.Tensor
        Scalar energy in Hartree. Its gradient w.r.t. ``density`` is ``J - K`` per spin
        (restricted: ``J - K/2``), the two-electron part of the Fock matrix.

    """
    return _TwoElectronEnergy.apply(positions, density, engine, tuple(terms))


def two_electron_gradient(
    engine: CoulombExchangeEngine, density: torch.Tensor, terms: tuple[ExchangeTerm, ...] = ()
) -> torch.Tensor:
    """Nuclear gradient ``(natom, 3)`` of :func:`two_electron_energy` at fixed ``density`` ``(nspin, nao, nao)``.

    The same numbers as backpropagating through :func:`two_electron_energy`, without building
    ``J`` and ``K`` for its value first.
    """
    total, spins, scale = _exchange_densities(density.detach().numpy())
    return torch.from_numpy(engine.nuclear_gradient(total, spins, scale, tuple(terms)))
