"""Fit extra IPs while holding the training molecules, to see whether the correction can do both.

    python studies/scripts/anchored_fit.py --extra Li+              # about 12 minutes on 1 core
    python studies/scripts/anchored_fit.py --extra Ca Ga --weights 1 5
    python studies/scripts/anchored_fit.py --extra --h2 --weights 20 100   # exact H2 points instead

The shipped functional is fine-tuned at frozen r2SCAN/def2-TZVP densities (the cache of
``studies/scripts/cross_validate.py --basis def2-tzvp``; no test molecule and no held-out atom is
loaded) on the training pool relabelled with its own predictions, plus the IPs of
``--extra`` (:data:`ase_nnxc.train.g2.EXTRA_IONISATIONS`) with their NIST labels and entry
weight W; ``--h2`` adds the exact H2 binding energies of the shipped recipe
(:func:`ase_nnxc.train.h2.binding_curve_entries`, 0.5-1.5 Angstrom) with the same weight.
The relabelled pool starts at zero error and pulls every molecule and training IP back to
where the shipped functional has it. If the network could fit the extra IPs in a
part of its input space that the molecules do not use, they would not move.

It first prints where the shipped correction puts the extra IPs' errors: its energy on each
system of ``--extra`` relative to r2SCAN (the hybrid with the network off and b = 1).
For each weight, step count and learning rate this prints the errors of the extra IPs, the
mean change of the atomisation energies by number of non-hydrogen atoms (0, 1, 2; the
growth from 1 to 2 extrapolates to the test molecules with 3-6), and the largest change of
a training AE and a training IP, all in kcal/mol.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from cross_validate import MODEL_OPTIONS, TYPE_WEIGHTS, add_tzvp_frozen_arguments, heavy_atoms, load_frozen_cache

from ase_nnxc.train import g2
from ase_nnxc.train.checkpoint import build_functional, read_checkpoint, save_checkpoint
from ase_nnxc.train.dataset import load_dataset
from ase_nnxc.train.h2 import TRAINING_DISTANCES, binding_curve_entries
from ase_nnxc.train.pretrain import FrozenSet, pretrain
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL
from ase_nnxc.xc import get_functional


def main() -> None:
    """Print the extra IPs' errors and the molecules' drift for each setting."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functional", default="nnxc", help="shipped name or checkpoint with base r2SCAN")
    parser.add_argument("--extra", nargs="*", default=["Li+"], choices=list(g2.EXTRA_IONISATIONS))
    parser.add_argument("--h2", action="store_true", help="add exact H2 binding energies to the extra entries")
    parser.add_argument("--hold-b", action="store_true", help="keep the base weight b at the shipped value")
    parser.add_argument("--save", default=None, metavar="DIR", help="keep each fine-tuned checkpoint in DIR")
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 10.0], help="entry weights W")
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--lr", type=float, nargs="+", default=[0.02], help="the recipe's is 0.02")
    add_tzvp_frozen_arguments(parser)
    args = parser.parse_args()

    frozen = load_frozen_cache(parser, args.cache)
    shipped = get_functional(args.functional)
    source = read_checkpoint(shipped.checkpoint_path)
    meta = {k: source[k] for k in ("model", "options", "base", "basis", "grid_level")}
    pool = load_dataset(args.data)
    extra = g2.extra_ionisation_entries(args.extra, basis="def2-tzvp") if args.extra else []
    if args.h2:
        extra += binding_curve_entries(TRAINING_DISTANCES, "def2-tzvp")
    if not extra:
        parser.error("nothing to fit: name --extra IPs or give --h2")
    data = FrozenSet(frozen, pool + extra)
    if data.skipped:
        parser.error(f"not in the frozen cache: {', '.join(e.name for e in data.skipped)}")
    n_pool = len(pool)
    with torch.no_grad():
        before = data.predictions(shipped)
    relabelled = [replace(e, true_val=str(float(v))) for e, v in zip(data.entries[:n_pool], before[:n_pool])]
    is_ae = np.array([e.e_type == "ae" for e in relabelled])
    level = np.array([heavy_atoms(e) if e.e_type == "ae" else -1 for e in relabelled])

    def extra_errors(predictions):
        return (predictions[n_pool:] - data.targets[n_pool:]).numpy() * HARTREE_TO_KCAL_PER_MOL

    r2scan = build_functional("nn-mgga", MODEL_OPTIONS, "r2scan")
    print(f"{args.functional} minus r2SCAN, energy of each system (kcal/mol):")
    for entry in extra:
        one = FrozenSet(frozen, [entry])
        with torch.no_grad():
            shift = (one.system_energies(shipped) - one.system_energies(r2scan)).numpy() * HARTREE_TO_KCAL_PER_MOL
        pairs = sorted(zip(one.keys, shift), key=lambda pair: pair[0][3])  # by charge
        cells = ", ".join(f"{k[0].split()[0]} charge {k[3]} {v:+7.2f}" for k, v in pairs)
        print(f"  {entry.name}: {cells}")
    shipped_errors = " ".join(f"{x:+6.2f}" for x in extra_errors(before))
    names = " ".join(e.name for e in extra)
    print(f"{args.functional}: extra errors ({names}) {shipped_errors}; b {shipped.b.item():.5f}")
    print("     W  steps     lr     extra errors   AE change by non-H atoms 0/1/2   max |dAE|  max |dIP|        b")
    for weight in args.weights:
        for steps in args.steps:
            for lr in args.lr:
                tuned = copy.deepcopy(shipped)
                for p in tuned.parameters():
                    p.requires_grad_(True)
                tuned.b.requires_grad_(not args.hold_b)
                entries = relabelled + [replace(e, weight=weight) for e in data.entries[n_pool:]]
                pretrain(tuned, entries, frozen, steps, lr=lr, type_weights=TYPE_WEIGHTS, progress=False)
                with torch.no_grad():
                    after = data.predictions(tuned)
                if args.save:
                    save_checkpoint(Path(args.save) / f"anchored-w{weight:g}-s{steps}-lr{lr:g}.pt", tuned, meta)
                change = (after - before)[:n_pool].numpy() * HARTREE_TO_KCAL_PER_MOL
                levels = " ".join(f"{change[level == n].mean():+6.2f}" for n in (0, 1, 2))
                errors = " ".join(f"{x:+6.2f}" for x in extra_errors(after))
                print(f"{weight:6g}  {steps:5d}  {lr:5.3f}  {errors:>15s}   {levels:>30s}   "
                      f"{np.abs(change[is_ae]).max():9.2f}  {np.abs(change[~is_ae]).max():9.2f}  "
                      f"{tuned.b.item():.5f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
