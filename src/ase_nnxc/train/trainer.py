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
"""

from __future__ import annotations

import csv
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ase_nnxc.plugins import manager
from ase_nnxc.scf import SCFConfig
from ase_nnxc.train.checkpoint import CheckpointError, build_functional, read_checkpoint, save_checkpoint
from ase_nnxc.train.config import ConfigError, TrainConfig
from ase_nnxc.train.dataset import Entry, load_dataset
from ase_nnxc.train.losses import build_loss
from ase_nnxc.train.predict import EntryFailed, Predictor
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL

ENERGY_TYPES = ("ae", "ie")


@dataclass(frozen=True)
class EntryResult:
    """One evaluated entry."""

    name: str
    """Entry name."""
    e_type: str
    """Entry type."""
    prediction: float
    """Predicted value (Hartree for energies; RMS deviation for arrays)."""
    target: float
    """Label (Hartree for energies; 0 for arrays)."""
    failed: str = ""
    """Why the entry could not be evaluated (empty when it was)."""
    labelled: bool = True
    """Whether the entry has a reference (``target`` is NaN for an unlabelled one)."""

    @property
    def error_kcal(self) -> float:
        """Signed error in kcal/mol (energy entries)."""
        return (self.prediction - self.target) * HARTREE_TO_KCAL_PER_MOL


def evaluate(predictor: Predictor, entries: list[Entry], progress: bool = False) -> list[EntryResult]:
    """Evaluate ``entries`` without gradients."""
    from tqdm.auto import tqdm

    out = []
    for entry in tqdm(entries, desc="evaluate", disable=not progress, file=sys.stderr, leave=False):
        try:
            with torch.no_grad():
                prediction = predictor.predict(entry)
                target = None if entry.true_val is None else predictor.target(entry)
        except EntryFailed as err:
            out.append(EntryResult(entry.name, entry.e_type, math.nan, math.nan, str(err)))
            continue
        if target is None:  # an unlabelled entry: the prediction alone (energies) or nothing to compare
            value = float(prediction) if entry.e_type in ENERGY_TYPES else math.nan
            out.append(EntryResult(entry.name, entry.e_type, value, math.nan, labelled=False))
        elif entry.e_type in ENERGY_TYPES:
            out.append(EntryResult(entry.name, entry.e_type, float(prediction), float(target)))
        else:
            rms = float(((prediction - target) ** 2).mean().sqrt())
            out.append(EntryResult(entry.name, entry.e_type, rms, 0.0))
    return out


def mean_absolute_error(results: list[EntryResult], e_type: str | None = None) -> float:
    """MAE in kcal/mol over the evaluated energy entries (of one type if given)."""
    errors = [
        abs(r.error_kcal)
        for r in results
        if not r.failed and r.labelled and r.e_type in ENERGY_TYPES and e_type in (None, r.e_type)
    ]
    return sum(errors) / len(errors) if errors else math.nan


class Trainer:
    """Runs a :class:`TrainConfig`.

    Parameters
    ----------
    config
        The training configuration.
    progress
        Show a progress bar with the running loss.

    """

    def __init__(self, config: TrainConfig, progress: bool = True):
        self.config = config
        self.progress = progress
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
        params = [p for p in self.functional.parameters() if p.requires_grad]
        optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
        self.optimizer = optimizers[config.optimizer](params, lr=config.lr)
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
        }

    def save(self, name: str = "last.pt", with_state: bool = True) -> Path:
        """Write a checkpoint into the output folder."""
        path = self.output / name
        save_checkpoint(path, self.functional, self._meta(), self._training_state() if with_state else None)
        return path

    def restore(self, path) -> None:
        """Continue from a checkpoint written by :meth:`save`."""
        payload = read_checkpoint(path)
        state = payload.get("training")
        if state is None:
            raise CheckpointError(f"{path}: holds weights only, no training state to resume")
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
        self.predictor.densities = {tuple(k): v for k, v in state["densities"]}
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
        warm-start the self-consistent epochs.
        """
        from ase_nnxc.train.pretrain import freeze_entries, pretrain

        options = self.config.pretrain
        params = [p for p in self.functional.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(params, lr=float(options.get("lr", 3e-3)))
        history: list[float] = []
        for round_ in range(int(options.get("rounds", 1))):
            frozen, failed = freeze_entries(self.train_entries, self.functional, self.scf_config, self.progress)
            for key, message in failed.items():
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
            self.predictor.densities.update({key: f.density for key, f in frozen.items()})
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

    def step(self, batch: list[Entry]) -> tuple[float, int]:
        """One optimiser step on ``batch``; returns (loss, number of failed entries)."""
        self.optimizer.zero_grad()
        terms, failed = [], 0
        for entry in batch:
            try:
                prediction = self.predictor.predict(entry)
                target = self.predictor.target(entry)
            except EntryFailed as err:
                failed += 1
                print(f"warning: entry {entry.name} skipped this step: {err}", file=sys.stderr)
                continue
            weight = self.config.weights.get(entry.e_type, 1.0) * entry.weight
            terms.append(weight * self.loss_fn(prediction.reshape(-1), target.reshape(-1)))
        if not terms:
            return math.nan, failed
        loss = torch.stack(terms).mean()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach()), failed

    def run(self, resume: bool = False) -> list[dict]:
        """Train for the configured epochs; returns the per-epoch history."""
        from tqdm.auto import tqdm

        self.output.mkdir(parents=True, exist_ok=True)
        last = self.output / "last.pt"
        if resume and last.exists():
            self.restore(last)
        log = self.output / "log.csv"
        if resume and log.exists():
            self._truncate_log(log)
        else:
            with log.open("w", newline="") as fh:
                csv.writer(fh).writerow(["epoch", "step", "loss", "failed", "valid_mae_kcal"])
        if int(self.config.pretrain.get("epochs", 0)) and self.pretrain_history is None:
            self.pretrain_history = self.pretrain()
            self.save()
        while self.epoch < self.config.epochs:
            batches = self._batches(self.epoch)
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
                self.failures += failed
                self.batch += 1
                row = [self.epoch, self.batch, loss, failed, ""]
                if self.batch == len(batches):
                    valid = evaluate(self.predictor, self.valid_entries) if self.valid_entries else []
                    row[4] = mean_absolute_error(valid) if valid else ""
                    self.history.append(
                        {"epoch": self.epoch + 1, "loss": loss, "valid_mae_kcal": row[4], "failed": self.failures}
                    )
                    self.epoch, self.batch = self.epoch + 1, 0
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
