"""Compute the Kohn-Sham total energy and dipole moment of a structure.

Prints the energy in eV and Hartree, the dipole moment about the origin in e*Angstrom with
its magnitude in Debye, and the number of SCF cycles. With an index that selects several
images (e.g. --index :), every image is computed in turn, each warm-started from the last.

Example:
  nnxc energy water.xyz --xc b3lyp --basis def2-tzvp

"""

from __future__ import annotations

import argparse

from ase_nnxc.cli_commands.common import (
    add_calculator_arguments,
    add_json_argument,
    add_structure_arguments,
    compute_images,
)

NAME = "energy"
HELP = "total energy (eV) and dipole moment of a structure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``nnxc energy``."""
    add_structure_arguments(parser)
    add_json_argument(parser)
    add_calculator_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Compute and print; returns the exit status."""
    return compute_images(args, with_forces=False)
