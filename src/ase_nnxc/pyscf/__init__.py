"""Every ase_nnxc functional inside PySCF: ``make_ks(mol_or_mf, xc)`` returns an RKS/UKS object.

>>> from pyscf import gto
>>> from ase_nnxc.pyscf import make_ks
>>> mol = gto.M(atom="H 0 0 0; F 0 0 0.92", basis="def2-svp", verbose=0)
>>> mf = make_ks(mol, "nnxc")  # doctest: +SKIP
>>> mf.kernel(), mf.nuc_grad_method().kernel()  # doctest: +SKIP
"""

from __future__ import annotations

from ase_nnxc.pyscf.ks import make_ks, xc_code_for
from ase_nnxc.pyscf.numint import FunctionalNumInt, pyscf_coefficients

__all__ = ["FunctionalNumInt", "make_ks", "pyscf_coefficients", "xc_code_for"]
