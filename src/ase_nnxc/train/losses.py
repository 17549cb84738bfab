"""Training losses, registered through the same hook as third-party ones.

A loss factory takes keyword options and returns ``loss(prediction, target) -> scalar``,
the mean over the entries it is given.
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


@hookimpl
def nnxc_register_losses(register) -> None:
    """Register the built-in losses."""
    register("l2", l2_loss, description="mean squared error")
    register("l1", l1_loss, description="mean absolute error")
    register("huber", huber_loss, description="Huber loss (option: delta, Hartree)")
