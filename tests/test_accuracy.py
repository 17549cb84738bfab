"""The accuracy benchmark's energies, cache and exact H2 reference."""

import json

import numpy as np
import pytest

from ase_nnxc import accuracy
from ase_nnxc.accuracy import EnergyCache, Method
from ase_nnxc.train import g2


def test_nnxc_and_pyscf_columns_agree_and_the_cache_is_reused(tmp_path, monkeypatch):
    ours = Method("pbe", "nnxc", "6-31g", grid_level=1)
    theirs = Method("pbe", "pyscf", "6-31g", grid_level=1)
    errors = [accuracy.atomisation_errors(m, ["LiH"], tmp_path, progress=False)["LiH"] for m in (ours, theirs)]
    assert errors[0] == pytest.approx(errors[1], abs=1e-4)  # kcal/mol
    assert len(json.loads((tmp_path / ours.cache_name()).read_text())) == 3  # LiH, Li, H

    def recompute(self, spec):
        raise AssertionError("a cached energy was computed again")

    monkeypatch.setattr(EnergyCache, "_compute", recompute)
    assert accuracy.atomisation_errors(ours, ["LiH"], tmp_path, progress=False)["LiH"] == errors[0]


def test_a_failed_system_is_recorded_and_counted_not_hidden(tmp_path):
    method = Method("no-such-functional", "pyscf", "6-31g", grid_level=1)
    errors = accuracy.atomisation_errors(method, ["LiH"], tmp_path, progress=False)
    assert errors == {"LiH": None}
    cache = EnergyCache(method, tmp_path)
    assert "not found" in cache.error(g2.molecule_spec("LiH", "6-31g"))
    assert accuracy.mean_absolute([1.0, -3.0, None]) == (2.0, 1)


def test_proton_has_zero_energy_so_the_h_ionisation_energy_is_minus_e_h(tmp_path):
    method = Method("pbe", "pyscf", "6-31g", grid_level=1)
    (error,) = accuracy.ionisation_errors(method, ["H"], tmp_path, progress=False).values()
    e_h = EnergyCache(method, tmp_path).energy(g2.atom_spec("H", "6-31g"))
    expected = -e_h - g2.IONISATION_ENERGIES_EV["H"] / accuracy.HARTREE_TO_EV
    assert error == pytest.approx(expected * accuracy.KCAL_PER_HARTREE, abs=1e-9)


def test_exact_h2_curve_matches_pyscf_fci(tmp_path):
    from pyscf import fci, gto, scf

    distances = (0.7, 1.6)
    curve = accuracy.fci_h2_curve(tmp_path, distances, basis="cc-pvdz")
    e_h = scf.UHF(gto.M(atom="H 0 0 0", basis="cc-pvdz", spin=1, verbose=0)).run().e_tot
    for r, value in zip(distances, curve):
        mol = gto.M(atom=f"H 0 0 0; H 0 0 {r}", basis="cc-pvdz", verbose=0)
        e_fci = fci.FCI(scf.RHF(mol).run()).kernel()[0]
        assert value == pytest.approx((e_fci - 2 * e_h) * accuracy.KCAL_PER_HARTREE, abs=1e-5)
    assert np.isfinite(curve).all()


def test_checkpoint_methods_are_cached_by_content(tmp_path):
    import torch

    from ase_nnxc.train.checkpoint import build_functional, save_checkpoint

    functional = build_functional("nn-lda", {"hidden": [4]}, "lda,vwn")
    path = tmp_path / "model.pt"
    save_checkpoint(
        path, functional, {"model": "nn-lda", "options": {"hidden": [4]}, "base": "lda,vwn", "basis": "6-31g"}
    )
    first = Method(str(path)).cache_name()
    with torch.no_grad():
        functional.a.fill_(0.5)
    save_checkpoint(
        path, functional, {"model": "nn-lda", "options": {"hidden": [4]}, "base": "lda,vwn", "basis": "6-31g"}
    )
    accuracy._FUNCTIONALS.clear()
    assert Method(str(path)).cache_name() != first
    assert Method(str(path)).resolved_basis() == "6-31g"
