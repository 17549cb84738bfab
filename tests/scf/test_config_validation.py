"""Every numeric SCF option is checked for type, finiteness and range, wherever it is given."""

import math

import pytest
from ase.build import molecule
from ase.calculators.calculator import InputError
from ase.io import write

from ase_nnxc import NNXC
from ase_nnxc.cli import EXIT_USAGE, main
from ase_nnxc.scf import SCFConfig
from ase_nnxc.train.config import ConfigError, TrainConfig

BAD = [
    ("conv_tol", math.inf, r"conv_tol must be a finite number in \(0, 0\.0001\] Hartree, got inf"),
    ("conv_tol", 1.0, r"conv_tol must be a finite number in \(0, 0\.0001\] Hartree, got 1\.0"),
    ("conv_tol", math.nan, r"conv_tol must be a finite number"),
    ("conv_tol", "1e-9", r"conv_tol must be a number, got '1e-9' \(str\)"),
    ("conv_tol_grad", 0.5, r"conv_tol_grad must be a finite number in \(0, 0\.01\]"),
    ("level_shift", math.nan, r"level_shift must be a finite number in \[0, 10\] Hartree, got nan"),
    ("level_shift", -0.1, r"level_shift must be a finite number in \[0, 10\]"),
    ("damping", math.nan, r"damping must be a finite number in \[0, 1\)"),
    ("damping", 1.0, r"damping must be a finite number in \[0, 1\), got 1\.0"),
    ("max_cycle", 0, r"max_cycle must be an integer >= 1, got 0"),
    ("max_cycle", 2.5, r"max_cycle must be an integer, got 2\.5"),
    ("max_cycle", True, r"max_cycle must be an integer, got True \(bool\)"),
    ("max_total_cycles", 0, r"max_total_cycles must be an integer >= 1"),
    ("grid_level", 12, r"grid_level must be an integer from 0 to 9, got 12"),
    ("diis_space", -1, r"diis_space must be an integer >= 0"),
    ("max_memory_mb", math.inf, r"max_memory_mb must be a finite number"),
    ("fallback", "yes", r"fallback must be True or False, got 'yes'"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_bad_values_are_refused_naming_the_option(name, value, message):
    with pytest.raises(ValueError, match=message):
        SCFConfig(**{name: value})


@pytest.mark.parametrize(("name", "value"), [("conv_tol", math.inf), ("conv_tol", 1.0), ("level_shift", math.nan)])
def test_the_calculator_refuses_them_when_they_are_given(name, value):
    # conv_tol=1 returned H2O 2.2 eV above its converged energy; level_shift=nan was ignored.
    with pytest.raises(InputError, match=name):
        NNXC(**{name: value})


def test_the_command_line_and_a_training_config_refuse_them(tmp_path, capsys):
    water = tmp_path / "water.xyz"
    write(water, molecule("H2O"))
    assert main(["energy", str(water), "--conv-tol", "1"]) == EXIT_USAGE
    assert "InputError: conv_tol must be a finite number in (0, 0.0001] Hartree, got 1.0" in capsys.readouterr().err
    config = tmp_path / "config.yaml"
    config.write_text("train: data.yaml\nscf: {conv_tol: .inf, grid_level: 1}\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: scf: conv_tol must be a finite number.*got inf"):
        TrainConfig.from_yaml(config)
    config.write_text("train: data.yaml\noptimizer: {name: adam, lr: .nan}\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: lr must be a finite positive number, got nan"):
        TrainConfig.from_yaml(config)


def test_good_values_pass_and_integral_floats_become_integers():
    config = SCFConfig(conv_tol=1e-4, conv_tol_grad=1e-2, level_shift=0.25, damping=0.3, max_cycle=50.0)
    assert config.max_cycle == 50 and isinstance(config.max_cycle, int) and config.cycle_budget == 100
