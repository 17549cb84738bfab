"""Bad command-line and calculator input: one clear line naming the bad value (CLI: exit status 2)."""

import pytest
from ase.build import molecule
from ase.calculators.calculator import InputError
from ase.io import write

from ase_nnxc import NNXC
from ase_nnxc.cli import EXIT_USAGE, main


@pytest.fixture
def water(tmp_path):
    path = tmp_path / "water.xyz"
    write(path, molecule("H2O"))
    return path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--index", "5"], r"--index 5 is out of range: .*water\.xyz holds 1 image\(s\) \(index 0 to 0\)"),  # was "StopIteration"
        (["--format", "bogus"], r"--format 'bogus' is not a format ase\.io knows"),  # was "bogus"
        (["--format", "xzy"], r"--format 'xzy' is not a format ase\.io knows; did you mean xyz\?"),
        (["--index", "first"], r"--index 'first' is not an image index or slice"),
    ],
)
def test_bad_structure_options_are_named(water, capsys, options, message):
    import re

    assert main(["energy", str(water), *options]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert re.search(message, line), line


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"charge": "1"}, r"charge must be an integer or None, got '1' \(str\)"),  # was "(1) must be integers"
        ({"spin": 1.5}, r"spin must be an integer or None, got 1\.5 \(float\)"),
        ({"charge": True}, r"charge must be an integer or None, got True \(bool\)"),
    ],
)
def test_charge_and_spin_must_be_integers(parameters, message):
    with pytest.raises(InputError, match=message):
        NNXC(**parameters)
    assert NNXC(charge=1.0).parameters.charge == 1.0  # an integral float is an integer
