"""Choose the base functional and the pre-training settings on the training pool alone.

    python studies/scripts/cross_validate.py --base pbe r2scan            # about 25 minutes per base on 1 core
    python studies/scripts/cross_validate.py --split size --steps 10 20 30 60
    python studies/scripts/cross_validate.py --base r2scan --split size --basis def2-tzvp   # another basis
    python studies/scripts/cross_validate.py --base r2scan --split size --fixed-b --seed 0 1 2   # b kept at 1
    python studies/scripts/cross_validate.py --base r2scan --split size --fixed-b 0.98309      # b kept at 0.98309
    python studies/scripts/cross_validate.py --base r2scan --split size --basis def2-tzvp --high-density

For each base functional the 85 training systems are converged once and their densities frozen
(cached in ``--cache``). A fresh neural correction (the shipped model's architecture) is then
pre-trained on part of the training molecules plus all training IPs, and its frozen-density
atomisation MAE on the other part is printed after each of ``--steps`` Adam steps. Two splits:

* ``--split folds`` (interpolation): the 63 molecules in ``--folds`` random folds, each held
  out in turn;
* ``--split size`` (extrapolation, the situation of the test set): train on the molecules with
  at most one non-hydrogen atom, validate on those with two. The test set has three or more, so
  this is the closest the training pool comes to it.

Test molecules are never loaded, so the choice made from these tables is free of test data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ase_nnxc.scf import SCFConfig
from ase_nnxc.train import g2
from ase_nnxc.train.checkpoint import build_functional
from ase_nnxc.train.dataset import Entry, load_dataset
from ase_nnxc.train.pretrain import FrozenSet, freeze_entries, pretrain
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL
from ase_nnxc.xc.neural import SWITCHES

#: Training data of the shipped recipes (train/data in the repository).
TRAIN_DATA = Path(__file__).resolve().parents[2] / "train" / "data"
#: SCF settings of the shipped functional's training (train/nnxc-r2scan-*.yaml).
SCF_CONFIG = SCFConfig(grid_level=3, conv_tol=1e-9, max_cycle=200, require_aufbau=False)
#: The shipped functionals' network (nn-mgga), apart from ``high_density``.
MODEL_OPTIONS = {"hidden": [8, 8], "uniform_gas": True}
#: Loss weight of each entry type in the shipped recipe.
TYPE_WEIGHTS = {"ae": 1.0, "ie": 3.0}


def frozen_errors(functional, data: FrozenSet) -> np.ndarray:
    """Error (kcal/mol, prediction minus target) of each of ``data``'s entries at the frozen densities."""
    with torch.no_grad():
        return ((data.predictions(functional) - data.targets) * HARTREE_TO_KCAL_PER_MOL).numpy()


def frozen_mae(functional, data: FrozenSet) -> float:
    """Mean absolute error (kcal/mol) of ``data``'s entries at the frozen densities."""
    return float(np.abs(frozen_errors(functional, data)).mean())


def extra_ip_set(frozen: dict, basis: str = "def2-tzvp") -> FrozenSet | None:
    """The IPs of :data:`ase_nnxc.train.g2.EXTRA_IONISATIONS` whose densities ``frozen`` holds (``None``: none)."""
    entries = g2.extra_ionisation_entries(list(g2.EXTRA_IONISATIONS), basis)
    if not any(all(s.key in frozen for s in e.systems) for e in entries):
        return None
    return FrozenSet(frozen, entries)


def fit_steps(functional, entries, frozen, done: int, steps: int, optimiser, freeze_b_after=None, **options) -> int:
    """Continue the frozen-density fit of ``functional`` from step ``done`` to ``steps``.

    ``optimiser`` carries the state between calls. From step ``freeze_b_after`` on, the base
    weight ``b`` stays where it is and the network trains alone (Adam skips a parameter without
    a gradient). ``options`` go to :func:`ase_nnxc.train.pretrain.pretrain`. Returns ``steps``.
    """
    if freeze_b_after is not None and freeze_b_after <= done:
        functional.b.requires_grad_(False)
    stops = ([freeze_b_after] if freeze_b_after is not None and done < freeze_b_after < steps else []) + [steps]
    for stop in stops:
        pretrain(functional, entries, frozen, stop - done, type_weights=TYPE_WEIGHTS, optimiser=optimiser, **options)
        done = stop
        if done == freeze_b_after:
            functional.b.requires_grad_(False)
    return steps


def heavy_atoms(entry: Entry) -> int:
    """Number of non-hydrogen atoms in an entry's first system (the molecule)."""
    return sum(atom.split()[0] != "H" for atom in entry.systems[0].moldesc.split(";"))


def splits(molecules: list[Entry], kind: str, folds: int) -> list[tuple[list[Entry], list[Entry]]]:
    """(training molecules, validation molecules) pairs of the ``folds`` or ``size`` split."""
    if kind == "size":
        return [([e for e in molecules if heavy_atoms(e) <= 1], [e for e in molecules if heavy_atoms(e) == 2])]
    order = torch.randperm(len(molecules), generator=torch.Generator().manual_seed(1)).tolist()
    parts = [[molecules[i] for i in order[k::folds]] for k in range(folds)]
    return [([e for e in molecules if e not in held_out], held_out) for held_out in parts]


def frozen_densities(entries: list[Entry], functional, base: str, basis: str, cache_dir) -> dict:
    """Frozen densities of every system of ``entries``, cached in ``cache_dir`` (one file per base and basis).

    Only systems missing from the cache are converged (with ``functional``, the untrained
    hybrid, i.e. ``base``); systems whose SCF fails are reported and left out.
    """
    suffix = "" if basis == "def2-svp" else f"-{basis}"
    cache = Path(cache_dir) / f"frozen-{base}{suffix}.pt"
    frozen = torch.load(cache, weights_only=False) if cache.is_file() else {}
    missing = [e for e in entries if any(s.key not in frozen for s in e.systems)]
    if missing:
        new, failed = freeze_entries(missing, functional, SCF_CONFIG)
        if failed:
            print(f"{base}: left out (SCF failed): {', '.join(k[0] for k in failed)}")
        frozen.update(new)
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(frozen, cache)
    return frozen


def add_tzvp_frozen_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data`` and ``--cache`` of the scripts that work on the def2-TZVP pool at frozen r2SCAN densities."""
    parser.add_argument("--data", default=str(TRAIN_DATA / "g2_train_def2-tzvp.yaml"))
    parser.add_argument("--cache", default="results/cross_validation/frozen-r2scan-def2-tzvp.pt")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--high-density``, ``--hidden``, ``--scales-base``, ``--one-electron``, ``--lda-anchor``: network options (see :func:`model_options`)."""
    parser.add_argument(
        "--high-density",
        action="store_true",
        help="bounded density input and a correction that vanishes relative to exchange at high density",
    )
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=MODEL_OPTIONS["hidden"], help="hidden layer widths of the network"
    )
    parser.add_argument(
        "--scales-base",
        action="store_true",
        help="the network's factor scales r2SCAN's energy density (a local b) instead of adding to it",
    )
    parser.add_argument(
        "--one-electron",
        action="store_true",
        help="the correction, base weight included, vanishes for one-electron densities (H, He+, Li2+)",
    )
    parser.add_argument(
        "--lda-anchor",
        action="store_true",
        help="b scales r2SCAN's departure from LSDA, e = e_LSDA + b (e_r2SCAN - e_LSDA) + a F e_x^unif",
    )


def add_base_weight_arguments(parser: argparse.ArgumentParser) -> None:
    """``--fixed-b [B]`` (read by :func:`base_weight`) and ``--freeze-b-after STEPS`` (for :func:`fit_steps`)."""
    parser.add_argument(
        "--fixed-b",
        type=float,
        nargs="?",
        const=1.0,
        default=None,
        metavar="B",
        help="hold the base functional's weight b at B, 1 if no value is given (config key train_b: false)",
    )
    parser.add_argument(
        "--freeze-b-after",
        type=int,
        default=None,
        metavar="STEPS",
        help="stop training b after this many steps and train the network alone",
    )


def base_weight(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`~ase_nnxc.train.checkpoint.build_functional` for ``--fixed-b``."""
    return {"b": 1.0, "train_b": True} if args.fixed_b is None else {"b": args.fixed_b, "train_b": False}


def model_options(args: argparse.Namespace) -> dict:
    """:data:`MODEL_OPTIONS` with ``--hidden``, and the options whose flags were given."""
    options = {**MODEL_OPTIONS, "hidden": list(args.hidden)}
    options.update({name: True for name in SWITCHES if getattr(args, name)})
    return options


def load_frozen_cache(parser: argparse.ArgumentParser, path) -> dict:
    """The frozen densities at ``path``, or a parser error that says how to make them."""
    cache = Path(path)
    if not cache.is_file():
        parser.error(
            f"no frozen densities at {cache}: run studies/scripts/cross_validate.py --base r2scan --basis def2-tzvp "
            "--data studies/data/g2_train_extra-ips_def2-tzvp.yaml first"
        )
    return torch.load(cache, weights_only=False)


def main() -> None:
    """Print the held-out table for every base functional."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", nargs="+", default=["pbe", "r2scan"])
    parser.add_argument("--data", default=None, help="training set (default: train/data/g2_train_<basis>.yaml)")
    parser.add_argument(
        "--basis", default="def2-svp", help="basis of the training set built from G2 when --data is not given"
    )
    parser.add_argument("--split", choices=["folds", "size"], default="folds")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[30, 60, 100, 150])
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--spin-scaling", action="store_true", help="impose exchange spin scaling on the network")
    parser.add_argument(
        "--polarised-alpha", action="store_true", help="alpha of the network relative to the spin-polarised uniform gas"
    )
    add_model_arguments(parser)
    add_base_weight_arguments(parser)
    parser.add_argument(
        "--seed",
        type=int,
        nargs="+",
        default=[0],
        help="seeds of the network's initial weights (the table is their mean)",
    )
    parser.add_argument("--cache", default="results/cross_validation")
    args = parser.parse_args()

    data = Path(args.data) if args.data else TRAIN_DATA / f"g2_train_{args.basis}.yaml"
    entries = load_dataset(data) if data.is_file() else g2.training_entries(args.basis)
    molecules = [e for e in entries if e.e_type == "ae"]
    ionisations = [e for e in entries if e.e_type == "ie"]
    parts = splits(molecules, args.split, args.folds)

    for base in args.base:

        def fresh(seed, base=base):
            torch.manual_seed(seed)
            options = {**model_options(args), "spin_scaling": args.spin_scaling, "seed": seed}
            if args.polarised_alpha:
                options["polarised_alpha"] = True
            return build_functional("nn-mgga", options, base, **base_weight(args))

        frozen = frozen_densities(entries, fresh(args.seed[0]), base, args.basis, args.cache)
        untrained, table = [], np.zeros((len(args.seed), len(parts), len(args.steps)))
        for i, seed in enumerate(args.seed):
            for k, (training, held_out) in enumerate(parts):
                functional = fresh(seed)
                params = [p for p in functional.parameters() if p.requires_grad]
                optimiser = torch.optim.Adam(params, lr=args.lr)
                validation = FrozenSet(frozen, held_out)
                untrained.append(frozen_mae(functional, validation))
                done = 0
                for j, steps in enumerate(args.steps):
                    done = fit_steps(
                        functional,
                        training + ionisations,
                        frozen,
                        done,
                        steps,
                        optimiser,
                        args.freeze_b_after,
                        weight_decay=args.weight_decay,
                        progress=False,
                    )
                    table[i, k, j] = frozen_mae(functional, validation)
        seeds = f"seeds {', '.join(map(str, args.seed))}" if len(args.seed) > 1 else f"seed {args.seed[0]}"
        print(f"{base}: held-out AE MAE (kcal/mol, frozen densities, {seeds}), untrained {np.mean(untrained):.2f}")
        for j, steps in enumerate(args.steps):
            detail = [f"parts {', '.join(f'{v:.2f}' for v in table[:, :, j].mean(0))}"] if len(parts) > 1 else []
            if len(args.seed) > 1:
                detail.append(f"seeds {', '.join(f'{v:.2f}' for v in table[:, :, j].mean(1))}")
            print(f"  {steps:4d} steps: {table[:, :, j].mean():.2f}" + (f"   ({'; '.join(detail)})" if detail else ""))


if __name__ == "__main__":
    main()
