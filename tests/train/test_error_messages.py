"""What a user sees for bad training input: ``nnxc train``/``nnxc evaluate`` print one line
naming the file (and the entry, for datasets) and exit with status 2, before any SCF runs.

The library-level errors are tested in ``test_dataset.py`` and ``test_trainer.py``; these
tests follow the same inputs through the command line, and add resuming from a checkpoint
of another model.
"""

import re

import pytest
import torch
import yaml

from ase_nnxc.cli import EXIT_USAGE, main
from ase_nnxc.train.checkpoint import CheckpointError, write_payload
from ase_nnxc.train.config import ConfigError, TrainConfig
from ase_nnxc.train.trainer import Trainer

H_ATOM = "{moldesc: 'H 0 0 0', basis: sto-3g, spin: 1}"
GOOD_ENTRY = (
    f"- {{e_type: ae, true_val: 0.17, systems: [{{moldesc: 'H 0 0 0; H 0 0 1.4', basis: sto-3g}}, {H_ATOM}]}}\n"
)

BAD_DATASETS = {
    "unknown-entry-type": (
        GOOD_ENTRY + f"- {{e_type: polarisability, true_val: 1.0, systems: [{H_ATOM}]}}\n",
        r"data\.yaml, entry 1: unknown entry type 'polarisability'; known: ae, ie, dm, dens, force",
    ),
    "malformed-yaml": (GOOD_ENTRY + "- e_type: ie\n  systems: [{moldesc: 'N 0 0 0'\n", r"data\.yaml: malformed YAML"),
    "electrons-vs-spin": (
        GOOD_ENTRY + "- {e_type: ie, true_val: 0.5, systems: [{moldesc: 'N 0 0 0', spin: 3},"
        " {moldesc: 'N 0 0 0', spin: 3, charge: 1}]}\n",
        r"data\.yaml, entry 1, system 1: 6 electrons are inconsistent with spin",
    ),
    "odd-electrons-closed-shell": (
        f"- {{e_type: ie, true_val: 0.5, systems: [{{moldesc: 'Li 0 0 0'}}, {H_ATOM}]}}\n",
        r"data\.yaml, entry 0, system 0: 3 electrons are inconsistent with spin 2S = 0",
    ),
}


def write_config(tmp_path, data, **overrides):
    config = {
        "train": str(data),
        "model": {"name": "nn-lda", "options": {"hidden": [4]}},
        "base": "lda,vwn",
        "epochs": 1,
        "output": str(tmp_path / "run"),
        "scf": {"grid_level": 0},
    }
    config.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def one_line_error(capsys, command) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"nnxc {command}: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("case", sorted(BAD_DATASETS))
def test_bad_dataset_is_named_by_train_and_evaluate(case, tmp_path, capsys):
    text, message = BAD_DATASETS[case]
    data = tmp_path / "data.yaml"
    data.write_text(text)
    assert main(["train", str(write_config(tmp_path, data)), "--quiet"]) == EXIT_USAGE
    assert re.search(message, one_line_error(capsys, "train"))
    assert main(["evaluate", "lda,vwn", str(data)]) == EXIT_USAGE
    assert re.search(message, one_line_error(capsys, "evaluate"))


def test_malformed_config_is_named(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("train: data.yaml\nmodel: {name: nn-lda\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: malformed YAML"):
        TrainConfig.from_yaml(config)
    assert main(["train", str(config)]) == EXIT_USAGE
    assert re.search(r"config\.yaml: malformed YAML", one_line_error(capsys, "train"))


@pytest.fixture
def trained_files(tmp_path):
    """A dataset and a checkpoint with training state for it (no SCF was run)."""
    data = tmp_path / "data.yaml"
    data.write_text(GOOD_ENTRY)
    trainer = Trainer(TrainConfig.from_yaml(write_config(tmp_path, data, epochs=0)), progress=False)
    return data, trainer.save("last.pt")


def test_corrupt_checkpoint_is_named(trained_files, tmp_path, capsys):
    data, last = trained_files
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    assert main(["evaluate", str(truncated), str(data)]) == EXIT_USAGE
    assert re.search(r"truncated\.pt: not a readable checkpoint", one_line_error(capsys, "evaluate"))

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)  # a torch file, but not ours
    assert main(["evaluate", str(foreign), str(data)]) == EXIT_USAGE
    assert re.search(r"foreign\.pt: not an ase_nnxc checkpoint", one_line_error(capsys, "evaluate"))

    # A checkpoint broken while a run was away: resuming names it instead of starting over.
    last.write_bytes(b"\0" * 64)
    assert main(["train", str(tmp_path / "config.yaml"), "--resume", "--quiet"]) == EXIT_USAGE
    assert re.search(r"last\.pt: not a readable checkpoint", one_line_error(capsys, "train"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model": {"name": "nn-gga", "options": {"hidden": [4]}}},
            r"last\.pt: trained nn-lda on lda,vwn, but the config asks for nn-gga",
        ),
        ({"base": "pbe"}, r"last\.pt: trained nn-lda on lda,vwn, but the config asks for nn-lda on pbe"),
        ({"model": {"name": "nn-lda", "options": {"hidden": [8]}}}, r"last\.pt: trained with model options \{.*'hidden': \[4\].*\}, but the config asks for"),
    ],
    ids=["other-model", "other-base", "other-shape"],
)
def test_resuming_from_a_mismatched_checkpoint_is_named(trained_files, tmp_path, capsys, changes, message):
    data, last = trained_files
    config = write_config(tmp_path, data, **changes)
    with pytest.raises(CheckpointError, match=message):
        Trainer(TrainConfig.from_yaml(config), progress=False).run(resume=True)
    assert main(["train", str(config), "--resume", "--quiet"]) == EXIT_USAGE
    assert re.search(message, one_line_error(capsys, "train"))


def test_mismatched_weights_are_named_by_evaluate(trained_files, tmp_path, capsys):
    data, last = trained_files
    payload = torch.load(last, weights_only=True)
    payload["options"] = {"hidden": [9]}  # the stored weights have 4 hidden units
    write_payload(tmp_path / "mismatch.pt", payload)  # a consistent content hash: the shapes are what is wrong
    assert main(["evaluate", str(tmp_path / "mismatch.pt"), str(data)]) == EXIT_USAGE
    message = one_line_error(capsys, "evaluate")
    assert re.search(r"mismatch\.pt: weights do not match model 'nn-lda' with options \{'hidden': \[9\]\}", message)
    assert re.search(r"model\.net\.0\.weight is \(4, 2\) in the file, \(9, 2\) in the model", message)
