"""Composite CCSD(T) atomisation energies: exact limits, PySCF's own methods and experiment."""

import pytest
from pyscf import cc, gto, mp, scf

from ase_nnxc.train import composite


def test_one_electron_atom_has_no_correlation():
    # H: the composite is Hartree-Fock in the large basis, nothing else.
    mol = gto.M(atom="H 0 0 0", basis=composite.LARGE[0], spin=1, verbose=0)
    assert composite.composite_energy([("H", 0, 0, 0)], spin=1) == pytest.approx(scf.UHF(mol).run().e_tot, abs=1e-9)


def test_extrapolation_is_exact_for_an_inverse_cube_series(monkeypatch):
    # With E_c(X) = E_cbs + A / X^3 the two-point formula recovers E_cbs; with CCSD(T) = MP2 in
    # the small basis the composite is then HF(large) + E_cbs.
    e_cbs, a = -0.3, 0.5
    small, large = composite.SMALL[1], composite.LARGE[1]
    values = iter([e_cbs + a / small**3, e_cbs + a / large**3])
    monkeypatch.setattr(composite, "_mp2_correlation", lambda mf, frozen: next(values))
    monkeypatch.setattr(composite, "_reference", lambda mol: type("HF", (), {"e_tot": -1.0, "converged": True})())
    # One correlated electron (H), so no CCSD is run and the CCSD(T) term is 0: subtract it.
    energy = composite.composite_energy([("H", 0, 0, 0)], spin=1)
    assert energy == pytest.approx(-1.0 + e_cbs - (e_cbs + a / small**3), abs=1e-12)


def test_ccsd_t_part_matches_pyscf():
    # Two-electron H2 in the small basis: the composite's correlation there is CCSD(T) = FCI.
    geometry = [("H", 0, 0, 0), ("H", 0, 0, 0.74)]
    mol = gto.M(atom="H 0 0 0; H 0 0 0.74", basis=composite.SMALL[0], verbose=0)
    mycc = cc.CCSD(scf.RHF(mol).run(conv_tol=1e-10)).run(conv_tol=1e-9)
    mol_large = gto.M(atom="H 0 0 0; H 0 0 0.74", basis=composite.LARGE[0], verbose=0)
    mf_large = scf.RHF(mol_large).run(conv_tol=1e-10)
    mp2_large = mp.MP2(mf_large).kernel()[0]
    mp2_small = mp.MP2(mycc._scf).kernel()[0]
    x, y = composite.SMALL[1] ** 3, composite.LARGE[1] ** 3
    expected = mf_large.e_tot + mycc.e_corr + mycc.ccsd_t() + (y * mp2_large - x * mp2_small) / (y - x) - mp2_small
    assert composite.composite_energy(geometry) == pytest.approx(expected, abs=1e-7)


def test_unknown_molecule_is_refused():
    with pytest.raises(SystemExit):
        composite.main(["/tmp/never-written.yaml", "--molecules", "XeF6"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["H2O", "HF", "NH3"])
def test_first_row_atomisation_energies_match_experiment(name):
    # G2's experimental atomisation energies (zero-point free); the composite leaves out
    # core-valence correlation and scalar relativity, about 1 kcal/mol here.
    (error,) = composite.check_against_experiment([name])
    assert abs(error) < 1.5
