"""The corrupted-file matrix: every kind of bad checkpoint, through ``--xc``, ``evaluate`` and ``--resume``.

Each case must be refused with one line naming the file and what is wrong (exit status 2),
run none of the file's code, allocate less than 100 MB, and (``--resume``) leave the file as
it was. The cases are made from a genuine checkpoint by ``corrupt.py``.
"""

import re
import shutil

import pytest
import yaml
from ase.build import molecule
from ase.io import write
from corrupt import MAKERS, MARKER, MESSAGES, RESUME_MESSAGES, peak_rss_increase

from ase_nnxc.cli import EXIT_USAGE, main
from ase_nnxc.train.config import TrainConfig
from ase_nnxc.train.trainer import Trainer

MEMORY_LIMIT_MB = 100.0
H_ATOM = {"moldesc": "H 0 0 0", "basis": "sto-3g", "spin": 1}
ENTRY = {"e_type": "ae", "true_val": 0.17, "systems": [{"moldesc": "H 0 0 0; H 0 0 1.4", "basis": "sto-3g"}, H_ATOM]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A dataset, a config, a structure and a genuine checkpoint with training state (no SCF run)."""
    root = tmp_path_factory.mktemp("matrix")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump([ENTRY]))
    config = root / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"train": str(data), "model": {"name": "nn-lda", "options": {"hidden": [4]}}, "base": "lda,vwn",
             "epochs": 1, "output": str(root / "run"), "scf": {"grid_level": 0}}
        )
    )
    water = root / "water.xyz"
    write(water, molecule("H2O"))
    good = Trainer(TrainConfig.from_yaml(config), progress=False).save("last.pt")
    shutil.copy(good, root / "good.pt")
    return {"root": root, "data": data, "config": config, "water": water, "good": root / "good.pt"}


def _commands(files, bad):
    return {
        "xc": ["energy", str(files["water"]), "--xc", str(bad), "--basis", "sto-3g", "--grid-level", "0"],
        "evaluate": ["evaluate", str(bad), str(files["data"])],
        "resume": ["train", str(files["config"]), "--resume", "--quiet"],
    }


@pytest.fixture(scope="module")
def warmed(files):
    """Run every command once on an empty file, so that imports do not count as allocations."""
    bad = files["root"] / "warm-up.pt"
    bad.write_bytes(b"")
    for name, command in _commands(files, bad).items():
        if name == "resume":
            shutil.copy(bad, files["root"] / "run" / "last.pt")
        main(command)
    return files


@pytest.mark.parametrize("entry", ["xc", "evaluate", "resume"])
@pytest.mark.parametrize("case", sorted(MAKERS))
def test_bad_checkpoint_is_refused_with_one_line_no_code_and_little_memory(warmed, case, entry, capsys, monkeypatch):
    files = warmed
    monkeypatch.chdir(files["root"])  # where the hostile pickle would write its marker
    bad = files["root"] / f"{case}.pt"
    MAKERS[case](files["good"], bad)
    target = bad
    if entry == "resume":
        target = files["root"] / "run" / "last.pt"
        shutil.copy(bad, target)
    before = target.read_bytes()
    capsys.readouterr()
    status = []
    grown = peak_rss_increase(lambda: status.append(main(_commands(files, bad)[entry])))
    assert status == [EXIT_USAGE]
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnxc "), lines
    expected = RESUME_MESSAGES.get(case, MESSAGES[case]) if entry == "resume" else MESSAGES[case]
    assert str(target) in lines[0] and re.search(expected, lines[0]), lines[0]
    assert not (files["root"] / MARKER).exists()
    assert target.read_bytes() == before  # nothing saved is lost
    if grown is not None:
        assert grown < MEMORY_LIMIT_MB, f"{grown:.0f} MB"
