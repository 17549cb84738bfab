"""Effective core potentials: energies and forces of GMTKN55 heavy-element species against PySCF.

Run: python benchmarks/ecp_vs_pyscf.py [--data tests/data/gmtkn55] [--basis def2-tzvp]
     [--grid-level 3] [--cases HEAVY28/hi:pbe HEAVY28/hi+:b3lyp ...]

A case is ``SUBSET/species:xc``; a ``+`` after the species adds one positive charge and one
unpaired electron (HI+ from HI). Species come from a GMTKN55 directory in the official
layout (``struc.xyz``, ``.CHRG``, ``.UHF``; the copies under tests/data/gmtkn55 by default).
Closed shells run RKS, open shells UKS, both codes with the same basis and ECP, grid and
convergence threshold (1e-11 Ha). Printed per case: the energy difference, the largest
force-component difference against PySCF's grid-response gradient (with the radii of
:func:`ase_nnxc.testing.pyscf_grid_response_radii`, and as PySCF ships it), the deviation
from central finite differences of our energy along one random direction (step 1e-3 Bohr),
and the wall-time ratio ase_nnxc / PySCF for SCF + gradient (grid response in both).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from ase.io import read
from pyscf import dft, lib

from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.testing import check_forces, pyscf_grid_response_radii
from ase_nnxc.xc import get_functional

SPECIES = ["HEAVY28/hi", "HEAVY28/teh2", "HEAVY28/sbh3", "HEAVY28/bih3", "HAL59/FI", "HEAVYSB11/teme", "HEAVY28/hi+"]
DEFAULT_CASES = [f"{species}:{xc}" for species in SPECIES for xc in ("pbe", "b3lyp")]


def load(data: Path, species: str, basis: str) -> MolecularSystem:
    """The species' system; a trailing ``+`` makes the cation (one more unpaired electron)."""
    ion = species.endswith("+")
    folder = data / species.rstrip("+")
    if not (folder / "struc.xyz").is_file():
        raise SystemExit(f"{folder / 'struc.xyz'}: no such file")
    extra = {n: int((folder / n).read_text()) if (folder / n).exists() else 0 for n in (".CHRG", ".UHF")}
    return MolecularSystem.from_atoms(
        read(folder / "struc.xyz"), basis=basis, charge=extra[".CHRG"] + ion, spin=extra[".UHF"] + ion
    )


def pyscf_run(system: MolecularSystem, xc: str, grid_level: int, orbitals=None):
    """PySCF energy, grid-response gradient with repaired and with shipped radii, and its wall time."""
    start = time.perf_counter()
    mf = (dft.RKS if system.spin == 0 else dft.UKS)(system.to_mole())
    mf.xc, mf.conv_tol, mf.grids.level = xc, 1e-11, grid_level
    mf.grids.atomic_radii = pyscf_grid_response_radii(mf.mol)
    energy = mf.kernel()
    if orbitals is not None:  # open shells: differentiate the state ase_nnxc converged to
        mf.mo_energy, mf.mo_coeff, mf.mo_occ = orbitals
    grad = mf.nuc_grad_method()
    grad.grid_response = True
    repaired = grad.kernel()
    elapsed = time.perf_counter() - start
    shipped_grid = dft.gen_grid.Grids(mf.mol)
    shipped_grid.level = grid_level
    mf.grids = shipped_grid.build()
    grad = mf.nuc_grad_method()
    grad.grid_response = True
    shipped = grad.kernel()
    return energy, repaired, shipped, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "tests" / "data" / "gmtkn55")
    parser.add_argument("--basis", default="def2-tzvp")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=DEFAULT_CASES, help="SUBSET/species[+]:xc")
    parser.add_argument("--no-fd", action="store_true", help="skip the finite-difference check")
    args = parser.parse_args()
    config = SCFConfig(conv_tol=1e-11, conv_tol_grad=1e-7, grid_level=args.grid_level)
    print(f"basis {args.basis}, grid level {args.grid_level}; threads: pyscf {lib.num_threads()}")
    print(
        f"{'case':24s} {'kind':>4s} {'nao':>4s} {'dE (Ha)':>9s} {'dF (Ha/Bohr)':>12s} {'dF shipped':>10s} "
        f"{'dF vs FD':>9s} {'ours s':>7s} {'pyscf s':>7s} {'ratio':>5s}"
    )
    for case in args.cases:
        species, xc = case.rsplit(":", 1)
        system = load(args.data, species, args.basis)
        functional = get_functional(xc)
        start = time.perf_counter()
        ks = KohnSham(system, functional, config)
        result = run_scf(ks)
        gradient = nuclear_gradient(ks, result).numpy()
        ours = time.perf_counter() - start
        orbitals = None if system.spin == 0 else [t.numpy() for t in (result.mo_energy, result.mo_coeff, result.mo_occ)]
        energy, repaired, shipped, theirs = pyscf_run(system, xc, args.grid_level, orbitals)
        fd = float("nan") if args.no_fd else check_forces(system, functional, config, directions=1, atol=np.inf)
        print(
            f"{case:24s} {'RKS' if ks.restricted else 'UKS':>4s} {ks.nao:4d} {result.energy - energy:+9.1e} "
            f"{np.abs(gradient - repaired).max():12.1e} {np.abs(gradient - shipped).max():10.1e} {fd:9.1e} "
            f"{ours:7.1f} {theirs:7.1f} {ours / theirs:5.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
