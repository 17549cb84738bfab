"""Model and loss factories and their options are checked when training starts, before any SCF."""

import re

import pytest
import torch
import yaml

from ase_nnxc import hookimpl
from ase_nnxc.cli import EXIT_USAGE, main
from ase_nnxc.xc.torch_functionals import TorchLDA

DATA = (
    "- {e_type: ae, true_val: 0.17, systems: [{moldesc: 'H 0 0 0; H 0 0 1.4', basis: sto-3g},"
    " {moldesc: 'H 0 0 0', basis: sto-3g, spin: 1}]}\n"
)


class Factories:
    """A plugin with a loss that has an option, and three broken factories."""

    @hookimpl
    def nnxc_register_losses(self, register):
        def floored(floor: float = 0.0):
            return lambda prediction, target: ((prediction - target) ** 2).mean().clamp(min=floor)

        register("floored", floored)
        register("elementwise", lambda: lambda prediction, target: (prediction - target) ** 2)
        register("not-callable", lambda: 42)

    @hookimpl
    def nnxc_register_xc_models(self, register):
        register("linear", lambda **options: torch.nn.Linear(1, 1))
        register("plain-lda", TorchLDA)  # a functional without trainable parameters of its own


@pytest.fixture
def train(tmp_path, register_plugin, capsys):
    """``train(**config)``: run ``nnxc train`` on a one-entry dataset; (status, the one stderr line)."""
    register_plugin(Factories(), "factories")
    data = tmp_path / "data.yaml"
    data.write_text(DATA)

    def run(**overrides):
        config = {"train": str(data), "model": {"name": "nn-lda", "options": {"hidden": [2]}}, "epochs": 1,
                  "output": str(tmp_path / "run"), "scf": {"grid_level": 0}}
        config.update(overrides)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        status = main(["train", str(path), "--quiet"])
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, lines
        assert not (tmp_path / "run" / "last.pt").exists()  # refused before the first step
        return status, lines[0]

    return run


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"model": {"name": "nn-lda", "options": {"hiden": [2]}}},
            r"config\.yaml: model\.options\.hiden: 'nn-lda' \(plugin 'ase_nnxc\.xc\.neural', package ase_nnxc\) has no "
            r"option 'hiden'; did you mean 'hidden'\? Accepted: hidden, activation, uniform_gas, spin_scaling",
        ),
        (
            {"loss": {"name": "floored", "options": {"flor": 1e-8}}},
            r"config\.yaml: loss\.options\.flor: 'floored' \(plugin 'factories'.*has no option 'flor'; did you mean 'floor'\? Accepted: floor",
        ),
        ({"scf": {"foo": 3}}, r"config\.yaml: scf\.foo: unknown key; known: conv_tol, conv_tol_grad, max_cycle"),
        ({"model": {"name": "nn-lda", "option": {"hidden": [2]}}}, r"config\.yaml: model\.option: unknown key \(did you mean 'options'\?\); known: name, options"),
        ({"model": {"name": "nn-ldaa"}}, r"Unknown XC model 'nn-ldaa'; registered: .* Did you mean 'nn-lda'\?"),
    ],
    ids=["model-option", "loss-option", "scf-key", "model-section-key", "model-name"],
)
def test_a_misspelt_option_is_named_with_the_accepted_ones(train, config, message):
    status, line = train(**config)
    assert status == EXIT_USAGE and re.search(message, line), line


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model": {"name": "linear"}}, r"plugin 'factories': model 'linear' factory returned Linear, not an XCFunctional"),
        ({"loss": "elementwise"}, r"plugin 'factories': loss 'elementwise' returned \(3,\) for a test input, not a finite scalar tensor"),
        ({"loss": "not-callable"}, r"plugin 'factories': loss 'not-callable' factory returned int, not a callable loss"),
    ],
    ids=["model-type", "loss-shape", "loss-type"],
)
def test_a_factory_that_breaks_its_contract_is_named_at_start_up(train, config, message):
    status, line = train(**config)
    assert status == EXIT_USAGE and re.search(message, line), line


def test_good_plugin_options_are_accepted(train, tmp_path):
    from ase_nnxc.train.config import TrainConfig
    from ase_nnxc.train.trainer import Trainer

    status, line = train(scf={"grid_level": 12})
    assert status == EXIT_USAGE and "scf: grid_level must be an integer from 0 to 9, got 12" in line
    path = tmp_path / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config.update(loss={"name": "floored", "options": {"floor": 0.5}}, scf={"grid_level": 0})
    path.write_text(yaml.safe_dump(config))
    loss = Trainer(TrainConfig.from_yaml(path), progress=False).loss_fn
    assert float(loss(torch.zeros(2), torch.zeros(2))) == 0.5
