"""Accuracy of functionals on G2 atomisation energies, atomic ionisation energies and the H2 curve.

Every functional named with ``--xc`` is run by ase_nnxc; ``--reference`` functionals are run by
PySCF in the same invocation, on the same molecules, basis and grid. Energies are cached per
method (``--cache``), so an interrupted run continues where it stopped. Writes ``table.md``,
``errors.csv`` and plots (parity, error histograms, H2 curve) to ``--out``.

Reference data: experimental atomisation energies of ASE's G2-1 and G2-2 molecules (zero-point
free), NIST ionisation energies of H-Ar, and an FCI/aug-cc-pVQZ H2 curve computed here.

    python benchmarks/accuracy.py --xc nnxc pbe              # the shipped functional and PBE
    python benchmarks/accuracy.py --xc pbe --subset train     # quick look at the training pool
    python benchmarks/accuracy.py --xc nnxc --h2-basis def2-qzvp   # H2 also near the basis limit
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402

from ase_nnxc import accuracy  # noqa: E402
from ase_nnxc.accuracy import H2_DISTANCES, H2_WINDOW, Method  # noqa: E402
from ase_nnxc.train import g2  # noqa: E402
from ase_nnxc.units import HARTREE_TO_EV  # noqa: E402

PUBLISHED = """\
Published figures for the same kind of test (xcnn, Kasim & Vinko, PRL 2021, 104 G2 molecules,
large basis; DeepChem's dft module): AE MAE LDA 70.5, PBE 16.5, SCAN 5.0, B3LYP 4.4,
CCSD(T)/cc-pVQZ 3.5, xcnn NN-PBE 7.4, DeepChem NN-LDA 24.2 kcal/mol; IP MAE (atoms H-Ar) PBE 3.6,
B3LYP 3.6, xcnn NN-PBE 4.1, DeepChem NN-LDA 28.8 kcal/mol.
"""


def _row(name, ae, ip, h2_devs, common):
    """MAEs over ``common``: the molecules (and atoms) every method has an energy for."""

    def mae(keys, errors):
        return accuracy.mean_absolute(errors[k] for k in keys if k in common)[0]

    missing = sum(v is None for v in ae.values()) + sum(v is None for v in ip.values())
    return [
        name,
        mae(g2.TEST_MOLECULES, ae),
        mae(g2.TRAINING_MOLECULES, ae),
        mae(g2.G2_1_MOLECULES, ae),
        mae(g2.G2_2_MOLECULES, ae),
        mae(g2.IP_TEST_ATOMS, ip),
        mae(g2.ATOMS_H_AR, ip),
        *h2_devs,
        missing,
    ]


def _fmt(x):
    return "n/a" if isinstance(x, float) and np.isnan(x) else (f"{x:.2f}" if isinstance(x, float) else str(x))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xc", nargs="*", default=["nnxc"], help="functionals run by ase_nnxc (names or checkpoints)")
    parser.add_argument("--reference", nargs="*", default=["lda,vwn", "pbe", "b3lyp"], help="functionals run by PySCF")
    parser.add_argument("--basis", default=None, help="basis (default: each functional's own, else def2-svp)")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--subset", choices=["all", "test", "train"], default="all", help="which G2 molecules")
    parser.add_argument("--no-h2", action="store_true", help="skip the H2 curve")
    parser.add_argument(
        "--h2-basis", default=None, help="also run the H2 curve in this basis (separates basis from functional error)"
    )
    parser.add_argument("--cached-only", action="store_true", help="tabulate cached energies only, compute nothing")
    parser.add_argument("--cache", default="results/accuracy/cache", help="energy cache folder")
    parser.add_argument("--out", default="results/accuracy", help="folder for table.md, errors.csv and plots")
    args = parser.parse_args(argv)

    names = {
        "all": g2.TEST_MOLECULES + g2.TRAINING_MOLECULES,
        "test": g2.TEST_MOLECULES,
        "train": g2.TRAINING_MOLECULES,
    }[args.subset]
    methods = [Method(x, "nnxc", args.basis, args.grid_level) for x in args.xc]
    basis = args.basis or (methods[0].resolved_basis() if methods else "def2-svp")
    methods += [Method(x, "pyscf", basis, args.grid_level) for x in args.reference]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ae_all, ip_all, h2_all, curves = {}, {}, {}, {}
    lo, hi = H2_WINDOW
    window = (np.array(H2_DISTANCES) >= lo - 1e-9) & (np.array(H2_DISTANCES) <= hi + 1e-9)
    fci = None if args.no_h2 else accuracy.fci_h2_curve(args.cache)
    h2_bases = [None] + ([args.h2_basis] if args.h2_basis else [])
    for method in methods:
        print(f"== {method.name} / {method.resolved_basis()} / grid {method.grid_level}", flush=True)
        compute = not args.cached_only
        ae = accuracy.atomisation_errors(method, names, args.cache, compute=compute)
        ip = accuracy.ionisation_errors(method, g2.ATOMS_H_AR, args.cache, compute=compute)
        h2_devs = [float("nan")]
        if fci is not None:
            h2_devs = []
            for basis_h2 in h2_bases:
                curve = accuracy.h2_curve(replace(method, basis=basis_h2 or method.basis), args.cache, compute=compute)
                curves.setdefault(method.name, curve)
                h2_devs.append(float(np.nanmax(np.abs(curve - fci)[window])))
        ae_all[method.name], ip_all[method.name], h2_all[method.name] = ae, ip, h2_devs

    # Compare like with like: every column averages over the entries all methods have.
    common = {k for k in names if all(ae_all[m][k] is not None for m in ae_all)}
    common |= {a for a in g2.ATOMS_H_AR if all(ip_all[m][a] is not None for m in ip_all)}
    rows = [_row(m, ae_all[m], ip_all[m], h2_all[m], common) for m in ae_all]
    n_test = sum(n in common for n in g2.TEST_MOLECULES)
    n_train = sum(n in common for n in g2.TRAINING_MOLECULES)
    n_ip = sum(a in common for a in g2.IP_TEST_ATOMS)
    header = [
        "functional", f"AE test (n={n_test} of {len(g2.TEST_MOLECULES)})", f"AE train pool (n={n_train})",
        "AE G2-1", "AE G2-2", f"IP held-out (n={n_ip})", "IP H-Ar", "H2 max dev 0.5-1.5 A",
    ] + ([f"H2 max dev ({args.h2_basis})"] if fci is not None and args.h2_basis else []) + ["missing"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(x) for x in row) + " |" for row in rows]
    table = "\n".join(lines)
    command = "python benchmarks/accuracy.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = (
        f"MAE in kcal/mol (H2: max |E - E_FCI| of the binding curve), basis {basis}, grid level {args.grid_level}.\n"
        f"Command: `{command}`\n\n{table}\n\n{PUBLISHED}"
    )
    (out / "table.md").write_text(text)
    print(text)
    with open(out / "errors.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "name", "reference_kcal_mol"] + list(ae_all))
        for name in names:
            writer.writerow(
                ["ae", name, g2.atomisation_energy(name) * accuracy.KCAL_PER_HARTREE]
                + [ae_all[m][name] for m in ae_all]
            )
        for atom in g2.ATOMS_H_AR:
            writer.writerow(
                ["ip", atom, g2.IONISATION_ENERGIES_EV[atom] / HARTREE_TO_EV * accuracy.KCAL_PER_HARTREE]
                + [ip_all[m][atom] for m in ip_all]
            )
    _plots(out, names, ae_all, curves, fci)
    return 0


def _plots(out: Path, names, ae_all, curves, fci) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = [n for n in names if n in g2.TEST_MOLECULES] or list(names)
    reference = np.array([g2.atomisation_energy(n) * accuracy.KCAL_PER_HARTREE for n in test])
    # Left: parity; right: the signed errors at a scale where the accurate methods differ.
    # The first method (the one under test) is drawn on top.
    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(11, 5.5))
    for i, (method, errors) in enumerate(ae_all.items()):
        err = np.array([np.nan if errors[n] is None else errors[n] for n in test])
        label = f"{method} (MAE {np.nanmean(np.abs(err)):.1f})"
        ax.scatter(reference, reference + err, s=12, label=label, zorder=len(ae_all) - i)
        ax_err.scatter(reference, np.clip(err, -40, 40), s=12, zorder=len(ae_all) - i)
    ax.plot([0, reference.max() * 1.05], [0, reference.max() * 1.05], "k-", lw=0.8)
    ax.set(
        xlabel="experiment (kcal/mol)", ylabel="computed (kcal/mol)", title="G2 atomisation energies, test molecules"
    )
    ax.legend(fontsize=8)
    ax_err.axhline(0, color="k", lw=0.8)
    ax_err.set(
        xlabel="experiment (kcal/mol)", ylabel="computed - experiment (kcal/mol), clipped to +-40", ylim=(-42, 42)
    )
    ax_err.set_title("signed errors", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "parity.png", dpi=130)

    fig, axes = plt.subplots(len(ae_all), 1, figsize=(6, 1.8 * len(ae_all) + 0.6), sharex=True, squeeze=False)
    bins = np.linspace(-60, 60, 49)
    for ax, (method, errors) in zip(axes[:, 0], ae_all.items()):
        err = np.array([errors[n] for n in test if errors[n] is not None])
        ax.hist(np.clip(err, bins[0], bins[-1]), bins=bins)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_ylabel("count")
        ax.set_title(f"{method}: MAE {np.mean(np.abs(err)):.1f} kcal/mol", fontsize=9)
    axes[-1, 0].set_xlabel("computed - experiment (kcal/mol), clipped to +-60")
    fig.tight_layout()
    fig.savefig(out / "error_histogram.png", dpi=130)

    if fci is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(H2_DISTANCES, fci, "k-", lw=2, label="FCI/aug-cc-pVQZ")
        for method, curve in curves.items():
            ax.plot(H2_DISTANCES, curve, label=method)
        ax.axvspan(*H2_WINDOW, color="0.9", zorder=0)
        ax.set(xlabel="H-H distance (Angstrom)", ylabel="E(H2) - 2 E(H) (kcal/mol)", title="H2 dissociation")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "h2_curve.png", dpi=130)


if __name__ == "__main__":
    sys.exit(main())
