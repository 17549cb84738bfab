"""Turn what a user typed (a name, a checkpoint path, an object) into a functional.

Functionals built by a plugin's factory are checked where they are built (type, family) and
every time they are evaluated (shape and finiteness of the energy density), so a broken
plugin fails with a message naming it rather than deep inside the SCF.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ase_nnxc.xc.base import FAMILIES, XCFunctional
from ase_nnxc.xc.checkpoint import CheckpointError, build_model, check_shapes, file_sha256, read_checkpoint
from ase_nnxc.xc.features import FeatureMap
from ase_nnxc.xc.libxc import LibXCFunctional


class OutputCheck:
    """Forward hook: the energy density must be finite with shape ``(ngrid,)``.

    Parameters
    ----------
    plugin
        The plugin that registered the functional (named in the error).
    name
        The registered name.

    """

    def __init__(self, plugin: str, name: str):
        self.plugin = plugin
        self.name = name

    def __call__(self, module, inputs, output) -> None:
        from ase_nnxc.plugins.manager import PluginError

        features = inputs[0] if inputs else None
        expected = (features.ngrid,) if isinstance(features, FeatureMap) else None
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        if not isinstance(output, torch.Tensor) or (expected is not None and shape != expected):
            raise PluginError(
                f"plugin {self.plugin!r}: functional {self.name!r} returned an energy density of shape "
                f"{shape}, expected {expected}"
            )
        bad = int((~torch.isfinite(output.detach())).sum())
        if bad:
            raise PluginError(
                f"plugin {self.plugin!r}: functional {self.name!r} returned {bad} non-finite (NaN or inf) "
                f"energy densities out of {output.numel()}"
            )


def checked(functional, plugin: str, name: str) -> XCFunctional:
    """Validate what a plugin factory built and guard its output from now on.

    Parameters
    ----------
    functional
        The object the factory returned.
    plugin, name
        Who registered it and under which name (both appear in every error).

    Returns
    -------
    XCFunctional
        ``functional`` itself, with an :class:`OutputCheck` forward hook attached: calling it
        (as the Kohn-Sham code and the trainer do) raises ``PluginError`` on NaN, infinity or
        a wrong shape.

    Raises
    ------
    ase_nnxc.plugins.manager.PluginError
        ``functional`` is not an :class:`XCFunctional` or its ``family`` is unknown.

    """
    from ase_nnxc.plugins.manager import PluginError

    if not isinstance(functional, XCFunctional):
        raise PluginError(
            f"plugin {plugin!r}: functional {name!r} factory returned {type(functional).__name__}, not an XCFunctional"
        )
    if functional.family not in FAMILIES:
        raise PluginError(
            f"plugin {plugin!r}: functional {name!r} has family {functional.family!r}, not one of {FAMILIES}"
        )
    functional.register_forward_hook(OutputCheck(plugin, name))
    return functional


#: Prefix that marks a checkpoint path explicitly: ``path:b3lyp`` is the file ``b3lyp``.
PATH_PREFIX = "path:"
#: File suffixes of checkpoints (a name with one of these is never a functional name).
CHECKPOINT_SUFFIXES = (".pt", ".pth")


def _explicit_path(spec: str) -> Path | None:
    """The path ``spec`` names by its syntax alone: ``path:...``, a folder part or ``~``; else ``None``."""
    if spec.startswith(PATH_PREFIX):
        return Path(spec[len(PATH_PREFIX) :]).expanduser()
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    if spec.startswith("~") or any(sep in spec for sep in separators):
        return Path(spec).expanduser()
    return None


def get_functional(spec) -> XCFunctional:
    """Resolve ``spec`` to an :class:`XCFunctional`.

    Order (a file never hides a functional name):

    1. an ``XCFunctional`` instance is returned as it is;
    2. a path written as one -- ``path:NAME``, anything with a folder part (``./b3lyp``,
       ``runs/model.pt``) or starting with ``~`` -- is loaded as a checkpoint;
    3. a name registered through the ``nnxc_register_base_functionals`` hook (built-in,
       shipped or plugin);
    4. a libxc name (``"pbe"``, ``"b3lyp"``, ``"r2scan"``, ...);
    5. a bare file name: a checkpoint in the working directory (``model.pt``), if it ends in
       ``.pt``/``.pth`` or exists.

    So a file called ``b3lyp`` in the working directory is reached as ``./b3lyp`` or
    ``path:b3lyp``, and ``b3lyp`` stays the libxc functional. Where a file is loaded, a
    TorchScript artefact of ``nnxc export`` (with its ``.json`` sidecar) is loaded as one.

    Raises
    ------
    ValueError
        When nothing matches; the message names the input.
    ase_nnxc.xc.checkpoint.CheckpointError
        A checkpoint that cannot be read or does not match its model (a ``ValueError`` too).
    ase_nnxc.plugins.manager.PluginError
        When a registered factory fails or builds something that is not a functional, or the
        name was refused because two plugins register it.

    """
    if isinstance(spec, XCFunctional):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"xc must be a functional name, a checkpoint path or an XCFunctional, not {spec!r}.")
    from ase_nnxc.plugins import manager

    path = _explicit_path(spec)
    if path is not None:
        return _load_checkpoint(path)
    registered = manager.base_functionals().get(spec.lower())
    if registered is None and spec.lower() in manager.refused("base_functionals"):
        manager.lookup("base_functionals", spec, "functional")  # raises, naming both plugins
    if registered is not None:
        try:
            functional = registered.factory()
        except Exception as err:
            raise manager.PluginError(
                f"plugin {registered.plugin!r}: functional {spec!r} could not be built: {type(err).__name__}: {err}"
            ) from err
        return checked(functional, registered.plugin, registered.name)
    path = Path(spec)
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        try:
            return LibXCFunctional(spec)
        except ValueError as err:
            if not path.is_file():
                known = ", ".join(sorted(manager.base_functionals())) or "none"
                raise ValueError(
                    f"Unknown exchange-correlation functional {spec!r}: not a registered name ({known}), "
                    "not a libxc name, and no checkpoint file of that name."
                ) from err
    return _load_checkpoint(path)


def _load_checkpoint(path: Path) -> XCFunctional:
    from ase_nnxc.xc import torchscript

    if torchscript.is_artefact(path):  # an `nnxc export` file, checked against its sidecar's SHA-256
        return torchscript.load_torchscript(path)
    return load_functional(path)


#: Checkpoints being loaded right now (a base that leads back to one of them is a cycle).
_loading: list[Path] = []


def load_functional(path, expected_sha256: str | None = None):
    """The functional stored in a checkpoint, ready for ``NNXC(xc=...)``.

    The returned module carries ``default_basis`` and ``grid_level`` (what it was trained
    with), ``dispersion`` (the stored D4 metadata, or ``None``) and ``checkpoint_path``. With
    ``expected_sha256`` the file's hash is checked first.
    """
    from ase_nnxc.plugins import manager
    from ase_nnxc.xc.neural import HybridXC

    path = Path(path)
    if expected_sha256 is not None:
        digest = file_sha256(path)
        if digest != expected_sha256:
            raise CheckpointError(f"{path}: SHA-256 {digest} does not match the expected {expected_sha256}")
    payload = read_checkpoint(path)
    key = path.resolve()
    if key in _loading:
        raise CheckpointError(
            f"{_loading[0]}: its base functional {payload['base']!r} leads back to {path}, a cycle of checkpoints"
        )
    _loading.append(key)
    try:
        try:
            manager.check_options(manager.lookup("xc_models", payload["model"], "XC model"), payload["options"], "options")
        except (ValueError, manager.PluginError) as err:
            raise CheckpointError(f"{path}: {err}") from err
        try:
            base = get_functional(payload["base"])
        except CheckpointError:
            raise
        except (ValueError, manager.PluginError) as err:
            raise CheckpointError(f"{path}: base functional {payload['base']!r}: {err}") from err
        check_shapes(path, payload, base)
        try:
            functional = HybridXC(base, build_model(payload["model"], dict(payload["options"])))
            functional.load_state_dict(payload["state_dict"])
        except (RuntimeError, ValueError, TypeError, KeyError) as err:
            raise CheckpointError(f"{path}: weights do not match model {payload['model']!r}: {err}") from err
    finally:
        _loading.remove(key)
    functional.requires_grad_(False)
    functional.default_basis = payload["basis"]
    functional.grid_level = payload.get("grid_level", 3)
    functional.dispersion = payload.get("dispersion")
    functional.checkpoint_path = str(path)
    functional.name = payload.get("name", path.stem)
    return functional
