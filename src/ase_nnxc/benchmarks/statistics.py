"""Error statistics of reaction energies: MAD per subset and weighted MADs (WTMAD-2, Diet).

WTMAD-2 (Goerigk et al., PCCP 19, 32184 (2017)) is

    WTMAD-2 = (1 / sum_i N_i) sum_i N_i (<|dE|> / |dE|_i) MAD_i

over subsets ``i`` with ``N_i`` reactions, mean absolute reference energy ``|dE|_i`` and
``<|dE|>`` the mean of the ``|dE|_i``. Since ``N_i MAD_i`` is the sum of the subset's absolute
errors, this is the mean over all reactions of ``W_i |error|`` with ``W_i = <|dE|> / |dE|_i``;
DietGMTKN55's estimate (Gould, PCCP 20, 27735 (2018)) is the same mean over its chosen
reactions with the weights of its files. Per-category figures take the mean over the
reactions of that category. Reactions without a computed value (a failed species) are left
out and counted: every :class:`Figure` says how many reactions it covers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ase_nnxc.benchmarks.reactions import Reaction, ReactionSet


@dataclass(frozen=True)
class Figure:
    """A mean absolute (weighted) error and how many reactions it covers."""

    value: float
    """The figure in kcal/mol (``nan`` when no reaction has a value)."""
    count: int
    """Reactions with a value that enter the figure."""
    total: int
    """Reactions the figure is defined over."""

    @property
    def complete(self) -> bool:
        """Whether every reaction had a value."""
        return self.count == self.total


def subset_weights(reactions: Iterable[Reaction]) -> dict[str, float]:
    """WTMAD-2 weights ``<|dE|> / |dE|_i`` of the subsets of ``reactions``, from their references."""
    references: dict[str, list[float]] = {}
    for r in reactions:
        references.setdefault(r.subset, []).append(abs(r.reference))
    means = {s: float(np.mean(v)) for s, v in references.items()}
    grand = float(np.mean(list(means.values())))
    return {s: grand / m for s, m in means.items()}


def weighted_mad(
    reactions: Iterable[Reaction], errors: Mapping[str, float | None], weights: Mapping[str, float] | None = None
) -> Figure:
    """Mean of ``W_subset |error|`` over ``reactions`` (plain MAD without ``weights``).

    ``errors`` maps :attr:`Reaction.name` to ``computed - reference`` (kcal/mol), or ``None``
    where no value was computed; those reactions are counted in ``total`` only.
    """
    reactions = list(reactions)
    terms = [
        abs(errors[r.name]) * (1.0 if weights is None else weights[r.subset])
        for r in reactions
        if errors.get(r.name) is not None
    ]
    return Figure(float(np.mean(terms)) if terms else math.nan, len(terms), len(reactions))


def subset_mads(reaction_set: ReactionSet, errors: Mapping[str, float | None]) -> dict[str, Figure]:
    """Plain MAD of every subset."""
    return {s: weighted_mad([r for r in reaction_set.reactions if r.subset == s], errors) for s in reaction_set.subsets}


def summary(reaction_set: ReactionSet, errors: Mapping[str, float | None]) -> dict[str, Figure]:
    """The headline figure ``"total"`` and one per category (weighted if the set has weights).

    Categories follow :attr:`ReactionSet.categories` in order of first appearance; a set
    without categories gives ``"total"`` only.
    """
    weights = reaction_set.weights or None
    out = {"total": weighted_mad(reaction_set.reactions, errors, weights)}
    for category in dict.fromkeys(reaction_set.categories.values()):
        members = [r for r in reaction_set.reactions if reaction_set.categories.get(r.subset) == category]
        out[category] = weighted_mad(members, errors, weights)
    return out


def reaction_energy(reaction: Reaction, energies: Mapping[str, float | None]) -> float | None:
    """``sum_k C_k E_k`` in the unit of ``energies`` (species name -> energy), ``None`` if one is missing."""
    total = 0.0
    for name, coefficient in reaction.components:
        energy = energies.get(name)
        if energy is None:
            return None
        total += coefficient * energy
    return total
