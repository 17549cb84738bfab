"""Every hook in hookspecs.py: a throwaway implementation honours its contract end to end.

``test_hook_<hook name>`` is the naming the meta-test at the bottom relies on.
"""

import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from plugin_fakes import random_lda_features
from pyscf.dft import numint

from ase_nnxc import hookimpl
from ase_nnxc.plugins import hookspecs, manager
from ase_nnxc.xc import FeatureMap, XCFunctional, get_functional
from ase_nnxc.xc.features import Feature
from ase_nnxc.xc.torch_functionals import slater_exchange, spin_scaled_exchange

ROOT = Path(__file__).resolve().parents[2]


class SlaterOnly(XCFunctional):
    family = "lda"
    name = "slater-only"

    def energy_density(self, features):
        return spin_scaled_exchange(features, slater_exchange)


class CorrectedSlater(XCFunctional):
    """Slater exchange times ``1 + MLP(rho^(1/3))``; the last layer starts at zero."""

    family = "lda"

    def __init__(self, hidden=4):
        super().__init__()
        self.name = "corrected-slater"
        self.net = torch.nn.Sequential(torch.nn.Linear(1, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
        torch.nn.init.zeros_(self.net[2].weight)
        torch.nn.init.zeros_(self.net[2].bias)
        self.double()

    def energy_density(self, features):
        rho = features.total()[Feature.RHO][0]
        correction = self.net(rho.clamp(min=0.0)[:, None] ** (1 / 3))[:, 0]
        return spin_scaled_exchange(features, slater_exchange) * (1.0 + correction)


class Throwaway:
    @hookimpl
    def nnxc_register_base_functionals(self, register):
        register("slater-only", SlaterOnly, description="Slater exchange alone")

    @hookimpl
    def nnxc_register_xc_models(self, register):
        register("corrected-slater", CorrectedSlater, description="Slater times a small MLP")

    @hookimpl
    def nnxc_register_losses(self, register):
        def mae(scale=1.0):
            return lambda prediction, target: scale * (prediction - target).abs().mean()

        register("scaled-mae", mae, description="mean absolute error times a scale")


@pytest.fixture
def throwaway(register_plugin):
    return register_plugin(Throwaway(), "throwaway")


def libxc_energy_density(code, features):
    rho = features[0, 0] if features.shape[0] == 1 else features[:, 0]
    exc = numint.NumInt().eval_xc_eff(code, np.ascontiguousarray(rho), deriv=0, xctype="LDA")[0]
    return exc * features[:, 0].sum(0)


@pytest.mark.parametrize("nspin", (1, 2))
def test_hook_nnxc_register_base_functionals(throwaway, nspin):
    registration = manager.base_functionals()["slater-only"]
    assert (registration.plugin, registration.description) == ("throwaway", "Slater exchange alone")
    functional = get_functional("Slater-Only")
    assert isinstance(functional, SlaterOnly)
    features = random_lda_features(nspin)
    energy = functional(FeatureMap(torch.from_numpy(features))).numpy()
    np.testing.assert_allclose(energy, libxc_energy_density("lda_x,", features), rtol=1e-12)


def test_hook_nnxc_register_base_functionals_teardown_forgets_the_name(register_plugin):
    plugin = register_plugin(Throwaway(), "throwaway")
    assert "slater-only" in manager.base_functionals()
    manager.get_plugin_manager().unregister(plugin)
    manager.reset()
    assert "slater-only" not in manager.base_functionals()
    with pytest.raises(ValueError, match="Unknown exchange-correlation functional 'slater-only'"):
        get_functional("slater-only")


def test_hook_nnxc_register_xc_models(throwaway):
    registration = manager.xc_models()["corrected-slater"]
    assert registration.plugin == "throwaway"
    model = registration.factory(hidden=3)
    assert isinstance(model, XCFunctional) and model.net[0].out_features == 3
    features = torch.from_numpy(random_lda_features(2, npoint=50))
    # the zero-initialised correction leaves exactly Slater exchange
    np.testing.assert_allclose(
        model(FeatureMap(features)).detach().numpy(), libxc_energy_density("lda_x,", features.numpy()), rtol=1e-12
    )
    # trainable: the energy's parameter gradient equals finite differences
    params = [p for p in model.parameters() if p.requires_grad]
    assert params and all(p.dtype == torch.float64 for p in params)
    with torch.no_grad():
        for p in params:
            p.add_(0.1 * torch.randn_like(p))
    assert torch.autograd.gradcheck(
        lambda *ps: torch.func.functional_call(model, dict(zip(dict(model.named_parameters()), ps)), (FeatureMap(features),)).sum(),
        tuple(p.detach().clone().requires_grad_(True) for p in params),
    )


def test_hook_nnxc_register_losses(throwaway):
    registration = manager.losses()["scaled-mae"]
    loss = registration.factory(scale=2.0)
    prediction = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)
    value = loss(prediction, target)
    assert value.shape == () and math.isclose(value.item(), 2.0 * np.mean([1.0, 3.0, 0.0]))
    value.backward()
    np.testing.assert_allclose(prediction.grad.numpy(), 2.0 * np.array([1.0, -1.0, 0.0]) / 3)


def hook_names():
    return sorted(
        name
        for name, function in vars(hookspecs).items()
        if name.startswith("nnxc_") and hasattr(function, f"{hookspecs.PROJECT}_spec")
    )


def test_every_hook_has_a_test_and_documentation():
    hooks = hook_names()
    assert hooks == sorted(name for name in dir(hookspecs) if name.startswith("nnxc_"))
    tests = {
        node.name
        for path in (ROOT / "tests").rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
    }
    docs = (ROOT / "docs" / "plugins.md").read_text()
    untested = [hook for hook in hooks if not any(name.startswith(f"test_hook_{hook}") for name in tests)]
    undocumented = [hook for hook in hooks if not re.search(rf"^#+ .*\b{hook}\b", docs, re.MULTILINE)]
    assert not untested, f"hooks without a test_hook_<name> test: {untested}"
    assert not undocumented, f"hooks without a heading in docs/plugins.md: {undocumented}"
