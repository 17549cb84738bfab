"""A Lieb-Oxford-bounded neural exchange correction and a log-cosh loss for ase_nnxc (an example plugin)."""

__version__ = "0.1.0"
