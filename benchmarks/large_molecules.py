"""SCF and gradient time and peak memory for 20-80 atom species: ase_nnxc against PySCF.

Run: python benchmarks/large_molecules.py [--cases water8:pbe:def2-svp UPU23/2p:pbe:def2-tzvp:df ...]
     [--data PATH/TO/GMTKN55] [--repeat N] [--codes pyscf ours] [--results runs.jsonl]
     python benchmarks/large_molecules.py --table --results runs.jsonl   (table of earlier runs)

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

For a very large case one PySCF SCF may cost more than the time at hand: ``--codes ours
pyscf-grad pyscf-scf`` runs ase_nnxc first, then PySCF's gradients from ase_nnxc's converged
orbitals (saved under ``--orbitals``), then PySCF's SCF alone, each in its own process; every
finished run is appended to ``--results`` so that an interrupted series keeps what it measured.
``ours-scf`` runs ase_nnxc's SCF alone, for the energy-time ratio of a case whose gradient is
not wanted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
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


def _orbitals_file(folder: Path, case: str) -> Path:
    return folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", case) + ".npz")


def run_ours(system, xc: str, density_fit: bool, orbitals: Path | None = None, gradient: bool = True) -> dict:
    """ase_nnxc: SCF and, if ``gradient``, the nuclear gradient (grid response included).

    The converged orbitals are saved to ``orbitals`` for PySCF's gradients.
    """
    from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
    from ase_nnxc.xc import get_functional

    start, cpu = time.perf_counter(), _cpu()
    ks = KohnSham(system, get_functional(xc), SCFConfig(conv_tol=1e-9, density_fit=density_fit))
    result = run_scf(ks)
    out = {"energy": result.energy, "cycles": result.cycles, "scf": time.perf_counter() - start}
    out.update(cpu_scf=_cpu() - cpu, peak_scf=_peak_gb())
    if orbitals is not None:
        np.savez(orbitals, mo_coeff=result.mo_coeff, mo_energy=result.mo_energy, mo_occ=result.mo_occ)
    if not gradient:
        return out
    begin, cpu = time.perf_counter(), _cpu()
    forces = nuclear_gradient(ks, result)
    out.update(grad=time.perf_counter() - begin, cpu_grad=_cpu() - cpu, peak_grad=_peak_gb())
    out["gradient"] = forces.numpy().tolist()
    return out


def run_pyscf(system, xc: str, density_fit: bool, orbitals: Path | None = None, phases=("scf", "grad")) -> dict:
    """PySCF: SCF, default gradient, gradient with grid response (``phases`` chooses).

    Without the ``"scf"`` phase the gradients start from the orbitals in ``orbitals`` (saved
    by :func:`run_ours` for the same case), so a very large case needs one SCF per code only.
    """
    from pyscf import dft

    start, cpu = time.perf_counter(), _cpu()
    mol = system.to_mole()
    mf = dft.RKS(mol) if system.spin == 0 else dft.UKS(mol)
    mf.xc, mf.conv_tol, mf.grids.level = xc, 1e-9, 3
    if density_fit:
        mf = mf.density_fit()
    out = {}
    if "scf" in phases:
        energy = mf.kernel()
        if not mf.converged:
            raise SystemExit(f"PySCF did not converge for {system.symbols}")
        out = {"energy": float(energy), "cycles": mf.cycles, "scf": time.perf_counter() - start}
        out.update(cpu_scf=_cpu() - cpu, peak_scf=_peak_gb())
    else:
        saved = np.load(orbitals)
        squeeze = 0 if system.spin == 0 else slice(None)
        mf.mo_coeff, mf.mo_energy, mf.mo_occ = (saved[key][squeeze] for key in ("mo_coeff", "mo_energy", "mo_occ"))
        mf.grids.build()
        out["energy"] = float(mf.energy_tot())
    if "grad" in phases:
        for key, response in (("grad", False), ("grad_gr", True)):
            begin, cpu = time.perf_counter(), _cpu()
            grad = mf.nuc_grad_method()
            grad.grid_response = response
            gradient = grad.kernel()
            out.update({key: time.perf_counter() - begin, "cpu_" + key: _cpu() - cpu, "peak_" + key: _peak_gb()})
        out["gradient"] = gradient.tolist()
    return out


#: What each worker runs.
CODES = {
    "ours": "ase_nnxc SCF and gradient",
    "ours-scf": "ase_nnxc SCF only",
    "pyscf": "PySCF SCF and both gradients",
    "pyscf-scf": "PySCF SCF only",
    "pyscf-grad": "PySCF gradients from ase_nnxc's orbitals (run ours first)",
}


def _worker(args) -> None:
    species, xc, basis, density_fit = _parse_case(args.worker_case)
    system = build_system(species, basis, args.data)
    orbitals = _orbitals_file(args.orbitals, args.worker_case)
    if args.worker.startswith("ours"):
        out = run_ours(system, xc, density_fit, orbitals, gradient=args.worker == "ours")
    else:
        phases = {"pyscf": ("scf", "grad"), "pyscf-scf": ("scf",), "pyscf-grad": ("grad",)}[args.worker]
        out = run_pyscf(system, xc, density_fit, orbitals, phases)
    out.update(nao=system.to_mole().nao_nr(), natom=system.natom, case=args.worker_case, code=args.worker)
    print("RESULT " + json.dumps(out), flush=True)


def _parse_case(case: str):
    parts = case.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "df"):
        raise SystemExit(f"case {case!r}: expected SPECIES:XC:BASIS or SPECIES:XC:BASIS:df")
    return parts[0], parts[1], parts[2], len(parts) == 4


def _spawn(code: str, case: str, args) -> dict:
    """Run one code on one case in a fresh interpreter and return its RESULT record."""
    command = [sys.executable, __file__, "--worker", code, "--worker-case", case, "--data", str(args.data)]
    command += ["--orbitals", str(args.orbitals)]
    print(f"[{time.strftime('%H:%M:%S')}] {case}: running {code}", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT ") :])
            record["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
            if args.results is not None:
                with open(args.results, "a") as stream:
                    stream.write(json.dumps(record) + "\n")
            return record
    raise SystemExit(f"{code} failed on {case}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def _best(records: list[dict], key: str):
    """Smallest value of ``key`` over the records that have it (best of N), else None."""
    values = [r[key] for r in records if r.get(key) is not None]
    return min(values) if values else None


def _cell(value, width: int, digits: int = 1) -> str:
    return f"{'-':>{width}s}" if value is None else f"{value:{width}.{digits}f}"


def _ratio(a, b, width: int) -> str:
    return _cell(None if a is None or b is None else a / b, width, 2)


def print_table(records: list[dict], cases: list[str]) -> None:
    """One row per case (wall times), one of CPU times; PySCF's figures may come from several runs."""
    print(
        f"{'case':30s} {'atoms':>5s} {'nao':>5s} | {'ours scf':>8s} {'grad':>7s} {'peak':>6s} | "
        f"{'pyscf scf':>9s} {'grad':>7s} {'grad GR':>7s} {'peak':>6s} | "
        f"{'scf':>5s} {'grad':>5s} {'gradGR':>6s} {'mem':>5s} | {'dE':>8s} {'dF':>8s}"
    )
    for case in cases:
        ours = [r for r in records if r["case"] == case and r["code"].startswith("ours")]
        theirs = [r for r in records if r["case"] == case and r["code"].startswith("pyscf")]
        if not ours and not theirs:
            continue
        first = (ours or theirs)[0]
        o = {key: _best(ours, key) for key in ("scf", "grad", "cpu_scf", "cpu_grad")}
        # Peak of a code: over its SCF and gradients (an SCF-only run counts its SCF alone).
        peaks = [p for p in (_best(ours, "peak_scf"), _best(ours, "peak_grad")) if p is not None]
        o["peak_grad"] = max(peaks) if peaks else None
        t = {key: _best(theirs, key) for key in ("scf", "grad", "grad_gr", "cpu_scf", "cpu_grad", "cpu_grad_gr")}
        peaks = [p for p in (_best(theirs, "peak_scf"), _best(theirs, "peak_grad_gr")) if p is not None]
        t["peak"] = max(peaks) if peaks else None
        energies = [r["energy"] for r in theirs if r.get("scf") is not None]
        d_energy = ours[0]["energy"] - energies[0] if ours and energies else None
        forces = [r["gradient"] for r in theirs if "gradient" in r]
        our_forces = [r["gradient"] for r in ours if "gradient" in r]
        d_force = np.abs(np.array(our_forces[0]) - np.array(forces[0])).max() if our_forces and forces else None
        print(
            f"{case:30s} {first['natom']:5d} {first['nao']:5d} | {_cell(o['scf'], 8)} {_cell(o['grad'], 7)} "
            f"{_cell(o['peak_grad'], 6, 2)} | {_cell(t['scf'], 9)} {_cell(t['grad'], 7)} {_cell(t['grad_gr'], 7)} "
            f"{_cell(t['peak'], 6, 2)} | {_ratio(o['scf'], t['scf'], 5)} {_ratio(o['grad'], t['grad'], 5)} "
            f"{_ratio(o['grad'], t['grad_gr'], 6)} {_ratio(o['peak_grad'], t['peak'], 5)} | "
            + ("       -" if d_energy is None else f"{d_energy:+8.1e}")
            + ("        -" if d_force is None else f" {d_force:8.1e}")
        )
        print(
            f"{'  CPU time':30s} {'':11s} | {_cell(o['cpu_scf'], 8)} {_cell(o['cpu_grad'], 7)} {'':6s} | "
            f"{_cell(t['cpu_scf'], 9)} {_cell(t['cpu_grad'], 7)} {_cell(t['cpu_grad_gr'], 7)} {'':6s} | "
            f"{_ratio(o['cpu_scf'], t['cpu_scf'], 5)} {_ratio(o['cpu_grad'], t['cpu_grad'], 5)} "
            f"{_ratio(o['cpu_grad'], t['cpu_grad_gr'], 6)}"
        )
    print(
        "times in s (wall, then CPU of all threads), peaks in GB (ru_maxrss of each code's own process; "
        "PySCF's over its SCF and gradients); ratios ase_nnxc / PySCF (gradGR: PySCF with grid response); "
        "dE, dF: energy (Ha) and gradient (Ha/Bohr, against PySCF with grid response) differences"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=DEFAULT_CASES, help="SPECIES:XC:BASIS[:df]")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="GMTKN55 directory (official layout)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each code per case (best is shown)")
    parser.add_argument(
        "--codes", nargs="*", default=["pyscf", "ours"], choices=sorted(CODES), help="what to run, in order"
    )
    parser.add_argument("--results", type=Path, help="JSON-lines file every finished run is appended to")
    parser.add_argument("--table", action="store_true", help="only print the table of the runs in --results")
    parser.add_argument("--orbitals", type=Path, default=Path(tempfile.gettempdir()), help="where orbitals are kept")
    parser.add_argument("--worker", choices=sorted(CODES), help=argparse.SUPPRESS)
    parser.add_argument("--worker-case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    for case in args.cases:
        _parse_case(case)
    if args.table:
        if args.results is None or not args.results.is_file():
            raise SystemExit("--table needs an existing --results file")
        records = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
        print_table(records, args.cases if "--cases" in sys.argv else sorted({r["case"] for r in records}))
        return
    from pyscf import lib

    print(f"threads: {lib.num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    records = [_spawn(code, case, args) for case in args.cases for code in args.codes for _ in range(args.repeat)]
    print_table(records, args.cases)


if __name__ == "__main__":
    main()
