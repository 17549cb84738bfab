"""The one plugin manager: hookspecs, then built-ins, then entry points of group ``ase_nnxc``.

Core code asks this module for registries (:func:`base_functionals`, :func:`xc_models`,
:func:`losses`) and never calls ``pm.hook`` itself. Environment switches:

* ``ASE_NNXC_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry points (built-ins only);
* ``ASE_NNXC_PLUGINS=name1,name2`` loads only the named entry points.

One broken plugin never takes the others down. A plugin that fails to import, marks a function
``@hookimpl`` that is no ase_nnxc hook, implements a hook with the wrong parameters, or raises
inside a registration hook is left out entirely, with a warning naming its entry point and
package (see :func:`load_errors`). Names registered twice are settled per name, every other
name keeps working (see :func:`refused`):

* a name a built-in registers stays the built-in's; the plugin's registration is refused;
* a name two third-party plugins register is refused for both (entry points load in no
  meaningful order, so neither may silently win); asking for it says so and names both.
"""

from __future__ import annotations

import difflib
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
#: The registries, each filled by the hook ``nnxc_register_<kind>``.
KINDS: tuple[str, ...] = ("base_functionals", "xc_models", "losses")
HOOKS: tuple[str, ...] = tuple(f"nnxc_register_{kind}" for kind in KINDS)

_manager: pluggy.PluginManager | None = None
_registries: dict[str, dict[str, Registration]] | None = None
_refused: dict[str, dict[str, str]] = {}
_load_errors: dict[str, str] = {}
_dists: dict[str, tuple[str, str]] = {}


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

    @property
    def builtin(self) -> bool:
        """Whether ase_nnxc itself registered it."""
        return self.plugin in BUILTIN_PLUGINS


class PluginError(RuntimeError):
    """A plugin broke a contract (duplicate name, wrong signature, bad output)."""


class OptionError(ValueError):
    """Options given to a registered factory that it does not accept."""


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
    pm.check_pending()  # cannot fail: every plugin's hooks were checked before it was registered
    _manager = pm
    return pm


def package_of(plugin: str) -> str:
    """The distribution that provides the plugin (entry point) ``plugin``."""
    if plugin in BUILTIN_PLUGINS:
        return "ase_nnxc"
    return _dists.get(plugin, ("unknown package", ""))[0]


def _leave_out(name: str, message: str) -> None:
    _load_errors[name] = message
    warnings.warn(
        f"ase_nnxc plugin {name!r} (entry point of package {package_of(name)}) was left out: {message}", stacklevel=3
    )


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    only = {n.strip() for n in os.environ.get("ASE_NNXC_PLUGINS", "").split(",") if n.strip()}
    for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        if only and ep.name not in only:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        if dist is not None:
            _dists[ep.name] = (dist.metadata["Name"], dist.version)
        try:
            plugin = ep.load()
            _check_hooks(pm, plugin, ep.name)
            pm.register(plugin, name=ep.name)
        except Exception as err:  # a broken plugin must not take the others down
            _leave_out(ep.name, f"{type(err).__name__}: {' '.join(str(err).split())}")


def _check_hooks(pm: pluggy.PluginManager, plugin, name: str) -> None:
    """Reject unknown hooks and parameters that are not the spec's, naming the plugin."""
    for attr in dir(plugin):
        marked = pm.parse_hookimpl_opts(plugin, attr) is not None
        if not marked and not attr.startswith("nnxc_"):
            continue
        spec = getattr(hookspecs, attr, None) if attr in HOOKS else None
        if spec is None:
            what = "marks" if marked else "defines"
            raise PluginError(
                f"plugin {name!r} implements unknown hook {attr!r} ({what} it as a hook; "
                f"ase_nnxc's hooks are {', '.join(HOOKS)})"
            )
        wanted = list(inspect.signature(spec).parameters)
        got = list(inspect.signature(getattr(plugin, attr)).parameters)
        if got and got[0] == "self":
            got = got[1:]
        if not set(got) <= set(wanted):
            raise PluginError(f"plugin {name!r}: hook {attr}{tuple(got)} does not match the spec {attr}{tuple(wanted)}")


def load_errors() -> dict[str, str]:
    """Plugins left out, by entry-point name, with the reason (import, hooks or registration)."""
    _all_registries()
    return dict(_load_errors)


def refused(kind: str) -> dict[str, str]:
    """Names of registry ``kind`` (one of :data:`KINDS`) refused as registered twice, with why."""
    _all_registries()
    return dict(_refused.get(kind, {}))


def _plugin_origin(pm: pluggy.PluginManager, plugin) -> tuple[str, str, str]:
    name = pm.get_name(plugin) or repr(plugin)
    package, version = _dists.get(name, ("ase_nnxc", _own_version()))
    return name, package, version


def _own_version() -> str:
    try:
        return importlib.metadata.version("ase_nnxc")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _call_hooks(pm: pluggy.PluginManager, kind: str, failed: dict[str, str]) -> list[Registration]:
    """Every registration of hook ``kind`` in order (built-ins first); plugins that raise go to ``failed``."""
    hook_name = f"nnxc_register_{kind}"
    out: list[Registration] = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        origin = _plugin_origin(pm, impl.plugin)
        mine: list[Registration] = []

        def register(name: str, factory: Callable[..., Any], description: str = "", *, _o=origin, _m=mine):
            if not isinstance(name, str) or not name.strip():
                raise PluginError(f"registered an invalid name {name!r}")
            if not callable(factory):
                raise PluginError(f"registered {name!r} with a factory that is not callable ({type(factory).__name__})")
            _m.append(Registration(name, factory, str(description), *_o))

        try:
            impl.function(register)
        except Exception as err:  # noqa: BLE001 - any failure of foreign code leaves the plugin out
            failed.setdefault(origin[0], f"{hook_name}: {type(err).__name__}: {' '.join(str(err).split())}")
            continue
        out += mine
    return out


def _merge(kind: str, registrations: list[Registration]) -> tuple[dict[str, Registration], dict[str, str]]:
    """Settle duplicate names (module docstring): the registry and the refused names with reasons."""
    hook_name = f"nnxc_register_{kind}"
    found: dict[str, Registration] = {}
    clashes: dict[str, list[Registration]] = {}
    for reg in registrations:
        key = reg.name.lower()
        if key in clashes:
            clashes[key].append(reg)
            continue
        other = found.get(key)
        if other is None:
            found[key] = reg
        elif other.builtin or other.plugin == reg.plugin:
            warnings.warn(
                f"{hook_name}: name {reg.name!r} of plugin {reg.plugin!r} (package {reg.package}) is already "
                f"registered by plugin {other.plugin!r} (package {other.package}); that one is kept",
                stacklevel=4,
            )
        else:
            clashes[key] = [found.pop(key), reg]
    refused_names = {}
    for key, regs in clashes.items():
        who = " and ".join(f"plugin {r.plugin!r} (package {r.package})" for r in regs)
        refused_names[key] = (
            f"{hook_name}: name {regs[0].name!r} is registered twice, by {who}, and refused for both; "
            "uninstall one, or choose plugins with ASE_NNXC_PLUGINS"
        )
        warnings.warn(refused_names[key], stacklevel=4)
    return found, refused_names


def _all_registries() -> dict[str, dict[str, Registration]]:
    global _registries
    if _registries is not None:
        return _registries
    pm = get_plugin_manager()
    failed: dict[str, str] = {}
    collected = {kind: _call_hooks(pm, kind, failed) for kind in KINDS}
    for name, message in failed.items():
        if name in BUILTIN_PLUGINS:  # our own bug: loud, not hidden
            raise PluginError(f"built-in plugin {name!r} failed: {message}")
        pm.unregister(name=name)
        _leave_out(name, message)
    registries = {}
    for kind in KINDS:
        kept = [r for r in collected[kind] if r.plugin not in failed]
        registries[kind], _refused[kind] = _merge(kind, kept)
    _registries = registries
    return registries


def base_functionals() -> dict[str, Registration]:
    """Registered base functionals by lower-case name."""
    return _all_registries()["base_functionals"]


def xc_models() -> dict[str, Registration]:
    """Registered neural XC architectures by lower-case name."""
    return _all_registries()["xc_models"]


def losses() -> dict[str, Registration]:
    """Registered losses by lower-case name."""
    return _all_registries()["losses"]


def lookup(kind: str, name: str, what: str) -> Registration:
    """The registration of ``name`` in registry ``kind``.

    Raises
    ------
    PluginError
        ``name`` was refused (registered by two plugins); the message names both.
    ValueError
        ``name`` is not registered; the message lists what is and suggests the nearest.

    """
    registry = _all_registries()[kind]
    key = name.lower() if isinstance(name, str) else name
    if key in registry:
        return registry[key]
    if key in _refused.get(kind, {}):
        raise PluginError(_refused[kind][key])
    close = difflib.get_close_matches(str(key), list(registry), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown {what} {name!r}; registered: {', '.join(sorted(registry)) or 'none'}.{hint}")


def accepted_options(factory: Callable[..., Any]) -> tuple[list[str], bool]:
    """Keyword options ``factory`` takes, and whether it takes any others (``**kwargs``).

    A class whose ``__init__`` passes ``**kwargs`` on to a base class is followed up its MRO.
    """
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: cannot tell
        return [], True
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in parameters if p.kind in keyword]
    more = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    for cls in getattr(factory, "__mro__", ())[1:] if more else ():
        init = cls.__dict__.get("__init__")
        if init is None or cls is object:
            continue
        inherited = list(inspect.signature(init).parameters.values())[1:]
        names += [p.name for p in inherited if p.kind in keyword and p.name not in names]
        more = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inherited)
        if not more:
            break
    return names, more


def check_options(registration: Registration, options, where: str) -> None:
    """Refuse options the factory of ``registration`` does not take.

    Parameters
    ----------
    registration
        What the options are for.
    options
        The mapping of keyword options.
    where
        Where the options were written (``"model.options"``), prefixed to the bad key.

    Raises
    ------
    OptionError
        For a non-mapping or an unknown option; the message names the option, the nearest
        accepted one, every accepted one and the plugin.

    """
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise OptionError(f"{where} must be a mapping of option names to values, got {options!r}")
    names, more = accepted_options(registration.factory)
    unknown = [k for k in options if k not in names]
    if not unknown or more:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise OptionError(
        f"{where}.{key}: {registration.name!r} (plugin {registration.plugin!r}, package {registration.package}) "
        f"has no option {key!r}{hint} Accepted: {', '.join(names) or 'none'}."
    )


def reset() -> None:
    """Forget the manager and registries (tests; after installing a plugin at run time)."""
    global _manager, _registries
    _manager = None
    _registries = None
    _refused.clear()
    _load_errors.clear()
    _dists.clear()
