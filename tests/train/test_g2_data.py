"""Reference data of the accuracy benchmark and the training split."""

import ase.data.g2_1 as ase_g2_1
import ase.data.g2_2 as ase_g2_2
import pytest

from ase_nnxc.train import g2
from ase_nnxc.units import HARTREE_TO_EV, HARTREE_TO_KCAL_PER_MOL


def test_g2_1_atomisation_energies_match_ase():
    for name in g2.G2_1_MOLECULES:
        assert g2.atomisation_energy(name) * HARTREE_TO_KCAL_PER_MOL == pytest.approx(
            ase_g2_1.get_atomization_energy(name), abs=1e-9
        )


def test_g2_2_benzene_atomisation_energy_from_its_enthalpy():
    # dH_f(298 K) = 19.7 kcal/mol; 6 C + 6 H atoms (169.98 - 0.25, 51.63 - 1.01); ZPE and thermal correction of C6H6.
    d = ase_g2_2.data["C6H6"]
    expected = -19.7 + d["ZPE"] + d["thermal correction"] + 6 * (169.98 - 0.25) + 6 * (51.63 - 1.01)
    assert d["enthalpy"] == 19.7
    assert g2.atomisation_energy("C6H6") * HARTREE_TO_KCAL_PER_MOL == pytest.approx(expected, abs=1e-9)


def test_nist_ionisation_energies_agree_with_ase_rounded_values():
    ase_values = {s: ase_g2_1.data[s]["ionization energy"] for s in ase_g2_1.atom_names}
    ase_values.update({s: ase_g2_2.data[s]["ionization energy"] for s in ("B", "Al")})
    for symbol, value in ase_values.items():
        assert g2.IONISATION_ENERGIES_EV[symbol] == pytest.approx(value, abs=0.011), symbol


def test_split_is_structural_and_complete():
    all_molecules = set(g2.G2_1_MOLECULES) | set(g2.G2_2_MOLECULES)
    assert set(g2.TRAINING_MOLECULES) | set(g2.TEST_MOLECULES) == all_molecules
    assert not set(g2.TRAINING_MOLECULES) & set(g2.TEST_MOLECULES)
    assert len(all_molecules) == 148
    for name in ("C6H6", "CO2", "SO2", "CF4", "CH3CH2OH"):
        assert name in g2.TEST_MOLECULES
    for name in ("H2", "CH4", "C2H6", "CH3OH", "Cl2"):
        assert name in g2.TRAINING_MOLECULES
    training = g2.training_entries()
    assert {e.name for e in training}.isdisjoint({f"AE {n}" for n in g2.TEST_MOLECULES})
    assert {e.name for e in training if e.e_type == "ie"} == {f"IP {a}" for a in g2.IP_TRAINING_ATOMS}
    assert not set(g2.IP_TRAINING_ATOMS) & set(g2.IP_TEST_ATOMS)


def test_entries_follow_the_deepchem_sign_convention():
    (ae,) = g2.atomisation_entries(["CH4"])
    assert ae.coefficients() == [-1, 1, 4]
    assert [s.spin for s in ae.systems] == [0, 2, 1]
    (ip,) = g2.ionisation_entries(["C"])
    assert [(s.charge, s.spin) for s in ip.systems] == [(0, 2), (1, 1)]
    assert float(ip.true_val) * HARTREE_TO_EV == pytest.approx(11.260288)
    with pytest.raises(ValueError, match="no electrons"):
        g2.ionisation_entries(["H"])
    with pytest.raises(ValueError, match="not a G2"):
        g2.atomisation_energy("C")


def test_extra_ionisations_stay_outside_the_held_out_atoms():
    for symbol, *_ in g2.EXTRA_IONISATIONS.values():
        assert symbol not in g2.IP_TEST_ATOMS
        assert symbol in g2.IP_TRAINING_ATOMS or symbol not in g2.ATOMS_H_AR
    extended = g2.training_entries(extra_ips=True)
    assert len(extended) == len(g2.training_entries()) + len(g2.EXTRA_IONISATIONS)
    assert {e.name for e in extended if e.e_type == "ie"}.isdisjoint({f"IP {a}" for a in g2.IP_TEST_ATOMS})
    (li,) = set(g2.training_entries(extra_ips=["Li+"])) - set(g2.training_entries())
    assert li.name == "IP Li+"
    with pytest.raises(ValueError, match="choose from"):
        g2.training_entries(extra_ips=["He"])  # a held-out atom is refused


def test_li_plus_label_is_the_exact_two_electron_value():
    # Non-relativistic, infinite-nuclear-mass energies: Li+ (1s^2) -7.279913412669 Hartree
    # (Drake, Springer Handbook of Atomic, Molecular and Optical Physics, 2006); Li2+ is
    # hydrogenic, -Z^2/2 = -4.5. NIST's value differs by relativity, QED and nuclear motion only.
    (li,) = g2.extra_ionisation_entries(["Li+"])
    assert [(s.charge, s.spin) for s in li.systems] == [(1, 0), (2, 1)]
    assert li.coefficients() == [-1, 1]
    assert float(li.true_val) == pytest.approx(7.279913412669 - 4.5, abs=0.2 / HARTREE_TO_KCAL_PER_MOL)


def test_ga_label_is_lowered_by_its_spin_orbit_stabilisation():
    # Ga's ground level 2P1/2 lies 826.19 cm^-1 below 2P3/2; the 2P term average (weights 2:4)
    # is then 2/3 of that above the ground level: 550.8 cm^-1 = 1.575 kcal/mol.
    (ga,) = g2.extra_ionisation_entries(["Ga"])
    assert (5.9993020 / HARTREE_TO_EV - float(ga.true_val)) * HARTREE_TO_KCAL_PER_MOL == pytest.approx(1.575, abs=1e-3)
    with pytest.raises(ValueError, match="no extra ionisation energy 'Be'"):
        g2.extra_ionisation_entries(["Be"])


def test_cli_adds_weighted_exact_h2_points(tmp_path):
    from ase_nnxc.train.dataset import load_dataset

    out = tmp_path / "pool.yaml"
    g2.main([str(out), "--h2", "5", "--h2-distances", "0.7414"])
    entries = load_dataset(out)
    assert len(entries) == len(g2.training_entries()) + 1
    (h2,) = [e for e in entries if e.name.startswith("AE H2 0.74")]
    assert h2.weight == 5.0
    # Exact non-relativistic De of H2 is 109.49 kcal/mol; aug-cc-pVQZ FCI lies 0.3 below it.
    assert float(h2.true_val) * HARTREE_TO_KCAL_PER_MOL == pytest.approx(109.49, abs=0.5)
    with pytest.raises(SystemExit):
        g2.main([str(out), "--h2", "0"])
