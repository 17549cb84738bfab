"""DeepChem's own test datasets load unchanged: labels named from its repository root, sets without true_val."""

from pathlib import Path

import numpy as np
import pytest
from pyscf import dft, gto

from ase_nnxc.cli import main
from ase_nnxc.scf import SCFConfig
from ase_nnxc.train.dataset import DatasetError, load_dataset
from ase_nnxc.train.predict import Predictor
from ase_nnxc.xc import get_functional

#: Stands in for DeepChem's repository root (see its README.md).
ROOT = Path(__file__).parent / "data" / "deepchem_repo"
#: DeepChem's test_dft_data.py: the LiH atomisation energy with DQC's lda_x, 6-311++G(3df,3pd).
DEEPCHEM_LIH_LDA_X = 0.05362133


@pytest.fixture
def deepchem_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # DeepChem runs its tests from its repository root
    return ROOT


def test_a_label_path_from_the_repository_root_is_found_in_the_working_directory(deepchem_root):
    ae, dm = load_dataset("deepchem/data/tests/dftdata.yaml")
    assert (ae.e_type, ae.true_val, dm.e_type) == ("ae", 0.09194410469, "dm")
    mol = gto.M(atom="H 0.86625 0 0; F -0.86625 0 0", basis="6-311++G(3df,3pd)", unit="Bohr", verbose=0)
    assert dm.true_val.shape == (mol.nao, mol.nao)
    assert float(np.einsum("ij,ji->", dm.true_val, mol.intor("int1e_ovlp"))) == pytest.approx(10.0, abs=1e-8)


def test_a_label_next_to_the_yaml_file_comes_first(tmp_path, monkeypatch):
    (tmp_path / "set" / "labels").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    np.save(tmp_path / "set" / "labels" / "dm.npy", np.eye(2))
    np.save(tmp_path / "labels" / "dm.npy", 2 * np.eye(2))
    data = tmp_path / "set" / "data.yaml"
    data.write_text("- {e_type: dm, true_val: labels/dm.npy, systems: [{moldesc: 'H 0 0 0; H 0 0 1.4', basis: sto-3g}]}\n")
    monkeypatch.chdir(tmp_path)
    assert load_dataset(data)[0].true_val[0, 0] == 1.0  # next to the YAML file
    (tmp_path / "set" / "labels" / "dm.npy").unlink()
    assert load_dataset(data)[0].true_val[0, 0] == 2.0  # else the working directory
    (tmp_path / "labels" / "dm.npy").unlink()
    with pytest.raises(DatasetError, match=r"cannot read label array labels/dm\.npy: no such file \(.*set/labels/dm\.npy or .*/labels/dm\.npy\)"):
        load_dataset(data)


def test_deepchems_lih_lda_x_atomisation_energy(deepchem_root):
    ae = load_dataset("deepchem/data/tests/dftdata.yaml")[0]
    predicted = float(Predictor(get_functional("lda_x"), SCFConfig(require_aufbau=False)).predict(ae))
    assert np.isclose(predicted, DEEPCHEM_LIH_LDA_X)  # DeepChem's own test tolerance (np.allclose)


def test_a_prediction_set_without_true_val_evaluates_but_does_not_train(deepchem_root, tmp_path, capsys):
    path = "deepchem/models/tests/assets/test_ieLi.yaml"
    with pytest.raises(DatasetError, match=r"test_ieLi\.yaml, entry 0: missing 'true_val'; .*evaluated .*but not trained on"):
        load_dataset(path)
    (entry,) = load_dataset(path, require_labels=False)
    assert entry.true_val is None and [s.spin for s in entry.systems] == [1, 0] and entry.systems[1].charge == 1

    assert main(["evaluate", "lda_x", path, "--grid-level", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("ie-0"))
    assert row.split()[-2:] == ["no", "reference"] and "1 without reference" in out
    energies = []
    for charge, spin in ((0, 1), (1, 0)):
        mol = gto.M(atom="Li 0 0 0", basis="6-311++G(3df,3pd)", unit="Bohr", charge=charge, spin=spin, verbose=0)
        mf = dft.UKS(mol, xc="lda_x")
        mf.grids.level, mf.conv_tol = 1, 1e-11
        energies.append(mf.kernel())
    assert float(row.split()[2]) == pytest.approx(energies[1] - energies[0], abs=1e-6)

    config = tmp_path / "config.yaml"
    config.write_text(f"train: {ROOT / path}\noutput: {tmp_path / 'run'}\n")
    assert main(["train", str(config), "--quiet"]) == 2
    assert "missing 'true_val'" in capsys.readouterr().err
