"""Shipped functionals: registration by name, the alias, the hash check and the default basis."""

import json
import shutil
from pathlib import Path

import pytest

from ase_nnxc import pretrained
from ase_nnxc.train.checkpoint import CheckpointError, build_functional, save_checkpoint
from ase_nnxc.train.config import TrainConfig
from ase_nnxc.train.dataset import load_dataset


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A private copy of the shipped models, so tests may alter files."""
    target = tmp_path / "models"
    if pretrained.MODELS_DIR.is_dir():
        shutil.copytree(pretrained.MODELS_DIR, target)
    monkeypatch.setattr(pretrained, "MODELS_DIR", target)
    monkeypatch.setattr(pretrained, "INDEX", target / "index.json")
    return target


def tiny_checkpoint(path, basis="6-31g"):
    functional = build_functional("nn-lda", {"hidden": [3]}, "lda,vwn")
    save_checkpoint(
        path, functional, {"model": "nn-lda", "options": {"hidden": [3]}, "base": "lda,vwn", "basis": basis}
    )
    return path


def test_publish_registers_the_name_and_alias_and_checks_the_hash(models_dir, tmp_path):
    pretrained.publish(tiny_checkpoint(tmp_path / "a.pt"), "toy-2026.01", "toy", "train/toy.yaml", alias="toy")
    functional = pretrained.load("toy")
    assert functional.default_basis == "6-31g" and functional.name == "toy"
    index = json.loads((models_dir / "index.json").read_text())
    assert index["aliases"]["toy"] == "toy-2026.01"

    path = models_dir / "toy-2026.01.pt"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        pretrained.load("toy-2026.01")
    with pytest.raises(ValueError, match="no shipped functional 'nope'"):
        pretrained.path_of("nope")


def test_the_shipped_alias_is_registered_and_loads_with_its_basis():
    from ase_nnxc.calculator import NNXC
    from ase_nnxc.plugins import manager

    records = pretrained.shipped_functionals()
    if "nnxc" not in records:
        pytest.skip("no functional shipped in this checkout")
    assert "nnxc" in manager.base_functionals()
    assert manager.base_functionals()["nnxc"].plugin == "ase_nnxc.pretrained"
    functional = pretrained.load("nnxc")
    # The default basis is the one the reproduction config trains with.
    config = TrainConfig.from_yaml(Path(__file__).parents[1] / records["nnxc"]["config"])
    (basis,) = {s.basis for e in load_dataset(config.train) for s in e.systems}
    assert functional.default_basis == basis
    assert NNXC(xc="nnxc").basis == basis


def test_shipped_functional_forces_match_finite_differences():
    from ase.build import molecule

    from ase_nnxc.scf import SCFConfig
    from ase_nnxc.system import MolecularSystem
    from ase_nnxc.testing import check_forces

    if "nnxc" not in pretrained.shipped_functionals():
        pytest.skip("no functional shipped in this checkout")
    atoms = molecule("H2O")
    atoms.positions += [[0.0, 0.05, 0.02], [0.03, 0.0, -0.04], [0.0, -0.02, 0.05]]
    system = MolecularSystem.from_atoms(atoms, basis="def2-svp")
    config = SCFConfig(grid_level=1, conv_tol=1e-11)
    assert check_forces(system, pretrained.load("nnxc"), config, directions=2) < 1e-5
