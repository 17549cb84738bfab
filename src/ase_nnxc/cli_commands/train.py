"""Train a neural exchange-correlation functional through the self-consistent KS equations.

CONFIG is a YAML file (see ase_nnxc.train.config): training data (DeepChem-format YAML),
model name and options, base functional, loss and weights, optimiser and learning rate,
epochs, validation split, seed, output folder and SCF settings. The output folder (the
config's output, relative to the config file, or else runs/CONFIG-NAME in the current
directory) receives last.pt (resumable state, written after every step), model.pt (final
weights, usable as NNXC(xc="OUTPUT/model.pt")) and log.csv.

Example:
  nnxc train examples/data/deepchem_train.yaml
  nnxc train examples/data/deepchem_train.yaml --resume   # continue after an interruption
  OMP_NUM_THREADS=1 torchrun --nproc-per-node 2 -m ase_nnxc train CONFIG   # 2 processes

Under torchrun every rank converges its share of the systems and the weights equal those of
one process; rank 0 writes the files, and a restart (torchrun --max-restarts) resumes from
OUTPUT/last.pt by itself. See docs/parallel.md.

"""

from __future__ import annotations

import argparse

NAME = "train"
HELP = "train a neural XC functional from a YAML config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``nnxc train``."""
    parser.add_argument("config", help="training configuration (YAML)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt if it exists")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--output", help="override the output folder (relative to the current directory)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--check-replicas",
        action="store_true",
        help="under torchrun: check after every step that all ranks hold the same weights (a hash each)",
    )


def run(args: argparse.Namespace) -> int:
    """Train; returns the exit status."""
    import os
    from dataclasses import replace

    from ase_nnxc import parallel
    from ase_nnxc.cli import CommandError
    from ase_nnxc.plugins.manager import PluginError
    from ase_nnxc.train.checkpoint import CheckpointError
    from ase_nnxc.train.config import ConfigError, TrainConfig
    from ase_nnxc.train.dataset import DatasetError
    from ase_nnxc.train.trainer import Trainer

    world = parallel.init()
    # torchrun restarts failed workers with the same arguments: they continue from last.pt.
    resume = args.resume or int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0
    try:
        config = TrainConfig.from_yaml(args.config)
        changes = {k: v for k, v in (("epochs", args.epochs), ("output", args.output)) if v is not None}
        config = replace(config, **changes)
        trainer = Trainer(config, progress=not args.quiet, check_replicas=args.check_replicas)
        history = trainer.run(resume=resume)
    except (ConfigError, DatasetError, CheckpointError, PluginError, ValueError) as err:
        raise CommandError(str(err)) from err
    finally:
        parallel.finalize()
    if not world.is_root:
        return 0
    if history:
        last = history[-1]
        print(f"trained {len(history)} epochs; final loss {last['loss']:.6e}; failed entries {last['failed']}")
    print(f"weights: {trainer.output / 'model.pt'}")
    return 0
