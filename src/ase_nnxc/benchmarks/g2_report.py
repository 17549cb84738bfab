"""The G2 benchmark run and its report: ``table.md``, ``errors.csv``, parity, histogram and H2 plots.

Every functional named in ``xc`` is run by ase_nnxc, every one in ``reference`` by PySCF, on the
same molecules, basis and grid, through the runner's energy cache. Besides the G2 table the
common report (:mod:`.report`: ``report.md``, worst reactions, failures, time) is written.
"""

from __future__ import annotations

import csv
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ase_nnxc import parallel
from ase_nnxc.benchmarks import g2 as g2_set
from ase_nnxc.benchmarks.report import MethodResult, reaction_errors, write_report
from ase_nnxc.benchmarks.runner import Method
from ase_nnxc.train import g2
from ase_nnxc.units import HARTREE_TO_EV, HARTREE_TO_KCAL_PER_MOL

PUBLISHED = """\
Published figures for the same kind of test (xcnn, Kasim & Vinko, PRL 2021, 104 G2 molecules,
large basis; DeepChem's dft module): AE MAE LDA 70.5, PBE 16.5, SCAN 5.0, B3LYP 4.4,
CCSD(T)/cc-pVQZ 3.5, xcnn NN-PBE 7.4, DeepChem NN-LDA 24.2 kcal/mol; IP MAE (atoms H-Ar) PBE 3.6,
B3LYP 3.6, xcnn NN-PBE 4.1, DeepChem NN-LDA 28.8 kcal/mol.
"""
#: Which G2 molecules ``subset`` selects.
SUBSETS = {
    "all": g2.TEST_MOLECULES + g2.TRAINING_MOLECULES,
    "test": g2.TEST_MOLECULES,
    "train": g2.TRAINING_MOLECULES,
}


def _fmt(x):
    return "n/a" if isinstance(x, float) and np.isnan(x) else (f"{x:.2f}" if isinstance(x, float) else str(x))


def run_g2(
    xc=("nnxc",),
    reference=("lda,vwn", "pbe", "b3lyp"),
    basis: str | None = None,
    grid_level: int = 3,
    subset: str = "all",
    h2: bool = True,
    h2_basis: str | None = None,
    cached_only: bool = False,
    cache="results/accuracy/cache",
    out="results/accuracy",
    command: str = "",
    progress: bool = True,
) -> str:
    """Run the G2 benchmark and write its reports into ``out``; returns the text of ``table.md``."""
    names = SUBSETS[subset]
    methods = [Method(x, "nnxc", basis, grid_level) for x in xc]
    basis = basis or (methods[0].resolved_basis() if methods else "def2-svp")
    methods += [Method(x, "pyscf", basis, grid_level) for x in reference]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reaction_set = g2_set.g2_reaction_set(names, g2.ATOMS_H_AR, None if not h2 else cache)
    fci = np.array([r.reference for r in reaction_set.reactions if r.subset == "H2"]) if h2 else None
    distances = np.array(g2_set.H2_DISTANCES)
    lo, hi = g2_set.H2_WINDOW
    window = (distances >= lo - 1e-9) & (distances <= hi + 1e-9)
    h2_only = g2_set.g2_reaction_set([], [], cache) if h2 and h2_basis else None

    ae_all, ip_all, h2_all, curves, results = {}, {}, {}, {}, []
    for method in methods:
        if parallel.world().is_root:
            print(f"== {method.name} / {method.resolved_basis()} / grid {method.grid_level}", flush=True)
        runner = g2_set.g2_runner(method, cache, compute=not cached_only, progress=progress)
        start = time.perf_counter()
        energies = runner.energies(reaction_set)
        results.append(MethodResult(method.name, energies, runner.records(reaction_set), runner.summary.computed,
                                    time.perf_counter() - start))  # fmt: skip
        errors = reaction_errors(reaction_set, energies)
        ae_all[method.name] = {n: errors[f"AE {n}"] for n in names}
        ip_all[method.name] = {a: errors[f"IP {a}"] for a in g2.ATOMS_H_AR}
        h2_devs = [float("nan")]
        if fci is not None:
            curve = _curve(reaction_set, errors)
            curves[method.name] = curve
            h2_devs = [float(np.nanmax(np.abs(curve - fci)[window]))]
            if h2_only is not None:
                other = g2_set.g2_runner(replace(method, basis=h2_basis), cache, not cached_only, progress)
                curve = _curve(h2_only, reaction_errors(h2_only, other.energies(h2_only)))
                h2_devs.append(float(np.nanmax(np.abs(curve - fci)[window])))
        h2_all[method.name] = h2_devs

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
    ] + ([f"H2 max dev ({h2_basis})"] if fci is not None and h2_basis else []) + ["missing"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(x) for x in row) + " |" for row in rows]
    table = "\n".join(lines)
    text = (
        f"MAE in kcal/mol (H2: max |E - E_FCI| of the binding curve), basis {basis}, grid level {grid_level}.\n"
        f"Command: `{command}`\n\n{table}\n\n{PUBLISHED}"
    )
    if not parallel.world().is_root:
        return text  # under torchrun, rank 0 writes the files
    (out / "table.md").write_text(text)
    _errors_csv(out / "errors.csv", names, ae_all, ip_all)
    _plots(out, names, ae_all, curves, fci)
    settings = [f"basis {basis}, grid level {grid_level}, exact two-electron integrals", f"command: `{command}`"]
    write_report(out, reaction_set, results, settings)
    return text


def _curve(reaction_set, errors) -> np.ndarray:
    return np.array([
        np.nan if errors[r.name] is None else errors[r.name] + r.reference
        for r in reaction_set.reactions if r.subset == "H2"
    ])  # fmt: skip


def _row(name, ae, ip, h2_devs, common):
    """MAEs over ``common``: the molecules (and atoms) every method has an energy for."""

    def mae(keys, errors):
        return g2_set.mean_absolute(errors[k] for k in keys if k in common)[0]

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


def _errors_csv(path: Path, names, ae_all, ip_all) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "name", "reference_kcal_mol"] + list(ae_all))
        for name in names:
            reference = g2.atomisation_energy(name) * HARTREE_TO_KCAL_PER_MOL
            writer.writerow(["ae", name, reference] + [ae_all[m][name] for m in ae_all])
        for atom in g2.ATOMS_H_AR:
            reference = g2.IONISATION_ENERGIES_EV[atom] / HARTREE_TO_EV * HARTREE_TO_KCAL_PER_MOL
            writer.writerow(["ip", atom, reference] + [ip_all[m][atom] for m in ip_all])


def _plots(out: Path, names, ae_all, curves, fci) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = [n for n in names if n in g2.TEST_MOLECULES] or list(names)
    reference = np.array([g2.atomisation_energy(n) * HARTREE_TO_KCAL_PER_MOL for n in test])
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
    plt.close(fig)

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
    plt.close(fig)

    if fci is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(g2_set.H2_DISTANCES, fci, "k-", lw=2, label="FCI/aug-cc-pVQZ")
        for method, curve in curves.items():
            ax.plot(g2_set.H2_DISTANCES, curve, label=method)
        ax.axvspan(*g2_set.H2_WINDOW, color="0.9", zorder=0)
        ax.set(xlabel="H-H distance (Angstrom)", ylabel="E(H2) - 2 E(H) (kcal/mol)", title="H2 dissociation")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "h2_curve.png", dpi=130)
        plt.close(fig)
