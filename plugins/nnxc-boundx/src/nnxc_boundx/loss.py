"""``log-cosh``: a training loss that is quadratic for small errors and linear for large ones.

``loss = mean(scale * log(cosh((prediction - target) / scale)))``. Below ``scale`` it is
``error^2 / (2 scale)`` (L2-like: gradients shrink as the fit converges); above, it grows like
``|error| - scale ln 2`` (L1-like: one bad label or one SCF that landed in another state does
not dominate the step). Unlike Huber it is smooth to all orders. Its gradient in the
prediction is ``tanh(error / scale) / N``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

#: One kcal/mol in Hartree: errors below it count quadratically.
KCAL_PER_MOL = 1.0 / 627.5094740631


def log_cosh(x: torch.Tensor) -> torch.Tensor:
    """``log(cosh(x))`` to full relative precision for every ``x``, with no overflow.

    Small ``|x|``: ``log1p(2 sinh(x/2)^2)`` (``cosh x - 1`` without cancellation, so the
    quadratic regime keeps all its digits). Large ``|x|``: ``|x| - log 2 + log1p(exp(-2|x|))``.
    The small branch is evaluated on a clamped ``x`` so that its discarded values, and their
    gradients, stay finite.
    """
    ax = x.abs()
    small = torch.log1p(2.0 * torch.sinh(0.5 * x.clamp(-_SWITCH, _SWITCH)) ** 2)
    large = ax + torch.log1p(torch.exp(-2.0 * ax)) - math.log(2.0)
    return torch.where(ax < _SWITCH, small, large)


#: Where :func:`log_cosh` changes formula; both are exact to rounding there.
_SWITCH = 20.0


def log_cosh_loss(scale: float = KCAL_PER_MOL) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss ``mean(scale * log(cosh((prediction - target) / scale)))``.

    Parameters
    ----------
    scale
        Error (Hartree, or the unit of the targets) where the loss turns from quadratic to
        linear; default 1 kcal/mol.

    """
    scale = float(scale)
    if not scale > 0.0:
        raise ValueError(f"log-cosh scale must be positive, got {scale}.")

    def loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (scale * log_cosh((prediction - target) / scale)).mean()

    return loss
