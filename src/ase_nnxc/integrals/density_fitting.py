"""Density-fitted Coulomb and exact exchange, with analytic nuclear gradients.

Four-centre integrals are fitted in an auxiliary basis with the Coulomb metric,

    (ij|kl) ~ sum_PQ (ij|P) [(P|Q)^-1]_PQ (Q|kl),

for both ``J`` and ``K``, as PySCF's ``mf.density_fit()`` does, so energies compare like for
like. :class:`DensityFittedJK` is a drop-in for :class:`~ase_nnxc.integrals.JKEngine` behind
:func:`~ase_nnxc.integrals.two_electron_energy`. Its builds use PySCF's ``df.DF`` tensor
(in memory when it fits ``max_memory_mb``, otherwise on disk and read in blocks). Its nuclear
gradient contracts ``int3c2e_ip1``, ``int3c2e_ip2`` and ``int2c2e_ip1`` with fitted densities
one block of auxiliary functions at a time, so no derivative tensor larger than a block exists.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import numpy as np
import scipy.linalg

from ase_nnxc.integrals.one_electron import sum_per_atom
from ase_nnxc.integrals.two_electron import ExchangeTerm

#: Relative accuracy of the orbital factorisation of density matrices for exchange: pivots
#: (or eigenvalues) below this fraction of the largest element are dropped.
FACTOR_CUTOFF = 1e-12
#: Fraction of ``max_memory_mb`` one block of gradient integrals may take.
BLOCK_MEMORY_FRACTION = 0.1
#: Bytes per auxiliary function in a gradient block, in units of ``8 nao^2``: three derivative
#: components and packed ``ip2`` integrals, plus, with exchange, the 3-index density and its copies.
_BLOCK_ARRAYS = {"coulomb": 5, "exchange": 9}


def default_auxbasis(mol, hybrid: bool):
    """The auxiliary basis PySCF's ``mf.density_fit()`` picks for ``mol``.

    A JKFIT set for functionals with exact exchange, a Coulomb-only (JFIT) set for pure
    functionals where the basis has one (def2 bases: def2-universal-jfit), and
    :func:`pyscf.df.addons.make_auxbasis` otherwise.
    """
    from pyscf.df.addons import make_auxbasis, predefined_auxbasis

    if isinstance(mol.basis, str):
        # PySCF's tables distinguish only hybrid from pure functionals; PBE stands for any pure one.
        named = predefined_auxbasis(mol, mol.basis, "HF" if hybrid else "PBE")
        if named is not None:
            return named
    return make_auxbasis(mol)


def _metric_solver(metric: np.ndarray):
    """``v -> (P|Q)^-1 v``: Cholesky, or PySCF's eigenvalue cut for a near-singular metric."""
    from pyscf.df.incore import LINEAR_DEP_THR

    try:
        factor = scipy.linalg.cho_factor(metric, lower=True)
        return lambda v: scipy.linalg.cho_solve(factor, v)
    except np.linalg.LinAlgError:
        values, vectors = scipy.linalg.eigh(metric)
        kept = vectors[:, values > LINEAR_DEP_THR]
        inverse = (kept / values[values > LINEAR_DEP_THR]) @ kept.T
        return lambda v: inverse @ v


def _orbital_factor(density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``D = U diag(n) U^T`` with negligible ``n`` dropped: ``U`` ``(nao, k)``, ``n`` ``(k,)``.

    A positive semi-definite ``D`` (every density of the SCF) takes a pivoted Cholesky
    factorisation (``n = 1``, ``k`` its rank), far cheaper than an eigendecomposition; an
    indefinite one (Hessian-vector directions) its eigenvectors with signed ``n``.
    """
    from scipy.linalg import lapack

    nao = density.shape[0]
    scale = np.abs(density).max()
    if scale == 0:
        return np.zeros((nao, 0)), np.zeros(0)
    # The cutoff is relative, so that K stays linear for the tiny directions of a Krylov solver.
    factor, pivots, rank, info = lapack.dpstrf(density, tol=FACTOR_CUTOFF * scale, lower=1)
    if info >= 0:
        orbitals = np.zeros((nao, rank))
        orbitals[pivots - 1] = np.tril(factor)[:, :rank]
        if np.abs(orbitals @ orbitals.T - density).max() <= 10 * FACTOR_CUTOFF * scale:
            return orbitals, np.ones(rank)
    values, vectors = np.linalg.eigh(density)
    kept = np.abs(values) > FACTOR_CUTOFF * np.abs(values).max()
    return np.ascontiguousarray(vectors[:, kept]), values[kept]


def _half_transform(matrices: np.ndarray, orbitals: np.ndarray) -> np.ndarray:
    """``U^T M_P U`` ``(block, k, k)`` of symmetric ``M`` ``(block, nao, nao)``, as two large GEMMs.

    (NumPy's stacked matmul loops over small products; one reshaped GEMM is many times faster.)
    """
    block, nao, _ = matrices.shape
    k = orbitals.shape[1]
    half = (matrices.reshape(-1, nao) @ orbitals).reshape(block, nao, k)  # M_P U
    return (half.transpose(0, 2, 1).reshape(-1, nao) @ orbitals).reshape(block, k, k)


def _back_transform(matrices: np.ndarray, orbitals: np.ndarray) -> np.ndarray:
    """``U Y_P U^T`` ``(block, nao, nao)`` of ``Y`` ``(block, k, k)``, as two large GEMMs."""
    block, k, _ = matrices.shape
    nao = orbitals.shape[0]
    right = (matrices.reshape(-1, k) @ orbitals.T).reshape(block, k, nao)  # Y_P U^T
    left = orbitals @ right.transpose(1, 0, 2).reshape(k, -1)  # (nao, block * nao)
    return left.reshape(nao, block, nao).transpose(1, 0, 2)


def _pack_symmetric(matrices: np.ndarray) -> np.ndarray:
    """Lower triangles of symmetric ``(..., nao, nao)`` with off-diagonal elements doubled."""
    from pyscf import lib

    nao = matrices.shape[-1]
    packed = lib.pack_tril(2.0 * matrices.reshape(-1, nao, nao))
    diagonal = np.arange(nao)
    packed[:, diagonal * (diagonal + 1) // 2 + diagonal] *= 0.5
    return packed


class DensityFittedJK:
    """Density-fitted ``J`` and ``K`` for one molecule (atomic units).

    Parameters
    ----------
    mol
        PySCF ``Mole``.
    auxbasis
        Any auxiliary basis PySCF knows (``"def2-universal-jkfit"``, ``"weigend"``,
        ``"cc-pvtz-jkfit"``, ...); ``None`` takes :func:`default_auxbasis`.
    hybrid
        Whether the functional has exact exchange (chooses the default auxiliary basis).
    max_memory_mb
        Memory for the fitted 3-index tensor (kept on disk beyond it) and gradient blocks.

    Raises
    ------
    ValueError
        When the auxiliary basis has no functions for an element of ``mol``.

    """

    def __init__(self, mol, auxbasis=None, hybrid: bool = False, max_memory_mb: float = 4000.0):
        from pyscf import df, gto

        self.mol = mol
        self.auxbasis = default_auxbasis(mol, hybrid) if auxbasis is None else auxbasis
        elements = sorted({mol.atom_pure_symbol(a) for a in range(mol.natm)})
        hint = "Give an auxiliary basis PySCF knows (def2-universal-jkfit, weigend, ...) or None for the default."
        try:
            # PySCF prints advice on stdout before raising; the error below says it instead.
            with contextlib.redirect_stdout(io.StringIO()):
                self.auxmol = df.addons.make_auxmol(mol, self.auxbasis)
        except (KeyError, RuntimeError, ValueError, OSError, gto.basis.BasisNotFoundError) as err:
            detail = " ".join(str(err).split())
            raise ValueError(
                f"Auxiliary basis {self.auxbasis!r} could not be built for {'/'.join(elements)}: {detail}. {hint}"
            ) from err
        covered = {self.auxmol.atom_pure_symbol(self.auxmol.bas_atom(b)) for b in range(self.auxmol.nbas)}
        missing = [e for e in elements if e not in covered]
        if missing:
            raise ValueError(f"Auxiliary basis {self.auxbasis!r} has no functions for {', '.join(missing)}. {hint}")
        self.max_memory_mb = max_memory_mb
        self._df = df.DF(mol, self.auxbasis)
        self._df.max_memory = max_memory_mb
        self._df.verbose = 0
        # Built now, so that PySCF decides between memory and disk before anything else (AO
        # values on the grid) takes memory; without it PySCF recomputes 3-index integrals per call.
        self._df.build()

    @property
    def resident_mb(self) -> float:
        """Memory the fitted 3-index tensor holds (MB): zero when PySCF keeps it on disk."""
        cderi = self._df._cderi
        return cderi.nbytes / 1e6 if isinstance(cderi, np.ndarray) else 0.0

    @property
    def naux(self) -> int:
        """Number of auxiliary functions."""
        return self.auxmol.nao_nr()

    def coulomb(self, density: np.ndarray) -> np.ndarray:
        """Fitted ``J[D]`` for the total density matrix ``(nao, nao)``."""
        return self._df.get_jk(density, hermi=1, with_j=True, with_k=False)[0]

    def exchange(self, densities: np.ndarray, terms: tuple[ExchangeTerm, ...]) -> np.ndarray:
        """Fitted ``sum_t c_t K_omega_t[D_s]`` for each matrix in ``densities`` ``(n, nao, nao)``."""
        out = np.zeros_like(densities)
        if not terms:
            return out
        from pyscf import lib

        # Exchange from orbital factors costs naux nao^2 nocc instead of naux nao^3. Any
        # symmetric matrix splits into a positive and a negative semi-definite part, each a
        # set of occupied orbitals (PySCF's K takes orbitals padded to one width).
        factors = [_orbital_factor(d) for d in densities]
        for sign in (1.0, -1.0):
            parts = [u[:, sign * n > 0] * np.sqrt(sign * n[sign * n > 0]) for u, n in factors]
            width = max(part.shape[1] for part in parts)
            if width == 0:
                continue
            orbitals = np.zeros((len(parts), densities.shape[-1], width))
            occupations = np.zeros((len(parts), width))
            for s, part in enumerate(parts):
                orbitals[s, :, : part.shape[1]] = part
                occupations[s, : part.shape[1]] = 1.0
            tagged = lib.tag_array(densities, mo_coeff=orbitals, mo_occ=occupations)
            for term in terms:
                omega = None if term.omega == 0 else term.omega
                vk = self._df.get_jk(tagged, hermi=1, with_j=False, with_k=True, omega=omega)[1]
                out += sign * term.coefficient * vk
        return out

    def nuclear_gradient(
        self, total: np.ndarray, spins: np.ndarray, exchange_scale: float, terms: tuple[ExchangeTerm, ...]
    ) -> np.ndarray:
        """Gradient of the fitted two-electron energy w.r.t. nuclear positions, ``(natom, 3)``.

        Same contract as :meth:`JKEngine.nuclear_gradient`: ``total`` is the total density
        matrix, ``spins`` the matrices whose exchange enters as
        ``-exchange_scale/2 * sum_s Tr(D_s K[D_s])``. Both orbital and auxiliary centres move.
        """
        exchange_weights = {0.0: 0.0}
        for term in terms:
            exchange_weights[term.omega] = exchange_weights.get(term.omega, 0.0) + exchange_scale * term.coefficient
        gradient = np.zeros((self.mol.natm, 3))
        for omega, weight in exchange_weights.items():
            with self.mol.with_range_coulomb(omega), self.auxmol.with_range_coulomb(omega):
                gradient += self._gradient(total if omega == 0 else None, spins, weight)
        return gradient

    def _aux_blocks(self, kind: str = "exchange") -> Iterator[tuple[int, int, int, int]]:
        """Auxiliary shell ranges ``(shell0, shell1, function0, function1)`` within the block memory."""
        nao = self.mol.nao_nr()
        budget = BLOCK_MEMORY_FRACTION * self.max_memory_mb * 1e6 / (_BLOCK_ARRAYS[kind] * 8 * nao**2)
        size = max(1, int(budget))
        loc = self.auxmol.ao_loc_nr()
        start = 0
        for shell in range(1, self.auxmol.nbas + 1):
            if shell == self.auxmol.nbas or loc[shell + 1] - loc[start] > size:
                yield start, shell, loc[start], loc[shell]
                start = shell

    def _gradient(self, total: np.ndarray | None, spins: np.ndarray, exchange_weight: float) -> np.ndarray:
        """Coulomb (when ``total`` is given) and ``exchange_weight`` times exchange, at the current omega.

        With ``c = (P|Q)^-1 (Q|kl) D_kl`` and, per spin, ``C_P,ab = (P|Q)^-1 (Q|ab)`` in the
        orbital factors ``D = sum_a n_a u_a u_a^T``, the 3-index and 2-index densities are

            G_P,ij = c_P D_ij - w sum_s sum_ab n_a n_b C_P,ab u_ia u_jb,
            G2_PQ = c_P c_Q - w sum_s sum_ab n_a n_b C_P,ab C_Q,ab,

        and ``dE/dR_A = -2 sum_(i on A) G (d_i i j|P) - sum_(P on A) G (ij|d_P P)
        + sum_(P on A) G2 (d_P P|Q)`` (libcint's ``ip`` integrals differentiate the electron
        coordinate, hence the signs).
        """
        from pyscf import lib
        from pyscf.df.incore import aux_e2

        mol, auxmol = self.mol, self.auxmol
        nao, naux, nbas = mol.nao_nr(), self.naux, mol.nbas
        if total is None and not exchange_weight:
            return np.zeros((mol.natm, 3))
        solve = _metric_solver(auxmol.intor("int2c2e", hermi=1))
        factors = [_orbital_factor(d) for d in spins] if exchange_weight else []

        # Pass 1: fitted densities (Coulomb c, exchange C per spin).
        rho = np.zeros(naux)
        total_packed = None if total is None else _pack_symmetric(total)[0]
        exchange = [np.empty((naux, u.shape[1], u.shape[1])) for u, _ in factors]
        for s0, s1, p0, p1 in self._aux_blocks():
            eri = aux_e2(mol, auxmol, "int3c2e", aosym="s2ij", shls_slice=(0, nbas, 0, nbas, s0, s1))
            eri = np.ascontiguousarray(eri.T)  # (block, nao_pair)
            if total_packed is not None:
                rho[p0:p1] = eri @ total_packed
            if factors:
                square = lib.unpack_tril(eri)
                for (u, _), fitted in zip(factors, exchange):
                    fitted[p0:p1] = _half_transform(square, u)
        coulomb = solve(rho) if total is not None else np.zeros(naux)
        for s, fitted in enumerate(exchange):
            exchange[s] = solve(fitted.reshape(naux, -1)).reshape(fitted.shape)

        # Two-centre term.
        density2 = np.outer(coulomb, coulomb)
        for (_, n), fitted in zip(factors, exchange):
            weighted = (fitted * np.outer(n, n)).reshape(naux, -1)
            density2 -= exchange_weight * weighted @ fitted.reshape(naux, -1).T
        aux_grad = np.einsum("xpq,pq->px", auxmol.intor("int2c2e_ip1", comp=3), density2)

        # Pass 2: derivative 3-index integrals, one block of auxiliary functions at a time.
        # Coulomb alone contracts them with c first (sum_P c_P (d_i i j|P), a matrix-vector
        # product as in PySCF's get_j); exchange needs the full 3-index density.
        ao_grad = np.zeros((nao, 3))
        coulomb_only = not factors
        potential = np.zeros((3, nao * nao))
        for s0, s1, p0, p1 in self._aux_blocks("coulomb" if coulomb_only else "exchange"):
            slices = (0, nbas, 0, nbas, s0, s1)
            # (d_i i j|P) comes as (3, i, j, P) over memory ordered (3, P, j, i): the transpose is a view.
            ip1 = aux_e2(mol, auxmol, "int3c2e_ip1", "s1", 3, shls_slice=slices).transpose(0, 3, 2, 1)
            ip2 = aux_e2(mol, auxmol, "int3c2e_ip2", "s2ij", 3, shls_slice=slices).transpose(0, 2, 1)
            if coulomb_only:
                for x in range(3):
                    potential[x] += coulomb[p0:p1] @ ip1[x].reshape(p1 - p0, -1)
                aux_grad[p0:p1] -= coulomb[p0:p1, None] * (ip2 @ total_packed).T
                continue
            density3 = np.zeros((p1 - p0, nao, nao))
            if total is not None:
                density3 += coulomb[p0:p1, None, None] * total
            for (u, n), fitted in zip(factors, exchange):
                density3 -= exchange_weight * _back_transform(fitted[p0:p1] * np.outer(n, n), u)
            ao_grad += np.einsum("xki,ki->ix", np.ascontiguousarray(ip1).reshape(3, -1, nao), density3.reshape(-1, nao))
            ip1 = None
            aux_grad[p0:p1] -= np.einsum("xpk,pk->px", ip2, _pack_symmetric(density3))
        if coulomb_only:
            ao_grad = np.einsum("xji,ji->ix", potential.reshape(3, nao, nao), total)
        return -2.0 * sum_per_atom(mol, ao_grad) + sum_per_atom(auxmol, aux_grad)
