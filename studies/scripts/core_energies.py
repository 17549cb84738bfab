"""Total energies of the training atoms: what the correction does to the cores that every label cancels.

    python studies/scripts/core_energies.py                          # about 15 minutes on 1 core
    python studies/scripts/core_energies.py --weights 0 1 10 --seed 0 1 2
    python studies/scripts/core_energies.py --weights 0 1 --a-lr 0.002     # a smaller step for a
    python studies/scripts/core_energies.py --weights 0 --high-density      # the correction vanishes at high density

Every training label is a difference (atomisation or ionisation energy) in which the 1s^2
cores cancel, so nothing in the data constrains the correction there; He and Li+ are the
only cases in which the core is what is ionised. This script measures it with the exact
non-relativistic total energies of the training atoms (Li: Puchalski and Pachucki; C-Cl:
Chakravorty et al., Phys. Rev. A 47, 3649 (1993)), shifted by r2SCAN's own def2-TZVP basis-set
error (def2-TZVP minus def2-QZVPP, computed here with PySCF) so that the targets are for the
basis the functional works in. It prints:

1. r2SCAN's error on those totals, and the shipped functional's (frozen r2SCAN densities);
2. for each weight W of a total-energy term added to the shipped recipe's loss (20 Adam
   steps, lr 0.02, from a fresh 8x8 network): the size split (fit the molecules with at most
   one non-H atom and the training IPs, score those with two; mean over ``--seed``), and
   after a fit to the whole pool, Li+'s IP error (He-like, not fitted), the pool AE MAE and
   the total-energy errors.

No test molecule and no held-out atom is loaded.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from cross_validate import (
    MODEL_OPTIONS,
    TYPE_WEIGHTS,
    add_model_arguments,
    add_tzvp_frozen_arguments,
    heavy_atoms,
    load_frozen_cache,
    model_options,
)

from ase_nnxc.train import g2
from ase_nnxc.train.checkpoint import build_functional
from ase_nnxc.train.dataset import load_dataset
from ase_nnxc.train.pretrain import FrozenSet
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL
from ase_nnxc.xc import get_functional

EXACT_TOTAL_ENERGY = {  # Hartree, non-relativistic, infinite nuclear mass
    "Li": -7.478060,
    "C": -37.8450,
    "N": -54.5892,
    "O": -75.0673,
    "Ne": -128.9376,
    "Na": -162.2546,
    "Si": -289.359,
    "S": -398.110,
    "Cl": -460.148,
}


def basis_error(symbol: str) -> float:
    """r2SCAN's def2-TZVP minus def2-QZVPP total energy of the atom (Hartree), grid level 5."""
    from pyscf import dft, gto

    energies = []
    for basis in ("def2-tzvp", "def2-qzvpp"):
        mol = gto.M(atom=f"{symbol} 0 0 0", basis=basis, spin=g2.atom_spec(symbol, basis).spin, verbose=0)
        mf = dft.UKS(mol)
        mf.xc, mf.grids.level, mf.conv_tol = "r2scan", 5, 1e-9
        energies.append(mf.kernel())
    return energies[0] - energies[1]


class Totals:
    """Total energies of the training atoms at their frozen densities, and their targets."""

    def __init__(self, frozen: dict, symbols):
        self.data = FrozenSet(frozen, g2.ionisation_entries(symbols, "def2-tzvp"))
        self.index = [i for i, key in enumerate(self.data.keys) if key[3] == 0]  # the neutral atoms
        self.symbols = [self.data.keys[i][0].split()[0] for i in self.index]
        self.targets = torch.tensor([EXACT_TOTAL_ENERGY[s] + basis_error(s) for s in self.symbols])

    def errors(self, functional) -> torch.Tensor:
        """Total energy minus target, kcal/mol."""
        return (self.data.system_energies(functional)[self.index] - self.targets) * HARTREE_TO_KCAL_PER_MOL


def fit(entries, frozen, totals: Totals, weight: float, seed: int, steps=20, lr=0.02, a_lr=None, options=None):
    """The shipped recipe's pre-training, plus ``weight`` times the mean squared total-energy error.

    ``a_lr``: a learning rate of its own for the correction's weight ``a`` (default ``lr``);
    ``options``: the network's (default :data:`MODEL_OPTIONS`, the shipped ones).
    """
    functional = build_functional("nn-mgga", {**(options or MODEL_OPTIONS), "seed": seed}, "r2scan")
    data = FrozenSet(frozen, entries)
    w = torch.tensor([TYPE_WEIGHTS[e.e_type] for e in data.entries], dtype=torch.float64)
    rest = [p for name, p in functional.named_parameters() if p.requires_grad and name != "a"]
    groups = [{"params": [functional.a], "lr": lr if a_lr is None else a_lr}, {"params": rest}]
    optimiser = torch.optim.Adam(groups, lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        errors = (data.predictions(functional) - data.targets) * HARTREE_TO_KCAL_PER_MOL
        loss = (w * errors**2).sum() / w.sum()
        if weight:
            loss = loss + weight * (totals.errors(functional) ** 2).mean()
        loss.backward()
        optimiser.step()
    return functional


def _mae(data: FrozenSet, functional) -> float:
    with torch.no_grad():
        return float(((data.predictions(functional) - data.targets) * HARTREE_TO_KCAL_PER_MOL).abs().mean())


def main() -> None:
    """Print the totals of r2SCAN and the shipped functional, then a line per weight."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 1.0, 10.0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--a-lr", type=float, default=None, help="learning rate of the weight a (default 0.02)")
    add_model_arguments(parser)
    add_tzvp_frozen_arguments(parser)
    args = parser.parse_args()
    options = model_options(args)

    frozen = load_frozen_cache(parser, args.cache)
    pool = load_dataset(args.data)
    totals = Totals(frozen, list(EXACT_TOTAL_ENERGY))
    li_plus = FrozenSet(frozen, g2.extra_ionisation_entries(["Li+"], "def2-tzvp"))
    small = [e for e in pool if e.e_type == "ie" or heavy_atoms(e) <= 1]
    two_heavy = FrozenSet(frozen, [e for e in pool if e.e_type == "ae" and heavy_atoms(e) == 2])
    molecules = FrozenSet(frozen, [e for e in pool if e.e_type == "ae"])

    def row(functional) -> str:
        with torch.no_grad():
            return " ".join(f"{x:+6.1f}" for x in totals.errors(functional).tolist())

    print("Total energy minus exact (kcal/mol, def2-TZVP, frozen r2SCAN densities): " + " ".join(f"{s:>6s}" for s in totals.symbols))  # fmt: skip
    print(f"  r2SCAN                {row(build_functional('nn-mgga', MODEL_OPTIONS, 'r2scan'))}")
    print(f"  shipped nnxc          {row(get_functional('nnxc'))}")
    print(f"Fits with a total-energy term of weight W (size split: mean of seeds {args.seed}; untrained 3.65)")
    for weight in args.weights:
        fits = [fit(small, frozen, totals, weight, seed, a_lr=args.a_lr, options=options) for seed in args.seed]
        split = np.mean([_mae(two_heavy, functional) for functional in fits])
        functional = fit(pool, frozen, totals, weight, args.seed[0], a_lr=args.a_lr, options=options)
        with torch.no_grad():
            li_error = float((li_plus.predictions(functional) - li_plus.targets)[0]) * HARTREE_TO_KCAL_PER_MOL
        print(f"  W = {weight:<5g} size split {split:5.2f}; whole pool: Li+ IP {li_error:+6.2f}, "
              f"AE MAE {_mae(molecules, functional):5.2f}, totals {row(functional)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
