"""Becke-88 exchange + PW92 correlation for ase_nnxc, written in torch (an example plugin)."""

__version__ = "0.1.0"
