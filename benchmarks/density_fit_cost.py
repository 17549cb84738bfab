"""Where density fitting pays in ase_nnxc's SCF: time and energy error, exact against fitted integrals.

For GMTKN55 species of increasing size, each functional is run with exact two-electron integrals
and with density fitting (PySCF's default auxiliary basis), back to back in this process, the
fastest of ``--repeat`` runs each; the ratio fitted / exact and the fitting error of the energy
are printed, and for ``--reactions`` the fitting error of the reaction energy. The benchmark
runner's ``--density-fit auto`` threshold (``DENSITY_FIT_MIN_NAO``) rests on this.

    python benchmarks/density_fit_cost.py --data GMTKN55 --xc pbe b3lyp
    python benchmarks/density_fit_cost.py --data GMTKN55 --species S66/01 S66/01A S66/01B --reactions S66:1
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

from ase_nnxc.benchmarks.gmtkn55 import GMTKN55  # noqa: E402
from ase_nnxc.benchmarks.scf import to_system  # noqa: E402
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL  # noqa: E402

DEFAULT_SPECIES = ["SIE4x4/h2o", "BHPERI/13_c2h4", "WCPT18/reac6", "FH51/C3H7NH2", "CDIE20/P43"]


def scf_seconds(species, xc: str, basis: str, density_fit: bool, repeat: int) -> tuple[float, float, int]:
    """Fastest wall time (s) of ``repeat`` SCF runs from PySCF's guess, the energy and nao."""
    from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
    from ase_nnxc.xc import get_functional

    best, energy, nao = float("inf"), None, 0
    for _ in range(repeat):
        start = time.perf_counter()
        ks = KohnSham(to_system(species, basis), get_functional(xc), SCFConfig(density_fit=density_fit))
        energy = run_scf(ks).energy
        best, nao = min(best, time.perf_counter() - start), ks.nao
    return best, float(energy), nao


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="GMTKN55 directory (default: $ASE_NNXC_GMTKN55)")
    parser.add_argument("--species", nargs="+", default=DEFAULT_SPECIES, help="FOLDER/NAME of GMTKN55 species")
    parser.add_argument("--reactions", nargs="*", default=[], help="SUBSET:INDEX whose species are all listed")
    parser.add_argument("--xc", nargs="+", default=["pbe", "b3lyp"])
    parser.add_argument("--basis", default="def2-tzvp")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    data = GMTKN55(args.data)
    print(f"{args.basis}, grid level 3, {os.environ['OMP_NUM_THREADS']} threads; times in s, fastest of {args.repeat}")
    print(
        f"{'species':<22} {'atoms':>5} {'nao':>5} {'xc':<7} {'exact':>8} {'fitted':>8} {'ratio':>6} {'E_fit - E_exact / uHa':>22}"
    )
    energies: dict[tuple[str, str, bool], float] = {}
    for name in args.species:
        species = data.species(name)
        for xc in args.xc:
            exact, e_exact, nao = scf_seconds(species, xc, args.basis, False, args.repeat)
            fitted, e_fit, _ = scf_seconds(species, xc, args.basis, True, args.repeat)
            energies[name, xc, False], energies[name, xc, True] = e_exact, e_fit
            print(f"{name:<22} {species.natom:>5} {nao:>5} {xc:<7} {exact:8.2f} {fitted:8.2f} {fitted / exact:6.2f} "
                  f"{(e_fit - e_exact) * 1e6:22.1f}", flush=True)  # fmt: skip
    for item in args.reactions:
        subset, index = item.split(":")
        reaction = data.reactions(subset)[int(index) - 1]
        for xc in args.xc:
            de = [sum(c * energies[s, xc, fit] for s, c in reaction.components) for fit in (False, True)]
            print(f"{reaction.name} {xc}: fitting error of the reaction energy "
                  f"{(de[1] - de[0]) * HARTREE_TO_KCAL_PER_MOL:+.4f} kcal/mol")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
