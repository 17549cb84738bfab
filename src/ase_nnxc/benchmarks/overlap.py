"""Which benchmark reactions contain species a functional was trained on.

A benchmark species matches a training-pool system when formula, charge and spin agree; the
match records how far apart the geometries are (the largest difference of the sorted
interatomic distances, Angstrom: 0 for atoms, about 0.01 for the same molecule at another
level of theory, more for another isomer or a stretched bond). The shipped functional's pool
(:func:`shipped_training_pool`) is its training data: the G2 molecules with at most two
non-hydrogen atoms and their free atoms, the atoms (and cations) of its ionisation energies and
H2 at five bond lengths; any DeepChem-format YAML dataset gives another (:func:`dataset_pool`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ase_nnxc.benchmarks.reactions import ReactionSet, Species
from ase_nnxc.units import BOHR_TO_ANGSTROM


@dataclass(frozen=True)
class PoolMatch:
    """A benchmark species that is also in the training pool."""

    species: str
    """Benchmark species name."""
    pool: str
    """The training system it matches (the one with the closest geometry)."""
    geometry_deviation: float
    """Largest difference of sorted interatomic distances (Angstrom)."""


def _pool_from_entries(entries) -> dict[str, Species]:
    from ase_nnxc.benchmarks.g2 import species_from_spec

    pool: dict[str, Species] = {}
    for entry in entries:
        for spec in entry.systems:
            species = species_from_spec(spec, "")
            name = f"{species.formula} of {entry.name or entry.e_type}"
            pool.setdefault(name, species_from_spec(spec, name))
    return pool


def shipped_training_pool() -> dict[str, Species]:
    """The systems of the shipped functional's training data (``train/data/g2_train_h2-w20_def2-tzvp.yaml``)."""
    from ase_nnxc.benchmarks.g2 import species_from_spec
    from ase_nnxc.train import g2, h2

    pool = _pool_from_entries(g2.training_entries("def2-tzvp"))
    for r in h2.TRAINING_DISTANCES:  # labels need FCI; the geometries alone are enough here
        name = f"H2 of AE H2 {r:.2f} A"
        pool[name] = species_from_spec(h2.molecule_spec(r, "def2-tzvp"), name)
    return pool


def dataset_pool(path) -> dict[str, Species]:
    """The systems of a DeepChem-format YAML dataset (``ase_nnxc.train.dataset.load_dataset``)."""
    from ase_nnxc.train.dataset import load_dataset

    return _pool_from_entries(load_dataset(path))


def _distances(species: Species) -> np.ndarray:
    diff = species.positions[:, None] - species.positions[None]
    upper = np.triu_indices(species.natom, 1)
    return np.sort(np.linalg.norm(diff, axis=-1)[upper]) * BOHR_TO_ANGSTROM


def training_overlap(reaction_set: ReactionSet, pool: dict[str, Species]) -> dict[str, list[PoolMatch]]:
    """For every reaction with a species in ``pool``, the matches (by reaction name, in set order)."""
    by_identity: dict[tuple, list[Species]] = {}
    for system in pool.values():
        by_identity.setdefault((system.formula, system.charge, system.spin), []).append(system)
    matches: dict[str, PoolMatch] = {}
    for species in reaction_set.used_species():
        candidates = by_identity.get((species.formula, species.charge, species.spin), [])
        if candidates:
            mine = _distances(species)
            deviation, best = min(
                (float(np.max(np.abs(mine - _distances(c)), initial=0.0)), c.name) for c in candidates
            )
            matches[species.name] = PoolMatch(species.name, best, deviation)
    out = {}
    for reaction in reaction_set.reactions:
        found = [matches[s] for s in dict.fromkeys(reaction.species) if s in matches]
        if found:
            out[reaction.name] = found
    return out


def overlap_section(reaction_set: ReactionSet, overlap: dict[str, list[PoolMatch]], pool_name: str) -> str:
    """Markdown: how many reactions touch the pool, per subset, and each one."""
    lines = [
        f"## Reactions with species of the training pool ({pool_name})",
        "",
        f"{len(overlap)} of {len(reaction_set.reactions)} reactions contain a species whose formula, charge and spin "
        "match a training system; the geometry column is the largest difference of sorted interatomic distances "
        "(Angstrom) to the closest such system.",
        "",
        "| subset | reactions with pool species | of |",
        "|---|---|---|",
    ]
    for subset in reaction_set.subsets:
        members = [r for r in reaction_set.reactions if r.subset == subset]
        hits = sum(r.name in overlap for r in members)
        if hits:
            lines.append(f"| {subset} | {hits} | {len(members)} |")
    lines += ["", "| reaction | species | training system | geometry (Angstrom) |", "|---|---|---|---|"]
    for name, found in overlap.items():
        for m in found:
            lines.append(f"| {name} | `{m.species}` | {m.pool} | {m.geometry_deviation:.3f} |")
    return "\n".join(lines)


def reactions_with_pool_species(reaction_set: ReactionSet, pool: Iterable[Species] | None = None) -> list[str]:
    """Names of the reactions that contain a species of ``pool`` (default: the shipped functional's)."""
    pool_dict = shipped_training_pool() if pool is None else {s.name: s for s in pool}
    return list(training_overlap(reaction_set, pool_dict))
