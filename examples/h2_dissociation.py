"""H2 dissociation curve of density functionals (LDA, PBE, B3LYP) against full CI in the same basis.

Run: python examples/h2_dissociation.py [--basis cc-pvdz] [--out examples/output]
     [--rmin 0.5 --rmax 3.0 --points 26] [--grid-level 3] [--break-symmetry]
     [--xc lda,vwn pbe b3lyp]

Computes the binding curve E(H2, R) - 2 E(H) from 0.5 to 3.0 Angstrom with the NNXC ASE
calculator (restricted Kohn-Sham for H2, unrestricted for the H atom; each bond length
warm-starts from the last) and with PySCF full CI, which is exact in the basis. Writes

  OUT/h2_dissociation.png   the curves (matplotlib, Agg backend)
  OUT/h2_dissociation.csv   total and binding energies in eV at every bond length
  OUT/h2_dissociation.md    the binding energies as a Markdown table, with r_e and D_e

and prints the Markdown table. Expect the density functionals to bind near the FCI minimum
and, being restricted, to rise far above zero at long range: a closed-shell determinant
cannot describe two separate H atoms (static correlation), which FCI does exactly.
With --break-symmetry each functional also runs unrestricted from mixed frontier orbitals
(NNXC(break_symmetry=True)): beyond its Coulson-Fischer point the spins separate and the
curve goes to zero, at the price of a spin-contaminated determinant (<S^2> in the table).
--xc picks the functionals; a trained one belongs in its own basis (nnxc: --basis def2-tzvp).
A few minutes on two cores with the defaults.
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from ase import Atoms, units  # noqa: E402
from pyscf import fci, gto, scf  # noqa: E402
from scipy.interpolate import CubicSpline  # noqa: E402

from ase_nnxc import NNXC  # noqa: E402

#: Default functionals and their labels; --xc takes any name NNXC accepts (labelled by it).
FUNCTIONALS = {"LDA": "lda,vwn", "PBE": "pbe", "B3LYP": "b3lyp"}


def h2(distance):
    return Atoms("H2", positions=[(0.0, 0.0, 0.0), (0.0, 0.0, distance)])


def dft_curve(xc, distances, basis, grid_level, break_symmetry=False):
    """Total energies (eV) and <S^2> of H2 along ``distances``, and the energy of one H atom, with NNXC."""
    atoms = h2(distances[0])
    atoms.calc = NNXC(xc=xc, basis=basis, grid_level=grid_level, break_symmetry=break_symmetry)
    energies, spin_squares = [], []
    for distance in distances:
        atoms.positions[1, 2] = distance  # only positions change: warm start
        energies.append(atoms.get_potential_energy())
        spin_squares.append(atoms.calc.spin_square)
    atom = Atoms("H", positions=[(0.0, 0.0, 0.0)])
    atom.calc = NNXC(xc=xc, basis=basis, grid_level=grid_level, spin=1)
    return np.array(energies), np.array(spin_squares), atom.get_potential_energy()


def fci_energy(atoms, basis, spin=0):
    """Full CI total energy (eV) of ``atoms`` in ``basis`` (exact within the basis)."""
    mol = gto.M(
        atom=[(s, tuple(p)) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions)],
        unit="Angstrom",
        basis=basis,
        spin=spin,
        verbose=0,
    )
    mean_field = (scf.RHF(mol) if spin == 0 else scf.ROHF(mol)).run(conv_tol=1e-12)
    energy = fci.FCI(mean_field).kernel()[0] if mol.nelectron > 1 else mean_field.e_tot
    return energy * units.Hartree


def minimum(distances, binding):
    """Bond length r_e and well depth D_e from a cubic spline through the curve."""
    spline = CubicSpline(distances, binding)
    stationary = spline.derivative().roots(extrapolate=False)
    r_e = min(stationary, key=spline) if len(stationary) else distances[np.argmin(binding)]
    return float(r_e), -float(spline(r_e))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basis", default="cc-pvdz", help="basis set for every method (default: cc-pvdz)")
    parser.add_argument("--rmin", type=float, default=0.5, help="shortest bond, Angstrom (default: 0.5)")
    parser.add_argument("--rmax", type=float, default=3.0, help="longest bond, Angstrom (default: 3.0)")
    parser.add_argument("--points", type=int, default=26, help="number of bond lengths (default: 26)")
    parser.add_argument("--grid-level", type=int, default=3, help="NNXC grid level, 0-9 (default: 3)")
    parser.add_argument(
        "--break-symmetry",
        action="store_true",
        help="also run each functional unrestricted from a broken-symmetry guess",
    )
    parser.add_argument(
        "--xc", nargs="+", default=None, help="functionals, e.g. nnxc r2scan pbe (default: lda,vwn pbe b3lyp)"
    )
    parser.add_argument("--out", type=Path, default=Path("examples/output"), help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    distances = np.linspace(args.rmin, args.rmax, args.points)

    totals, binding, spin_squares = {}, {}, {}
    functionals = {xc: xc for xc in args.xc} if args.xc else FUNCTIONALS
    runs = [(label, xc, False) for label, xc in functionals.items()]
    if args.break_symmetry:
        runs += [(f"{label} BS", xc, True) for label, xc in functionals.items()]
    for label, xc, broken in runs:
        print(f"{label} ({xc}) ...", flush=True)
        totals[label], spin_squares[label], atom = dft_curve(xc, distances, args.basis, args.grid_level, broken)
        binding[label] = totals[label] - 2 * atom
    dft = [label for label, _, _ in runs]
    print("FCI ...", flush=True)
    totals["FCI"] = np.array([fci_energy(h2(r), args.basis) for r in distances])
    binding["FCI"] = totals["FCI"] - 2 * fci_energy(Atoms("H", positions=[(0, 0, 0)]), args.basis, spin=1)
    methods = [*dft, "FCI"]

    with open(args.out / "h2_dissociation.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["r_angstrom"] + [f"{m}_total_eV" for m in methods] + [f"{m}_binding_eV" for m in methods])
        for i, r in enumerate(distances):
            writer.writerow(
                [f"{r:.4f}"] + [f"{totals[m][i]:.8f}" for m in methods] + [f"{binding[m][i]:.8f}" for m in methods]
            )

    lines = [
        f"# H2 binding energy E(H2) - 2 E(H) in eV, {args.basis}",
        "",
        "| R / Angstrom | "
        + " | ".join(methods)
        + " | "
        + " | ".join(f"{m} - FCI" for m in dft)
        + " |"
        + "".join(f" {m} <S^2> |" for m in dft if m.endswith(" BS")),
        "|---" * (1 + len(methods) + len(dft) + sum(m.endswith(" BS") for m in dft)) + "|",
    ]
    for i, r in enumerate(distances):
        row = (
            [f"{binding[m][i]:.4f}" for m in methods]
            + [f"{binding[m][i] - binding['FCI'][i]:+.4f}" for m in dft]
            + [f"{spin_squares[m][i]:.3f}" for m in dft if m.endswith(" BS")]
        )
        lines.append(f"| {r:.2f} | " + " | ".join(row) + " |")
    lines += ["", "| method | r_e / Angstrom | D_e / eV |", "|---|---|---|"]
    for m in methods:
        r_e, depth = minimum(distances, binding[m])
        lines.append(f"| {m} | {r_e:.3f} | {depth:.3f} |")
    table = "\n".join(lines) + "\n"
    (args.out / "h2_dissociation.md").write_text(table)
    print(table)

    figure, axes = plt.subplots(figsize=(6, 4.5))
    for i, m in enumerate(dft):
        style = ("--" if m.endswith(" BS") else "-") + "os^v"[i % len(functionals) % 4]
        axes.plot(distances, binding[m], style, color=f"C{i % len(functionals)}", label=m, markersize=3)
    axes.plot(distances, binding["FCI"], "k-", label="FCI")
    axes.axhline(0.0, color="grey", linewidth=0.5)
    axes.set_xlabel("H-H distance / Angstrom")
    axes.set_ylabel("E(H2) - 2 E(H) / eV")
    kind = "restricted (solid) and broken-symmetry (dashed)" if args.break_symmetry else "restricted"
    axes.set_title(f"H2 dissociation, {args.basis}\n{kind} Kohn-Sham vs full CI", fontsize=10)
    axes.legend()
    figure.tight_layout()
    figure.savefig(args.out / "h2_dissociation.png", dpi=150)
    print(f"wrote {args.out / 'h2_dissociation.png'}, .csv and .md")


if __name__ == "__main__":
    main()
