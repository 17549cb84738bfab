"""Built-in functionals registered through the same hook third-party plugins use."""

from __future__ import annotations

from ase_nnxc.plugins import hookimpl


def _torch_lda():
    # Imported on use: the manager loads this module before anything asks for a functional.
    from ase_nnxc.xc.torch_functionals import TorchLDA

    return TorchLDA()


def _torch_pbe():
    from ase_nnxc.xc.torch_functionals import TorchPBE

    return TorchPBE()


@hookimpl
def nnxc_register_base_functionals(register) -> None:
    """Register the pure-torch LDA and PBE."""
    register("torch-lda", _torch_lda, description="Slater exchange + PW92 correlation in torch (libxc lda_x,lda_c_pw)")
    register("torch-pbe", _torch_pbe, description="PBE exchange and correlation in torch (libxc pbe)")
