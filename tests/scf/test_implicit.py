"""Gradients of every loss type w.r.t. model parameters against finite differences of fully
converged SCF runs (closed and open shell), and forces of a neural functional."""

import pytest
import torch
from samples import directional_gradient_error

from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.testing import check_forces
from ase_nnxc.train.dataset import Entry, SystemSpec
from ase_nnxc.train.predict import Predictor
from ase_nnxc.xc import get_functional
from ase_nnxc.xc.neural import HybridXC, NeuralGGA, NeuralXC

CONFIG = SCFConfig(conv_tol=1e-12, conv_tol_grad=1e-8, grid_level=1)
BASIS = "6-31g"
WATER = SystemSpec("O 0 0 0.22; H 0 1.43 -0.89; H 0 -1.43 -0.89", BASIS)
METHYL_GEOMETRY = "C 0 0 0; H 0 2.04 0; H 1.767 -1.02 0; H -1.767 -1.02 0"
METHYL = SystemSpec(METHYL_GEOMETRY, BASIS, spin=1)
METHYL_CATION = SystemSpec(METHYL_GEOMETRY, BASIS, spin=0, charge=1)
H_ATOM = SystemSpec("H 0 0 0", BASIS, spin=1)
LIH = SystemSpec("Li 1.5070 0 0; H -1.5070 0 0", BASIS)
LI_ATOM = SystemSpec("Li 0 0 0", BASIS, spin=1)


def functional(gga: bool = False):
    torch.manual_seed(1)
    model = NeuralGGA(hidden=(6,), seed=3) if gga else NeuralXC(hidden=(6,), seed=3)
    return HybridXC(get_functional("pbe" if gga else "lda,vwn"), model, a=0.4, b=0.9)


def loss_value(xc, entry, target):
    predictor = Predictor(xc, CONFIG)
    return ((predictor.predict(entry) - target) ** 2).sum()


def directional_check(xc, entry, target, step=1e-3):
    return directional_gradient_error(xc, lambda: loss_value(xc, entry, target), step)


@pytest.mark.parametrize(
    ("entry", "gga"),
    [
        (Entry("ae", 0.09, (LIH, LI_ATOM, H_ATOM)), False),
        (Entry("ie", 0.36, (METHYL, METHYL_CATION)), True),
    ],
    ids=["ae-closed-and-open", "ie-open-shell"],
)
def test_energy_loss_gradient_matches_finite_differences(entry, gga):
    assert directional_check(functional(gga), entry, torch.tensor(entry.true_val)) < 1e-4


@pytest.mark.parametrize("spec", [WATER, METHYL], ids=["closed-shell", "open-shell"])
@pytest.mark.parametrize("e_type", ["dm", "dens"])
def test_density_loss_gradient_matches_finite_differences(spec, e_type):
    xc = functional()
    ks = KohnSham(spec.to_system(), xc, CONFIG)
    reference = run_scf(ks).density.sum(0).detach() * 0.97  # a label the model does not reproduce
    entry = Entry(e_type, reference.numpy(), (spec,))
    target = Predictor(xc, CONFIG).target(entry)
    assert directional_check(xc, entry, target) < 1e-4


def test_forces_of_random_neural_functional_match_finite_differences():
    system = MolecularSystem.from_symbols(["O", "H", "H"], [[0, 0, 0.22], [0, 1.43, -0.89], [0, -1.50, -0.80]], BASIS)
    assert (
        check_forces(
            system, functional(gga=True), SCFConfig(conv_tol=1e-11, conv_tol_grad=1e-7, grid_level=1), directions=1
        )
        < 1e-5
    )
