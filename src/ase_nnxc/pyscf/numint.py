"""A PySCF ``NumInt`` that evaluates any ase_nnxc functional on PySCF's own grids and density.

PySCF's Kohn-Sham machinery (``nr_rks``/``nr_uks``, the response kernels of SOSCF, stability
analysis and TDDFT, the nuclear gradients with or without grid response) asks its ``NumInt``
for one thing per block of grid points: :meth:`~pyscf.dft.numint.NumInt.eval_xc_eff`, the
energy per particle and its first and second derivatives in the density variables
``[rho, d_x rho, d_y rho, d_z rho, tau]`` (per spin). That layout is ase_nnxc's feature map,
so :class:`FunctionalNumInt` feeds PySCF's arrays to the functional as they are and takes the
potential and the kernel from autograd. PySCF's loops, screening and contractions stay
PySCF's own; the exact-exchange part of hybrids goes to PySCF's J/K through
:meth:`FunctionalNumInt.rsh_and_hybrid_coeff`.

The functional must be point-local (each grid point's energy density depends only on that
point's features), as every ase_nnxc functional is: the kernel is taken point by point.
"""

from __future__ import annotations

import numpy as np
import torch
from pyscf.dft import libxc as pyscf_libxc
from pyscf.dft import numint

from ase_nnxc.grid.density import NVAR
from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.features import FeatureMap

_XCTYPE = {"lda": "LDA", "gga": "GGA", "mgga": "MGGA"}


class XCCodeError(ValueError):
    """PySCF asked for a functional other than the one this ``NumInt`` evaluates."""


def pyscf_coefficients(functional: XCFunctional) -> tuple[float, float, float]:
    """PySCF's ``rsh_coeff`` triple ``(omega, alpha, beta)`` of a functional's exact exchange.

    PySCF writes exact exchange as ``alpha K_LR(omega) + (alpha + beta) K_SR(omega)`` for a
    range-separated hybrid and ``alpha K`` for a global one (with ``beta = 0``); ase_nnxc as a
    list of :class:`~ase_nnxc.integrals.two_electron.ExchangeTerm` (coefficient, omega), a
    negative omega meaning short range.

    Raises
    ------
    NotImplementedError
        For a combination PySCF's ``get_veff`` cannot express (two range separations).

    """
    terms = functional.exchange_terms()
    full = sum(t.coefficient for t in terms if t.omega == 0)
    ranged = [t for t in terms if t.omega != 0]
    if not ranged:
        return 0.0, float(full), 0.0
    omegas = {abs(t.omega) for t in ranged}
    if len(omegas) > 1:
        raise NotImplementedError(f"{functional.name!r}: exact exchange with several range separations {terms}.")
    omega = omegas.pop()
    long_range = full + sum(t.coefficient for t in ranged if t.omega > 0)
    short_range = full + sum(t.coefficient for t in ranged if t.omega < 0)
    return float(omega), float(long_range), float(short_range - long_range)


class _LibXCView:
    """What PySCF asks ``ni.libxc`` about ``mf.xc``, answered for the functional's tag.

    Any other code (``mf.nlc``, a second functional) goes to PySCF's own libxc module.
    """

    def __init__(self, owner: FunctionalNumInt):
        self._owner = owner

    def __getattr__(self, name):
        return getattr(pyscf_libxc, name)

    def _ours(self, xc_code) -> bool:
        return isinstance(xc_code, str) and xc_code == self._owner.xc_code

    def is_hybrid_xc(self, xc_code) -> bool:
        if self._ours(xc_code):
            return bool(self._owner.functional.exchange_terms())
        return pyscf_libxc.is_hybrid_xc(xc_code)

    def is_nlc(self, xc_code) -> bool:
        return False if self._ours(xc_code) else pyscf_libxc.is_nlc(xc_code)

    def xc_type(self, xc_code) -> str:
        return _XCTYPE[self._owner.functional.family] if self._ours(xc_code) else pyscf_libxc.xc_type(xc_code)

    def needs_laplacian(self, xc_code) -> bool:
        return False if self._ours(xc_code) else pyscf_libxc.needs_laplacian(xc_code)

    def max_deriv_order(self, xc_code) -> int:
        return 2 if self._ours(xc_code) else pyscf_libxc.max_deriv_order(xc_code)

    def test_deriv_order(self, xc_code, deriv, raise_error=False) -> bool:
        if not self._ours(xc_code):
            return pyscf_libxc.test_deriv_order(xc_code, deriv, raise_error)
        if deriv > 2 and raise_error:
            raise NotImplementedError(
                f"{self._owner.functional.name!r}: third derivatives (kxc) of ase_nnxc functionals are not available."
            )
        return deriv <= 2

    def xc_reference(self, xc_code) -> list[str]:
        if not self._ours(xc_code):
            return pyscf_libxc.xc_reference(xc_code)
        return [f"ase_nnxc functional {self._owner.functional.name!r} ({self._owner.functional.family})"]


class FunctionalNumInt(numint.NumInt):
    """PySCF numerical integrator for an ase_nnxc :class:`~ase_nnxc.xc.base.XCFunctional`.

    Install it on an RKS/UKS object together with ``mf.xc = ni.xc_code`` (which
    :func:`ase_nnxc.pyscf.make_ks` does). PySCF then calls :meth:`eval_xc_eff` with that code
    everywhere it evaluates the functional.

    Parameters
    ----------
    functional
        Any ase_nnxc functional (libxc, neural, checkpoint, plugin, TorchScript artefact).
    xc_code
        The string PySCF carries in ``mf.xc`` for it (must not look like a libxc name with a
        dispersion suffix; :func:`ase_nnxc.pyscf.make_ks` picks one).

    Notes
    -----
    :meth:`eval_xc_eff` supports ``deriv`` up to 2 (energy, potential, kernel); third
    derivatives, needed only by TDDFT excited-state gradients, raise ``NotImplementedError``.

    """

    def __init__(self, functional: XCFunctional, xc_code: str):
        super().__init__()
        self.functional = functional
        self.xc_code = xc_code
        self.libxc = _LibXCView(self)
        self._coefficients = pyscf_coefficients(functional)

    #: Set while PySCF builds the spin-adapted kernel of a restricted reference (see _spin_symmetric).
    _spin_adapted = False

    def cache_xc_kernel(self, mol, grids, xc_code, mo_coeff, mo_occ, spin=0, max_memory=2000):
        """PySCF's kernel cache; a restricted reference with ``spin=1`` gets the spin-adapted kernel."""
        restricted = np.asarray(mo_coeff[0]).ndim == 1
        return self._cache(
            numint.cache_xc_kernel, restricted and spin == 1, mol, grids, xc_code, mo_coeff, mo_occ, spin, max_memory
        )

    def cache_xc_kernel1(self, mol, grids, xc_code, dm, spin=0, max_memory=2000):
        """As :meth:`cache_xc_kernel`, from a density matrix."""
        restricted = np.asarray(dm[0]).ndim == 1
        return self._cache(numint.cache_xc_kernel1, restricted and spin == 1, mol, grids, xc_code, dm, spin, max_memory)

    def _cache(self, build, spin_adapted: bool, *args):
        previous, self._spin_adapted = self._spin_adapted, spin_adapted
        try:
            return build(self, *args)
        finally:
            self._spin_adapted = previous

    def _check(self, xc_code) -> None:
        if xc_code != self.xc_code:
            raise XCCodeError(
                f"This NumInt evaluates {self.functional.name!r} (mf.xc = {self.xc_code!r}), "
                f"but was asked for {xc_code!r}; build a new object with ase_nnxc.pyscf.make_ks."
            )

    def _xc_type(self, xc_code) -> str:
        return self.libxc.xc_type(xc_code)

    def hybrid_coeff(self, xc_code, spin=0) -> float:
        """Fraction of full-range exact exchange (the long-range one for a range-separated hybrid)."""
        self._check(xc_code)
        return self._coefficients[1]

    def rsh_coeff(self, xc_code) -> tuple[float, float, float]:
        """``(omega, alpha, beta)`` in PySCF's convention (see :func:`pyscf_coefficients`)."""
        self._check(xc_code)
        return self._coefficients

    def rsh_and_hybrid_coeff(self, xc_code, spin=0) -> tuple[float, float, float]:
        """PySCF's ``(omega, alpha, hyb)``; ``mf.omega`` may not move the functional's range separation."""
        own = self._coefficients[0]
        if self.omega is not None and self.omega != own:
            raise NotImplementedError(
                f"{self.functional.name!r} is evaluated with its own range separation (omega={own}); "
                f"mf.omega={self.omega} cannot change it."
            )
        return super().rsh_and_hybrid_coeff(xc_code, spin)

    def nlc_coeff(self, xc_code):
        """No functional of ase_nnxc has a non-local (VV10) part."""
        self._check(xc_code)
        return []

    def eval_xc(self, xc_code, rho, spin=0, relativity=0, deriv=1, omega=None, verbose=None):
        """Not provided: PySCF's Kohn-Sham code uses :meth:`eval_xc_eff`."""
        raise NotImplementedError("FunctionalNumInt implements eval_xc_eff only (PySCF >= 2.2 uses nothing else).")

    def eval_xc_eff(self, xc_code, rho, deriv=1, omega=None, xctype=None, verbose=None, spin=None):
        """Energy per particle and derivatives in PySCF's ``eval_xc_eff`` layout.

        Parameters
        ----------
        xc_code
            Must be :attr:`xc_code`.
        rho
            ``(nvar, ngrid)`` total-density variables (``(ngrid,)`` for LDA), or
            ``(2, nvar, ngrid)`` per spin (``(2, ngrid)`` for LDA); ``nvar`` 1, 4 or 5 (a
            6-row meta-GGA array with the Laplacian in row 4 is accepted and the Laplacian
            ignored).
        deriv
            0, 1 or 2.
        omega
            Range-separation parameter; only the functional's own (or ``None``) is accepted.
        xctype, verbose
            Accepted for PySCF's signature; the family is the functional's.
        spin
            0 (total density) or 1 (per spin); guessed from the shape when ``None``.

        Returns
        -------
        list
            ``[exc (ngrid,), vxc, fxc, None]``: ``vxc`` is ``(nvar, ngrid)`` or
            ``(2, nvar, ngrid)``, ``fxc`` ``(nvar, nvar, ngrid)`` or
            ``(2, nvar, 2, nvar, ngrid)`` (``None`` beyond ``deriv``).

        """
        self._check(xc_code)
        if omega is not None and omega != self._coefficients[0]:
            raise NotImplementedError(f"{self.functional.name!r} cannot be evaluated at omega={omega}.")
        if deriv > 2:
            self.libxc.test_deriv_order(xc_code, deriv, raise_error=True)
        stacked, spin = _stack(np.asarray(rho, dtype=np.float64), self.functional.family, spin)
        exc, vxc, fxc = evaluate(self.functional, stacked, deriv)
        if fxc is not None and spin == 1 and self._spin_adapted:
            fxc = _spin_symmetric(fxc)
        if spin == 0:
            vxc = None if vxc is None else vxc[0]
            fxc = None if fxc is None else fxc[0, :, 0]
        return [exc, vxc, fxc, None]


def _spin_symmetric(fxc: np.ndarray) -> np.ndarray:
    """The kernel of a restricted reference averaged over the swap of alpha and beta.

    PySCF's spin-adapted response of a restricted reference (singlet and triplet TDDFT,
    external stability) reads only the alpha rows, ``f_aa +- f_ab``, which is the whole story
    only if ``E[rho_a, rho_b] = E[rho_b, rho_a]``. A neural functional that takes the spin
    polarisation ``zeta`` as a plain input need not obey that (the shipped ``nnxc`` models do
    not, by about 1e-3 of the energy density), and the alpha rows alone then give a
    non-symmetric response matrix. The average is the kernel of ``(E[a, b] + E[b, a]) / 2``,
    which has the same energy, potential and kernel along every closed-shell (singlet) and
    every spin-flip (triplet) direction, and drops only their coupling, which a spin-adapted
    calculation cannot represent. Unrestricted calculations keep the full kernel, also at
    spin-symmetric densities.
    """
    return 0.5 * (fxc + fxc[::-1, :, ::-1])


def _stack(rho: np.ndarray, family: str, spin: int | None) -> tuple[np.ndarray, int]:
    """PySCF's density array as ase_nnxc features ``(nspin, nvar, ngrid)`` and the spin flag."""
    nvar = NVAR[family]
    if spin is None:
        spin = int(rho.ndim >= 2 and rho.shape[0] == 2 and (rho.ndim == 3 or family == "lda"))
    if spin == 0:
        stacked = rho.reshape(1, 1, -1) if rho.ndim == 1 else rho[None]
    else:
        stacked = rho[:, None] if rho.ndim == 2 else rho
    if stacked.ndim != 3 or stacked.shape[0] != (2 if spin else 1):
        raise ValueError(f"Cannot read a {family} density of shape {rho.shape} with spin={spin}.")
    if stacked.shape[1] == 6:  # meta-GGA with the Laplacian in row 4, which no ase_nnxc functional uses
        stacked = stacked[:, [0, 1, 2, 3, 5]]
    if stacked.shape[1] < nvar:
        raise ValueError(f"A {family} functional needs {nvar} density variables, PySCF gave {stacked.shape[1]}.")
    return np.ascontiguousarray(stacked[:, :nvar]), spin


def evaluate(functional: XCFunctional, stacked: np.ndarray, deriv: int):
    """Energy per particle and its feature derivatives by autograd.

    Parameters
    ----------
    functional
        A point-local functional.
    stacked
        Features ``(nspin, nvar, ngrid)``.
    deriv
        Highest derivative order wanted (0, 1 or 2).

    Returns
    -------
    tuple
        ``exc (ngrid,)``, ``vxc (nspin, nvar, ngrid)`` or ``None``, and
        ``fxc (nspin, nvar, nspin, nvar, ngrid)`` or ``None``. ``exc`` is the energy
        density over the total density (0 where the density is exactly 0).

    """
    features = torch.from_numpy(stacked).requires_grad_(deriv >= 1)
    with torch.enable_grad():
        energy_density = functional(FeatureMap(features))
        vxc = fxc = None
        if deriv >= 1:
            (vxc,) = torch.autograd.grad(energy_density.sum(), features, create_graph=deriv >= 2)
        if deriv >= 2:
            nspin, nvar, ngrid = stacked.shape
            fxc = torch.zeros(nspin, nvar, nspin, nvar, ngrid, dtype=torch.float64)
            # The Hessian is block-diagonal in the grid points (point-local functional), so one
            # backward pass per (spin, variable) row gives every point's row at once.
            for s in range(nspin):
                for a in range(nvar):
                    if vxc[s, a].requires_grad:
                        (row,) = torch.autograd.grad(vxc[s, a].sum(), features, retain_graph=True, allow_unused=True)
                        if row is not None:
                            fxc[s, a] = row
            # The exact kernel is symmetric; in density tails its entries reach 1e19 (alpha's
            # 1/tau_unif), where rounding leaves an asymmetry that stalls PySCF's Davidson solver.
            fxc = 0.5 * (fxc + fxc.permute(2, 3, 0, 1, 4))
    density = stacked[:, 0].sum(0)
    energy_density = energy_density.detach().numpy()
    exc = np.divide(energy_density, density, out=np.zeros_like(density), where=density != 0)
    return exc, _numpy(vxc), _numpy(fxc)


def _numpy(tensor):
    return None if tensor is None else tensor.detach().numpy()
