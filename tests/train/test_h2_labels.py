"""Exact H2 labels: against PySCF's FCI solver and the published dissociation energy."""

import pytest
from pyscf import fci, gto, scf

from ase_nnxc.train.h2 import binding_curve_entries, exact_energy
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL


def test_exact_energy_is_fci():
    mol = gto.M(atom="H 0 0 0; H 0 0 0.9", basis="cc-pvdz", unit="Angstrom", verbose=0)
    reference = fci.FCI(scf.RHF(mol).run()).kernel()[0]
    assert exact_energy(0.9, "cc-pvdz") == pytest.approx(reference, abs=1e-8)


def test_binding_energy_at_equilibrium_matches_published_de():
    # D_e of H2 from exact calculations: 38297.1 cm^-1 = 109.49 kcal/mol (Kolos & Wolniewicz;
    # Pachucki 2010); aug-cc-pVQZ recovers all but 0.3 kcal/mol of it.
    (entry,) = binding_curve_entries([0.7414], basis="def2-svp")
    assert entry.true_val * HARTREE_TO_KCAL_PER_MOL == pytest.approx(109.49, abs=0.4)
    molecule, atoms = entry.systems
    assert (molecule.basis, atoms.number, atoms.spin) == ("def2-svp", 2, 1)


def test_bad_distance_is_refused():
    with pytest.raises(ValueError, match="positive"):
        exact_energy(0.0)
