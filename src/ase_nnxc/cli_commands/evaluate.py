"""Evaluate a functional on a dataset: per-entry errors and the MAE in kcal/mol.

FUNCTIONAL is a checkpoint (.pt), a training config (its OUTPUT/model.pt is used), a
registered name or any libxc name. DATA is a DeepChem-format YAML dataset; entries without
true_val (DeepChem's prediction sets) are predicted and listed without an error.

Each system is converged once. Under torchrun the systems are shared out dynamically over
the ranks and rank 0 prints the table; with --cache FILE every finished system is appended to
FILE at once, and a rerun (any number of ranks) computes only what is missing there.

Example:
  nnxc evaluate runs/deepchem_train/model.pt examples/data/deepchem_example.yaml
  nnxc evaluate pbe examples/data/deepchem_example.yaml --grid-level 3
  OMP_NUM_THREADS=1 torchrun --nproc-per-node 2 -m ase_nnxc evaluate pbe DATA --cache pbe.jsonl

"""

from __future__ import annotations

import argparse

NAME = "evaluate"
HELP = "per-entry errors and MAE (kcal/mol) of a functional on a dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``nnxc evaluate``."""
    parser.add_argument("functional", help="checkpoint, training config, registered or libxc name")
    parser.add_argument("data", help="dataset (DeepChem YAML)")
    parser.add_argument("--grid-level", type=int, help="grid level (default: the checkpoint's, else 3)")
    parser.add_argument("--csv", help="also write the per-entry table to this CSV file")
    parser.add_argument("--cache", help="results file (JSON lines) to resume from and append to")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print; returns the exit status."""
    import csv
    from pathlib import Path

    from ase_nnxc import parallel
    from ase_nnxc.cache import ResultCache
    from ase_nnxc.cli import CommandError
    from ase_nnxc.plugins.manager import PluginError
    from ase_nnxc.scf import SCFConfig
    from ase_nnxc.train.checkpoint import CheckpointError
    from ase_nnxc.train.config import ConfigError, TrainConfig
    from ase_nnxc.train.dataset import DatasetError, load_dataset
    from ase_nnxc.train.evaluate import evaluate, mean_absolute_error
    from ase_nnxc.train.predict import Predictor
    from ase_nnxc.xc import get_functional

    spec = args.functional
    try:
        if spec.endswith((".yaml", ".yml")):
            spec = str(Path(TrainConfig.from_yaml(spec).output) / "model.pt")
        functional = get_functional(spec)
        entries = load_dataset(args.data, require_labels=False)
        level = args.grid_level if args.grid_level is not None else getattr(functional, "grid_level", 3)
        # Same SCF acceptance as in training: degenerate open-shell atoms keep their stationary state.
        config = SCFConfig(grid_level=level, require_aufbau=False)
    except (ConfigError, DatasetError, CheckpointError, PluginError, ValueError) as err:
        raise CommandError(str(err)) from err
    world = parallel.init()
    try:
        cache = ResultCache(args.cache) if args.cache else None
        results = evaluate(Predictor(functional, config), entries, progress=True, cache=cache)
    finally:
        parallel.finalize()
    if not world.is_root:
        return 0
    # ae and ie values are energy differences in Hartree (DeepChem's convention), errors in kcal/mol.
    print(f"{'entry':24s} {'type':5s} {'predicted/Ha':>14s} {'reference/Ha':>14s} {'error/(kcal/mol)':>16s}")
    for r in results:
        if r.failed:
            print(f"{r.name:24s} {r.e_type:5s} FAILED: {r.failed}")
        elif not r.labelled:
            value = f"{r.prediction:14.8f}" if r.e_type in ("ae", "ie") else f"{'-':>14s}"
            print(f"{r.name:24s} {r.e_type:5s} {value} {'-':>14s} {'no reference':>16s}")
        elif r.e_type in ("ae", "ie"):
            print(f"{r.name:24s} {r.e_type:5s} {r.prediction:14.8f} {r.target:14.8f} {r.error_kcal:+16.3f}")
        else:
            print(f"{r.name:24s} {r.e_type:5s} rms deviation from the reference density {r.prediction:.3e} (atomic units)")
    for e_type in sorted({r.e_type for r in results if r.e_type in ("ae", "ie")}):
        print(f"MAE ({e_type}): {mean_absolute_error(results, e_type):.3f} kcal/mol")
    failed = sum(1 for r in results if r.failed)
    unlabelled = sum(1 for r in results if not r.failed and not r.labelled)
    scored = len(results) - failed - unlabelled
    print(
        f"MAE (all energies): {mean_absolute_error(results):.3f} kcal/mol over {scored} entries; {failed} failed"
        + (f"; {unlabelled} without reference" if unlabelled else "")
    )
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "type", "predicted", "reference", "error_kcal", "failed"])
            for r in results:
                writer.writerow([r.name, r.e_type, r.prediction, r.target, r.error_kcal, r.failed])
    return 0
