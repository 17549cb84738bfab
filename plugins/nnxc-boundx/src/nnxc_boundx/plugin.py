"""The hook implementations ase_nnxc finds through the ``ase_nnxc`` entry point.

Kept free of heavy imports (torch included): ase_nnxc imports this module whenever it builds
its plugin manager, and the model and the loss are imported only when asked for by name.
"""

from __future__ import annotations

from ase_nnxc import hookimpl


def _bounded_exchange(seed: int | None = 0, **options):
    # ``seed`` is spelled out so that the trainer passes the config's seed to it.
    from nnxc_boundx.model import BoundedExchange

    return BoundedExchange(seed=seed, **options)


def _log_cosh(**options):
    from nnxc_boundx.loss import log_cosh_loss

    return log_cosh_loss(**options)


@hookimpl
def nnxc_register_xc_models(register) -> None:
    """Register ``nn-boundx``."""
    register(
        "nn-boundx",
        _bounded_exchange,
        description="spin-scaled GGA exchange correction, zero for the uniform gas, Lieb-Oxford bounded",
    )


@hookimpl
def nnxc_register_losses(register) -> None:
    """Register ``log-cosh``."""
    register("log-cosh", _log_cosh, description="mean of scale*log(cosh(error/scale)) (option: scale, Hartree)")
