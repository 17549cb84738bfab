"""DietGMTKN55: the subsets of 30, 50, 100 and 150 GMTKN55 reactions of Gould (PCCP 20, 27735 (2018)).

A directory in the layout of github.com/gambort/DietGMTKN55 holds
``GoodSamples/SubsetGMTKN55_NNN.yaml``; under ``Systems`` each file maps a subset to
``[W, [i, j, ...]]``: the subset's WTMAD-2 weight ``W = 56.84 / |dE|_i`` (rounded to 0.01)
and the 1-based positions of the chosen reactions in that subset's ``.res`` file (``BH76RC``:
BH76's ``.resRC``). The Diet estimate of WTMAD-2 is ``(1/N) sum W |error|`` over the ``N``
chosen reactions, which Gould chose so that it reproduces the full WTMAD-2 of 213 functionals
(mean deviation in the file's ``Error: En`` line: 0.36, 0.24, 0.17 and 0.13 kcal/mol).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ase_nnxc.benchmarks.gmtkn55 import CATEGORY_OF, GMTKN55
from ase_nnxc.benchmarks.reactions import BenchmarkDataError, ReactionSet

#: Environment variable naming the default DietGMTKN55 directory.
ENVIRONMENT_VARIABLE = "ASE_NNXC_DIET"
#: The sizes that DietGMTKN55 ships.
SIZES = (30, 50, 100, 150)


@dataclass(frozen=True)
class DietSelection:
    """The reactions of one Diet subset and their weights."""

    size: int
    """Number of reactions (30, 50, 100 or 150)."""
    weights: dict[str, float]
    """Weight ``W`` of each subset, as written in the file."""
    indices: dict[str, tuple[int, ...]]
    """1-based positions of the chosen reactions in each subset's ``.res`` file."""
    mean_error: float | None
    """Gould's mean deviation of the estimate from the full WTMAD-2 over 213 methods (kcal/mol)."""
    path: str
    """The file read."""


def diet_file(root: str | os.PathLike | None, size: int) -> Path:
    """``SubsetGMTKN55_NNN.yaml`` of ``size`` under ``root`` (or its ``GoodSamples``), or ``$ASE_NNXC_DIET``."""
    if size not in SIZES:
        raise BenchmarkDataError(f"no Diet subset of {size} reactions; DietGMTKN55 has {', '.join(map(str, SIZES))}")
    if root is None:
        root = os.environ.get(ENVIRONMENT_VARIABLE)
        if not root:
            raise BenchmarkDataError(f"no DietGMTKN55 directory given (pass a path or set ${ENVIRONMENT_VARIABLE})")
    root = Path(root)
    name = f"SubsetGMTKN55_{size:03d}.yaml"
    for candidate in (root / "GoodSamples" / name, root / name):
        if candidate.is_file():
            return candidate
    raise BenchmarkDataError(f"{root / 'GoodSamples' / name}: no such file (DietGMTKN55 subset of {size})")


def read_diet(path: str | os.PathLike) -> DietSelection:
    """Read one ``SubsetGMTKN55_NNN.yaml``."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise BenchmarkDataError(f"{path}: cannot read ({' '.join(str(err).split())})") from None
    systems = data.get("Systems") if isinstance(data, dict) else None
    if not isinstance(systems, dict) or not systems:
        raise BenchmarkDataError(f"{path}: no 'Systems' mapping")
    weights, indices = {}, {}
    for subset, value in systems.items():
        if subset not in CATEGORY_OF:
            raise BenchmarkDataError(f"{path}: {subset!r} is not a GMTKN55 subset")
        try:
            weight, chosen = value
            weights[subset] = float(weight)
            indices[subset] = tuple(int(i) for i in chosen)
        except (TypeError, ValueError):
            raise BenchmarkDataError(f"{path}: subset {subset}: expected [W, [i, j, ...]], got {value!r}") from None
    size = sum(len(v) for v in indices.values())
    if data.get("NFinal") not in (None, size):
        raise BenchmarkDataError(f"{path}: NFinal is {data['NFinal']} but {size} reactions are listed")
    error = data.get("Error", {})
    return DietSelection(size, weights, indices, error.get("En") if isinstance(error, dict) else None, str(path))


def diet_reaction_set(data: GMTKN55, selection: DietSelection) -> ReactionSet:
    """The Diet reactions with Gould's weights; geometries are read (and checked) here."""
    reaction_set = data.reaction_set(selection=selection.indices, name=f"Diet-{selection.size}")
    reaction_set.weights = dict(selection.weights)
    accuracy = f" (Gould's mean deviation over 213 functionals: {selection.mean_error} kcal/mol)"
    reaction_set.notes = [
        f"Diet-{selection.size} (Gould, PCCP 20, 27735 (2018); {Path(selection.path).name}) is an estimate of "
        f"the full GMTKN55 WTMAD-2 from {selection.size} reactions: (1/N) sum_j W_j |error_j| over the N "
        f"chosen reactions, W_j the weight the file gives reaction j's subset (56.84 / |dE|_i). The "
        "reactions were chosen so that this reproduces the full WTMAD-2"
        + (accuracy if selection.mean_error else "")
        + "; it is not the WTMAD-2 itself, and the per-category figures rest on a few reactions each.",
        *reaction_set.notes,
    ]
    return reaction_set
