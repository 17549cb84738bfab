"""Checkpoints: a trained functional plus, optionally, the state to resume its training.

This module is the file format (reading, checking, writing); a checkpoint becomes a functional
through :func:`ase_nnxc.xc.registry.load_functional` (``NNXC(xc="model.pt")``), and training
builds new functionals with :func:`ase_nnxc.train.checkpoint.build_functional`.

A checkpoint is a ``torch.save`` archive of one dictionary. It records the model's registered
name and options, the base functional, the basis and grid level it was trained with, the
weights, and (format 2) ``content_sha256``: a SHA-256 of all of that and of the training state
in a canonical form (:func:`content_sha256`). Reading one checks, before any model is built:

1. the zip container (every member's CRC-32, so flipped or overwritten bytes are found);
2. that it unpickles with ``weights_only=True`` (no code runs; any other object is refused);
3. format, version and required keys;
4. ``content_sha256`` (weights altered after saving, even with valid CRCs);
5. that every weight is finite;
6. the weights' shapes against the model its options describe, built on PyTorch's ``meta``
   device (no memory), so options such as ``hidden: [20000, 20000]`` never allocate anything.

Checkpoints of format 1 (written before the hash existed) still load, with a warning that their
weights cannot be verified; ``python -m ase_nnxc.train.checkpoint FILE...`` re-saves them with
the hash. Writes are atomic (a temporary file in the same folder, created with the user's
umask like any other file, then renamed), so an interrupted run or a full disk never leaves a
truncated checkpoint and never replaces the previous one.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import secrets
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

FORMAT = "ase_nnxc-checkpoint"
#: 2: ``content_sha256`` recorded; 1: without it (read with a warning).
VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
REQUIRED_KEYS = ("model", "options", "base", "basis", "state_dict")

class CheckpointError(ValueError):
    """A checkpoint is corrupt, of another format, or does not match the model."""


# -- the content hash -----------------------------------------------------------------------


def content_sha256(payload: dict) -> str:
    """SHA-256 of a checkpoint dictionary in a canonical form, its own ``content_sha256`` left out.

    Tensors enter with their dtype, shape and raw bytes; mappings with sorted keys; floats
    exactly (``float.hex``). So the hash is the same after a save and load, and changes with
    any weight, option, base functional, basis, grid level or training-state value.
    """
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in payload.items() if k != "content_sha256"})
    return digest.hexdigest()


def _feed(digest, value) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}:".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"A{array.dtype.str}{array.shape}:".encode())
        digest.update(array.tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}:".encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, str):
        encoded = value.encode()
        digest.update(f"S{len(encoded)}:".encode() + encoded)
    elif isinstance(value, bool) or value is None:
        digest.update(f"C{value};".encode())
    elif isinstance(value, int):
        digest.update(f"I{value};".encode())
    elif isinstance(value, float):
        digest.update(f"F{value.hex()};".encode())
    else:  # torch dtypes and the like: their repr is stable
        digest.update(f"R{type(value).__name__}:{value!r};".encode())


# -- writing --------------------------------------------------------------------------------


def save_checkpoint(path, functional, meta: dict, training: dict | None = None) -> None:
    """Atomically write ``functional`` (a :class:`~ase_nnxc.xc.neural.HybridXC`) and metadata.

    ``meta`` holds ``model`` (registered name), ``options``, ``base``, ``basis``,
    ``grid_level`` and optionally ``dispersion`` (``{"model": "d4", "parameters": {...}}``,
    see :mod:`ase_nnxc.dispersion`); ``training`` the resumable state (optional).
    ``content_sha256`` is added.

    Raises
    ------
    CheckpointError
        When the file cannot be written (full disk, no permission); the message says why and
        that the previous file at ``path``, if any, is unchanged.

    """
    payload = {"format": FORMAT, "version": VERSION, **meta, "state_dict": functional.state_dict()}
    if training is not None:
        payload["training"] = training
    write_payload(path, payload)


def write_payload(path, payload: dict) -> None:
    """Add ``content_sha256`` to a checkpoint dictionary and write it atomically to ``path``."""
    payload = {**payload, "version": VERSION}
    payload["content_sha256"] = content_sha256(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    _write_atomically(Path(path), buffer.getbuffer())


def _open_temporary(path: Path) -> tuple[int, Path]:
    """A new file next to ``path`` with mode ``0666 & ~umask`` (``tempfile`` would force 0600)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def _write_atomically(path: Path, data) -> None:
    existed = path.exists()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _open_temporary(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # the data is on disk before it replaces the previous file
        os.replace(tmp, path)
    except OSError as err:
        kept = f"the previous {path.name} is unchanged" if existed else "nothing was written"
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            reason = f"the disk is full ({err.strerror})"
        else:
            reason = err.strerror or str(err)
        raise CheckpointError(f"cannot write checkpoint {path}: {reason}; {kept}") from err
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


# -- reading --------------------------------------------------------------------------------


def _check_archive(path: Path) -> None:
    """The zip container is complete and every member matches its CRC-32."""
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: not a readable checkpoint (an empty file)")
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED:
                    raise CheckpointError(
                        f"{path}: not a readable checkpoint (member {info.filename!r} is compressed; "
                        "torch.save stores members uncompressed)"
                    )
            damaged = archive.testzip()
    except CheckpointError:
        raise
    except Exception as err:  # BadZipFile, EOFError, struct errors: a truncated or foreign file
        detail = " ".join(str(err).split()) or type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or not a torch archive: {detail})") from err
    if damaged is not None:
        raise CheckpointError(
            f"{path}: damaged checkpoint: member {damaged.split('/')[-1]!r} does not match its CRC-32 "
            "(bytes were changed after it was written)"
        )


def _unpickle(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or foreign files
        text = " ".join(str(err).split())
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", text) or re.search(r"Unsupported operand (\S+)", text)
        if unsafe:
            raise CheckpointError(
                f"{path}: refused: it holds objects other than tensors and plain data ({unsafe.group(1)}), "
                "which would run code on loading"
            ) from err
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {text[:300]})") from err


def read_checkpoint(path) -> dict:
    """Load and validate a checkpoint dictionary (steps 1-5 of the module docstring).

    Raises
    ------
    CheckpointError
        When the file is missing, damaged, altered, not an ase_nnxc checkpoint, or holds
        non-finite weights; the message names the file and what is wrong.

    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    _check_archive(path)
    payload = _unpickle(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ase_nnxc checkpoint")
    version = payload.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise CheckpointError(f"{path}: checkpoint version {version!r} is not supported (want {VERSION})")
    for key in REQUIRED_KEYS:
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    if version >= 2:
        recorded, actual = payload.get("content_sha256"), content_sha256(payload)
        if recorded != actual:
            raise CheckpointError(
                f"{path}: content SHA-256 {actual} does not match the {recorded} recorded when it was saved "
                "(weights or metadata were altered)"
            )
    else:
        warnings.warn(
            f"{path}: checkpoint format 1 carries no content hash, so altered weights cannot be detected; "
            f"re-save it with `python -m ase_nnxc.train.checkpoint {path}`",
            UserWarning,
            stacklevel=2,
        )
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'state_dict' is not a mapping of names to tensors")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                f"{path}: weight {name!r} holds {bad} non-finite value(s) (NaN or inf); the training that "
                "wrote it diverged"
            )
    if not isinstance(payload["options"], dict) or not all(isinstance(k, str) for k in payload["options"]):
        raise CheckpointError(f"{path}: 'options' is not a mapping of option names to values")
    for key in ("model", "base", "basis"):
        if not isinstance(payload[key], str):
            raise CheckpointError(f"{path}: {key!r} is {payload[key]!r}, not a name")
    return payload


# -- functionals ----------------------------------------------------------------------------


def build_model(model: str, options: dict):
    """The trainable model ``model(**options)`` of a registered architecture, validated.

    Raises
    ------
    ValueError
        Unknown model name, an option the factory does not take (named, with the nearest
        accepted one) or an option value it refuses; the message names the plugin.
    ase_nnxc.plugins.manager.PluginError
        The factory returned something that is not an ``XCFunctional``.

    """
    from ase_nnxc.plugins import manager
    from ase_nnxc.xc.base import XCFunctional

    registered = manager.xc_models().get(model.lower())
    if registered is None:
        known = ", ".join(sorted(manager.xc_models()))
        raise ValueError(f"Unknown XC model {model!r}; registered models: {known}.")
    manager.check_options(registered, options, "model.options")
    try:
        built = registered.factory(**options)
    except (TypeError, ValueError) as err:  # an option value the model refuses: the user's to fix
        raise ValueError(f"model {registered.name!r} (plugin {registered.plugin!r}) with options {options}: {err}") from err
    if not isinstance(built, XCFunctional):
        raise manager.PluginError(
            f"plugin {registered.plugin!r}: model {registered.name!r} factory returned "
            f"{type(built).__name__}, not an XCFunctional"
        )
    return built


def check_shapes(path: Path, payload: dict, base) -> None:
    """Compare the stored weights with the model the options describe, built on the meta device."""
    from ase_nnxc.xc.neural import HybridXC

    try:
        with torch.device("meta"):
            skeleton = HybridXC(base, build_model(payload["model"], dict(payload["options"])))
    except Exception:  # a plugin model that cannot be built without data: checked after its real build
        return
    wanted = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in payload["state_dict"].items()}
    missing, unexpected = sorted(set(wanted) - set(stored)), sorted(set(stored) - set(wanted))
    wrong = [f"{k} is {stored[k]} in the file, {wanted[k]} in the model" for k in wanted if stored.get(k, wanted[k]) != wanted[k]]
    problems = ([f"missing {missing}"] if missing else []) + ([f"unexpected {unexpected}"] if unexpected else []) + wrong[:3]
    if problems:
        raise CheckpointError(
            f"{path}: weights do not match model {payload['model']!r} with options {payload['options']}: "
            + "; ".join(problems)
        )


def file_sha256(path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def upgrade(path) -> bool:
    """Re-save a format-1 checkpoint with its ``content_sha256``; the tensors are unchanged.

    Returns whether the file was rewritten (``False``: it already had the hash).
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        payload = read_checkpoint(path)
    if payload["version"] == VERSION:
        return False
    write_payload(path, payload)
    return True
