"""Checkpoints: a trained functional plus, optionally, the state to resume its training.

A checkpoint is a ``torch.save`` dictionary, loaded with ``weights_only=True`` (no code runs
on load). It records the model's registered name and options, the base functional, the
basis and grid level it was trained with, and the weights. Writes are atomic (temporary
file, then rename), so an interrupted run never leaves a truncated checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

FORMAT = "ase_nnxc-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is corrupt, of another format, or does not match the model."""


def save_checkpoint(path, functional, meta: dict, training: dict | None = None) -> None:
    """Atomically write ``functional`` (a :class:`~ase_nnxc.xc.neural.HybridXC`) and metadata.

    ``meta`` holds ``model`` (registered name), ``options``, ``base``, ``basis``,
    ``grid_level`` and optionally ``dispersion`` (``{"model": "d4", "parameters": {...}}``,
    see :mod:`ase_nnxc.dispersion`); ``training`` the resumable state (optional).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **meta, "state_dict": functional.state_dict()}
    if training is not None:
        payload["training"] = training
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checkpoint(path) -> dict:
    """Load and validate a checkpoint dictionary.

    Raises
    ------
    CheckpointError
        When the file cannot be read or is not an ase_nnxc checkpoint; the message names it.

    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ase_nnxc checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')} is not supported (want {VERSION})")
    for key in ("model", "options", "base", "basis", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    return payload


def build_functional(model: str, options: dict, base: str, a: float = 0.0, b: float = 1.0, train_b: bool = True):
    """``HybridXC(base, model(**options))`` from registered names (``train_b``: see :class:`HybridXC`)."""
    from ase_nnxc.plugins import manager
    from ase_nnxc.xc.neural import HybridXC
    from ase_nnxc.xc.registry import get_functional

    registered = manager.xc_models().get(model.lower())
    if registered is None:
        known = ", ".join(sorted(manager.xc_models()))
        raise ValueError(f"Unknown XC model {model!r}; registered models: {known}.")
    return HybridXC(get_functional(base), registered.factory(**options), a=a, b=b, train_b=train_b)


def load_functional(path, expected_sha256: str | None = None):
    """The functional stored in a checkpoint, ready for ``NNXC(xc=...)``.

    The returned module carries ``default_basis`` and ``grid_level`` (what it was trained
    with), ``dispersion`` (the stored D4 metadata, or ``None``) and ``checkpoint_path``. With ``expected_sha256`` the file's hash is checked first.
    """
    path = Path(path)
    if expected_sha256 is not None:
        digest = file_sha256(path)
        if digest != expected_sha256:
            raise CheckpointError(f"{path}: SHA-256 {digest} does not match the expected {expected_sha256}")
    payload = read_checkpoint(path)
    try:
        functional = build_functional(payload["model"], dict(payload["options"]), payload["base"])
        functional.load_state_dict(payload["state_dict"])
    except (RuntimeError, ValueError, TypeError, KeyError) as err:
        raise CheckpointError(f"{path}: weights do not match model {payload['model']!r}: {err}") from err
    functional.requires_grad_(False)
    functional.default_basis = payload["basis"]
    functional.grid_level = payload.get("grid_level", 3)
    functional.dispersion = payload.get("dispersion")
    functional.checkpoint_path = str(path)
    functional.name = payload.get("name", path.stem)
    return functional


def file_sha256(path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
