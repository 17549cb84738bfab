"""Cost of a non-local input: the exact-exchange energy density on the grid, against PBE.

Run: python benchmarks/exact_exchange_density_cost.py [--molecules CH3CH2OH C6H6] [--sample 4000]

Neural functionals that see static correlation (DM21 and its kind) take the exact-exchange
energy density ``e_x^HF(r) = -1/4 sum D_mn D_ls phi_m(r) phi_l(r) int phi_n phi_s / |r - r'|``
as an input. This script times one evaluation of it with PySCF's ``int1e_grids`` integrals at
``--sample`` points of the molecule's grid and scales to the whole grid, and times PySCF's PBE
energy + forces (grid response) in the same run, same basis and grid. The ratio says what the
input alone would cost once; a self-consistent functional needs it (and its potential) at
every SCF cycle.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase.build import molecule
from pyscf import dft, gto


def pbe_energy_and_forces(mol: gto.Mole, grid_level: int) -> tuple[np.ndarray, float]:
    """PySCF PBE density matrix and the time of SCF + gradient with grid response."""
    start = time.perf_counter()
    mf = dft.RKS(mol)
    mf.xc, mf.conv_tol, mf.verbose = "pbe", 1e-9, 0
    mf.grids.level = grid_level
    mf.kernel()
    grad = mf.nuc_grad_method()
    grad.grid_response = True
    grad.kernel()
    return mf.make_rdm1(), time.perf_counter() - start


def exact_exchange_density(mol: gto.Mole, density: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """``e_x^HF`` (Hartree/Bohr^3) of the closed-shell density matrix at ``coords``."""
    potentials = mol.intor("int1e_grids", grids=coords)  # (npoint, nao, nao)
    half = dft.numint.eval_ao(mol, coords) @ density
    return -0.25 * np.einsum("gn,gs,gns->g", half, half, potentials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", nargs="+", default=["CH3CH2OH", "C6H6"])
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--sample", type=int, default=4000, help="grid points actually evaluated")
    args = parser.parse_args()
    print(f"{'molecule':10s} {'points':>8s} {'PBE E+F s':>10s} {'e_x^HF s':>9s} {'ratio':>6s}")
    for name in args.molecules:
        atoms = molecule(name)
        mol = gto.M(atom=list(zip(atoms.get_chemical_symbols(), atoms.positions)), basis=args.basis, verbose=0)
        density, pbe_seconds = pbe_energy_and_forces(mol, args.grid_level)
        grids = dft.gen_grid.Grids(mol)
        grids.level = args.grid_level
        grids.build()
        sample = grids.coords[: args.sample]
        start = time.perf_counter()
        exact_exchange_density(mol, density, sample)
        seconds = (time.perf_counter() - start) * len(grids.weights) / len(sample)
        print(f"{name:10s} {len(grids.weights):8d} {pbe_seconds:10.2f} {seconds:9.1f} {seconds / pbe_seconds:6.2f}")


if __name__ == "__main__":
    main()
