"""Throwaway plugins, entry points and functionals for the plugin tests."""

import importlib.metadata
import types

import numpy as np
import torch

from ase_nnxc.plugins import hookspecs
from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.torch_functionals import TorchLDA


class FakeDistribution:
    """What the manager reads from an entry point's distribution."""

    def __init__(self, name, version):
        self.metadata = {"Name": name}
        self.version = version


class FakeEntryPoint:
    """An installed entry point of group ``ase_nnxc`` without installing anything."""

    def __init__(self, name, value, package="nnxc-fake", version="1.0"):
        self.name = name
        self.value = value
        self.group = hookspecs.PROJECT
        self.dist = FakeDistribution(package, version)

    def load(self):
        # the same resolution as importlib.metadata.EntryPoint.load
        return importlib.metadata.EntryPoint(self.name, self.value, self.group).load()


def plugin_module(name, **hooks):
    """A module object carrying the given hook implementations (as an entry point would load)."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookspecs.hookimpl(function))
    return module


class BrokenLDA(XCFunctional):
    """The torch LDA, spoilt on purpose: ``mode`` is ``"nan"`` or ``"shape"``."""

    family = "lda"

    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.name = f"broken-{mode}"

    def energy_density(self, features):
        energy = TorchLDA().energy_density(features)
        if self.mode == "nan":
            return torch.where(torch.arange(energy.numel()) == energy.numel() // 2, torch.nan, energy)
        return energy[:, None]


def random_lda_features(nspin, npoint=500, seed=0):
    """Spin densities ``(nspin, 1, npoint)`` over six decades, both channels occupied."""
    rng = np.random.default_rng(seed)
    return 10 ** rng.uniform(-4, 2, size=(nspin, 1, npoint))
