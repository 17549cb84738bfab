"""The plugin manager: discovery, environment switches, and every failure naming the plugin."""

import re

import numpy as np
import pluggy
import pytest
import torch
from ase.build import molecule
from ase.calculators.calculator import CalculationFailed
from plugin_fakes import BrokenLDA, FakeEntryPoint, plugin_module, random_lda_features
from samples import system

from ase_nnxc import NNXC, hookimpl
from ase_nnxc.plugins import manager
from ase_nnxc.plugins.manager import PluginError
from ase_nnxc.scf import KohnSham, SCFConfig
from ase_nnxc.xc import FeatureMap, get_functional
from ase_nnxc.xc.torch_functionals import TorchLDA


def registers(*names, functional=TorchLDA):
    """Hook implementation registering ``names`` as copies of ``functional``."""

    def nnxc_register_base_functionals(register):
        for name in names:
            register(name, functional)

    return nnxc_register_base_functionals


def good_module(*names):
    return plugin_module("nnxc_fake_good", nnxc_register_base_functionals=registers(*names))


def test_builtins_are_registered_through_the_hooks(plugin_manager):
    assert plugin_manager.get_plugin("ase_nnxc.xc.builtin") is not None
    assert {"torch-lda", "torch-pbe"} <= set(manager.base_functionals())
    assert manager.get_plugin_manager() is plugin_manager  # idempotent


def test_entry_point_plugin_is_loaded_with_its_package_and_version(entry_points):
    point = FakeEntryPoint("good", "nnxc_fake_good", package="nnxc-good", version="2.5")
    pm = entry_points(point, nnxc_fake_good=good_module("good-lda"))
    assert pm.get_plugin("good") is not None
    registration = manager.base_functionals()["good-lda"]
    assert (registration.plugin, registration.package, registration.version) == ("good", "nnxc-good", "2.5")
    assert isinstance(get_functional("good-lda"), TorchLDA)


def test_autoload_switch_and_plugin_selection(entry_points, monkeypatch):
    modules = {"nnxc_fake_good": good_module("one-lda"), "nnxc_fake_other": plugin_module(
        "nnxc_fake_other", nnxc_register_base_functionals=registers("two-lda"))}
    points = (FakeEntryPoint("one", "nnxc_fake_good"), FakeEntryPoint("two", "nnxc_fake_other"))
    monkeypatch.setenv("ASE_NNXC_DISABLE_PLUGIN_AUTOLOAD", "1")
    entry_points(*points, **modules)
    assert {"one-lda", "two-lda"}.isdisjoint(manager.base_functionals())
    assert "torch-pbe" in manager.base_functionals()  # built-ins still there
    monkeypatch.delenv("ASE_NNXC_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("ASE_NNXC_PLUGINS", "two")
    entry_points(*points, **modules)
    assert "two-lda" in manager.base_functionals() and "one-lda" not in manager.base_functionals()


def test_a_name_of_two_plugins_is_refused_for_both_and_every_other_name_works(entry_points):
    points = (
        FakeEntryPoint("first", "nnxc_fake_good", package="nnxc-first"),
        FakeEntryPoint("second", "nnxc_fake_other", package="nnxc-second"),
    )
    other = plugin_module("nnxc_fake_other", nnxc_register_base_functionals=registers("Shared-LDA", "second-lda"))
    with pytest.warns(UserWarning, match="registered twice"):
        entry_points(*points, nnxc_fake_good=good_module("shared-lda", "first-lda"), nnxc_fake_other=other)
        registry = manager.base_functionals()
    assert "shared-lda" not in registry and {"first-lda", "second-lda", "torch-pbe"} <= set(registry)
    message = r"'shared-lda' is registered twice, by plugin 'first' \(package nnxc-first\) and plugin 'second' \(package nnxc-second\), and refused for both"
    assert re.search(message, manager.refused("base_functionals")["shared-lda"])
    with pytest.raises(PluginError, match=message):
        get_functional("shared-lda")
    # the rest keeps working: built-ins, libxc names and both plugins' other names
    assert isinstance(get_functional("first-lda"), TorchLDA) and isinstance(get_functional("second-lda"), TorchLDA)
    assert get_functional("pbe").name == "pbe"


def test_clash_with_a_builtin_name_keeps_the_builtin(register_plugin):
    from ase_nnxc.xc.torch_functionals import TorchPBE

    register_plugin(plugin_module("clash", nnxc_register_base_functionals=registers("torch-pbe", "own-lda")), "clash")
    with pytest.warns(UserWarning, match="'torch-pbe' of plugin 'clash'.*already registered by plugin 'ase_nnxc.xc.builtin'"):
        registry = manager.base_functionals()
    assert registry["torch-pbe"].plugin == "ase_nnxc.xc.builtin" and registry["own-lda"].plugin == "clash"
    assert isinstance(get_functional("torch-pbe"), TorchPBE)


def test_hookimpl_without_the_nnxc_prefix_leaves_only_that_plugin_out(entry_points, capsys):
    from ase_nnxc.cli import main

    def register_base_functionals(register):  # marked as a hook, but no ase_nnxc hook has this name
        register("never-lda", TorchLDA)

    bad = plugin_module("nnxc_fake_prefix", register_base_functionals=register_base_functionals)
    points = (FakeEntryPoint("noprefix", "nnxc_fake_prefix", package="nnxc-noprefix"), FakeEntryPoint("good", "nnxc_fake_good"))
    with pytest.warns(UserWarning, match="plugin 'noprefix' \\(entry point of package nnxc-noprefix\\) was left out"):
        entry_points(*points, nnxc_fake_prefix=bad, nnxc_fake_good=good_module("good-lda"))
    assert "unknown hook 'register_base_functionals'" in manager.load_errors()["noprefix"]
    assert {"good-lda", "torch-lda"} <= set(manager.base_functionals()) and "never-lda" not in manager.base_functionals()
    assert get_functional("pbe").name == "pbe" and "nn-lda" in manager.xc_models()
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"noprefix  \(package nnxc-noprefix\)  LEFT OUT: PluginError: .*unknown hook 'register_base_functionals'", out)
    assert "good-lda" in out and "torch-pbe" in out


def test_a_registration_hook_that_raises_leaves_all_of_its_plugin_out(entry_points, capsys):
    from ase_nnxc.cli import main

    def nnxc_register_xc_models(register):
        raise ImportError("libtorch_cuda.so: cannot open shared object file")

    broken = plugin_module(
        "nnxc_fake_raises", nnxc_register_base_functionals=registers("half-lda"), nnxc_register_xc_models=nnxc_register_xc_models
    )
    with pytest.warns(UserWarning, match="plugin 'raises'.*left out: nnxc_register_xc_models: ImportError: libtorch_cuda"):
        entry_points(FakeEntryPoint("raises", "nnxc_fake_raises", package="nnxc-raises"), nnxc_fake_raises=broken)
        manager.losses()
    assert "half-lda" not in manager.base_functionals()  # none of its names, not only the failing hook's
    assert {"nn-lda", "nn-mgga"} <= set(manager.xc_models()) and "torch-pbe" in manager.base_functionals()
    assert main(["plugins"]) == 0
    assert "raises  (package nnxc-raises)  LEFT OUT: nnxc_register_xc_models: ImportError" in capsys.readouterr().out


def test_plugin_failing_to_import_is_reported_and_the_others_load(entry_points):
    points = (
        FakeEntryPoint("broken", "nnxc_no_such_module_anywhere"),
        FakeEntryPoint("good", "nnxc_fake_good"),
    )
    with pytest.warns(UserWarning, match="plugin 'broken' .*left out: ModuleNotFoundError"):
        pm = entry_points(*points, nnxc_fake_good=good_module("good-lda"))
    errors = manager.load_errors()
    assert list(errors) == ["broken"]
    assert errors["broken"].startswith("ModuleNotFoundError") and "nnxc_no_such_module_anywhere" in errors["broken"]
    assert pm.get_plugin("broken") is None and pm.get_plugin("good") is not None
    assert "good-lda" in manager.base_functionals()


def test_plugin_raising_on_import_is_reported(entry_points, tmp_path, monkeypatch):
    (tmp_path / "nnxc_fake_raising.py").write_text('raise RuntimeError("libfoo.so not found")\n')
    monkeypatch.syspath_prepend(tmp_path)
    with pytest.warns(UserWarning, match="'raising'.*RuntimeError: libfoo.so not found"):
        entry_points(FakeEntryPoint("raising", "nnxc_fake_raising"))
    assert manager.load_errors() == {"raising": "RuntimeError: libfoo.so not found"}
    assert "torch-pbe" in manager.base_functionals()


def test_wrong_hook_signature_is_rejected_at_load_time(entry_points):
    def nnxc_register_base_functionals(registry):  # the spec's argument is ``register``
        registry("never", TorchLDA)

    bad = plugin_module("nnxc_fake_bad", nnxc_register_base_functionals=nnxc_register_base_functionals)
    unknown = plugin_module("nnxc_fake_unknown", nnxc_register_datasets=lambda register: None)
    points = (
        FakeEntryPoint("badsig", "nnxc_fake_bad"),
        FakeEntryPoint("unknown", "nnxc_fake_unknown"),
        FakeEntryPoint("good", "nnxc_fake_good"),
    )
    with pytest.warns(UserWarning) as warned:
        pm = entry_points(*points, nnxc_fake_bad=bad, nnxc_fake_unknown=unknown, nnxc_fake_good=good_module("good-lda"))
    assert sorted(str(w.message).split("'")[1] for w in warned) == ["badsig", "unknown"]
    errors = manager.load_errors()
    assert "plugin 'badsig'" in errors["badsig"] and "('registry',) does not match the spec" in errors["badsig"]
    assert "plugin 'unknown' implements unknown hook 'nnxc_register_datasets'" in errors["unknown"]
    assert pm.get_plugin("badsig") is None and "never" not in manager.base_functionals()
    assert "good-lda" in manager.base_functionals()


def test_wrong_signature_registered_directly_is_rejected_naming_the_plugin(plugin_manager):
    class Bad:
        @hookimpl
        def nnxc_register_losses(self, register, extra):
            pass

    with pytest.raises(pluggy.PluginValidationError, match="'direct-bad'"):
        plugin_manager.register(Bad(), name="direct-bad")


@pytest.fixture
def broken_functionals(register_plugin):
    class Broken:
        @hookimpl
        def nnxc_register_base_functionals(self, register):
            register("nan-lda", lambda: BrokenLDA("nan"))
            register("flat-lda", lambda: BrokenLDA("shape"))
            register("not-a-functional", lambda: torch.nn.Linear(1, 1))
            register("failing-lda", lambda: BrokenLDA(**{"bad": 1}))

    return register_plugin(Broken(), "broken-plugin")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nan-lda", r"plugin 'broken-plugin': functional 'nan-lda' returned 1 non-finite \(NaN or inf\)"),
        ("flat-lda", r"plugin 'broken-plugin': functional 'flat-lda' returned an energy density of shape \(500, 1\), expected \(500,\)"),
    ],
)
def test_bad_output_names_the_plugin(broken_functionals, name, message):
    functional = get_functional(name)
    with pytest.raises(PluginError, match=message):
        functional(FeatureMap(torch.from_numpy(random_lda_features(1))))


def test_bad_factories_name_the_plugin(broken_functionals):
    with pytest.raises(PluginError, match="plugin 'broken-plugin': functional 'not-a-functional' factory returned Linear"):
        get_functional("not-a-functional")
    with pytest.raises(PluginError, match="plugin 'broken-plugin': functional 'failing-lda' could not be built: TypeError"):
        get_functional("failing-lda")


def test_nan_in_the_kohn_sham_energy_and_the_calculator_names_the_plugin(broken_functionals):
    ks = KohnSham(system("H2", basis="sto-3g"), get_functional("nan-lda"), SCFConfig(grid_level=0))
    density = torch.from_numpy(np.eye(ks.nao))[None] * 0.5
    with pytest.raises(PluginError, match="plugin 'broken-plugin': functional 'nan-lda'.*non-finite"):
        ks.xc_energy(density)
    with pytest.raises(PluginError, match="plugin 'broken-plugin': functional 'flat-lda'.*shape"):
        KohnSham(ks.system, get_functional("flat-lda"), SCFConfig(grid_level=0)).xc_energy(density)
    atoms = molecule("H2")
    atoms.calc = NNXC(xc="nan-lda", basis="sto-3g", grid_level=0)
    with pytest.raises(CalculationFailed, match="plugin 'broken-plugin': functional 'nan-lda'"):
        atoms.get_potential_energy()
