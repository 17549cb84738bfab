"""The one plugin manager: hookspecs, then built-ins, then entry points of group ``ase_nnxc``.

Core code asks this module for registries (:func:`base_functionals`, :func:`xc_models`,
:func:`losses`) and never calls ``pm.hook`` itself. Environment switches:

* ``ASE_NNXC_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry points (built-ins only);
* ``ASE_NNXC_PLUGINS=name1,name2`` loads only the named entry points.

A plugin that fails to import is reported (see :func:`load_errors`) and the others still load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ase_nnxc.plugins import hookspecs

#: Modules that register the built-in functionals, models and losses through the hooks.
BUILTIN_PLUGINS: tuple[str, ...] = ("ase_nnxc.xc.builtin", "ase_nnxc.xc.neural", "ase_nnxc.train.losses", "ase_nnxc.pretrained")

_manager: pluggy.PluginManager | None = None
_registries: dict[str, dict[str, Registration]] | None = None
_load_errors: dict[str, str] = {}


@dataclass(frozen=True)
class Registration:
    """One name registered through a hook."""

    name: str
    """The name users type."""
    factory: Callable[..., Any]
    """Builds the object (see the hook's contract)."""
    description: str = ""
    """One line for listings."""
    plugin: str = "ase_nnxc"
    """The plugin (entry-point or module name) that registered it."""
    package: str = "ase_nnxc"
    """The distribution that provides the plugin."""
    version: str = field(default="", compare=False)
    """The distribution's version."""


class PluginError(RuntimeError):
    """A plugin broke a contract (duplicate name, wrong signature, bad output)."""


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager (built once, idempotent)."""
    global _manager
    if _manager is not None:
        return _manager
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if os.environ.get("ASE_NNXC_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true", "yes"):
        _load_entry_points(pm)
    pm.check_pending()
    _manager = pm
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    only = {n.strip() for n in os.environ.get("ASE_NNXC_PLUGINS", "").split(",") if n.strip()}
    for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        if only and ep.name not in only:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
            _check_signatures(plugin, ep.name)
            pm.register(plugin, name=ep.name)
        except Exception as err:  # a broken plugin must not take the others down
            message = f"{type(err).__name__}: {err}"
            _load_errors[ep.name] = message
            warnings.warn(f"ase_nnxc plugin {ep.name!r} failed to load and was skipped: {message}", stacklevel=2)
            continue
        dist = getattr(ep, "dist", None)
        if dist is not None:
            pm._nnxc_dist = getattr(pm, "_nnxc_dist", {})
            pm._nnxc_dist[ep.name] = (dist.metadata["Name"], dist.version)


def _check_signatures(plugin, name: str) -> None:
    """Reject hook implementations whose parameters are not the spec's, naming the plugin."""
    for attr in dir(plugin):
        if not attr.startswith("nnxc_"):
            continue
        spec = getattr(hookspecs, attr, None)
        if spec is None:
            raise PluginError(f"plugin {name!r} implements unknown hook {attr!r}")
        wanted = list(inspect.signature(spec).parameters)
        got = list(inspect.signature(getattr(plugin, attr)).parameters)
        if got and got[0] == "self":
            got = got[1:]
        if not set(got) <= set(wanted):
            raise PluginError(f"plugin {name!r}: hook {attr}{tuple(got)} does not match the spec {attr}{tuple(wanted)}")


def load_errors() -> dict[str, str]:
    """Plugins that failed to load, by entry-point name, with their error."""
    get_plugin_manager()
    return dict(_load_errors)


def _plugin_origin(pm: pluggy.PluginManager, plugin) -> tuple[str, str, str]:
    name = pm.get_name(plugin) or repr(plugin)
    package, version = getattr(pm, "_nnxc_dist", {}).get(name, ("ase_nnxc", _own_version()))
    return name, package, version


def _own_version() -> str:
    try:
        return importlib.metadata.version("ase_nnxc")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _collect(hook_name: str) -> dict[str, Registration]:
    pm = get_plugin_manager()
    found: dict[str, Registration] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():
        plugin_name, package, version = _plugin_origin(pm, impl.plugin)

        def register(name: str, factory: Callable[..., Any], description: str = "", *, _p=(plugin_name, package, version)):
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {_p[0]!r} registered an invalid name {name!r}")
            key = name.lower()
            if key in found:
                other = found[key]
                raise PluginError(
                    f"{hook_name}: name {name!r} is registered twice, by plugin {other.plugin!r} "
                    f"(package {other.package}) and by plugin {_p[0]!r} (package {_p[1]})"
                )
            found[key] = Registration(name, factory, description, _p[0], _p[1], _p[2])

        impl.function(register)
    return found


def _registry(kind: str) -> dict[str, Registration]:
    global _registries
    if _registries is None:
        _registries = {}
    if kind not in _registries:
        _registries[kind] = _collect(f"nnxc_register_{kind}")
    return _registries[kind]


def base_functionals() -> dict[str, Registration]:
    """Registered base functionals by lower-case name."""
    return _registry("base_functionals")


def xc_models() -> dict[str, Registration]:
    """Registered neural XC architectures by lower-case name."""
    return _registry("xc_models")


def losses() -> dict[str, Registration]:
    """Registered losses by lower-case name."""
    return _registry("losses")


def reset() -> None:
    """Forget the manager and registries (tests; after installing a plugin at run time)."""
    global _manager, _registries
    _manager = None
    _registries = None
    _load_errors.clear()
