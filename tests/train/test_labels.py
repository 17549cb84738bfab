"""CCSD density-matrix labels: electron counts, FCI for two electrons, the disk cache, the
written dataset through the predictor and one training step."""

import math

import numpy as np
import pytest
import torch
import yaml

from ase_nnxc.scf import SCFConfig
from ase_nnxc.train import labels
from ase_nnxc.train.config import TrainConfig
from ase_nnxc.train.dataset import SystemSpec, load_dataset
from ase_nnxc.train.g2 import atom_spec, molecule_spec
from ase_nnxc.train.labels import ccsd_density_matrix, density_entries, write_density_dataset
from ase_nnxc.train.predict import Predictor
from ase_nnxc.train.trainer import Trainer
from ase_nnxc.xc import get_functional

H2 = molecule_spec("H2", "6-31g")


def overlap(spec):
    return spec.to_system().to_mole().intor("int1e_ovlp")


@pytest.mark.parametrize(
    "spec",
    [molecule_spec("H2O", "def2-svp"), atom_spec("Li", "6-31g"), molecule_spec("CH3", "6-31g")],
    ids=["H2O-closed", "Li-open", "CH3-open"],
)
def test_trace_of_density_times_overlap_is_the_electron_count(tmp_path, spec):
    density = ccsd_density_matrix(spec, tmp_path)
    nao = overlap(spec).shape[0]
    assert density.shape == (nao, nao)
    assert np.allclose(density, density.T, atol=1e-12)
    assert np.trace(density @ overlap(spec)) == pytest.approx(spec.to_system().nelectron, abs=1e-8)


def test_two_electron_ccsd_density_is_the_fci_density(tmp_path):
    from pyscf import fci, scf

    mol = H2.to_system().to_mole()
    mf = scf.RHF(mol)
    mf.conv_tol = 1e-12
    mf.kernel()
    solver = fci.FCI(mf)
    solver.conv_tol = 1e-12
    _, civec = solver.kernel()
    exact = mf.mo_coeff @ solver.make_rdm1(civec, mol.nao_nr(), mol.nelec) @ mf.mo_coeff.T
    density = ccsd_density_matrix(H2, tmp_path)
    assert np.abs(density - exact).max() < 1e-6
    # Correlation moves density out of the HF orbitals: the comparison is not HF vs HF.
    assert np.abs(mf.make_rdm1() - exact).max() > 1e-3


def test_cache_is_reused_and_keyed_by_the_system(tmp_path, monkeypatch):
    first = ccsd_density_matrix(H2, tmp_path)
    assert len(list(tmp_path.glob("ccsd-*.npy"))) == 1

    def no_solver(mol, name):
        raise AssertionError(f"CCSD ran again for {name}")

    monkeypatch.setattr(labels, "_ccsd_ao_density", no_solver)
    same = SystemSpec("  " + H2.moldesc.replace(";", " ; "), H2.basis.upper())  # spacing and case only
    assert np.array_equal(ccsd_density_matrix(same, tmp_path), first)
    with pytest.raises(AssertionError, match="CCSD ran again"):
        ccsd_density_matrix(SystemSpec(H2.moldesc, H2.basis, charge=1, spin=1), tmp_path)


def test_systems_too_large_are_refused_before_any_ccsd_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(labels, "_ccsd_ao_density", lambda mol, name: pytest.fail("CCSD started"))
    benzene = molecule_spec("C6H6", "cc-pvtz")  # 264 basis functions
    with pytest.raises(ValueError, match=r"system C6H6 'C .*cc-pvtz.* 264 basis functions.*limited to 150"):
        ccsd_density_matrix(benzene, tmp_path)
    with pytest.raises(ValueError, match="264 basis functions"):
        density_entries([H2, benzene], tmp_path)
    with pytest.raises(ValueError, match="kind must be 'dm' or 'dens'"):
        density_entries([H2], tmp_path, kind="rho")


def test_cli_dataset_loads_and_its_labels_match_the_predictor_convention(tmp_path, capsys):
    out = tmp_path / "data" / "ccsd_dm.yaml"
    labels.main([str(out), "--molecules", "H2", "LiH", "--basis", "6-31g", "--cache-dir", str(tmp_path / "cache")])
    assert "wrote 2 dm entries" in capsys.readouterr().out
    raw = yaml.safe_load(out.read_text())
    assert [item["true_val"] for item in raw] == ["ccsd_dm_0_dm.npy", "ccsd_dm_1_dm.npy"]
    entries = load_dataset(out)
    assert [(e.name, e.e_type) for e in entries] == [("DM H2", "dm"), ("DM LiH", "dm")]

    # The label is the total (alpha + beta) density in the predictor's AO basis. Measured
    # with grid level 1: ||D_PBE - D_CCSD||_F = 0.047 for H2 in 6-31g (||D_CCSD||_F = 0.717);
    # an alpha-only label, or another AO order, would lie 0.3 or more away.
    predictor = Predictor(get_functional("pbe"), SCFConfig(conv_tol=1e-10, grid_level=1))
    with torch.no_grad():
        prediction, target = predictor.predict(entries[0]), predictor.target(entries[0])
    assert torch.linalg.norm(prediction - target) < 0.08
    assert torch.linalg.norm(prediction - target / 2) > 0.3

    # The same matrix as a ``dens`` label: the predictor puts it on its own grid.
    dens = write_density_dataset(tmp_path / "dens.yaml", [H2], tmp_path / "cache", kind="dens")
    with torch.no_grad():
        error = predictor.predict(dens[0]) - predictor.target(load_dataset(tmp_path / "dens.yaml")[0])
    assert float((error**2).sum()) < 1e-4  # int (rho_PBE - rho_CCSD)^2 dr: measured 1.6e-5 Bohr^-3


def test_one_training_step_on_a_dm_entry(tmp_path):
    data = tmp_path / "dm.yaml"
    write_density_dataset(data, [H2], tmp_path / "cache")
    config = {
        "train": str(data),
        "model": {"name": "nn-lda", "options": {"hidden": [4]}},
        "base": "lda,vwn",
        "optimizer": {"name": "adam", "lr": 0.02},
        "epochs": 1,
        "output": str(tmp_path / "run"),
        "scf": {"conv_tol": 1e-10, "grid_level": 1},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    trainer = Trainer(TrainConfig.from_yaml(tmp_path / "config.yaml"), progress=False)
    before = [p.detach().clone() for p in trainer.functional.parameters()]
    history = trainer.run()
    assert trainer.failures == 0 and math.isfinite(history[-1]["loss"])
    assert any(not torch.equal(b, p) for b, p in zip(before, trainer.functional.parameters()))
