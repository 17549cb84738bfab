"""Frozen-density training: exact at the frozen density, Hellmann-Feynman gradients, rounds."""

import pytest
import torch

from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
from ase_nnxc.train import g2
from ase_nnxc.train.checkpoint import build_functional
from ase_nnxc.train.config import ConfigError, TrainConfig
from ase_nnxc.train.dataset import save_dataset
from ase_nnxc.train.predict import Predictor
from ase_nnxc.train.pretrain import FrozenSet, freeze_entries, freeze_system
from ase_nnxc.train.trainer import Trainer

CONFIG = SCFConfig(grid_level=1, conv_tol=1e-11, require_aufbau=False)


def random_functional(seed=3, **options):
    functional = build_functional("nn-gga", {"hidden": [5], "seed": seed, **options}, "pbe")
    with torch.no_grad():
        functional.a.fill_(0.3)
    return functional


@pytest.mark.parametrize("option", [None, "scales_base", "one_electron", "lda_anchor"])
def test_frozen_entry_values_equal_the_scf_values_at_the_freezing_functional(option):
    # scales_base: the frozen set multiplies the stored base energy density by the network's factor;
    # one_electron: it weights the stored base energy density by the mask; lda_anchor: it mixes
    # the stored base and LSDA energy densities with b.
    entries = g2.atomisation_entries(["LiH"], "6-31g") + g2.ionisation_entries(["Li"], "6-31g")
    if option in ("one_electron", "lda_anchor"):
        functional = build_functional("nn-mgga", {"hidden": [5], "seed": 3, option: True}, "r2scan", b=0.97)
        with torch.no_grad():
            functional.a.fill_(0.3)
    else:
        functional = random_functional(**({option: True} if option else {}))
    frozen, failed = freeze_entries(entries, functional, CONFIG, progress=False)
    assert not failed
    with torch.no_grad():
        frozen_values = FrozenSet(frozen, entries).predictions(functional)
        scf_values = torch.stack([Predictor(functional, CONFIG).predict(e) for e in entries])
    assert frozen_values.numpy() == pytest.approx(scf_values.numpy(), abs=1e-9)


def test_frozen_gradient_is_the_self_consistent_gradient():
    # At the functional's own SCF density dE/dtheta needs no density response (variational);
    # compare with central differences of fully converged SCF energies.
    (spec,) = g2.atomisation_entries(["LiH"], "6-31g")[0].systems[:1]
    functional = random_functional()
    frozen = freeze_system(spec, functional, CONFIG)
    weight = functional.model.net[0].weight
    frozen.total_energy(functional).backward()
    analytic = weight.grad[0, 1].item()

    def scf_energy(shift):
        with torch.no_grad():
            weight[0, 1] += shift
        energy = run_scf(KohnSham(spec.to_system(), functional, CONFIG)).energy
        with torch.no_grad():
            weight[0, 1] -= shift
        return float(energy)

    h = 1e-3
    numeric = (scf_energy(h) - scf_energy(-h)) / (2 * h)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_pretraining_rounds_in_the_trainer_lower_the_self_consistent_error(tmp_path):
    data = tmp_path / "data.yaml"
    save_dataset(g2.atomisation_entries(["LiH", "H2"], "6-31g"), data)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"train: {data}\nmodel: {{name: nn-gga, options: {{hidden: [4]}}}}\nbase: pbe\nepochs: 0\n"
        f"output: {tmp_path / 'run'}\nscf: {{grid_level: 1, conv_tol: 1.0e-10}}\n"
        "pretrain: {epochs: 60, rounds: 2, lr: 0.02}\n"
    )
    trainer = Trainer(TrainConfig.from_yaml(config), progress=False)
    entries = trainer.train_entries
    with torch.no_grad():
        before = [
            abs(float(Predictor(trainer.functional, trainer.scf_config).predict(e)) - float(e.true_val))
            for e in entries
        ]
    trainer.run()
    assert len(trainer.pretrain_history) == 120
    assert trainer.pretrain_history[-1] < trainer.pretrain_history[0] / 10
    with torch.no_grad():
        after = [
            abs(float(Predictor(trainer.functional, trainer.scf_config).predict(e)) - float(e.true_val))
            for e in entries
        ]
    assert sum(after) < sum(before) / 5  # self-consistent errors, not just the frozen ones
    assert (tmp_path / "run" / "model.pt").is_file()


@pytest.mark.parametrize(("value", "trained"), [("true", True), ("false", False), ("'no'", None)])
def test_train_b_config_key_reaches_the_hybrid(tmp_path, value, trained):
    data = tmp_path / "data.yaml"
    save_dataset(g2.atomisation_entries(["H2"], "6-31g"), data)
    config = tmp_path / "config.yaml"
    config.write_text(f"train: {data}\nmodel: nn-gga\nbase: pbe\ntrain_b: {value}\noutput: {tmp_path / 'run'}\n")
    if trained is None:
        with pytest.raises(ConfigError, match="train_b must be true or false"):
            TrainConfig.from_yaml(config)
        return
    trainer = Trainer(TrainConfig.from_yaml(config), progress=False)
    assert trainer.functional.b.requires_grad is trained
