"""Cost of an ase_nnxc functional inside PySCF: SCF + nuclear gradient against PySCF's own r2SCAN.

Run: python benchmarks/pyscf_cost.py [--xc nnxc] [--molecules CH3CH2OH C6H6] [--basis def2-svp] [--repeat 3]

Both runs are plain PySCF (same molecule, basis, grid level 3, conv_tol 1e-9, default DIIS and
minao guess, default gradient without grid response); the only difference is the functional:
``dft.RKS(mol, xc="r2scan")`` against ``ase_nnxc.pyscf.make_ks(mol, XC)``, whose NumInt
evaluates the libxc base (r2SCAN for ``nnxc``) and the neural correction with their autograd
derivatives. Each timing is the best of ``--repeat`` runs, alternating the two, so that load
from other processes on a shared machine inflates both alike; the ratio is what to read.
"""

from __future__ import annotations

import argparse
import time
import warnings

from ase.build import molecule
from pyscf import dft

from ase_nnxc.pyscf import make_ks
from ase_nnxc.system import MolecularSystem


def run(mol, xc: str | None):
    """SCF + gradient; returns (total seconds, SCF seconds, energy, cycles)."""
    start = time.perf_counter()
    if xc is None:
        mf = dft.RKS(mol, xc="r2scan")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the trained-basis warning: def2-SVP on purpose
            mf = make_ks(mol, xc)
    mf.conv_tol = 1e-9
    cycles = []
    mf.callback = lambda env: cycles.append(env["cycle"])
    energy = mf.kernel()
    if not mf.converged:
        raise RuntimeError(f"SCF did not converge ({xc or 'r2scan'})")
    scf_done = time.perf_counter()
    mf.nuc_grad_method().kernel()
    return time.perf_counter() - start, scf_done - start, energy, len(cycles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xc", default="nnxc", help="ase_nnxc functional (default: nnxc)")
    parser.add_argument("--molecules", nargs="+", default=["CH3CH2OH", "C6H6"], help="ase.build.molecule names")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs each")
    args = parser.parse_args()
    print(
        f"{'molecule':10s} {'r2scan s':>9s} {'(scf)':>7s} {'cyc':>4s} {args.xc + ' s':>9s} {'(scf)':>7s} {'cyc':>4s} {'ratio':>6s}"
    )
    for name in args.molecules:
        mol = MolecularSystem.from_atoms(molecule(name), basis=args.basis).to_mole()
        mol.verbose = 0
        best = {None: None, args.xc: None}
        for _ in range(args.repeat):
            for xc in best:
                timing = run(mol, xc)
                if best[xc] is None or timing[0] < best[xc][0]:
                    best[xc] = timing
        ref, ours = best[None], best[args.xc]
        print(
            f"{name:10s} {ref[0]:9.2f} {ref[1]:7.2f} {ref[3]:4d} {ours[0]:9.2f} {ours[1]:7.2f} {ours[3]:4d} "
            f"{ours[0] / ref[0]:6.2f}"
        )


if __name__ == "__main__":
    main()
