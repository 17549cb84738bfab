"""Writes deepchem/feat/tests/data/dftHF_output.npy: the RHF density matrix (alpha + beta, AO basis) of HF.

Run from this folder: ``python make_labels.py``. DeepChem's own file holds a CCSD density of the
same system; the tests only need a density matrix of the right basis, and check its electron
count against the overlap matrix.
"""

import numpy as np
from pyscf import gto, scf

mol = gto.M(atom="H 0.86625 0 0; F -0.86625 0 0", basis="6-311++G(3df,3pd)", unit="Bohr", verbose=0)
mf = scf.RHF(mol)
mf.conv_tol = 1e-10
mf.kernel()
np.save("deepchem/feat/tests/data/dftHF_output.npy", mf.make_rdm1())
