"""Hook specifications of ase_nnxc (pluggy project name ``"ase_nnxc"``).

Every registration hook receives a ``register`` callback instead of returning a list, so
a plugin may register any number of things and the manager can name the plugin that
registered each one. This module imports nothing of the physics or the trainer.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT = "ase_nnxc"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``register(name, factory, description="")``. A name registered twice is settled by the manager:
#: a built-in's name stays the built-in's, a name of two plugins is refused for both.
Register = Callable[..., None]


@hookspec
def nnxc_register_base_functionals(register: Register) -> None:
    """Register base exchange-correlation functionals.

    Call ``register(name, factory, description="...")`` once per functional. ``factory()``
    (no arguments) must return an :class:`ase_nnxc.xc.base.XCFunctional`. The name then works
    everywhere a functional is named: ``NNXC(xc=name)``, ``nnxc energy --xc name``, and as the
    base of a ``HybridXC`` in training configs. A functional written in torch on the
    feature map gets forces and training gradients through autograd.
    """


@hookspec
def nnxc_register_xc_models(register: Register) -> None:
    """Register neural exchange-correlation architectures.

    Call ``register(name, factory, description="...")``. ``factory(**options)`` must return an
    :class:`ase_nnxc.xc.base.XCFunctional` whose parameters are trainable; ``options`` come
    from the ``model.options`` mapping of a training config.
    """


@hookspec
def nnxc_register_losses(register: Register) -> None:
    """Register training losses.

    Call ``register(name, factory, description="...")``. ``factory(**options)`` must return a
    callable ``loss(prediction, target) -> Tensor`` on tensors of equal shape, returning a
    scalar (mean over entries).
    """
