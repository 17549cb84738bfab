"""Training losses, registered through the same hook as third-party ones.

A loss factory takes keyword options and returns ``loss(prediction, target) -> scalar``,
the mean over the entries it is given. :func:`build_loss` builds one by name and checks it
once on a small input before training starts.
"""

from __future__ import annotations

import torch

from ase_nnxc.plugins import hookimpl


def l2_loss() -> callable:
    """Mean squared error."""
    return lambda prediction, target: ((prediction - target) ** 2).mean()


def l1_loss() -> callable:
    """Mean absolute error."""
    return lambda prediction, target: (prediction - target).abs().mean()


def huber_loss(delta: float = 1e-3) -> callable:
    """Huber loss: quadratic below ``delta`` (Hartree), linear above."""
    if delta <= 0:
        raise ValueError(f"Huber delta must be positive, got {delta}.")
    return lambda prediction, target: torch.nn.functional.huber_loss(prediction, target, delta=delta)


def build_loss(name: str, options: dict):
    """The registered loss ``name`` built with ``options``, checked on a test input.

    Raises
    ------
    ValueError
        Unknown name or option (the option, the nearest accepted one and the plugin named), or
        options the factory rejects.
    ase_nnxc.plugins.manager.PluginError
        The factory returned something that is not a loss: not callable, or not a finite scalar
        tensor for a prediction and a target of three values.

    """
    from ase_nnxc.plugins import manager

    registered = manager.lookup("losses", name, "loss")
    manager.check_options(registered, options, "loss.options")
    where = f"plugin {registered.plugin!r}: loss {registered.name!r}"
    try:
        loss = registered.factory(**options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where} with options {options}: {err}") from err
    if not callable(loss):
        raise manager.PluginError(f"{where} factory returned {type(loss).__name__}, not a callable loss")
    prediction = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64, requires_grad=True)
    try:
        value = loss(prediction, torch.zeros(3, dtype=torch.float64))
    except Exception as err:
        raise manager.PluginError(f"{where} fails on a test input: {type(err).__name__}: {err}") from err
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or not bool(torch.isfinite(value).all()):
        shown = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise manager.PluginError(f"{where} returned {shown} for a test input, not a finite scalar tensor")
    if not value.requires_grad:
        raise manager.PluginError(f"{where} returned a value that does not depend on the prediction (no gradient)")
    return loss


@hookimpl
def nnxc_register_losses(register) -> None:
    """Register the built-in losses."""
    register("l2", l2_loss, description="mean squared error")
    register("l1", l1_loss, description="mean absolute error")
    register("huber", huber_loss, description="Huber loss (option: delta, Hartree)")
