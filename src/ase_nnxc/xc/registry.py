"""Turn what a user typed (a name, a checkpoint path, an object) into a functional."""

from __future__ import annotations

from pathlib import Path

from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.libxc import LibXCFunctional


def get_functional(spec) -> XCFunctional:
    """Resolve ``spec`` to an :class:`XCFunctional`.

    Order: an ``XCFunctional`` instance is returned as it is; a name registered through the
    ``nnxc_register_base_functionals`` hook (built-in or plugin); a path to a trained
    checkpoint; finally any libxc name (``"pbe"``, ``"b3lyp"``, ``"r2scan"``, ...).

    Raises
    ------
    ValueError
        When nothing matches; the message names the input.
    """
    if isinstance(spec, XCFunctional):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"xc must be a functional name, a checkpoint path or an XCFunctional, not {spec!r}.")
    from ase_nnxc.plugins import manager

    registered = manager.base_functionals().get(spec.lower())
    if registered is not None:
        functional = registered.factory()
        if not isinstance(functional, XCFunctional):
            raise manager.PluginError(
                f"plugin {registered.plugin!r}: functional {spec!r} factory returned "
                f"{type(functional).__name__}, not an XCFunctional"
            )
        return functional
    path = Path(spec).expanduser()
    if path.suffix in (".pt", ".pth") or path.is_file():
        from ase_nnxc.train.checkpoint import load_functional

        return load_functional(path)
    try:
        return LibXCFunctional(spec)
    except ValueError as err:
        known = ", ".join(sorted(manager.base_functionals())) or "none"
        raise ValueError(
            f"Unknown exchange-correlation functional {spec!r}: not a registered name ({known}), "
            "not a checkpoint file, and not a libxc name."
        ) from err
