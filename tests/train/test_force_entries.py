"""Force entries: the nuclear gradient as a function of the model parameters through the SCF
fixed point (implicit differentiation), checked against finite differences of fully converged
SCF runs (closed and open shell); the skeleton Fock response against displaced geometries;
force labels in the YAML format; a training run on forces."""

import numpy as np
import pytest
import torch
import yaml
from samples import directional_gradient_error

from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.scf.gradients import coulomb_exchange_along, gradient_along, one_electron_along, xc_along
from ase_nnxc.train.config import TrainConfig
from ase_nnxc.train.dataset import DatasetError, Entry, SystemSpec, load_dataset, save_dataset
from ase_nnxc.train.predict import Predictor
from ase_nnxc.train.trainer import Trainer
from ase_nnxc.xc import get_functional
from ase_nnxc.xc.neural import HybridXC, NeuralGGA

CONFIG = SCFConfig(conv_tol=1e-12, conv_tol_grad=1e-8, grid_level=1)
BASIS = "6-31g"
LIH = SystemSpec("Li 0 0 0; H 0 0 3.2", BASIS)  # stretched from 3.0 Bohr: a non-zero force
METHYL = SystemSpec("C 0 0 0.1; H 0 2.04 0; H 1.767 -1.02 0; H -1.8 -1.02 0", BASIS, spin=1)  # non-planar, distorted
# Iodine in LANL2DZ carries a 46-electron ECP, so the ECP term enters every force entry
# (a small valence basis keeps these quick; tests/scf/test_ecp.py checks def2 against PySCF).
HI = SystemSpec("I 0 0 0; H 0 0 3.2", "lanl2dz")  # stretched from 3.04 Bohr
HI_CATION = SystemSpec("I 0 0 0; H 0 0 3.2", "lanl2dz", spin=1, charge=1)


def functional(base: str = "pbe"):
    """A neural GGA correction with random non-zero weights on a libxc base."""
    torch.manual_seed(1)
    return HybridXC(get_functional(base), NeuralGGA(hidden=(6,), seed=3), a=0.4, b=0.9)


def loss_value(xc, entry):
    predictor = Predictor(xc, CONFIG)
    return ((predictor.predict(entry) - predictor.target(entry)) ** 2).sum()


def directional_check(xc, entry, step=1e-4):
    """Relative error of the analytic loss gradient along a random direction vs central differences."""
    return directional_gradient_error(xc, lambda: loss_value(xc, entry), step)


@pytest.mark.parametrize("spec", [LIH, METHYL, HI], ids=["closed-shell", "open-shell", "ecp"])
def test_force_loss_gradient_matches_finite_differences(spec):
    assert directional_check(functional(), Entry("force", 0.0, (spec,))) < 1e-4


@pytest.mark.parametrize("spec", [LIH, METHYL], ids=["closed-shell", "open-shell"])
def test_force_loss_gradient_with_exact_exchange_and_array_label(spec):
    natom = len(spec.to_system().numbers)
    label = np.linspace(-0.02, 0.03, 3 * natom).reshape(natom, 3)
    assert directional_check(functional("b3lyp"), Entry("force", label, (spec,))) < 1e-4


@pytest.mark.parametrize("spec", [LIH, METHYL, HI], ids=["closed-shell", "open-shell", "ecp"])
def test_lagrangian_with_w_from_d_f_d_is_the_nuclear_gradient(spec):
    ks = KohnSham(spec.to_system(), functional("b3lyp"), CONFIG)
    result = run_scf(ks)
    gradient = nuclear_gradient(ks, result)
    displacement = torch.randn(gradient.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    along = gradient_along(ks, result.density.clone().requires_grad_(True), displacement)
    assert float(along.detach()) == pytest.approx(float((displacement * gradient).sum()), abs=1e-8)


@pytest.mark.parametrize(
    "spec",
    [LIH, METHYL, pytest.param(HI_CATION, marks=pytest.mark.slow)],
    ids=["closed-shell", "open-shell", "ecp-open-shell"],
)
def test_fock_response_matches_fock_matrices_at_displaced_geometries(spec):
    # d/dD (u . dE/dR at fixed D) = d/dt F(R + t u; D): one-electron, Coulomb, exact exchange
    # and XC (moving grid points and Becke weights) together, at an arbitrary density.
    xc, system = functional("b3lyp"), spec.to_system()
    ks = KohnSham(system, xc, CONFIG)
    generator = torch.Generator().manual_seed(3)
    density = run_scf(ks).density.detach()
    probe = torch.randn(density.shape, generator=generator, dtype=torch.float64)
    # Away from self-consistency, but positive semi-definite so the density stays non-negative.
    density = (density + 0.01 * probe @ probe.transpose(-1, -2)).requires_grad_(True)
    u = torch.randn(len(system.numbers), 3, generator=generator, dtype=torch.float64)
    direction = torch.randn(density.shape, generator=generator, dtype=torch.float64)
    direction = direction + direction.transpose(-1, -2)

    core, _ = one_electron_along(ks.mol, u.numpy())
    along = (density.sum(0) * core).sum() + coulomb_exchange_along(ks, density, u) + xc_along(ks, density, u)
    (response,) = torch.autograd.grad(along, density)
    analytic = float((response * direction).sum())

    step = 1e-4
    focks = []
    for sign in (1.0, -1.0):
        displaced = KohnSham(system.with_positions(np.asarray(system.positions) + sign * step * u.numpy()), xc, CONFIG)
        focks.append(displaced.fock(density.detach())[0])
    numeric = float(((focks[0] - focks[1]) / (2 * step) * direction).sum())
    assert analytic == pytest.approx(numeric, rel=1e-6)


def test_force_labels_in_yaml(tmp_path):
    np.save(tmp_path / "forces.npy", np.full((2, 3), 0.01))
    entries = [
        {"e_type": "force", "systems": [{"moldesc": "H 0 0 0; H 0 0 1.4"}]},
        {"e_type": "force", "true_val": 0, "systems": [{"moldesc": "H 0 0 0; H 0 0 1.4"}]},
        {"e_type": "force", "true_val": [[0, 0, 0.02], [0, 0, -0.02]], "systems": [{"moldesc": "H 0 0 0; H 0 0 1.6"}]},
        {"e_type": "force", "true_val": "forces.npy", "systems": [{"moldesc": "H 0 0 0; H 0 0 1.6"}]},
    ]
    path = tmp_path / "data.yaml"
    path.write_text(yaml.safe_dump(entries))
    loaded = load_dataset(path)
    assert loaded[0].true_val == 0.0 and loaded[1].true_val == 0.0
    assert np.array_equal(loaded[2].true_val, [[0, 0, 0.02], [0, 0, -0.02]])
    assert np.array_equal(loaded[3].true_val, np.full((2, 3), 0.01))
    save_dataset(loaded, tmp_path / "copy.yaml")
    again = load_dataset(tmp_path / "copy.yaml")
    assert all(np.array_equal(a.true_val, b.true_val) for a, b in zip(loaded, again))


@pytest.mark.parametrize(
    ("true_val", "message"),
    [
        (0.3, "a scalar force label must be 0"),
        ([[0, 0, 1]], r"force label has shape \(1, 3\), want \(2, 3\)"),
        ("missing.npy", "cannot read label array"),
    ],
)
def test_malformed_force_labels_are_named(tmp_path, true_val, message):
    path = tmp_path / "data.yaml"
    path.write_text(
        yaml.safe_dump([{"e_type": "force", "true_val": true_val, "systems": [{"moldesc": "H 0 0 0; H 0 0 1.4"}]}])
    )
    with pytest.raises(DatasetError, match=f"entry 0: {message}"):
        load_dataset(path)


def test_force_entry_needs_one_system(tmp_path):
    path = tmp_path / "data.yaml"
    system = {"moldesc": "H 0 0 0; H 0 0 1.4"}
    path.write_text(yaml.safe_dump([{"e_type": "force", "systems": [system, system]}]))
    with pytest.raises(DatasetError, match="a force entry has exactly one system"):
        load_dataset(path)


def test_training_on_an_equilibrium_geometry_reduces_its_force(tmp_path):
    # LiH at 3.2 Bohr declared an equilibrium geometry: the model learns to move the minimum there.
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump([{"e_type": "force", "true_val": 0, "systems": [LIH.to_dict()]}]))
    config = TrainConfig(
        train=str(data),
        output=str(tmp_path / "run"),
        model="nn-gga",
        model_options={"hidden": [6]},
        base="pbe",
        lr=0.02,
        epochs=6,
        scf={"conv_tol": 1e-10, "grid_level": 1},
    )
    history = Trainer(config, progress=False).run()
    assert history[-1]["loss"] < history[0]["loss"] / 10
