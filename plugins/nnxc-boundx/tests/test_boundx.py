"""nnxc-boundx: the loss against its formula, the model's constraints, potential and forces
against finite differences, training through ``nnxc train``, and a BFGS optimisation with the
trained checkpoint against the minimum of the same energy.

Every reference is computed in the same run (hand formulas, finite differences, a 1-D
minimisation of the energy); nothing is stored.
"""

import decimal
import math

import numpy as np
import pytest
import torch

pytest.importorskip("nnxc_boundx", reason="the plugin is not installed: pip install -e plugins/nnxc-boundx")

import yaml
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces
from ase.optimize import BFGS
from nnxc_boundx.loss import KCAL_PER_MOL
from nnxc_boundx.model import LIEB_OXFORD_KAPPA, BoundedExchange
from scipy.optimize import minimize_scalar

from ase_nnxc import NNXC
from ase_nnxc.cli import main
from ase_nnxc.plugins import manager
from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.testing import TIGHT, check_forces, check_potential
from ase_nnxc.train.checkpoint import load_functional
from ase_nnxc.units import BOHR_TO_ANGSTROM, HARTREE_TO_EV
from ase_nnxc.xc import FeatureMap, get_functional
from ase_nnxc.xc.neural import HybridXC

MODEL, LOSS = "nn-boundx", "log-cosh"
#: Small basis and coarse grid keep every SCF well under a second; the checks hold on any grid.
BASIS, GRID = "6-31g", 1
CONFIG = SCFConfig(grid_level=GRID, conv_tol=TIGHT.conv_tol, conv_tol_grad=TIGHT.conv_tol_grad)


def log_cosh(**options):
    return manager.losses()[LOSS].factory(**options)


def model(**options):
    return manager.xc_models()[MODEL].factory(**options)


def random_gga_features(nspin, npoint=2000, seed=0):
    """Spin densities over eight decades with reduced gradients from 0 to 5, ``(nspin, 4, npoint)``."""
    rng = np.random.default_rng(seed)
    rho = 10 ** rng.uniform(-6, 2, (nspin, npoint))
    s = rng.uniform(0, 5, (nspin, npoint))
    direction = rng.normal(size=(nspin, 3, npoint))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    # s of the unpolarised density 2 rho_s (nspin 2) or rho (nspin 1)
    n = rho * (2 if nspin == 2 else 1)
    grad_n = direction * (s * 2 * (3 * math.pi**2) ** (1 / 3) * n ** (4 / 3))[:, None]
    grad = grad_n / (2 if nspin == 2 else 1)
    return torch.tensor(np.concatenate([rho[:, None], grad], axis=1)), s


def slater(n):
    """Exchange energy density of the unpolarised uniform gas, by hand."""
    return -0.75 * (3 / math.pi) ** (1 / 3) * n ** (4 / 3)


# -- registration ---------------------------------------------------------------------


def test_registered_through_the_entry_point(capsys):
    for registry, name in ((manager.xc_models(), MODEL), (manager.losses(), LOSS)):
        assert (registry[name].plugin, registry[name].package) == ("boundx", "nnxc-boundx")
    assert isinstance(model(), BoundedExchange)
    assert main(["plugins"]) == 0
    listing = capsys.readouterr().out
    assert "boundx  (package nnxc-boundx 0.1.0)" in listing
    assert MODEL in listing and LOSS in listing


# -- the loss ---------------------------------------------------------------------------


def log_cosh_reference(x: float) -> float:
    """``log(cosh(x))`` in 60-digit decimal arithmetic (no cancellation, no overflow)."""
    with decimal.localcontext() as context:
        context.prec = 60
        d = decimal.Decimal(x)
        return float(((d.exp() + (-d).exp()) / 2).ln())


@pytest.mark.parametrize("scale", (KCAL_PER_MOL, 0.5))
def test_log_cosh_values_match_the_hand_formula(scale):
    x = np.array([0.0, 1e-6, -0.3, 1.0, -2.5, 19.999, 20.0, -300.0, 1e4])
    target = np.linspace(-1.0, 1.0, x.size)
    prediction = target + scale * x
    loss = log_cosh(scale=scale)
    value = loss(torch.tensor(prediction), torch.tensor(target))
    expected = [log_cosh_reference(v) for v in (prediction - target) / scale]
    assert float(value) == pytest.approx(scale * np.mean(expected), rel=1e-12)
    # one entry at a time (the loss is a mean): full relative precision in the quadratic regime too
    for error in scale * x:
        one = loss(torch.tensor([error], dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
        assert float(one) == pytest.approx(scale * log_cosh_reference(error / scale), rel=1e-13, abs=0)
    small = loss(torch.tensor([1e-6 * scale], dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    assert float(small) == pytest.approx(scale * 1e-12 / 2, rel=1e-11)  # error^2 / (2 scale)
    large = loss(torch.tensor([1e4 * scale], dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    assert float(large) == pytest.approx(scale * (1e4 - math.log(2)), rel=1e-15)  # |error| - scale ln 2


def test_log_cosh_default_scale_is_one_kcal_per_mol():
    assert KCAL_PER_MOL == pytest.approx(1.5936e-3, rel=1e-4)
    error = torch.tensor([3 * KCAL_PER_MOL], dtype=torch.float64)
    assert float(log_cosh()(error, torch.zeros(1, dtype=torch.float64))) == pytest.approx(
        KCAL_PER_MOL * math.log(math.cosh(3.0))
    )


def test_log_cosh_gradient_is_tanh_and_matches_finite_differences():
    scale = 2e-3
    generator = torch.Generator().manual_seed(1)
    error = torch.tensor([0.0, 1e-9, 1e-5, -4e-4, 2e-3, -7e-3, 0.04, 0.05, -3.0], dtype=torch.float64)
    target = torch.randn(error.numel(), generator=generator, dtype=torch.float64)
    prediction = (target + error).requires_grad_(True)
    loss = log_cosh(scale=scale)
    (gradient,) = torch.autograd.grad(loss(prediction, target), prediction)
    actual = (prediction.detach() - target).numpy()  # the error after rounding
    np.testing.assert_allclose(gradient.numpy(), np.tanh(actual / scale) / error.numel(), rtol=1e-12, atol=1e-300)
    step = 1e-7
    for i in range(error.numel()):
        shift = torch.zeros_like(target)
        shift[i] = step
        with torch.no_grad():
            numeric = (loss(prediction + shift, target) - loss(prediction - shift, target)) / (2 * step)
        assert float(numeric) == pytest.approx(float(gradient[i]), abs=1e-8)


def test_log_cosh_rejects_a_non_positive_scale():
    for scale in (0.0, -1e-3):
        with pytest.raises(ValueError, match="scale must be positive"):
            log_cosh(scale=scale)


# -- the model's constraints ------------------------------------------------------------


def enhancement_by_hand(net, s):
    """``kappa tanh(x h(x))`` with ``x = s^2 / (1 + s^2)``, the MLP evaluated in NumPy."""

    def h(x):
        h = x[:, None]
        layers = [m for m in net.net if isinstance(m, torch.nn.Linear)]
        for i, layer in enumerate(layers):
            h = h @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
            if i < len(layers) - 1:
                h = np.tanh(h)
        return h[:, 0]

    x = s**2 / (1 + s**2)
    return net.kappa * np.tanh(x * h(x))


@pytest.mark.parametrize("nspin", (1, 2))
@pytest.mark.parametrize("saturate", (False, True))
def test_energy_density_matches_the_hand_formula_and_the_bounds(nspin, saturate):
    net = model(hidden=[8, 8], seed=3)
    if saturate:
        with torch.no_grad():  # drive tanh into saturation: the bound must still hold
            net.net[-1].weight.mul_(50.0)
    features, s = random_gga_features(nspin)
    energy = net(FeatureMap(features)).detach().numpy()
    n = features[:, 0].numpy() * (2 if nspin == 2 else 1)  # each channel's unpolarised density
    correction = enhancement_by_hand(net, s.ravel()).reshape(s.shape)
    # exchange spin scaling: the mean over channels of e_x^unif(n_s) (F(s_s) - 1)
    np.testing.assert_allclose(energy, (slater(n) * correction).mean(0), rtol=1e-10)
    assert np.abs(correction).max() <= LIEB_OXFORD_KAPPA * (1 + 1e-12)
    assert np.abs(correction).max() > (0.8 if saturate else 0.01) * LIEB_OXFORD_KAPPA
    if nspin == 1:  # F - 1 read off the energy density alone
        assert np.abs(energy / slater(n[0])).max() <= LIEB_OXFORD_KAPPA * (1 + 1e-12)
    uniform = features.clone()
    uniform[:, 1:] = 0.0
    assert torch.equal(net(FeatureMap(uniform)), torch.zeros(features.shape[-1], dtype=torch.float64))


def test_spin_scaling_and_restricted_equals_unrestricted():
    net = model()
    features, _ = random_gga_features(2)
    total = features.sum(0, keepdim=True)
    halves = torch.cat([0.5 * total, 0.5 * total])
    assert torch.allclose(net(FeatureMap(total)), net(FeatureMap(halves)), rtol=1e-13, atol=0)
    doubled = [FeatureMap(2 * features[i : i + 1]) for i in range(2)]
    expected = 0.5 * (net(doubled[0]) + net(doubled[1]))
    assert torch.allclose(net(FeatureMap(features)), expected, rtol=1e-13, atol=0)


def test_vanishes_with_finite_derivatives_at_zero_density():
    net = model()
    features = torch.zeros(2, 4, 4, dtype=torch.float64)
    features[0, 0, 1] = 0.3  # one channel empty, one without gradient
    features[0, 0, 2], features[0, 1, 2] = 0.3, 0.2
    features[1, 0, 3], features[1, 2, 3] = 1e-14, 1e-9  # below the density floor
    features.requires_grad_(True)
    energy = net(FeatureMap(features))
    (potential,) = torch.autograd.grad(energy.sum(), features)
    assert energy[0] == 0 and energy[1] == 0 and energy[3] == 0 and energy[2] != 0
    assert torch.isfinite(potential).all()
    # the lone alpha channel: half the unpolarised value at n = 2 rho_a, |grad n| = 0.4
    s = 0.4 / (2 * (3 * math.pi**2) ** (1 / 3) * 0.6 ** (4 / 3))
    expected = 0.5 * slater(0.6) * enhancement_by_hand(net, np.array([s]))[0]
    assert float(energy[2].detach()) == pytest.approx(expected, rel=1e-12)


def test_rejects_kappa_outside_zero_one():
    with pytest.raises(ValueError, match="kappa"):
        model(kappa=1.5)


# -- potential and forces against finite differences ------------------------------------


def hybrid(seed=0):
    """LDA plus the full correction (a = 1): a GGA whose exchange obeys the constraints above."""
    return HybridXC(get_functional("lda,vwn"), model(seed=seed), a=1.0)


CASES = {
    "LiH": (Atoms("LiH", positions=[(0, 0, 0), (0, 0, 1.6)]), 0, 0),
    # open shell with both spin channels occupied (in H2+ the empty beta channel sits at zero
    # density, where E_xc is not differentiable and finite differences of it mean nothing)
    "HeH": (Atoms("HeH", positions=[(0, 0, 0), (0.1, 0, 1.5)]), 0, 1),
}


@pytest.mark.parametrize("case", CASES)
def test_potential_matches_finite_differences_of_the_energy(case):
    atoms, charge, spin = CASES[case]
    system = MolecularSystem.from_atoms(atoms, basis=BASIS, charge=charge, spin=spin)
    ks = KohnSham(system, hybrid(), CONFIG)
    density = run_scf(ks).density
    assert ks.nspin == (2 if spin else 1)
    # the correction is a sizeable part of E_xc, so the check is not dominated by LDA
    lda = KohnSham(system, get_functional("lda,vwn"), CONFIG)
    assert abs(float(ks.xc_energy(density).detach() - lda.xc_energy(density).detach())) > 1e-3
    assert check_potential(ks, density, atol=1e-8) < 1e-8


@pytest.mark.parametrize("case", CASES)
def test_forces_match_finite_differences(case):
    atoms, charge, spin = CASES[case]
    system = MolecularSystem.from_atoms(atoms, basis=BASIS, charge=charge, spin=spin)
    directions = None if case == "LiH" else 2  # every component of LiH; two random directions of HeH
    assert check_forces(system, hybrid(), CONFIG, directions=directions, atol=1e-5) < 1e-5


# -- training through the CLI, then a geometry optimisation with the checkpoint ---------

#: H2 atomisation and ionisation energies (Hartree, experiment: D_e 4.748 eV, IP 15.426 eV).
DATA = [
    {
        "e_type": "ae",
        "true_val": 0.1745,
        "name": "H2 atomisation",
        "systems": [
            {"moldesc": "H 0 0 0; H 0 0 1.4011", "basis": BASIS},
            {"moldesc": "H 0 0 0", "basis": BASIS, "spin": 1, "number": 2},
        ],
    },
    {
        "e_type": "ie",
        "true_val": 0.5669,
        "name": "H2 ionisation",
        "systems": [
            {"moldesc": "H 0 0 0; H 0 0 1.4011", "basis": BASIS},
            {"moldesc": "H 0 0 0; H 0 0 1.4011", "basis": BASIS, "spin": 1, "charge": 1},
        ],
    },
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``nnxc train CONFIG.yaml`` with the plugin's model and loss; returns (losses, checkpoint)."""
    folder = tmp_path_factory.mktemp("boundx-train")
    (folder / "data.yaml").write_text(yaml.safe_dump(DATA))
    config = {
        "train": "data.yaml",
        "model": {"name": MODEL, "options": {"hidden": [8]}},
        "base": "lda,vwn",
        "loss": {"name": LOSS, "options": {"scale": 0.01}},
        "optimizer": {"name": "adam", "lr": 0.02},
        "epochs": 5,
        "seed": 0,
        "output": "run",
        "scf": {"conv_tol": 1e-10, "grid_level": GRID},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(folder / "config.yaml"), "--quiet"]) == 0
    log = np.genfromtxt(folder / "run" / "log.csv", delimiter=",", names=True)
    return log["loss"], folder / "run" / "model.pt"


def test_training_through_the_cli_lowers_the_loss(trained):
    losses, checkpoint = trained
    assert len(losses) == 5 and np.all(np.diff(losses) < 0)
    assert losses[-1] < losses[0] / 5
    functional = load_functional(checkpoint)
    assert isinstance(functional.model, BoundedExchange) and functional.default_basis == BASIS
    assert abs(float(functional.a)) > 1e-2  # the correction is switched on


def test_bfgs_with_the_checkpoint_reaches_the_minimum_of_its_energy(trained):
    checkpoint = str(trained[1])

    def h2(bond):
        atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, bond)])
        atoms.calc = NNXC(xc=checkpoint, grid_level=GRID, conv_tol=1e-11)
        return atoms

    atoms = h2(0.70)  # compressed: the force is large
    forces = atoms.get_forces()
    numeric = calculate_numerical_forces(atoms, eps=1e-3)
    assert np.abs(forces - numeric).max() < 1e-5 * HARTREE_TO_EV / BOHR_TO_ANGSTROM
    BFGS(atoms, logfile=None).run(fmax=1e-4, steps=50)
    assert np.abs(atoms.get_forces()).max() < 1e-4
    # reference: the minimum of the same energy along the bond, without any force
    reference = minimize_scalar(
        lambda r: h2(r).get_potential_energy(), bounds=(0.6, 1.0), method="bounded", options={"xatol": 1e-6}
    )
    assert reference.success and 0.65 < reference.x < 0.95
    assert atoms.get_distance(0, 1) == pytest.approx(reference.x, abs=2e-5)
