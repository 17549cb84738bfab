"""Train the shipped recipe with exact H2 points added, and compare its H2 curve with FCI.

    python train/h2_weights.py --basis def2-tzvp --weights 0 5 20     # about 4 minutes per weight
    python train/h2_weights.py --basis def2-tzvp --high-density       # the network's high_density option

For each weight W the shipped recipe (r2SCAN + ``nn-mgga`` 8x8, 20 full-batch Adam steps at
lr 0.02 on frozen r2SCAN densities; ``train/nnxc-r2scan-2026.12.1.yaml``) is trained on the
training pool plus exact H2 binding energies at ``--distances`` with entry weight W
(:func:`ase_nnxc.train.h2.binding_curve_entries`; W = 0 is the recipe itself). The trained
functional's self-consistent H2 curve in ``--basis`` is then compared with FCI/aug-cc-pVQZ
over 0.5-1.5 Angstrom, as ``benchmarks/accuracy.py`` does. Only training data and the H2
curve are used: no test molecule and no held-out IP is evaluated.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from cross_validate import add_high_density_argument, frozen_densities, model_options

from ase_nnxc import accuracy
from ase_nnxc.train import g2
from ase_nnxc.train.checkpoint import build_functional, save_checkpoint
from ase_nnxc.train.h2 import binding_curve_entries
from ase_nnxc.train.pretrain import pretrain


def main() -> None:
    """Print the H2 curve's deviation from FCI for each weight."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 5.0, 20.0])
    parser.add_argument("--distances", type=float, nargs="+", default=[0.5, 0.75, 1.0, 1.25, 1.5])
    parser.add_argument("--steps", type=int, default=20)
    add_high_density_argument(parser)
    parser.add_argument("--cache", default="results/cross_validation", help="frozen densities")
    parser.add_argument("--energy-cache", default="results/accuracy/cache", help="FCI curve and SCF energies")
    args = parser.parse_args()
    options = model_options(args)

    fci = accuracy.fci_h2_curve(args.energy_cache)
    distances = np.array(accuracy.H2_DISTANCES)
    window = (distances >= accuracy.H2_WINDOW[0] - 1e-9) & (distances <= accuracy.H2_WINDOW[1] + 1e-9)
    pool = g2.training_entries(args.basis)
    h2_points = binding_curve_entries(args.distances, args.basis)

    def fresh():
        return build_functional("nn-mgga", {**options, "seed": 0}, "r2scan")

    frozen = frozen_densities(pool + h2_points, fresh(), "r2scan", args.basis, args.cache)
    print(f"H2 curve minus FCI (kcal/mol), {args.basis}, {args.steps} steps; columns: distance (Angstrom)")
    print("weight    max  " + " ".join(f"{r:5.2f}" for r in distances[window]))
    with tempfile.TemporaryDirectory() as tmp:
        for weight in args.weights:
            functional = fresh()
            extra = [replace(e, weight=weight) for e in h2_points] if weight > 0 else []
            pretrain(functional, pool + extra, frozen, args.steps, lr=0.02, type_weights={"ae": 1.0, "ie": 3.0})
            path = Path(tmp) / f"h2-weight-{weight:g}.pt"
            meta = {"model": "nn-mgga", "options": options, "base": "r2scan", "basis": args.basis}
            save_checkpoint(path, functional, {**meta, "grid_level": 3})
            # A fresh cache: the checkpoint's name would otherwise collide between runs.
            curve = accuracy.h2_curve(accuracy.Method(str(path), "nnxc", args.basis, 3), Path(tmp) / "energies")
            deviation = (curve - fci)[window]
            cells = " ".join(f"{d:+5.1f}" for d in deviation)
            print(f"{weight:6g}  {np.nanmax(np.abs(deviation)):5.2f}  {cells}", flush=True)


if __name__ == "__main__":
    main()
