"""SCF and gradient time and peak memory for 20-80 atom species: ase_nnxc against PySCF.

Run: python benchmarks/large_molecules.py [--cases water8:pbe:def2-svp UPU23/2p:pbe:def2-tzvp:df ...]
     [--data PATH/TO/GMTKN55] [--repeat N]

A case is ``SPECIES:XC:BASIS[:df]``. ``SPECIES`` is ``water8`` (the (H2O)8 cluster of GMTKN55's
WATER27, ``H2O8s4``), ``CnH2n+2`` (an all-trans n-alkane built here, e.g. ``C16H34``) or any
GMTKN55 species as ``SUBSET/NAME`` (charge and spin from its ``.CHRG`` and ``.UHF``), read from
``--data``. ``:df`` runs both codes with density fitting (PySCF's ``mf.density_fit()``, the same
default auxiliary basis).

Every code runs in its own fresh process, so that the peak resident memory (``ru_maxrss``)
belongs to that code alone: ase_nnxc (SCF, then its gradient, which always includes the grid
response), and PySCF (``dft.RKS``/``UKS``, SCF, then its default gradient, then the gradient with
``grid_response=True``). Both use grid level 3, ``conv_tol`` 1e-9 and the same threads. PySCF's
peak is read after each phase, so ``peak grad`` is the peak over SCF and default gradient and
``peak GR`` the peak over all three. Ratios are ase_nnxc / PySCF from the same run; ``--repeat``
takes the best of N runs of each code. ``dE`` and ``dF`` compare energies and gradients (PySCF
with grid response) between the codes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: Where GMTKN55 is looked for when ``--data`` is not given.
DEFAULT_DATA = Path(os.environ.get("GMTKN55_DATA", "../shared/data/GMTKN55"))
#: The (H2O)8 cluster used as the first case (24 atoms).
WATER8 = "WATER27/H2O8s4"
#: Default cases: the water cluster with exact integrals, a 50-atom alkane and the largest
#: Diet-100 species (UPU23 2p, 59 atoms, an anion) in def2-TZVP with density fitting.
DEFAULT_CASES = ["water8:pbe:def2-svp", "C16H34:pbe:def2-tzvp:df", "UPU23/2p:pbe:def2-tzvp:df"]


def _peak_gb() -> float:
    """Peak resident memory of this process so far (GB; Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _cpu() -> float:
    """CPU time of this process so far, all threads (s): less sensitive than wall time to other load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def alkane(carbons: int):
    """All-trans ``C_n H_2n+2`` as ASE ``Atoms`` (C-C 1.53, C-H 1.09 Angstrom, tetrahedral angles)."""
    from ase import Atoms

    half = np.arccos(-1.0 / 3.0) / 2.0  # half the tetrahedral angle
    step_x, step_y = 1.53 * np.sin(half), 1.53 * np.cos(half)
    symbols, positions = [], []
    for i in range(carbons):
        side = 1.0 if i % 2 else -1.0
        carbon = np.array([i * step_x, side * step_y / 2.0, 0.0])
        symbols.append("C")
        positions.append(carbon)
        # Two hydrogens in the plane perpendicular to the chain, pointing away from it.
        for sign in (1.0, -1.0):
            direction = np.array([0.0, side * np.cos(half), sign * np.sin(half)])
            symbols.append("H")
            positions.append(carbon + 1.09 * direction)
    for end, outward in ((0, -1.0), (carbons - 1, 1.0)):
        side = 1.0 if end % 2 else -1.0
        # Where the next carbon of the chain would be.
        direction = np.array([outward * np.sin(half), -side * np.cos(half), 0.0])
        symbols.append("H")
        positions.append(positions[3 * end] + 1.09 * direction)
    return Atoms(symbols, positions=positions)


def build_system(species: str, basis: str, data: Path):
    """The :class:`~ase_nnxc.system.MolecularSystem` of ``species`` (see the module docstring)."""
    from ase.io import read

    from ase_nnxc.system import MolecularSystem

    match = re.fullmatch(r"C(\d+)H(\d+)", species)
    if match and int(match[2]) == 2 * int(match[1]) + 2:
        return MolecularSystem.from_atoms(alkane(int(match[1])), basis=basis, charge=0, spin=0)
    folder = data / (WATER8 if species == "water8" else species)
    xyz = folder / "struc.xyz"
    if not xyz.is_file():
        raise SystemExit(f"Species {species!r}: no {xyz} (give the GMTKN55 directory with --data).")
    charge = int((folder / ".CHRG").read_text().split()[0]) if (folder / ".CHRG").is_file() else 0
    spin = int((folder / ".UHF").read_text().split()[0]) if (folder / ".UHF").is_file() else 0
    return MolecularSystem.from_atoms(read(xyz), basis=basis, charge=charge, spin=spin)


def run_ours(system, xc: str, density_fit: bool) -> dict:
    """ase_nnxc: SCF and nuclear gradient (grid response included)."""
    from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
    from ase_nnxc.xc import get_functional

    start, cpu = time.perf_counter(), _cpu()
    ks = KohnSham(system, get_functional(xc), SCFConfig(conv_tol=1e-9, density_fit=density_fit))
    result = run_scf(ks)
    out = {"energy": result.energy, "cycles": result.cycles, "scf": time.perf_counter() - start}
    out.update(cpu_scf=_cpu() - cpu, peak_scf=_peak_gb())
    begin, cpu = time.perf_counter(), _cpu()
    gradient = nuclear_gradient(ks, result)
    out.update(grad=time.perf_counter() - begin, cpu_grad=_cpu() - cpu, peak_grad=_peak_gb())
    out["gradient"] = gradient.numpy().tolist()
    return out


def run_pyscf(system, xc: str, density_fit: bool) -> dict:
    """PySCF: SCF, default gradient, gradient with grid response."""
    from pyscf import dft

    start, cpu = time.perf_counter(), _cpu()
    mol = system.to_mole()
    mf = dft.RKS(mol) if system.spin == 0 else dft.UKS(mol)
    mf.xc, mf.conv_tol, mf.grids.level = xc, 1e-9, 3
    if density_fit:
        mf = mf.density_fit()
    energy = mf.kernel()
    if not mf.converged:
        raise SystemExit(f"PySCF did not converge for {system.symbols}")
    out = {"energy": float(energy), "cycles": mf.cycles, "scf": time.perf_counter() - start}
    out.update(cpu_scf=_cpu() - cpu, peak_scf=_peak_gb())
    for key, response in (("grad", False), ("grad_gr", True)):
        begin, cpu = time.perf_counter(), _cpu()
        grad = mf.nuc_grad_method()
        grad.grid_response = response
        gradient = grad.kernel()
        out.update({key: time.perf_counter() - begin, "cpu_" + key: _cpu() - cpu, "peak_" + key: _peak_gb()})
    out["gradient"] = gradient.tolist()
    return out


def _worker(args) -> None:
    species, xc, basis, density_fit = _parse_case(args.worker_case)
    system = build_system(species, basis, args.data)
    runner = run_ours if args.worker == "ours" else run_pyscf
    out = runner(system, xc, density_fit)
    out["nao"] = system.to_mole().nao_nr()
    out["natom"] = system.natom
    print("RESULT " + json.dumps(out), flush=True)


def _parse_case(case: str):
    parts = case.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "df"):
        raise SystemExit(f"case {case!r}: expected SPECIES:XC:BASIS or SPECIES:XC:BASIS:df")
    return parts[0], parts[1], parts[2], len(parts) == 4


def _spawn(code: str, case: str, data: Path) -> dict:
    """Run one code on one case in a fresh interpreter and return its RESULT record."""
    command = [sys.executable, __file__, "--worker", code, "--worker-case", case, "--data", str(data)]
    print(f"[{time.strftime('%H:%M:%S')}] {case}: running {code}", file=sys.stderr, flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"{code} failed on {case}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def _best(runs: list[dict]) -> dict:
    """Best-of-N: smallest time and peak of each field over the runs."""
    best = dict(runs[0])
    for key in best:
        if key.startswith(("scf", "grad", "cpu_", "peak_")):
            best[key] = min(run[key] for run in runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=DEFAULT_CASES, help="SPECIES:XC:BASIS[:df]")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="GMTKN55 directory (official layout)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each code per case (best is shown)")
    parser.add_argument("--worker", choices=("ours", "pyscf"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    for case in args.cases:
        _parse_case(case)
    from pyscf import lib

    print(f"threads: {lib.num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    print(
        f"{'case':32s} {'atoms':>5s} {'nao':>5s} | {'ours scf':>8s} {'grad':>7s} {'peak':>6s} | "
        f"{'pyscf scf':>9s} {'grad':>7s} {'grad GR':>7s} {'peak':>6s} {'pk GR':>6s} | "
        f"{'scf':>5s} {'grad':>5s} {'gradGR':>6s} {'mem':>5s} {'memGR':>5s} | {'dE':>8s} {'dF':>8s}"
    )
    for case in args.cases:
        theirs = _best([_spawn("pyscf", case, args.data) for _ in range(args.repeat)])
        ours = _best([_spawn("ours", case, args.data) for _ in range(args.repeat)])
        d_force = np.abs(np.array(ours["gradient"]) - np.array(theirs["gradient"])).max()
        print(
            f"{case:32s} {ours['natom']:5d} {ours['nao']:5d} | {ours['scf']:8.1f} {ours['grad']:7.1f} "
            f"{ours['peak_grad']:6.2f} | {theirs['scf']:9.1f} {theirs['grad']:7.1f} {theirs['grad_gr']:7.1f} "
            f"{theirs['peak_grad']:6.2f} {theirs['peak_grad_gr']:6.2f} | {ours['scf'] / theirs['scf']:5.2f} "
            f"{ours['grad'] / theirs['grad']:5.2f} {ours['grad'] / theirs['grad_gr']:6.2f} "
            f"{ours['peak_grad'] / theirs['peak_grad']:5.2f} {ours['peak_grad'] / theirs['peak_grad_gr']:5.2f} | "
            f"{ours['energy'] - theirs['energy']:+8.1e} {d_force:8.1e}",
            flush=True,
        )
        print(
            f"{'  CPU time (s), ratios':32s} {'':11s} | {ours['cpu_scf']:8.1f} {ours['cpu_grad']:7.1f} {'':6s} | "
            f"{theirs['cpu_scf']:9.1f} {theirs['cpu_grad']:7.1f} {theirs['cpu_grad_gr']:7.1f} {'':13s} | "
            f"{ours['cpu_scf'] / theirs['cpu_scf']:5.2f} {ours['cpu_grad'] / theirs['cpu_grad']:5.2f} "
            f"{ours['cpu_grad'] / theirs['cpu_grad_gr']:6.2f}",
            flush=True,
        )
    print("wall times in s, peaks in GB (ru_maxrss of each code's own process); ratios ase_nnxc / PySCF")


if __name__ == "__main__":
    main()
