"""Train the shipped recipe with exact H2 points added, and compare its H2 curve with FCI.

    python studies/scripts/h2_weights.py --basis def2-tzvp --weights 0 5 20     # about 4 minutes per weight
    python studies/scripts/h2_weights.py --basis def2-tzvp --high-density       # the network's high_density option
    python studies/scripts/h2_weights.py --basis def2-tzvp --high-density --extra-ips Li+ --save runs/h2-li

With ``--extra-ips`` the pool also holds those ionisation energies of
:data:`ase_nnxc.train.g2.EXTRA_IONISATIONS` (training-allowed; Li+ is the He-like ion) with entry
weight ``--ip-weight``. The frozen-density errors of all of them (trained on or not) are printed
beside the curve when the cache holds their densities. ``--save DIR`` keeps each trained
checkpoint as ``DIR/h2-weight-W.pt`` (for ``studies/scripts/size_drift.py``; ``-seed-S`` is appended
when ``--seed`` gives other seeds of the network's initial weights than 0).

For each weight W the shipped recipe (r2SCAN + ``nn-mgga`` 8x8, 20 full-batch Adam steps at
lr 0.02 on frozen r2SCAN densities; ``train/nnxc-r2scan-2026.12.1.yaml``) is trained on the
training pool plus exact H2 binding energies at ``--distances`` with entry weight W
(:func:`ase_nnxc.train.h2.binding_curve_entries`; W = 0 is the recipe itself). The trained
functional's self-consistent H2 curve in ``--basis`` is then compared with FCI/aug-cc-pVQZ
over 0.5-1.5 Angstrom, as ``benchmarks/accuracy.py`` does, and printed with the base weight b
and the MAE and mean signed error of the training pool's atomic IPs at the frozen densities
(b shifts every IP, held-out ones included). Only training data and the H2 curve are used: no
test molecule and no held-out IP is evaluated.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from cross_validate import (
    add_base_weight_arguments,
    add_model_arguments,
    base_weight,
    extra_ip_set,
    fit_steps,
    frozen_densities,
    frozen_errors,
    model_options,
)

from ase_nnxc.benchmarks import g2 as accuracy
from ase_nnxc.benchmarks.runner import Method
from ase_nnxc.train import g2
from ase_nnxc.train.checkpoint import build_functional, save_checkpoint
from ase_nnxc.train.h2 import TRAINING_DISTANCES, binding_curve_entries
from ase_nnxc.train.pretrain import FrozenSet


def main() -> None:
    """Print the H2 curve's deviation from FCI for each weight."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 5.0, 20.0])
    parser.add_argument("--distances", type=float, nargs="+", default=list(TRAINING_DISTANCES))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.02, help="Adam learning rate of the frozen-density fit")
    parser.add_argument(
        "--seed", type=int, nargs="+", default=[0], help="seeds of the network's initial weights, one run each"
    )
    parser.add_argument(
        "--extra-ips", nargs="*", default=[], metavar="NAME", help="extra training IPs (g2.EXTRA_IONISATIONS)"
    )
    parser.add_argument("--ip-weight", type=float, default=1.0, help="entry weight of the --extra-ips")
    parser.add_argument("--save", default=None, metavar="DIR", help="keep the trained checkpoints in DIR")
    add_model_arguments(parser)
    add_base_weight_arguments(parser)
    parser.add_argument("--cache", default="results/cross_validation", help="frozen densities")
    parser.add_argument("--energy-cache", default="results/accuracy/cache", help="FCI curve and SCF energies")
    args = parser.parse_args()
    options = model_options(args)

    fci = accuracy.fci_h2_curve(args.energy_cache)
    distances = np.array(accuracy.H2_DISTANCES)
    window = (distances >= accuracy.H2_WINDOW[0] - 1e-9) & (distances <= accuracy.H2_WINDOW[1] + 1e-9)
    trained_ips = {f"IP {name}" for name in args.extra_ips}
    pool = [
        replace(e, weight=args.ip_weight) if e.name in trained_ips else e
        for e in g2.training_entries(args.basis, extra_ips=args.extra_ips)
    ]
    h2_points = binding_curve_entries(args.distances, args.basis)

    def fresh(seed=0):
        return build_functional("nn-mgga", {**options, "seed": seed}, "r2scan", **base_weight(args))

    frozen = frozen_densities(pool + h2_points, fresh(), "r2scan", args.basis, args.cache)
    # Every IP beyond H-Ar whose densities are cached is printed, trained on (--extra-ips) or not.
    extra_ips = extra_ip_set(frozen, args.basis)
    # The atomic IPs of the training pool: how the fit moves them foretells the held-out IPs.
    training_ips = FrozenSet(frozen, [e for e in pool if e.e_type == "ie" and e.name not in trained_ips])
    print(
        f"H2 curve minus FCI (kcal/mol), {args.basis}, {args.steps} steps at lr {args.lr:g}; "
        "columns: distance (Angstrom)"
    )
    print(
        "weight  seed    max  "
        + " ".join(f"{r:5.2f}" for r in distances[window])
        + "        b  IP MAE  IP MSE"
        + "".join(f"  {e.name:>8}" for e in (extra_ips.entries if extra_ips else []))
    )
    with tempfile.TemporaryDirectory() as tmp:
        for weight, seed in itertools.product(args.weights, args.seed):
            functional = fresh(seed)
            extra = [replace(e, weight=weight) for e in h2_points] if weight > 0 else []
            params = [p for p in functional.parameters() if p.requires_grad]
            optimiser = torch.optim.Adam(params, lr=args.lr)
            fit_steps(functional, pool + extra, frozen, 0, args.steps, optimiser, args.freeze_b_after)
            suffix = "" if args.seed == [0] else f"-seed-{seed}"
            path = Path(args.save or tmp) / f"h2-weight-{weight:g}{suffix}.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            meta = {"model": "nn-mgga", "options": options, "base": "r2scan", "basis": args.basis}
            save_checkpoint(path, functional, {**meta, "grid_level": 3})
            # A fresh cache: the checkpoint's name would otherwise collide between runs.
            curve = accuracy.h2_curve(Method(str(path), "nnxc", args.basis, 3), Path(tmp) / "energies", progress=False)
            deviation = (curve - fci)[window]
            cells = " ".join(f"{d:+5.1f}" for d in deviation)
            ip_errors = frozen_errors(functional, training_ips)
            cells += f"  {float(functional.b):7.5f}  {np.abs(ip_errors).mean():6.2f}  {ip_errors.mean():+6.2f}"
            if extra_ips:
                cells += "".join(f"  {err:+8.2f}" for err in frozen_errors(functional, extra_ips))
            print(f"{weight:6g}  {seed:4d}  {np.nanmax(np.abs(deviation)):5.2f}  {cells}", flush=True)


if __name__ == "__main__":
    main()
