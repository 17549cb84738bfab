"""Optimise the geometry of a structure with ASE's BFGS or LBFGS.

Prints one line per step (step, energy, largest force, SCF cycles, seconds), writes every
step to an ASE trajectory and the final structure, with its energy and forces, to a file
(extended XYZ by default). Each step warm-starts the SCF from the previous orbitals, so
later steps need fewer cycles. Exits with status 1 when --steps runs out before the largest
force drops to --fmax.

Examples:
  nnxc optimize water.xyz --fmax 0.01
  nnxc optimize ammonia.xyz --optimizer lbfgs --xc b3lyp --trajectory nh3.traj
  ase gui water_opt.traj    # look at the path

"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ase_nnxc.cli import CommandError
from ase_nnxc.cli_commands.common import (
    add_calculator_arguments,
    add_structure_arguments,
    describe_dispersion,
    make_calculator,
    read_images,
)

NAME = "optimize"
HELP = "geometry optimisation (BFGS or LBFGS) with a live progress line per step"
OPTIMIZERS = ("bfgs", "lbfgs")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``nnxc optimize``."""
    add_structure_arguments(parser, multiple=False)
    group = parser.add_argument_group("optimiser")
    group.add_argument(
        "--optimizer",
        type=str.lower,
        choices=OPTIMIZERS,
        default="bfgs",
        help="ase.optimize.BFGS or ase.optimize.LBFGS (default: bfgs)",
    )
    group.add_argument(
        "--fmax",
        type=_positive_float,
        default=0.05,
        metavar="EV_PER_A",
        help="stop when the largest force norm is below this, eV/Angstrom (default: 0.05)",
    )
    group.add_argument(
        "--steps", type=_non_negative_int, default=200, metavar="N", help="most optimiser steps (default: 200)"
    )
    group.add_argument(
        "--maxstep",
        type=_positive_float,
        default=None,
        metavar="ANGSTROM",
        help="largest atomic displacement per step (default: the optimiser's, 0.2)",
    )
    group.add_argument(
        "--trajectory",
        default=None,
        metavar="PATH",
        help="ASE trajectory of every step (default: STEM_opt.traj in the current directory, "
        "STEM being the input file name without its extension)",
    )
    group.add_argument(
        "--output",
        "-o",
        default=None,
        metavar="PATH",
        help="final structure with energy and forces, any format ase.io.write knows "
        "(default: STEM_opt.xyz in the current directory)",
    )
    add_calculator_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Optimise, print progress and write the trajectory and final structure; the exit status."""
    import numpy as np
    from ase.io import write
    from ase.optimize import BFGS, LBFGS

    images = read_images(args)
    if len(images) != 1:
        raise CommandError(f"optimize needs one structure, but --index {args.index} selects {len(images)}")
    atoms = images[0]
    atoms.calc = make_calculator(args)
    stem = Path(args.file).stem
    trajectory = args.trajectory or f"{stem}_opt.traj"
    output = args.output or f"{stem}_opt.xyz"
    optimizer_class = {"bfgs": BFGS, "lbfgs": LBFGS}[args.optimizer]
    options = {} if args.maxstep is None else {"maxstep": args.maxstep}

    print(
        f"Optimising {atoms.get_chemical_formula()} from {args.file} with {optimizer_class.__name__}, "
        f"{args.xc}/{atoms.calc.basis}, to fmax {args.fmax} eV/Angstrom in at most {args.steps} steps",
        flush=True,
    )
    if atoms.calc.dispersion_parameters is not None:
        print(describe_dispersion(atoms.calc.dispersion_parameters.as_dict()), flush=True)
    print(f"{'step':>5}  {'energy/eV':>18}  {'fmax/(eV/A)':>12}  {'SCF cycles':>10}  {'time/s':>8}", flush=True)
    converged, fmax = False, float("nan")
    with optimizer_class(atoms, trajectory=trajectory, logfile=None, **options) as optimizer:
        start = time.perf_counter()
        for done in optimizer.irun(fmax=args.fmax, steps=args.steps):
            converged = done
            fmax = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
            now = time.perf_counter()
            print(
                f"{optimizer.nsteps:>5d}  {atoms.get_potential_energy():>18.8f}  {fmax:>12.6f}  "
                f"{atoms.calc.scf_cycles:>10d}  {now - start:>8.1f}",
                flush=True,
            )
            start = now
    write(output, atoms)
    energy = atoms.get_potential_energy()
    if not converged:
        print(f"final structure: {output}, trajectory: {trajectory}", flush=True)
        print(
            f"nnxc optimize: not converged: fmax {fmax:.6f} eV/Angstrom > {args.fmax} after "
            f"{optimizer.nsteps} steps (raise --steps)",
            file=sys.stderr,
        )
        return 1
    print(
        f"converged in {optimizer.nsteps} steps: energy {energy:.8f} eV, fmax {fmax:.6f} eV/Angstrom; "
        f"final structure: {output}, trajectory: {trajectory}",
        flush=True,
    )
    return 0
