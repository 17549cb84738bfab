"""The G2 benchmark on the common runner: energies, caches (old files included) and the exact H2 reference."""

import json
from dataclasses import replace

import numpy as np
import pytest

from ase_nnxc.benchmarks import g2 as g2_benchmark
from ase_nnxc.benchmarks import method as method_module
from ase_nnxc.benchmarks import runner as runner_module
from ase_nnxc.benchmarks.cache import EnergyCache
from ase_nnxc.benchmarks.reactions import ReactionSet
from ase_nnxc.benchmarks.runner import Method, Runner, density_fit_subsets
from ase_nnxc.train import g2
from ase_nnxc.units import HARTREE_TO_EV, HARTREE_TO_KCAL_PER_MOL


def _no_scf(*args, **kwargs):
    raise AssertionError("a cached energy was computed again")


def test_nnxc_and_pyscf_columns_agree_and_the_cache_is_reused(tmp_path, monkeypatch):
    ours = Method("pbe", "nnxc", "6-31g", grid_level=1)
    theirs = Method("pbe", "pyscf", "6-31g", grid_level=1)
    errors = [g2_benchmark.atomisation_errors(m, ["LiH"], tmp_path, progress=False)["LiH"] for m in (ours, theirs)]
    assert errors[0] == pytest.approx(errors[1], abs=1e-4)  # kcal/mol
    assert len(json.loads((tmp_path / ours.cache_name()).read_text())["species"]) == 3  # LiH, Li, H
    monkeypatch.setattr(runner_module, "run_species", _no_scf)
    assert g2_benchmark.atomisation_errors(ours, ["LiH"], tmp_path, progress=False)["LiH"] == errors[0]


def test_cache_files_of_the_earlier_format_are_read(tmp_path, monkeypatch):
    # The G2 benchmark used to key records by moldesc; those files must still serve their energies.
    method = Method("pbe", "pyscf", "6-31g", grid_level=1)
    old = {
        f"{g2.atom_spec('H', '6-31g').moldesc}|spin=1|charge=0": {"energy": -0.4, "error": None, "seconds": 1.0},
        f"{g2.atom_spec('H', '6-31g', charge=1).moldesc}|spin=0|charge=1": {"energy": 0.0, "error": None, "seconds": 0},
    }
    (tmp_path / method.cache_name()).write_text(json.dumps(old))
    monkeypatch.setattr(runner_module, "run_species", _no_scf)
    (error,) = g2_benchmark.ionisation_errors(method, ["H"], tmp_path, progress=False).values()
    ip = g2.IONISATION_ENERGIES_EV["H"] / HARTREE_TO_EV
    assert error == pytest.approx((0.4 - ip) * HARTREE_TO_KCAL_PER_MOL, abs=1e-9)


def test_a_failed_system_is_recorded_and_counted_not_hidden(tmp_path):
    method = Method("no-such-functional", "pyscf", "6-31g", grid_level=1)
    errors = g2_benchmark.atomisation_errors(method, ["LiH"], tmp_path, progress=False)
    assert errors == {"LiH": None}
    records = EnergyCache(tmp_path / method.cache_name()).records
    molecule = g2_benchmark.species_from_spec(g2.molecule_spec("LiH", "6-31g"), "G2/LiH")
    assert "not found" in records[molecule.key]["error"]
    assert g2_benchmark.mean_absolute([1.0, -3.0, None]) == (2.0, 1)


def test_proton_has_zero_energy_so_the_h_ionisation_energy_is_minus_e_h(tmp_path):
    method = Method("pbe", "pyscf", "6-31g", grid_level=1)
    (error,) = g2_benchmark.ionisation_errors(method, ["H"], tmp_path, progress=False).values()
    hydrogen = g2_benchmark.species_from_spec(g2.atom_spec("H", "6-31g"), "atom/H")
    e_h = EnergyCache(tmp_path / method.cache_name()).get(hydrogen)["energy"]
    expected = -e_h - g2.IONISATION_ENERGIES_EV["H"] / HARTREE_TO_EV
    assert error == pytest.approx(expected * HARTREE_TO_KCAL_PER_MOL, abs=1e-9)


def test_exact_h2_curve_matches_pyscf_fci(tmp_path):
    from pyscf import fci, gto, scf

    distances = (0.7, 1.6)
    curve = g2_benchmark.fci_h2_curve(tmp_path, distances, basis="cc-pvdz")
    e_h = scf.UHF(gto.M(atom="H 0 0 0", basis="cc-pvdz", spin=1, verbose=0)).run().e_tot
    for r, value in zip(distances, curve):
        mol = gto.M(atom=f"H 0 0 0; H 0 0 {r}", basis="cc-pvdz", verbose=0)
        e_fci = fci.FCI(scf.RHF(mol).run()).kernel()[0]
        assert value == pytest.approx((e_fci - 2 * e_h) * HARTREE_TO_KCAL_PER_MOL, abs=1e-5)
    assert np.isfinite(curve).all()


def test_checkpoint_methods_are_cached_by_content(tmp_path):
    import torch

    from ase_nnxc.train.checkpoint import build_functional, save_checkpoint

    functional = build_functional("nn-lda", {"hidden": [4]}, "lda,vwn")
    path = tmp_path / "model.pt"
    meta = {"model": "nn-lda", "options": {"hidden": [4]}, "base": "lda,vwn", "basis": "6-31g"}
    save_checkpoint(path, functional, meta)
    first = Method(str(path)).cache_name()
    with torch.no_grad():
        functional.a.fill_(0.5)
    save_checkpoint(path, functional, meta)
    method_module._FUNCTIONALS.clear()
    assert Method(str(path)).cache_name() != first
    assert Method(str(path)).resolved_basis() == "6-31g"
    assert Method("pbe", basis="def2-svp", density_fit=True).cache_name() == "nnxc-pbe-def2-svp-g3-df.json"


def test_density_fitting_auto_fits_whole_subsets_by_their_largest_species():
    molecules, species = g2_benchmark.atomisation_reactions(["CH4", "C2H6"])
    ions, ion_species = g2_benchmark.ionisation_reactions(["He"])
    reactions = [replace(molecules[0], subset="X"), replace(molecules[1], subset="Y"), replace(ions[0], subset="Z")]
    reaction_set = ReactionSet("t", reactions, {**species, **ion_species})
    nao = dict.fromkeys(reaction_set.species, 10) | {"G2/C2H6": 200}
    # X (CH4 -> C + 4 H) shares its atoms with Y (C2H6 -> 2 C + 6 H), so both are fitted; Z (He) is not.
    assert density_fit_subsets(reaction_set, nao, threshold=150) == {"X", "Y"}
    assert density_fit_subsets(reaction_set, nao, threshold=200) == set()
    runner = Runner(Method("pbe", basis="def2-svp"), "unused", density_fit="auto", density_fit_threshold=40)
    fitted = {s.name: f for s, _, f in runner.plan(reaction_set)}  # C2H6 has 48 functions in def2-SVP
    assert fitted == {"G2/CH4": True, "G2/C2H6": True, "atom/C": True, "atom/H": True, "atom/He": False,
                      "atom/He+": False}  # fmt: skip


def test_dispersion_is_added_after_the_scf_and_cached_beside_it(tmp_path, monkeypatch):
    import sys
    import types

    # A stand-in with the API of ase_nnxc.dispersion: -sum 1/r^6 over pairs, parameters named by functional.
    seen = []

    class Params:
        def __init__(self, functional):
            self.functional = functional

        def as_dict(self):
            return {"s6": 1.0, "functional": str(getattr(self.functional, "name", self.functional))}

    def d4_parameters(functional):
        seen.append(functional)
        return Params(functional)

    def dispersion_energy_gradient(numbers, positions, charge, params):
        distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)[np.triu_indices(len(numbers), 1)]
        return float(-np.sum(distances**-6.0)), np.zeros_like(positions)

    fake = types.ModuleType("ase_nnxc.dispersion")
    fake.d4_parameters, fake.dispersion_energy_gradient = d4_parameters, dispersion_energy_gradient
    monkeypatch.setitem(sys.modules, "ase_nnxc.dispersion", fake)
    reactions, species = g2_benchmark.atomisation_reactions(["LiH"])
    reaction_set = ReactionSet("t", reactions, species)
    method = Method("pbe", "nnxc", "6-31g", grid_level=1)
    with_d4 = Runner(method, tmp_path, dispersion="d4", progress=False).energies(reaction_set)
    assert seen and not isinstance(seen[0], str)  # an ase_nnxc method passes its functional object
    monkeypatch.setattr(runner_module, "run_species", _no_scf)
    plain = Runner(method, tmp_path, progress=False).energies(reaction_set)  # the SCF energies are reused
    lih = species["G2/LiH"]
    bond = np.linalg.norm(lih.positions[0] - lih.positions[1])
    assert with_d4["G2/LiH"] - plain["G2/LiH"] == pytest.approx(-(bond**-6.0), rel=1e-12)
    assert with_d4["atom/Li"] == plain["atom/Li"]  # a single atom has no dispersion energy
    cache = json.loads((tmp_path / method.cache_name()).read_text())
    (label,) = cache["dispersion_parameters"]
    assert label.startswith("d4-") and cache["dispersion_parameters"][label]["functional"] == "pbe"
    assert cache["species"][lih.key]["dispersion"][label] == pytest.approx(-(bond**-6.0))


def _writer(path, start):
    from ase_nnxc.benchmarks.reactions import Species

    cache = EnergyCache(path)
    for i in range(start, start + 15):
        cache.put(Species(f"H{i}", [1], [[0.0, 0.0, 0.1 * i]], spin=1), {"energy": -0.5 - i})


def test_processes_sharing_a_cache_file_keep_each_others_records(tmp_path):
    import multiprocessing

    path = tmp_path / "shared.json"
    starts = (0, 100, 200, 300)  # without the lock about a third of the records are lost
    processes = [multiprocessing.Process(target=_writer, args=(path, start)) for start in starts]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    records = json.loads(path.read_text())["species"]
    assert sorted(r["energy"] for r in records.values()) == sorted(-0.5 - i for s in starts for i in range(s, s + 15))
