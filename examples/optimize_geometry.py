"""Geometry optimisation of a distorted water molecule with ASE's BFGS and ase_nnxc.

Run: python examples/optimize_geometry.py [--xc nnxc] [--basis BASIS]

The default is the shipped neural functional `nnxc` in the basis it was trained in.
Prints energy (eV) and the largest force (eV/Angstrom) at every step.
"""

import argparse

import numpy as np
from ase.build import molecule
from ase.optimize import BFGS

from ase_nnxc import NNXC

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--xc", default="nnxc", help="functional name, registered name or checkpoint")
parser.add_argument("--basis", default=None, help="default: the functional's own basis, else def2-svp")
parser.add_argument("--fmax", type=float, default=0.01, help="force threshold, eV/Angstrom")
args = parser.parse_args()

atoms = molecule("H2O")
atoms.positions[1] += (0.0, 0.10, 0.05)  # stretch one O-H bond
atoms.positions[2] -= (0.0, 0.05, 0.0)
atoms.calc = NNXC(xc=args.xc, basis=args.basis)
basis = atoms.calc.basis

print(f"Optimising H2O with {args.xc}/{basis}")
optimizer = BFGS(atoms, logfile=None)
for step, _ in enumerate(optimizer.irun(fmax=args.fmax, steps=50)):
    forces = atoms.get_forces()
    fmax = np.sqrt((forces**2).sum(1)).max()
    print(f"step {step:3d}  E = {atoms.get_potential_energy():.6f} eV  fmax = {fmax:.4f} eV/A  "
          f"SCF cycles = {atoms.calc.scf_cycles}")
d = atoms.get_distance(0, 1), atoms.get_distance(0, 2), atoms.get_angle(1, 0, 2)
print(f"final: O-H = {d[0]:.4f}, {d[1]:.4f} Angstrom, H-O-H = {d[2]:.2f} degrees")
