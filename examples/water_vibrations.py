"""Vibrational frequencies of water with ase.vibrations.Vibrations, checked against PySCF.

Run: python examples/water_vibrations.py [--xc pbe] [--basis def2-svp] [--grid-level 3]
     [--out examples/output]

Relaxes H2O with BFGS (fmax 1e-3 eV/Angstrom), then lets ASE displace every atom by
+-0.01 Angstrom and differentiate NNXC's analytic forces. Prints ASE's mode table and
compares the three vibrations with the analytic Hessian of PySCF (same functional, basis
and grid) at the same geometry. PySCF's Hessian leaves out the grid response that NNXC's
forces include; on grid level 3 or finer that difference stays below about 1 cm^-1.
The displacement cache goes to OUT/water_vib/. A few minutes on two cores.
"""

import argparse
from pathlib import Path

import numpy as np
from ase.build import molecule
from ase.optimize import BFGS
from ase.vibrations import Vibrations
from pyscf import dft
from pyscf.hessian import thermo

from ase_nnxc import NNXC
from ase_nnxc.system import MolecularSystem


def pyscf_frequencies(atoms, xc, basis, grid_level):
    """Harmonic frequencies (cm^-1) from PySCF's analytic Hessian at ``atoms``' geometry."""
    mf = dft.RKS(MolecularSystem.from_atoms(atoms, basis=basis).to_mole())
    mf.xc = xc
    mf.grids.level = grid_level
    mf.conv_tol = 1e-11
    mf.kernel()
    hessian = mf.Hessian().kernel()
    return np.sort(thermo.harmonic_analysis(mf.mol, hessian)["freq_wavenumber"].real)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xc", default="pbe", help="functional (default: pbe)")
    parser.add_argument("--basis", default="def2-svp", help="basis set (default: def2-svp)")
    parser.add_argument("--grid-level", type=int, default=3, help="grid level, 0-9 (default: 3)")
    parser.add_argument("--delta", type=float, default=0.01, help="displacement, Angstrom (default: 0.01)")
    parser.add_argument("--out", type=Path, default=Path("examples/output"), help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    atoms = molecule("H2O")
    atoms.calc = NNXC(xc=args.xc, basis=args.basis, grid_level=args.grid_level, conv_tol=1e-11)
    print(f"Relaxing H2O with {args.xc}/{args.basis} ...", flush=True)
    BFGS(atoms, logfile="-").run(fmax=1e-3)
    print(f"O-H {atoms.get_distance(0, 1):.4f} Angstrom, H-O-H {atoms.get_angle(1, 0, 2):.2f} degrees\n")

    vibrations = Vibrations(atoms, name=str(args.out / "water_vib"), delta=args.delta, nfree=2)
    vibrations.clean()  # no stale displacements from another functional or basis
    vibrations.run()
    vibrations.summary()
    ours = vibrations.get_frequencies()[-3:].real

    print("\nPySCF analytic Hessian at the same geometry ...", flush=True)
    reference = pyscf_frequencies(atoms, args.xc, args.basis, args.grid_level)
    print(f"\n{'mode':<18}{'NNXC + ASE':>12}{'PySCF':>12}{'difference':>12}   (cm^-1)")
    for name, a, b in zip(("bend", "symmetric stretch", "asymmetric stretch"), ours, reference):
        print(f"{name:<18}{a:>12.2f}{b:>12.2f}{a - b:>+12.2f}")


if __name__ == "__main__":
    main()
