"""Trained functionals shipped inside the package, checked against their SHA-256 on load.

``models/index.json`` lists each versioned functional (file, hash, the configuration that
reproduces it) and the aliases; ``nnxc`` points at the newest. They are registered through the
``nnxc_register_base_functionals`` hook like every other named functional, so
``NNXC(xc="nnxc")``, ``nnxc energy --xc nnxc`` and ``nnxc plugins`` know them.

Example::

    >>> from ase_nnxc.pretrained import shipped_functionals, load
    >>> sorted(shipped_functionals())  # doctest: +SKIP
    ['nnxc', 'nnxc-pbe-2026.12', 'nnxc-r2scan-2026.12', 'nnxc-r2scan-2026.12.1', 'nnxc-r2scan-tzvp-2026.12',
     'nnxc-r2scan-tzvp-2026.12.1']
    >>> functional = load("nnxc")  # raises CheckpointError if the file was altered  # doctest: +SKIP
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from ase_nnxc.plugins import hookimpl

MODELS_DIR = Path(__file__).parent / "models"
INDEX = MODELS_DIR / "index.json"


def _index() -> dict:
    return json.loads(INDEX.read_text()) if INDEX.is_file() else {"functionals": {}, "aliases": {}}


def shipped_functionals() -> dict[str, dict]:
    """Name -> index record, aliases included (resolved to their target's record)."""
    index = _index()
    records = dict(index["functionals"])
    records.update({alias: index["functionals"][target] for alias, target in index["aliases"].items()})
    return records


def path_of(name: str) -> Path:
    """The checkpoint file of a shipped functional (or alias)."""
    records = shipped_functionals()
    if name not in records:
        raise ValueError(f"no shipped functional {name!r}; shipped: {', '.join(sorted(records)) or 'none'}")
    return MODELS_DIR / records[name]["file"]


def load(name: str):
    """The shipped functional ``name``, after checking the file's SHA-256 against the index."""
    from ase_nnxc.train.checkpoint import load_functional

    functional = load_functional(path_of(name), expected_sha256=shipped_functionals()[name]["sha256"])
    functional.name = name
    return functional


@hookimpl
def nnxc_register_base_functionals(register) -> None:
    """Register every shipped functional and alias by name."""
    index = _index()
    for name, record in index["functionals"].items():
        register(name, partial(load, name), description=record.get("description", "trained functional"))
    for alias, target in index["aliases"].items():
        register(alias, partial(load, alias), description=f"alias of {target} (the newest shipped functional)")


def publish(checkpoint, name: str, description: str, config: str, alias: str | None = "nnxc") -> Path:
    """Copy a trained checkpoint into the package under ``name`` and record its SHA-256.

    ``config`` is the training configuration that reproduces it; ``alias`` (default ``nnxc``)
    is pointed at the new functional.
    """
    import shutil

    from ase_nnxc.train.checkpoint import file_sha256, load_functional, upgrade

    load_functional(checkpoint)  # refuse to ship something that does not load
    MODELS_DIR.mkdir(exist_ok=True)
    target = MODELS_DIR / f"{name}.pt"
    shutil.copyfile(checkpoint, target)
    upgrade(target)  # a format-1 checkpoint is shipped with its content hash
    index = _index()
    index["functionals"][name] = {
        "file": target.name,
        "sha256": file_sha256(target),
        "description": description,
        "config": config,
    }
    if alias:
        index["aliases"][alias] = name
    INDEX.write_text(json.dumps(index, indent=2) + "\n")
    return target


def main(argv=None) -> None:
    """``python -m ase_nnxc.pretrained CHECKPOINT NAME --config C --description D``."""
    import argparse

    parser = argparse.ArgumentParser(description="Ship a trained checkpoint inside the package.")
    parser.add_argument("checkpoint")
    parser.add_argument("name")
    parser.add_argument("--config", required=True, help="the training config that reproduces it")
    parser.add_argument("--description", required=True)
    args = parser.parse_args(argv)
    print(publish(args.checkpoint, args.name, args.description, args.config))


if __name__ == "__main__":
    main()
