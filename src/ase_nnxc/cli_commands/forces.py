"""Compute the analytic forces (grid response included) of a structure.

Prints what `nnxc energy` prints, then the force on every atom in eV/Angstrom and the
largest force norm (fmax). Forces come from the same SCF as the energy.

Example:
  nnxc forces ammonia.xyz --xc pbe --basis def2-svp --json

"""

from __future__ import annotations

import argparse

from ase_nnxc.cli_commands.common import (
    add_calculator_arguments,
    add_json_argument,
    add_structure_arguments,
    compute_images,
)

NAME = "forces"
HELP = "energy and forces (eV/Angstrom) of a structure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``nnxc forces``."""
    add_structure_arguments(parser)
    add_json_argument(parser)
    add_calculator_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Compute and print; returns the exit status."""
    return compute_images(args, with_forces=True)
