"""ase_nnxc: differentiable Kohn-Sham DFT and neural exchange-correlation functionals for ASE."""

from ase_nnxc.plugins.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["NNXC", "hookimpl", "__version__"]


def __getattr__(name):
    # The calculator pulls in torch and PySCF; import it only when asked for.
    if name == "NNXC":
        from ase_nnxc.calculator import NNXC

        return NNXC
    raise AttributeError(f"module 'ase_nnxc' has no attribute {name!r}")
