"""The hook implementation ase_nnxc finds through the ``ase_nnxc`` entry point.

Kept free of heavy imports: it is imported whenever ase_nnxc builds its plugin manager.
"""

from __future__ import annotations

from ase_nnxc import hookimpl


def _b88_pw92():
    from nnxc_b88.functional import B88PW92

    return B88PW92()


@hookimpl
def nnxc_register_base_functionals(register) -> None:
    """Register ``torch-b88pw``."""
    register("torch-b88pw", _b88_pw92, description="Becke-88 exchange + PW92 correlation in torch (libxc b88,pw)")
