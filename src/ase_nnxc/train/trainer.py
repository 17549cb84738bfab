"""Training a ``HybridXC`` through the self-consistent Kohn-Sham equations.

Each step converges every system of the batch with the current parameters (warm-started
from the densities of the previous pass), evaluates the entries differentiably (energies
at fixed density; densities by implicit differentiation) and takes one optimiser step.
Entries whose SCF fails are reported, counted and left out of that step's gradient.

After every step the full state (weights, optimiser, position in the epoch, the cached
densities that warm-start the next SCF, random-number generator states) is written
atomically to ``OUTPUT/last.pt``, so a run killed at any point and resumed with
``resume=True`` ends with bitwise the same parameters and log as an uninterrupted one.
Bitwise holds for single-threaded OpenMP kernels (``OMP_NUM_THREADS=1``): with more threads,
PySCF's two-electron contractions add thread-private partial sums in arrival order, so any
two runs, interrupted or not, differ in the last bits.

Under ``torchrun`` one run is spread over the ranks (:mod:`ase_nnxc.train.shards`): each
converges the systems it owns and returns their energies and gradients, the loss is assembled
on every rank and the gradient summed exactly (:func:`ase_nnxc.parallel.exact_sum`), so the
parameters and the log are bitwise those of one process (both single-threaded), on any
number of ranks, resumed with any other number. Rank 0 alone writes checkpoints and the log.
"""

from __future__ import annotations

import csv
import math
import random
import sys
from pathlib import Path

import numpy as np
import torch

from ase_nnxc import parallel
from ase_nnxc.plugins import manager
from ase_nnxc.scf import SCFConfig
from ase_nnxc.train.checkpoint import CheckpointError, build_functional, read_checkpoint, save_checkpoint
from ase_nnxc.train.config import ConfigError, TrainConfig
from ase_nnxc.train.dataset import Entry, load_dataset
from ase_nnxc.train.evaluate import EntryResult, evaluate, mean_absolute_error, results_from
from ase_nnxc.train.losses import build_loss
from ase_nnxc.train.predict import Predictor
from ase_nnxc.train.shards import (
    ENERGY_TYPES,
    SystemOwners,
    data_fingerprint,
    entry_prediction,
    run_pass,
    unique_systems,
)

__all__ = ["ENERGY_TYPES", "EntryResult", "Trainer", "evaluate", "mean_absolute_error"]


class Trainer:
    """Runs a :class:`TrainConfig`.

    Parameters
    ----------
    config
        The training configuration.
    progress
        Show a progress bar with the running loss (on rank 0).
    check_replicas
        Check after every step that every rank holds the same parameters (a hash each).

    """

    def __init__(self, config: TrainConfig, progress: bool = True, check_replicas: bool = False):
        self.config = config
        self.world = parallel.world()
        self.progress = progress and self.world.is_root
        self.check_replicas = check_replicas
        self.output = Path(config.output)
        entries = load_dataset(config.train)
        if isinstance(config.validation, str):
            self.train_entries, self.valid_entries = entries, load_dataset(config.validation)
        elif isinstance(config.validation, float):
            order = torch.randperm(len(entries), generator=torch.Generator().manual_seed(config.seed)).tolist()
            n_valid = max(1, round(config.validation * len(entries)))
            self.valid_entries = [entries[i] for i in sorted(order[:n_valid])]
            self.train_entries = [entries[i] for i in sorted(order[n_valid:])]
        else:
            self.train_entries, self.valid_entries = entries, []
        if not self.train_entries:
            raise ValueError(f"{config.train}: no training entries")
        # Models, losses and their options are checked before any SCF, naming the plugin.
        try:
            options = dict(config.model_options)
            factory = manager.lookup("xc_models", config.model, "XC model")
            manager.check_options(factory, options, "model.options")
            if "seed" in manager.accepted_options(factory.factory)[0]:
                options.setdefault("seed", config.seed)
            torch.manual_seed(config.seed)
            self.functional = build_functional(config.model, options, config.base, train_b=config.train_b)
            self.loss_fn = build_loss(config.loss, config.loss_options)
        except ValueError as err:
            raise ConfigError(f"{config.source or 'config'}: {err}") from err
        self.model_options = options
        basis = {s.basis for e in self.train_entries for s in e.systems}
        self.basis = basis.pop() if len(basis) == 1 else ",".join(sorted(basis))
        # Degenerate open-shell atoms may only have non-aufbau stationary states; the
        # variational argument behind the energy gradients holds at any stationary point.
        self.scf_config = SCFConfig(**{"require_aufbau": False, **config.scf})
        self.predictor = Predictor(self.functional, self.scf_config)
        self.owners = SystemOwners(self.predictor)
        self.params = [p for p in self.functional.parameters() if p.requires_grad]
        optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
        self.optimizer = optimizers[config.optimizer](self.params, lr=config.lr)
        parallel.check_replicas(self.params, "initial parameters")
        parallel.check_same(data_fingerprint(self.train_entries + self.valid_entries), "training and validation data")
        self.epoch = 0
        self.batch = 0
        self.history: list[dict] = []
        self.failures = 0
        self.pretrain_history: list[float] | None = None

    # -- state -----------------------------------------------------------------------
    def _meta(self) -> dict:
        meta = {
            "model": self.config.model,
            "options": self.model_options,
            "base": self.config.base,
            "basis": self.basis,
            "grid_level": self.scf_config.grid_level,
            "name": Path(self.config.output).name,
        }
        dispersion = self.config.dispersion_metadata()
        if dispersion is not None:
            meta["dispersion"] = dispersion
        return meta

    def _training_state(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "batch": self.batch,
            "history": self.history,
            "failures": self.failures,
            "densities": [[list(k), v] for k, v in self.predictor.densities.items()],
            "rng": _rng_state(),
            "pretrain_history": self.pretrain_history,
            "seconds": [[list(k), v] for k, v in self.owners.seconds.items()],
        }

    def save(self, name: str = "last.pt", with_state: bool = True) -> Path:
        """Write a checkpoint into the output folder (rank 0; the others only return its path)."""
        path = self.output / name
        if not self.world.is_root:
            return path
        save_checkpoint(path, self.functional, self._meta(), self._training_state() if with_state else None)
        return path

    def restore(self, path) -> None:
        """Continue from a checkpoint written by :meth:`save`.

        Rank 0 reads it and sends it to the others, except the densities: it keeps them all and
        hands them out as the systems are placed (any number of ranks can resume).
        """
        payload, error, densities = None, None, []
        if self.world.is_root:
            try:
                payload = read_checkpoint(path)
                if payload.get("training") is None:
                    raise CheckpointError(f"{path}: holds weights only, no training state to resume")
                densities = payload["training"].pop("densities")
            except CheckpointError as err:
                error = err
        error, payload = parallel.broadcast((error, payload))
        if error is not None:
            raise error
        state = payload["training"]
        if payload["model"] != self.config.model or payload["base"] != self.config.base:
            raise CheckpointError(
                f"{path}: trained {payload['model']} on {payload['base']}, but the config asks for "
                f"{self.config.model} on {self.config.base}"
            )
        stored, wanted = ({k: v for k, v in o.items() if k != "seed"} for o in (payload["options"], self.model_options))
        if stored != wanted:
            raise CheckpointError(
                f"{path}: trained with model options {stored}, but the config asks for {wanted}; resume with the "
                "config that wrote it"
            )
        try:
            self.functional.load_state_dict(payload["state_dict"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{path}: does not match the configured model: {err}") from err
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self.history, self.failures = list(state["history"]), int(state["failures"])
        self.predictor.densities = {tuple(k): v for k, v in densities}
        self.owners.owner = {}
        self.owners.seconds = {tuple(k): v for k, v in state.get("seconds", [])}
        if "rng" in state:
            _set_rng_state(state["rng"])
        self.pretrain_history = state.get("pretrain_history")

    def _truncate_log(self, log: Path) -> None:
        """Drop log rows of steps the checkpoint does not hold; the resumed run writes them again.

        A kill between a step's log line and its checkpoint write leaves such a row.
        """
        with log.open(newline="") as fh:
            rows = list(csv.reader(fh))
        kept = rows[:1]
        for row in rows[1:]:
            epoch, step = int(row[0]), int(row[1])
            # Rows carry the epoch and the number of batches done in it; the checkpoint's
            # (epoch, batch) has already rolled over to (epoch + 1, 0) at an epoch's end.
            if epoch < self.epoch or (epoch == self.epoch and step <= self.batch):
                kept.append(row)
        with log.open("w", newline="") as fh:
            csv.writer(fh).writerows(kept)

    # -- training --------------------------------------------------------------------
    def pretrain(self) -> list[float]:
        """Frozen-density training (the config's ``pretrain`` section) on the energy entries.

        Each round converges every training system with the current functional, freezes its
        density and takes ``epochs`` Adam steps there (:mod:`ase_nnxc.train.pretrain`). The
        gradient at a frozen self-consistent density is the self-consistent gradient, so later
        rounds train through the SCF with densities that lag by one round. The last densities
        warm-start the self-consistent epochs. Under ``torchrun`` each rank freezes the systems
        it draws and keeps them; they stay its own in the self-consistent epochs unless
        rebalancing moves them.
        """
        from ase_nnxc.train.pretrain import freeze_entries, pretrain

        options = self.config.pretrain
        optimiser = torch.optim.Adam(self.params, lr=float(options.get("lr", 3e-3)))
        history: list[float] = []
        for round_ in range(int(options.get("rounds", 1))):
            frozen, failed = freeze_entries(self.train_entries, self.functional, self.scf_config, self.progress)
            for key, message in failed.items():
                if self.world.is_root:
                    print(
                        f"warning: system {key[0]!r} left out of pre-training round {round_ + 1}: {message}",
                        file=sys.stderr,
                    )
            history += pretrain(
                self.functional,
                self.train_entries,
                frozen,
                int(options["epochs"]),
                weight_decay=float(options.get("weight_decay", 0.0)),
                type_weights=self.config.weights,
                progress=self.progress,
                optimiser=optimiser,
            )
            self.owners.adopt({k: f.density for k, f in frozen.items()}, {k: f.seconds for k, f in frozen.items()})
            if self.progress:
                print(f"pre-training round {round_ + 1}: loss {history[-1]:.4g} (kcal/mol)^2", file=sys.stderr)
        return history

    def _batches(self, epoch: int) -> list[list[Entry]]:
        order = torch.randperm(
            len(self.train_entries), generator=torch.Generator().manual_seed(self.config.seed * 100003 + epoch)
        )
        size = self.config.batch_size or len(order)
        entries = [self.train_entries[i] for i in order.tolist()]
        return [entries[i : i + size] for i in range(0, len(entries), size)]

    def _term(self, entry: Entry, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = self.config.weights.get(entry.e_type, 1.0) * entry.weight
        return weight * self.loss_fn(prediction.reshape(-1), target.reshape(-1))

    def step(self, batch: list[Entry]) -> tuple[float, int]:
        """One optimiser step on ``batch``; returns (loss, number of failed entries).

        The ranks converge their own systems (:func:`~ase_nnxc.train.shards.run_pass`); the
        loss, the mean of the entries' terms, is then built on every rank from the gathered
        energies and array terms, and its gradient is ``sum_s dL/dE_s dE_s/dtheta`` plus the
        array entries' ``dL/dl_e dl_e/dtheta``, summed exactly over all ranks. An entry with a
        failed system is left out on every rank.
        """
        summary, gradients = run_pass(self.predictor, batch, self.owners, self.params, self._term)
        energies = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in summary.energies.items()}
        values = {i: torch.tensor(v, dtype=torch.float64, requires_grad=True) for i, v in summary.values.items()}
        terms, failed = [], 0
        for index, entry in enumerate(batch):
            reason = summary.failure(index, entry)
            if reason:
                failed += 1
                if self.world.is_root:
                    print(f"warning: entry {entry.name} skipped this step: {reason}", file=sys.stderr)
            elif entry.e_type in ENERGY_TYPES:
                terms.append(self._term(entry, entry_prediction(entry, energies), self.predictor.target(entry)))
            else:
                terms.append(values[index])
        if not terms:
            return math.nan, failed
        loss = torch.stack(terms).mean()
        leaves = {("system", k): t for k, t in energies.items()} | {("entry", i): t for i, t in values.items()}
        slopes = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)))
        parts = [slopes[key] * vector for key, vector in gradients.items() if slopes.get(key) is not None]
        total = parallel.exact_sum(parts, sum(p.numel() for p in self.params))
        offset = 0
        for param in self.params:
            param.grad = total[offset : offset + param.numel()].view_as(param).clone()
            offset += param.numel()
        self.optimizer.step()
        return float(loss.detach()), failed

    def validate(self) -> list[EntryResult]:
        """The validation entries under the current parameters, their systems converged by their owners."""
        summary, _ = run_pass(self.predictor, self.valid_entries, self.owners)
        return results_from(self.valid_entries, summary)

    def _place_systems(self) -> None:
        """Owners of the training and the validation-only systems, from the latest timings."""
        train = unique_systems(self.train_entries)
        known = {s.key for s in train}
        self.owners.rebalance([train, [s for s in unique_systems(self.valid_entries) if s.key not in known]])

    def run(self, resume: bool = False) -> list[dict]:
        """Train for the configured epochs; returns the per-epoch history."""
        from tqdm.auto import tqdm

        root = self.world.is_root
        if root:
            self.output.mkdir(parents=True, exist_ok=True)
        last = self.output / "last.pt"
        if resume and parallel.broadcast(last.exists()):
            self.restore(last)
        log = self.output / "log.csv"
        if root and resume and log.exists():
            self._truncate_log(log)
        elif root:
            with log.open("w", newline="") as fh:
                csv.writer(fh).writerow(["epoch", "step", "loss", "failed", "valid_mae_kcal"])
        if int(self.config.pretrain.get("epochs", 0)) and self.pretrain_history is None:
            self.pretrain_history = self.pretrain()
            self.save()
        while self.epoch < self.config.epochs:
            batches = self._batches(self.epoch)
            self._place_systems()
            bar = tqdm(
                total=len(batches),
                initial=self.batch,
                desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
                disable=not self.progress,
                file=sys.stderr,
                leave=False,
            )
            while self.batch < len(batches):
                loss, failed = self.step(batches[self.batch])
                if self.check_replicas:
                    parallel.check_replicas(self.params)
                self.failures += failed
                self.batch += 1
                row = [self.epoch, self.batch, loss, failed, ""]
                if self.batch == len(batches):
                    valid = self.validate() if self.valid_entries else []
                    row[4] = mean_absolute_error(valid) if valid else ""
                    self.history.append(
                        {"epoch": self.epoch + 1, "loss": loss, "valid_mae_kcal": row[4], "failed": self.failures}
                    )
                    self.epoch, self.batch = self.epoch + 1, 0
                if root:
                    with log.open("a", newline="") as fh:
                        csv.writer(fh).writerow(row)
                self.save()
                bar.set_postfix(loss=f"{loss:.3e}", failed=self.failures)
                bar.update(1)
                if self.batch == 0:
                    break
            bar.close()
            if self.progress and self.history:
                h = self.history[-1]
                mae = h["valid_mae_kcal"]
                valid = f"  valid MAE {mae:.3f} kcal/mol" if isinstance(mae, float) else ""  # none without a validation set
                print(f"epoch {h['epoch']}: loss {h['loss']:.4e}{valid}", file=sys.stderr)
        self.save("model.pt", with_state=False)
        return self.history


def _rng_state() -> dict:
    """States of the torch, NumPy and Python generators (a model or plugin loss may draw)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(internal), gauss_next],
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
