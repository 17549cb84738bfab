"""What a new user sees first: the calculator's repr, the basis each command names, labelled units, aligned listings."""

import re

import pytest
import yaml
from ase import Atoms
from ase.io import write

from ase_nnxc import NNXC, pretrained
from ase_nnxc.cli import main
from ase_nnxc.train.config import TrainConfig
from ase_nnxc.train.trainer import Trainer
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL

H2_AE = [
    {
        "e_type": "ae",
        "true_val": "0.1744",
        "systems": [
            {"moldesc": "H 0 0 0; H 0 0 1.4", "basis": "sto-3g"},
            {"moldesc": "H 0 0 0", "basis": "sto-3g", "spin": 1, "number": 2},
        ],
    }
]


def test_repr_shows_functional_basis_in_use_and_grid():
    assert repr(NNXC(xc="pbe", basis="sto-3g", grid_level=1)) == "NNXC(xc='pbe', basis='sto-3g', grid_level=1)"
    assert str(NNXC(conv_tol=1e-8)) == "NNXC(xc='pbe', basis='def2-svp', grid_level=3, conv_tol=1e-08)"
    if "nnxc" in pretrained.shipped_functionals():
        # A trained functional runs in the basis stored with its weights, and the repr says so.
        assert f"basis='{pretrained.load('nnxc').default_basis}'" in repr(NNXC(xc="nnxc"))


def test_optimize_names_the_basis_it_uses(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "h2.xyz", Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.76)]))
    main(["optimize", "h2.xyz", "--steps", "0", "--grid-level", "1"])
    header = capsys.readouterr().out.splitlines()[0]
    assert f"pbe/{NNXC().basis}," in header and "default basis" not in header


def test_evaluate_labels_its_units(tmp_path, capsys):
    (tmp_path / "h2.yaml").write_text(yaml.safe_dump(H2_AE))
    assert main(["evaluate", "pbe", str(tmp_path / "h2.yaml"), "--grid-level", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["entry", "type", "predicted/Ha", "reference/Ha", "error/(kcal/mol)"]
    predicted, reference, error = map(float, lines[1].split()[-3:])
    assert error == pytest.approx((predicted - reference) * HARTREE_TO_KCAL_PER_MOL, abs=2e-3)


def test_plugins_listing_is_aligned_and_names_shipped_functionals(capsys):
    assert main(["plugins"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("    ")]
    header, entries = rows[0], rows[1:]
    name_column, description_column = header.index("name"), header.index("description")
    for row in entries:
        # each name starts in the name column, after a kind and at least two spaces
        assert row[name_column - 2 : name_column] == "  " and row[name_column] != " ", row
        assert row[description_column - 2 : description_column] == "  ", row
    kinds = {row[name_column:description_column].strip(): row[:name_column].strip() for row in entries}
    for name in pretrained.shipped_functionals():
        assert kinds[name] == "shipped neural functional"
    assert kinds["torch-lda"] == "base functional" and kinds["l2"] == "loss"


@pytest.mark.parametrize("validation", [None, "h2.yaml"])
def test_training_progress_prints_a_validation_mae_only_with_a_validation_set(tmp_path, capsys, validation):
    (tmp_path / "h2.yaml").write_text(yaml.safe_dump(H2_AE))
    config = {"train": "h2.yaml", "model": "nn-lda", "epochs": 1, "scf": {"grid_level": 1}, "output": "run"}
    if validation:
        config["validation"] = validation
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    Trainer(TrainConfig.from_yaml(tmp_path / "config.yaml"), progress=True).run()
    epoch_line = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch 1:")][-1]
    if validation:
        assert re.search(r"valid MAE \d+\.\d{3} kcal/mol$", epoch_line)
    else:
        assert "valid" not in epoch_line
