"""List the loaded plugins: package, version and what each registers.

Built-in functionals, models and losses are listed under ase_nnxc, since they are registered
through the same hooks as third-party ones. Plugins that were left out (failed to import,
unknown hooks, wrong hook parameters, a registration hook that raised) are listed with the
reason, and so are names refused because two plugins register them. ASE_NNXC_DISABLE_PLUGIN_AUTOLOAD=1 loads no entry points; ASE_NNXC_PLUGINS=a,b
loads only the named ones.

Example:
  nnxc plugins

"""

from __future__ import annotations

import argparse

NAME = "plugins"
HELP = "list plugins and the functionals, models and losses they register"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``nnxc plugins`` takes no options."""


#: The plugin through which the package registers its shipped trained functionals.
SHIPPED = "ase_nnxc.pretrained"


def run(args: argparse.Namespace) -> int:
    """Print the table; returns the exit status."""
    from ase_nnxc.plugins import manager

    kinds = {"base functional": manager.base_functionals(), "xc model": manager.xc_models(), "loss": manager.losses()}
    rows = {}
    for kind, registry in kinds.items():
        for reg in registry.values():
            shown = "shipped neural functional" if reg.plugin == SHIPPED and kind == "base functional" else kind
            rows.setdefault((reg.plugin, reg.package, reg.version), []).append((shown, reg.name, reg.description))
    items = [item for group in rows.values() for item in group]
    kind_width = max((len(kind) for kind, _, _ in items), default=0)
    name_width = max((len(name) for _, name, _ in items), default=0)
    print(f"    {'kind':<{kind_width}}  {'name':<{name_width}}  description")
    for (plugin, package, version), group in sorted(rows.items()):
        print(f"{plugin}  (package {package} {version})")
        for kind, name, description in group:
            print(f"    {kind:<{kind_width}}  {name:<{name_width}}  {description}")
    for name, error in manager.load_errors().items():
        print(f"{name}  (package {manager.package_of(name)})  LEFT OUT: {error}")
    for kind in manager.KINDS:
        for message in manager.refused(kind).values():
            print(f"REFUSED: {message}")
    print("libxc names (pbe, b3lyp, r2scan, ...) are accepted wherever a functional is named.")
    return 0
