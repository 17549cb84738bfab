"""Checkpoints on the training side: new functionals from registered names, and the format's tools.

The file format itself (reading with its checks, writing atomically, the content hash) is
:mod:`ase_nnxc.xc.checkpoint`, and :func:`ase_nnxc.xc.registry.load_functional` turns a file into
a functional; both are re-exported here, where training code has always found them.
``python -m ase_nnxc.train.checkpoint FILE...`` re-saves format-1 checkpoints with their hash.
"""

from __future__ import annotations

from ase_nnxc.xc.checkpoint import (
    FORMAT,
    REQUIRED_KEYS,
    SUPPORTED_VERSIONS,
    VERSION,
    CheckpointError,
    build_model,
    content_sha256,
    file_sha256,
    read_checkpoint,
    save_checkpoint,
    upgrade,
    write_payload,
)
from ase_nnxc.xc.registry import get_functional, load_functional

__all__ = [
    "FORMAT", "REQUIRED_KEYS", "SUPPORTED_VERSIONS", "VERSION", "CheckpointError", "build_functional",
    "build_model", "content_sha256", "file_sha256", "load_functional", "main", "read_checkpoint",
    "save_checkpoint", "upgrade", "write_payload",
]  # fmt: skip


def build_functional(model: str, options: dict, base, a: float = 0.0, b: float = 1.0, train_b: bool = True):
    """``HybridXC(base, model(**options))`` from registered names (``train_b``: see :class:`HybridXC`).

    ``base`` is a functional name (or an already built ``XCFunctional``).
    """
    from ase_nnxc.xc.neural import HybridXC

    return HybridXC(get_functional(base), build_model(model, options), a=a, b=b, train_b=train_b)


def main(argv=None) -> None:
    """``python -m ase_nnxc.train.checkpoint FILE...``: add the content hash to old checkpoints."""
    import argparse

    parser = argparse.ArgumentParser(description="Re-save format-1 checkpoints with their content SHA-256.")
    parser.add_argument("files", nargs="+")
    for name in parser.parse_args(argv).files:
        print(f"{name}: {'upgraded' if upgrade(name) else 'already has its content hash'}")


if __name__ == "__main__":
    main()
