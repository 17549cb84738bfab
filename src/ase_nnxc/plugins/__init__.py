"""Plugin system: pluggy hook specifications, the manager and the registries behind them."""

from ase_nnxc.plugins.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
