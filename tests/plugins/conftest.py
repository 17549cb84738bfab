import importlib.metadata
import sys

import pytest

from ase_nnxc.plugins import hookspecs, manager


@pytest.fixture
def plugin_manager():
    """A freshly built manager; rebuilt again afterwards so no test leaks plugins."""
    manager.reset()
    yield manager.get_plugin_manager()
    manager.reset()


@pytest.fixture
def register_plugin(plugin_manager):
    """``register_plugin(obj, name)``: register a throwaway plugin, unregistered in teardown."""
    registered = []

    def register(plugin, name):
        plugin_manager.register(plugin, name=name)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        if plugin_manager.is_registered(plugin):
            plugin_manager.unregister(plugin)
    manager.reset()


@pytest.fixture
def entry_points(monkeypatch):
    """``entry_points(*points, **modules)``: the installed entry points become ``points``.

    ``modules`` are placed in ``sys.modules`` under their keyword so that ``value`` strings
    can name them. The manager is rebuilt on the fake entry points and again in teardown.
    """
    original = importlib.metadata.entry_points

    def install(*points, **modules):
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)

        def fake(**kwargs):
            if kwargs.get("group") == hookspecs.PROJECT:
                return list(points)
            return original(**kwargs)

        monkeypatch.setattr(manager.importlib.metadata, "entry_points", fake)
        manager.reset()
        return manager.get_plugin_manager()

    yield install
    manager.reset()
