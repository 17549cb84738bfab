"""Choose the base functional and the number of pre-training steps on the training pool alone.

    python train/cross_validate.py --base pbe r2scan            # about 25 minutes per base on 1 core

For each base functional the 85 training systems are converged once and their densities frozen
(cached in ``--cache``); then the 63 training molecules are split into ``--folds`` folds. Each
fold in turn is held out while a fresh neural correction (the shipped model's architecture) is
pre-trained on the other molecules plus all training IPs, and its frozen-density atomisation
MAE on the held-out molecules is printed after each of ``--steps`` Adam steps. Test molecules
are never loaded, so the choice made from this table is free of test data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ase_nnxc.scf import SCFConfig
from ase_nnxc.train.checkpoint import build_functional
from ase_nnxc.train.dataset import load_dataset
from ase_nnxc.train.pretrain import FrozenSet, freeze_entries, pretrain
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL

HERE = Path(__file__).parent


def frozen_mae(functional, data: FrozenSet) -> float:
    """Mean absolute error (kcal/mol) of ``data``'s entries at the frozen densities."""
    with torch.no_grad():
        return float((data.predictions(functional) - data.targets).abs().mean() * HARTREE_TO_KCAL_PER_MOL)


def main() -> None:
    """Print the held-out table for every base functional."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", nargs="+", default=["pbe", "r2scan"])
    parser.add_argument("--data", default=str(HERE / "data" / "g2_train_def2-svp.yaml"))
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[30, 60, 100, 150])
    parser.add_argument("--hidden", type=int, nargs="+", default=[8, 8])
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--cache", default="results/cross_validation")
    args = parser.parse_args()

    entries = load_dataset(args.data)
    molecules = [e for e in entries if e.e_type == "ae"]
    ionisations = [e for e in entries if e.e_type == "ie"]
    order = torch.randperm(len(molecules), generator=torch.Generator().manual_seed(1)).tolist()
    folds = [[molecules[i] for i in order[k :: args.folds]] for k in range(args.folds)]
    config = SCFConfig(grid_level=3, conv_tol=1e-9, max_cycle=200, require_aufbau=False)

    for base in args.base:

        def fresh(base=base):
            torch.manual_seed(0)
            return build_functional("nn-mgga", {"hidden": args.hidden, "uniform_gas": True, "seed": 0}, base)

        cache = Path(args.cache) / f"frozen-{base}.pt"
        if cache.is_file():
            frozen = torch.load(cache, weights_only=False)
        else:
            frozen, failed = freeze_entries(entries, fresh(), config)
            if failed:
                print(f"{base}: left out (SCF failed): {', '.join(k[0] for k in failed)}")
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(frozen, cache)
        untrained, table = [], np.zeros((args.folds, len(args.steps)))
        for k, held_out in enumerate(folds):
            functional = fresh()
            params = [p for p in functional.parameters() if p.requires_grad]
            optimiser = torch.optim.Adam(params, lr=args.lr)
            training = [e for e in molecules if e not in held_out] + ionisations
            validation = FrozenSet(frozen, held_out)
            untrained.append(frozen_mae(functional, validation))
            done = 0
            for j, steps in enumerate(args.steps):
                pretrain(
                    functional,
                    training,
                    frozen,
                    steps - done,
                    type_weights={"ae": 1.0, "ie": 3.0},
                    progress=False,
                    optimiser=optimiser,
                )
                done = steps
                table[k, j] = frozen_mae(functional, validation)
        print(f"{base}: held-out AE MAE (kcal/mol, frozen densities), untrained {np.mean(untrained):.2f}")
        for j, steps in enumerate(args.steps):
            print(
                f"  {steps:4d} steps: {table[:, j].mean():.2f}   (folds {', '.join(f'{v:.2f}' for v in table[:, j])})"
            )


if __name__ == "__main__":
    main()
