"""Wall time of energy + forces: ase_nnxc against PySCF (SCF + nuclear gradient), same run.

Run: python benchmarks/speed_vs_pyscf.py [--cases H2O:pbe:def2-svp C6H6:pbe:def2-tzvp:df ...]

Both codes use the same geometry, basis, grid level 3 and convergence threshold (1e-9 Ha),
with the same number of threads. A case ending in ``:df`` runs both with density fitting
(PySCF's ``mf.density_fit()`` and ``SCFConfig(density_fit=True)``, the same default
auxiliary basis). PySCF's gradient is timed twice: its default (no grid response) and with
``grid_response=True``, which is what ase_nnxc always computes. The ratio printed is
ase_nnxc / PySCF default; below 1 means ase_nnxc is faster.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from ase.build import molecule
from pyscf import dft, lib

from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.xc import get_functional

DEFAULT_CASES = [
    f"{mol}:{xc}:{basis}"
    for mol in ("H2O", "CH3CH2OH", "C6H6")
    for xc, basis in (("pbe", "def2-svp"), ("pbe", "def2-tzvp"), ("b3lyp", "def2-svp"))
] + ["C6H6:pbe:def2-tzvp:df", "C6H6:b3lyp:def2-tzvp:df"]


def time_ours(system, xc, density_fit=False):
    start = time.perf_counter()
    ks = KohnSham(system, get_functional(xc), SCFConfig(conv_tol=1e-9, density_fit=density_fit))
    result = run_scf(ks)
    scf_done = time.perf_counter()
    nuclear_gradient(ks, result)
    return result.energy, scf_done - start, time.perf_counter() - scf_done


def time_pyscf(system, xc, grid_response, density_fit=False):
    start = time.perf_counter()
    mf = dft.RKS(system.to_mole())
    mf.xc = xc
    mf.conv_tol = 1e-9
    if density_fit:
        mf = mf.density_fit()
    energy = mf.kernel()
    scf_done = time.perf_counter()
    grad = mf.nuc_grad_method()
    grad.grid_response = grid_response
    grad.kernel()
    return energy, scf_done - start, time.perf_counter() - scf_done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", nargs="*", default=DEFAULT_CASES, help="MOLECULE:XC:BASIS[:df] (ASE g2 names; df: density fitting)"
    )
    args = parser.parse_args()
    print(f"threads: torch {torch.get_num_threads()}, pyscf {lib.num_threads()}")
    header = f"{'case':28s} {'nao':>4s} {'ours scf':>9s} {'grad':>7s} {'pyscf scf':>9s} {'grad':>7s} {'grad+GR':>7s} {'ratio':>6s} {'ratio GR':>8s} {'dE':>9s}"
    print(header)
    for case in args.cases:
        name, xc, basis, *mode = case.split(":")
        if mode not in ([], ["df"]):
            parser.error(f"case {case!r}: expected MOLECULE:XC:BASIS or MOLECULE:XC:BASIS:df")
        density_fit = mode == ["df"]
        system = MolecularSystem.from_atoms(molecule(name), basis=basis)
        e_ref, p_scf, p_grad = time_pyscf(system, xc, False, density_fit)
        _, _, p_grad_gr = time_pyscf(system, xc, True, density_fit)
        e_ours, o_scf, o_grad = time_ours(system, xc, density_fit)
        ours, ref = o_scf + o_grad, p_scf + p_grad
        print(
            f"{case:28s} {system.to_mole().nao_nr():4d} {o_scf:9.2f} {o_grad:7.2f} {p_scf:9.2f} {p_grad:7.2f} "
            f"{p_grad_gr:7.2f} {ours / ref:6.2f} {ours / (p_scf + p_grad_gr):8.2f} {e_ours - e_ref:+9.1e}",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak resident memory of this process: {peak:.2f} GB")


if __name__ == "__main__":
    main()
