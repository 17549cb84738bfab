"""Checkpoint integrity: the content hash, old files, file modes and a full disk.

The corrupted-file matrix (truncated, flipped bytes, altered weights, wrong shapes, huge
options, hostile pickles, empty, NaN weights, a base that is the file itself) through the
command line is in ``test_corrupted_files.py``.
"""

import os
import shutil
import stat
import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import InputError
from corrupt import altered_weights, flipped_bytes

from ase_nnxc import NNXC, pretrained
from ase_nnxc.cli import EXIT_USAGE, main
from ase_nnxc.train.checkpoint import (
    CheckpointError,
    build_functional,
    content_sha256,
    load_functional,
    read_checkpoint,
    save_checkpoint,
    upgrade,
)
from ase_nnxc.xc import checkpoint  # the file format (its atomic writes are patched below)

META = {"model": "nn-lda", "options": {"hidden": [3]}, "base": "lda,vwn", "basis": "sto-3g", "grid_level": 1}


def tiny(path, **meta):
    functional = build_functional("nn-lda", {"hidden": [3]}, "lda,vwn", a=0.3)
    save_checkpoint(path, functional, {**META, **meta})
    return path


def test_the_content_hash_covers_weights_and_metadata(tmp_path):
    payload = read_checkpoint(tiny(tmp_path / "a.pt"))
    assert payload["version"] == 2 and payload["content_sha256"] == content_sha256(payload)
    for change in (
        lambda p: p["state_dict"].__setitem__("a", p["state_dict"]["a"] + 1e-15),
        lambda p: p.__setitem__("base", "pbe"),
        lambda p: p.__setitem__("grid_level", 3),
        lambda p: p["options"].__setitem__("hidden", [3, 3]),
    ):
        altered = read_checkpoint(tmp_path / "a.pt")
        change(altered)
        assert content_sha256(altered) != payload["content_sha256"]


@pytest.mark.parametrize("damage", [flipped_bytes, altered_weights], ids=["64-flipped-bytes", "altered-weights"])
def test_a_damaged_copy_of_a_shipped_model_is_refused(tmp_path, damage):
    # Before the checks, such a copy gave H2O in sto-3g -76.17 Ha instead of -75.53, with exit status 0.
    shipped = pretrained.path_of("nnxc-pbe-2026.12")
    copy = tmp_path / "copy.pt"
    shutil.copy(shipped, copy)
    assert load_functional(copy).a == pretrained.load("nnxc-pbe-2026.12").a  # an intact copy loads
    damage(shipped, copy)
    with pytest.raises(InputError, match=r"copy\.pt: (damaged checkpoint|content SHA-256 [0-9a-f]{64} does not match the [0-9a-f]{64})"):
        NNXC(xc=str(copy), basis="sto-3g")


def test_format_1_loads_with_a_warning_and_upgrade_adds_the_hash_without_changing_a_weight(tmp_path):
    path = tiny(tmp_path / "old.pt")
    payload = torch.load(path, weights_only=True)
    del payload["content_sha256"]
    payload["version"] = 1
    torch.save(payload, path)  # as written before checkpoints carried the hash
    with pytest.warns(UserWarning, match=r"old\.pt: checkpoint format 1 carries no content hash.*python -m ase_nnxc\.train\.checkpoint"):
        old = load_functional(path)
    assert upgrade(path) and not upgrade(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = load_functional(path)
    for key, value in old.state_dict().items():
        assert torch.equal(value, new.state_dict()[key])
    assert read_checkpoint(path)["version"] == 2


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_checkpoints_are_written_with_the_users_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = tiny(tmp_path / "m.pt")
        expected = 0o666 & ~umask
        assert stat.S_IMODE(path.stat().st_mode) == expected  # 0644 / 0640, not mkstemp's 0600
        reference = tmp_path / "plain.txt"
        reference.write_text("x")
        assert stat.S_IMODE(reference.stat().st_mode) == expected
    finally:
        os.umask(previous)


@pytest.fixture
def full_disk(monkeypatch):
    """Checkpoint writes go to /dev/full, which fails every write with ENOSPC, as a full disk does."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")

    def to_dev_full(path):
        return os.open("/dev/full", os.O_WRONLY), path.with_name(f".{path.name}.never-created.tmp")

    monkeypatch.setattr(checkpoint, "_open_temporary", to_dev_full)


def test_a_full_disk_says_so_and_keeps_the_previous_checkpoint(tmp_path, full_disk):
    path = tmp_path / "last.pt"
    previous = b"the previous checkpoint"
    path.write_bytes(previous)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*last\.pt: the disk is full \(No space left on device\); the previous last\.pt is unchanged"):
        tiny(path)
    assert path.read_bytes() == previous and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_a_full_disk_during_training_exits_with_2_and_one_line(tmp_path, full_disk, capsys):
    data = tmp_path / "data.yaml"
    data.write_text(
        "- {e_type: ae, true_val: 0.17, systems: [{moldesc: 'H 0 0 0; H 0 0 1.4', basis: sto-3g},"
        " {moldesc: 'H 0 0 0', basis: sto-3g, spin: 1}]}\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"train: {data}\nmodel: {{name: nn-lda, options: {{hidden: [2]}}}}\nepochs: 1\noutput: {tmp_path / 'run'}\n"
        "scf: {grid_level: 0}\n"
    )
    assert main(["train", str(config), "--quiet"]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "run/last.pt: the disk is full (No space left on device); nothing was written" in line
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_checkpoints_grid_level_is_the_calculators_default(tmp_path):
    path = tiny(tmp_path / "g1.pt", grid_level=1)
    atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)])
    atoms.calc = NNXC(xc=str(path))
    assert (atoms.calc.basis, atoms.calc.grid_level) == ("sto-3g", 1)
    energy = atoms.get_potential_energy()
    assert atoms.calc._ks.grid.level == 1
    explicit = atoms.copy()
    explicit.calc = NNXC(xc=str(path), grid_level=1)
    assert explicit.get_potential_energy() == energy
    finer = atoms.copy()
    finer.calc = NNXC(xc=str(path), grid_level=3)  # an explicit level still wins
    assert abs(finer.get_potential_energy() - energy) > 1e-6
    assert NNXC(xc="pbe").grid_level == 3 and np.isfinite(energy)
