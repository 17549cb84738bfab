"""The training configuration (YAML), validated once.

Example::

    train: data/ie_train.yaml      # DeepChem-format dataset
    validation: data/ie_test.yaml  # a dataset path, or a fraction of train (0.2)
    model: {name: nn-lda, options: {hidden: [16, 16]}}
    base: lda,vwn
    train_b: true                  # false: keep the base functional's weight b at 1
    loss: {name: l2, weights: {ie: 1.0}}
    optimizer: {name: adam, lr: 0.001}
    epochs: 20
    batch_size: 0                  # 0: all training entries in one step
    seed: 0
    output: runs/nn-lda
    scf: {conv_tol: 1.0e-9, grid_level: 3}
    pretrain: {epochs: 100, rounds: 2, lr: 0.01}   # optional: frozen-density rounds first
    dispersion: d4                 # optional: D4 parameters stored with the weights: the base
                                   # functional's (d4) or explicit ({s8: .., a1: .., a2: ..})
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ase_nnxc.scf.config import SCFConfig
from ase_nnxc.train.dataset import ENTRY_TYPES, read_yaml

#: Keys of the sections written as mappings.
SECTION_KEYS = {"model": ("name", "options"), "loss": ("name", "options", "weights"), "optimizer": ("name", "lr")}


class ConfigError(ValueError):
    """A training configuration is invalid; the message names the file and key."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs."""

    train: str
    """Path of the training dataset (DeepChem YAML)."""
    output: str
    """Folder for checkpoints and the CSV log. A relative path written in the file is relative to
    the file; without one, ``runs/<config file name>`` in the current directory."""
    validation: str | float | None = None
    """Validation dataset path, or the fraction of ``train`` held out."""
    model: str = "nn-lda"
    """Registered XC model name."""
    model_options: dict = field(default_factory=dict)
    """Keyword options of the model factory."""
    base: str = "lda,vwn"
    """Base functional of the ``HybridXC``."""
    train_b: bool = True
    """Whether the base functional's weight ``b`` of the ``HybridXC`` is trained. Fixed at 1,
    the hybrid keeps the base functional's exact limits that the model is built to keep too
    (with ``uniform_gas``, the uniform electron gas)."""
    loss: str = "l2"
    """Registered loss name."""
    loss_options: dict = field(default_factory=dict)
    """Keyword options of the loss factory."""
    weights: dict = field(default_factory=dict)
    """Loss weight per entry type (default 1)."""
    optimizer: str = "adam"
    """``adam``, ``adamw`` or ``sgd``."""
    lr: float = 1e-3
    """Learning rate."""
    epochs: int = 10
    """Passes over the training data."""
    batch_size: int = 0
    """Entries per optimiser step (0 = all)."""
    seed: int = 0
    """Seed of the model initialisation, the shuffling and the validation split."""
    scf: dict = field(default_factory=dict)
    """Keyword arguments of :class:`~ase_nnxc.scf.SCFConfig`."""
    pretrain: dict = field(default_factory=dict)
    """Frozen-density training before the SCF epochs (:mod:`ase_nnxc.train.pretrain`):
    ``epochs`` per round (0: none), ``rounds`` (re-converge and re-freeze), ``lr``, ``weight_decay``."""
    dispersion: str | dict | None = None
    """D4 parameters written into the checkpoint for use with the functional: ``"d4"`` (the base
    functional's, from dftd4's table), a dict of explicit ones, or ``None``. They are recorded,
    not fitted: the training losses compare Kohn-Sham energies without dispersion."""
    source: str = ""
    """The file this configuration came from (for messages)."""

    def __post_init__(self) -> None:
        where = self.source or "config"
        if self.epochs < 0 or self.batch_size < 0:
            raise ConfigError(f"{where}: epochs and batch_size must be non-negative")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"{where}: lr must be a finite positive number, got {self.lr}")
        bad = {k: w for k, w in self.weights.items() if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0}
        if bad:
            raise ConfigError(f"{where}: loss weights must be finite numbers >= 0, got {bad}")
        _unknown_keys(self.scf, [f.name for f in fields(SCFConfig)], f"{where}: scf")
        try:
            SCFConfig(**{"require_aufbau": False, **self.scf})
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: scf: {err}") from err
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"{where}: optimizer must be adam, adamw or sgd, got {self.optimizer!r}")
        unknown = set(self.weights) - set(ENTRY_TYPES)
        if unknown:
            raise ConfigError(f"{where}: loss weights for unknown entry types {sorted(unknown)}")
        unknown = set(self.pretrain) - {"epochs", "lr", "weight_decay", "rounds"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown pretrain keys {sorted(unknown)}; known: epochs, lr, weight_decay, rounds"
            )
        if int(self.pretrain.get("epochs", 0)) < 0 or float(self.pretrain.get("lr", 1.0)) <= 0:
            raise ConfigError(f"{where}: pretrain epochs must be >= 0 and lr positive")
        if int(self.pretrain.get("rounds", 1)) < 1:
            raise ConfigError(f"{where}: pretrain rounds must be >= 1")
        if isinstance(self.validation, float) and not 0 < self.validation < 1:
            raise ConfigError(f"{where}: a validation fraction must lie in (0, 1), got {self.validation}")
        self.dispersion_metadata()

    @classmethod
    def from_yaml(cls, path) -> TrainConfig:
        """Read a YAML file; relative paths in it are relative to the file.

        Without an ``output`` key the run goes to ``runs/<file name without .yaml>`` in the current
        directory, so training from a config inside an installed or read-only tree writes where
        the user runs it.
        """
        path = Path(path)
        raw = read_yaml(path, ConfigError)
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: a training config is a YAML mapping")
        known = {
            "train",
            "validation",
            "model",
            "base",
            "train_b",
            "loss",
            "optimizer",
            "epochs",
            "batch_size",
            "seed",
            "output",
            "scf",
            "pretrain",
            "dispersion",
        }
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        if "train" not in raw:
            raise ConfigError(f"{path}: 'train' (dataset path) is required")

        def rel(p):
            return str(p if Path(p).is_absolute() else path.parent / p)

        sections = {}
        for section, keys in SECTION_KEYS.items():
            value = raw.get(section, {})
            value = {"name": value} if isinstance(value, str) else value
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {section} must be a name or a mapping with keys {', '.join(keys)}")
            _unknown_keys(value, keys, f"{path}: {section}")
            sections[section] = value
        model, loss, optimizer = sections["model"], sections["loss"], sections["optimizer"]
        validation = raw.get("validation")
        if isinstance(validation, str):
            validation = rel(validation)
        try:
            return cls(
                train=rel(raw["train"]),
                output=rel(raw["output"]) if "output" in raw else str(Path("runs") / path.stem),
                validation=validation,
                model=str(model.get("name", "nn-lda")),
                model_options=dict(model.get("options", {})),
                base=str(raw.get("base", "lda,vwn")),
                train_b=_boolean(raw.get("train_b", True), path, "train_b"),
                loss=str(loss.get("name", "l2")),
                loss_options=dict(loss.get("options", {})),
                weights=dict(loss.get("weights", {})),
                optimizer=str(optimizer.get("name", "adam")),
                lr=float(optimizer.get("lr", 1e-3)),
                epochs=int(raw.get("epochs", 10)),
                batch_size=int(raw.get("batch_size", 0)),
                seed=int(raw.get("seed", 0)),
                scf=dict(raw.get("scf", {})),
                pretrain=dict(raw.get("pretrain") or {}),
                dispersion=raw.get("dispersion"),
                source=str(path),
            )
        except (TypeError, ValueError, AttributeError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"{path}: {err}") from err

    def dispersion_metadata(self) -> dict | None:
        """The checkpoint's ``dispersion`` entry, ``{"model": "d4", "parameters": {...}}``, or ``None``.

        Raises
        ------
        ConfigError
            A ``dispersion`` value that is not ``d4``, ``none`` or a dict of D4 parameters, or
            a base functional without D4 parameters; the message names the file.

        """
        from ase_nnxc.dispersion import D4Parameters, d4_parameters

        where = self.source or "config"
        value = self.dispersion
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        try:
            if isinstance(value, str) and value.lower() == "d4":
                params = d4_parameters(self.base)
                source = f"training config {where}: base functional {self.base!r}, {params.source}"
                params = replace(params, source=source)
            elif isinstance(value, dict):
                params = D4Parameters.from_dict(value, source=f"training config {where}")
            else:
                raise ValueError(f"must be d4, none or a mapping of D4 parameters, got {value!r}")
        except ValueError as err:
            raise ConfigError(f"{where}: dispersion: {err}") from err
        return {"model": "d4", "parameters": params.as_dict()}

    def to_dict(self) -> dict:
        """Plain form stored in checkpoints."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _unknown_keys(mapping, known, where: str) -> None:
    """Refuse keys of ``mapping`` outside ``known``, naming the nearest known one."""
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where} must be a mapping, got {mapping!r}")
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}.{key}: unknown key{hint}; known: {', '.join(known)}")


def _boolean(value, path, key: str) -> bool:
    """A YAML boolean (``true``/``false``); anything else is a :class:`ConfigError`."""
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: {key} must be true or false, got {value!r}")
    return value
