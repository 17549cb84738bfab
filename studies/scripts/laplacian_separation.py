"""Measure whether the density Laplacian separates stretched H2 from the training molecules.

    python studies/scripts/laplacian_separation.py                  # about 10 minutes on 2 cores
    python studies/scripts/laplacian_separation.py --limit 10       # the first 10 pool molecules only

The shipped network sees the reduced density gradient s, the iso-orbital indicator alpha, the
spin polarisation zeta and the density (as the Wigner-Seitz radius rs). In H2 alpha = zeta = 0
at every point and every bond length, so stretching the bond can only move density between
(rs, s) cells that the molecules of the atomisation-energy data also fill. The reduced
Laplacian q = lap(rho) / (4 (3 pi^2)^(2/3) rho^(5/3)) is the next semi-local input (a
Laplacian-level meta-GGA); this script measures whether it opens cells that stretched H2 fills
and the training molecules do not.

Densities are PySCF's self-consistent r2SCAN ones (the base of the shipped functional) in
``--basis`` on grid level 3. Each point falls in a cell of (log rs, s, alpha) or of
(log rs, s, alpha, q); only points with |zeta| < 0.1 count, as in H2. A cell is *covered* when
some molecule of the training pool (the atomisation-energy entries of ``--data``, H2 itself
excluded) puts at least ``--covered`` electrons in it. For H2 at each distance the script
prints the electrons in uncovered cells with and without q, and the energy density per
electron that a correction acting only there would need to move the binding energy by
``--target`` kcal/mol (the shipped functional's miss at 1.5 Angstrom is 3.13). Only training
data and H2 are used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from pyscf import dft, gto
from tqdm import tqdm

from ase_nnxc.train.dataset import load_dataset
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL

#: Training data of the shipped recipes (train/data in the repository).
TRAIN_DATA = Path(__file__).resolve().parents[2] / "train" / "data"

LOG_RS_EDGES = np.arange(-3.0, 3.01, 0.1)
S_EDGES = np.arange(0.0, 3.01, 0.1)
ALPHA_EDGES = np.array([0.0, 0.05, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0])
Q_EDGES = np.arange(-3.0, 3.01, 0.25)


def reduced_laplacian(rho: np.ndarray, laplacian: np.ndarray) -> np.ndarray:
    """``q = lap(rho) / (4 (3 pi^2)^(2/3) rho^(5/3))`` of a total density."""
    return laplacian / (4.0 * (3.0 * np.pi**2) ** (2.0 / 3.0) * rho ** (5.0 / 3.0))


def reduced_features(mol: gto.Mole) -> dict[str, np.ndarray]:
    """Electrons per grid point and the reduced inputs, from a self-consistent r2SCAN density."""
    mf = (dft.RKS if mol.spin == 0 else dft.UKS)(mol)
    mf.xc = "r2scan"
    mf.grids.level = 3
    mf.kernel()
    dm = mf.make_rdm1()
    dms = (dm / 2, dm / 2) if dm.ndim == 2 else (dm[0], dm[1])
    ao = dft.numint.eval_ao(mol, mf.grids.coords, deriv=2)
    # rows: rho, grad x/y/z, laplacian, tau
    alpha_rho, beta_rho = (dft.numint.eval_rho(mol, ao, d, xctype="MGGA", with_lapl=True) for d in dms)
    total = alpha_rho + beta_rho
    n = total[0]
    keep = n > 1e-8
    n, total = n[keep], total[:, keep]
    zeta = (alpha_rho[0][keep] - beta_rho[0][keep]) / n
    kf = (3 * np.pi**2 * n) ** (1 / 3)
    grad2 = (total[1:4] ** 2).sum(axis=0)
    tau_w = grad2 / (8 * n)
    tau_unif = 0.3 * kf**2 * n
    spin_scale = 0.5 * ((1 + zeta) ** (5 / 3) + (1 - zeta) ** (5 / 3))
    return {
        "electrons": mf.grids.weights[keep] * n,
        "log_rs": np.log((3 / (4 * np.pi * n)) ** (1 / 3)),
        "s": np.sqrt(grad2) / (2 * kf * n),
        "alpha": np.clip(total[5] - tau_w, 0, None) / (tau_unif * spin_scale),
        "q": reduced_laplacian(n, total[4]),
        "zeta": zeta,
    }


def cell_populations(features: dict[str, np.ndarray], with_q: bool) -> np.ndarray:
    """Electrons of the spin-unpolarised points (|zeta| < 0.1) per feature cell."""
    unpolarised = np.abs(features["zeta"]) < 0.1
    columns = [features["log_rs"], features["s"], features["alpha"]]
    edges = [LOG_RS_EDGES, S_EDGES, ALPHA_EDGES]
    if with_q:
        columns.append(features["q"])
        edges.append(Q_EDGES)
    # points beyond the outer edges go to the outermost cells
    sample = np.stack([np.clip(c[unpolarised], e[0], e[-1] - 1e-12) for c, e in zip(columns, edges)], axis=1)
    histogram, _ = np.histogramdd(sample, bins=edges, weights=features["electrons"][unpolarised])
    return histogram


def main() -> None:
    """Print the uncovered electrons of H2 at each distance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=TRAIN_DATA / "g2_train_h2-w20_def2-tzvp.yaml")
    parser.add_argument("--basis", default="def2-tzvp")
    parser.add_argument("--distances", type=float, nargs="+", default=[0.74, 1.0, 1.25, 1.5, 2.0])
    parser.add_argument("--covered", type=float, default=1e-3, help="electrons that make a cell covered")
    parser.add_argument("--target", type=float, default=3.13, help="binding-energy change, kcal/mol")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N pool molecules")
    args = parser.parse_args()

    pool = {}
    for entry in load_dataset(args.data):
        if entry.e_type != "ae":
            continue
        spec = entry.systems[0]
        if spec.to_system().symbols == ["H", "H"]:
            continue  # the H2 points themselves
        pool.setdefault(spec.key, spec)
    specs = list(pool.values())[: args.limit]

    covered = {False: None, True: None}
    for spec in tqdm(specs, desc="training molecules", unit="mol"):
        features = reduced_features(spec.to_system().to_mole())
        for with_q in covered:
            cells = cell_populations(features, with_q)
            covered[with_q] = cells if covered[with_q] is None else np.maximum(covered[with_q], cells)

    print(f"{len(specs)} training molecules, {args.basis}; cells covered at >= {args.covered:g} electrons")
    print(
        "H2 (Angstrom) | electrons in uncovered cells: (rs, s, alpha) | (rs, s, alpha, q) | "
        f"energy per such electron for {args.target} kcal/mol, Hartree"
    )
    for distance in args.distances:
        mol = gto.M(atom=f"H 0 0 0; H 0 0 {distance}", basis=args.basis, verbose=0)
        features = reduced_features(mol)
        uncovered = {}
        for with_q, pool_cells in covered.items():
            cells = cell_populations(features, with_q)
            uncovered[with_q] = cells[pool_cells < args.covered].sum()
        need = args.target / HARTREE_TO_KCAL_PER_MOL / max(uncovered[True], 1e-12)
        print(f"{distance:13.2f} | {uncovered[False]:44.4f} | {uncovered[True]:17.4f} | {need:.3g}")


if __name__ == "__main__":
    main()
