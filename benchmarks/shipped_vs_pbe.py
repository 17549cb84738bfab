"""Cost of the shipped neural functional against PBE: energy + forces, same run, same settings.

Run: python benchmarks/shipped_vs_pbe.py [--xc nnxc] [--molecules CH3CH2OH C6H6] [--repeat 2]

Each molecule is run with ase_nnxc's PBE, with the neural functional (its base functional,
r2SCAN for ``nnxc``, plus the meta-GGA correction) and, as the outside reference, with PySCF's
PBE (SCF + gradient with grid response), all in the neural functional's own basis (def2-TZVP
for ``nnxc``) unless ``--basis`` names another, at grid level 3 and a 1e-9 Ha threshold. The
three run in turn ``--repeat`` times and the best time of each is reported; the printed ratio
is neural / PBE.
"""

from __future__ import annotations

import argparse
import time

from ase.build import molecule
from pyscf import dft

from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.xc import get_functional


def energy_and_forces(system, functional) -> tuple[float, float]:
    start = time.perf_counter()
    ks = KohnSham(system, functional, SCFConfig(conv_tol=1e-9))
    result = run_scf(ks)
    nuclear_gradient(ks, result)
    return result.energy, time.perf_counter() - start


def pyscf_pbe(system) -> float:
    start = time.perf_counter()
    mf = dft.RKS(system.to_mole())
    mf.xc, mf.conv_tol, mf.verbose = "pbe", 1e-9, 0
    mf.kernel()
    grad = mf.nuc_grad_method()
    grad.grid_response = True
    grad.kernel()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xc", default="nnxc", help="the neural functional (name or checkpoint)")
    parser.add_argument("--molecules", nargs="*", default=["CH3CH2OH", "C6H6"])
    parser.add_argument("--basis", default=None, help="default: the neural functional's own basis")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    neural = get_functional(args.xc)
    basis = args.basis or getattr(neural, "default_basis", None) or "def2-svp"
    pbe = get_functional("pbe")
    print(f"{'molecule':<10} {'PBE s':>8} {args.xc + ' s':>12} {'PySCF PBE s':>12} {'ratio':>6}")
    for name in args.molecules:
        system = MolecularSystem.from_atoms(molecule(name), basis=basis)
        # Interleaved, so that a slow spell of the machine does not fall on one method only.
        times = [(energy_and_forces(system, pbe)[1], energy_and_forces(system, neural)[1], pyscf_pbe(system))
                 for _ in range(args.repeat)]  # fmt: skip
        t_pbe, t_nn, t_pyscf = (min(column) for column in zip(*times))
        print(f"{name:<10} {t_pbe:8.2f} {t_nn:12.2f} {t_pyscf:12.2f} {t_nn / t_pbe:6.2f}", flush=True)


if __name__ == "__main__":
    main()
