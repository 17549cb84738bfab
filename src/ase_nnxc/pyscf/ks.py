"""``make_ks``: a PySCF RKS/UKS object whose exchange-correlation is any ase_nnxc functional."""

from __future__ import annotations

import re
import warnings

from pyscf import dft, gto
from pyscf.dft.dft_parser import parse_dft
from pyscf.scf import hf

from ase_nnxc.pyscf.numint import FunctionalNumInt
from ase_nnxc.xc.base import XCFunctional

#: Substrings PySCF's ``nr_rks`` takes for Laplacian meta-GGAs when they appear in ``mf.xc``.
_LAPLACIAN_NAMES = ("CC06", "CS", "BR89", "MK00")


def xc_code_for(functional: XCFunctional) -> str:
    """The string :func:`make_ks` puts in ``mf.xc``: ``ase_nnxc:NAME``, or ``ase_nnxc`` alone.

    The name is dropped when PySCF would read something into it (a dispersion suffix such as
    ``-d3bj``, or one of the Laplacian meta-GGA names ``nr_rks`` looks for).
    """
    code = "ase_nnxc:" + re.sub(r"\s+", "_", str(functional.name))
    if parse_dft(code) != (code, "", None) or any(name in code.upper() for name in _LAPLACIAN_NAMES):
        return "ase_nnxc"
    return code


def make_ks(mf_or_mol, xc, restricted: bool | None = None):
    """A PySCF Kohn-Sham object evaluating ``xc`` with ase_nnxc on PySCF's grids.

    Parameters
    ----------
    mf_or_mol
        A ``pyscf.gto.Mole`` (a new RKS for a closed shell, UKS otherwise) or an existing
        RKS/UKS object (density-fitted or not), which is changed in place and returned; its
        grids, convergence settings and J/K engine are kept.
    xc
        Anything :class:`ase_nnxc.NNXC` accepts: a libxc name (``"b3lyp"``), a registered or
        plugin name (``"nnxc"``, ``"torch-b88pw"``), a checkpoint path, a TorchScript artefact
        (``nnxc export``), or an :class:`~ase_nnxc.xc.base.XCFunctional`.
    restricted
        With a ``Mole``: ``None`` (RKS for closed shells), ``True`` or ``False`` (UKS).

    Returns
    -------
    pyscf.dft.rks.RKS or pyscf.dft.uks.UKS
        ``mf.xc`` holds the tag of :func:`xc_code_for` and ``mf._numint`` a
        :class:`~ase_nnxc.pyscf.numint.FunctionalNumInt`; ``kernel()``, ``newton()``,
        ``density_fit()``, ``nuc_grad_method()``, ``stability()``, ``TDDFT()``/``TDA()`` and
        ``pyscf.geomopt`` work as with a built-in functional. Exact exchange (hybrids,
        range-separated hybrids) is PySCF's own J/K.

    Raises
    ------
    TypeError
        ``mf_or_mol`` is neither a ``Mole`` nor a Kohn-Sham object.
    ValueError
        ``xc`` is not a functional ase_nnxc knows, or ``restricted=True`` for an open shell.

    Examples
    --------
    >>> from pyscf import gto
    >>> from ase_nnxc.pyscf import make_ks
    >>> mol = gto.M(atom="O 0 0 0; H 0 0.76 0.59; H 0 -0.76 0.59", basis="def2-svp", verbose=0)
    >>> mf = make_ks(mol, "nnxc-pbe-2026.12")
    >>> energy = mf.kernel()  # doctest: +SKIP

    """
    from ase_nnxc.xc.registry import get_functional

    functional = get_functional(xc)
    if isinstance(mf_or_mol, gto.MoleBase):
        mol = mf_or_mol
        if restricted is None:
            restricted = mol.spin == 0
        if restricted and mol.spin != 0:
            raise ValueError(f"restricted=True needs a closed shell, but mol.spin is {mol.spin}.")
        mf = dft.RKS(mol) if restricted else dft.UKS(mol)
    elif isinstance(mf_or_mol, hf.KohnShamDFT):
        if restricted is not None:
            raise ValueError("restricted is only used when a Mole is given; the Kohn-Sham object decides.")
        mf = mf_or_mol
    else:
        raise TypeError(f"make_ks needs a pyscf Mole or an RKS/UKS object, not {type(mf_or_mol).__name__}.")
    _warn_basis(functional, mf.mol)
    mf._numint = FunctionalNumInt(functional, xc_code_for(functional))
    mf.xc = mf._numint.xc_code
    mf.nlc = 0
    return mf


def _warn_basis(functional: XCFunctional, mol) -> None:
    """A trained functional partly absorbs its basis's errors: say so when the basis differs."""
    trained = getattr(functional, "default_basis", None)
    basis = mol.basis if isinstance(mol.basis, str) else None
    if trained and basis and _normalise(trained) != _normalise(basis):
        warnings.warn(
            f"{functional.name!r} was trained in {trained}; this molecule uses {basis}.", UserWarning, stacklevel=3
        )


def _normalise(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()
