"""Species, reactions and reaction sets: the one data model every benchmark shares.

A :class:`Reaction` is a list of ``(species name, coefficient)`` pairs and a reference energy
in kcal/mol; a method's reaction energy is ``sum_k C_k E_k``. A :class:`ReactionSet` holds the
reactions of a benchmark, its species and, per subset, the category and WTMAD-2 weight.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from ase.data import chemical_symbols

#: Decimals (Bohr) to which positions are rounded in a species' identity.
KEY_DECIMALS = 6


class BenchmarkDataError(ValueError):
    """Bad or missing benchmark data; the message is one line and names the file."""


def parse_moldesc(moldesc: str) -> tuple[list[int], np.ndarray]:
    """Atomic numbers and positions ``(natom, 3)`` of ``"El x y z; El x y z"`` (symbols or numbers)."""
    from ase.data import atomic_numbers

    atoms = [a.split() for a in moldesc.split(";") if a.strip()]
    try:
        numbers = [int(a[0]) if a[0].isdigit() else atomic_numbers[a[0].capitalize()] for a in atoms]
        positions = np.array([[float(v) for v in a[1:]] for a in atoms], dtype=np.float64).reshape(len(atoms), 3)
    except (KeyError, ValueError, IndexError) as err:
        raise BenchmarkDataError(f"cannot read atoms {moldesc!r}: {type(err).__name__}: {err}") from None
    return numbers, positions


@dataclass(frozen=True)
class Species:
    """One molecule, atom or ion of a benchmark (atomic units).

    Parameters
    ----------
    name
        Unique name in its data set, e.g. ``"W4-11/h2o"``.
    numbers
        Atomic numbers, ``(natom,)``.
    positions
        Nuclear positions in Bohr, ``(natom, 3)``.
    charge, spin
        Net charge and ``N_alpha - N_beta`` (GMTKN55's ``.CHRG`` and ``.UHF``).
    source
        The file the geometry was read from (named in error messages), if any.

    """

    name: str
    """Unique name in the data set."""
    numbers: tuple[int, ...]
    """Atomic numbers."""
    positions: np.ndarray = field(repr=False, compare=False)
    """Positions in Bohr, ``(natom, 3)``."""
    charge: int = 0
    """Net charge."""
    spin: int = 0
    """Unpaired electrons, ``N_alpha - N_beta``."""
    source: str | None = field(default=None, compare=False)
    """File the geometry came from."""

    def __post_init__(self) -> None:
        positions = np.array(self.positions, dtype=np.float64).reshape(-1, 3)
        positions.setflags(write=False)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "numbers", tuple(int(z) for z in self.numbers))
        where = self.source or self.name
        if len(self.numbers) != len(positions) or not self.numbers:
            raise BenchmarkDataError(f"{where}: {len(self.numbers)} atoms but {len(positions)} positions")
        if not all(0 < z < len(chemical_symbols) for z in self.numbers):
            raise BenchmarkDataError(f"{where}: unknown atomic number in {self.numbers}")
        if self.spin < 0 or (self.nelectron - self.spin) % 2 or self.spin > self.nelectron:
            raise BenchmarkDataError(
                f"{where}: {self.nelectron} electrons cannot have {self.spin} unpaired (charge {self.charge})"
            )

    @property
    def natom(self) -> int:
        """Number of atoms."""
        return len(self.numbers)

    @property
    def nelectron(self) -> int:
        """Number of electrons."""
        return sum(self.numbers) - self.charge

    @property
    def symbols(self) -> list[str]:
        """Element symbols."""
        return [chemical_symbols[z] for z in self.numbers]

    @property
    def formula(self) -> str:
        """Hill formula (C, H first, then alphabetical), e.g. ``CH4O``."""
        counts = Counter(self.symbols)
        first = [s for s in ("C", "H") if s in counts] if "C" in counts else []
        order = first + sorted(s for s in counts if s not in first)
        return "".join(s + (str(counts[s]) if counts[s] > 1 else "") for s in order)

    @property
    def description(self) -> str:
        """Canonical text of what is computed: atoms (Z and Bohr), charge and spin."""
        rounded = np.round(self.positions, KEY_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
        atoms = ";".join(f"{z} {x:.{KEY_DECIMALS}f} {y:.{KEY_DECIMALS}f} {w:.{KEY_DECIMALS}f}"
                         for z, (x, y, w) in zip(self.numbers, rounded))  # fmt: skip
        return f"{atoms}|charge={self.charge}|spin={self.spin}"

    @property
    def key(self) -> str:
        """Content key of the species in an energy cache: formula and a hash of :attr:`description`.

        Two species with the same atoms, positions (to 1e-6 Bohr), charge and spin share a key,
        so a molecule that appears in several subsets is computed once.
        """
        digest = hashlib.sha256(self.description.encode()).hexdigest()[:16]
        return f"{self.formula}_{self.charge:+d}_{self.spin}_{digest}"


@dataclass(frozen=True)
class Reaction:
    """A relative energy ``sum_k C_k E_k`` of species and its reference value."""

    subset: str
    """Subset name (``"W4-11"``, ``"BH76RC"``, ``"AE"``, ...)."""
    index: int
    """1-based position of the reaction in its subset."""
    components: tuple[tuple[str, float], ...]
    """``(species name, coefficient C_k)`` pairs."""
    reference: float
    """Reference reaction energy in kcal/mol."""
    label: str | None = None
    """Display name; ``"SUBSET #index"`` when ``None``."""

    @property
    def name(self) -> str:
        """Display name."""
        return self.label or f"{self.subset} #{self.index}"

    @property
    def species(self) -> tuple[str, ...]:
        """Species names, in the order of the reaction."""
        return tuple(s for s, _ in self.components)

    @property
    def coefficients(self) -> tuple[float, ...]:
        """Stoichiometric coefficients ``C_k``."""
        return tuple(c for _, c in self.components)


@dataclass
class ReactionSet:
    """The reactions of a benchmark with their species and per-subset metadata."""

    name: str
    """Benchmark name shown in reports (``"GMTKN55"``, ``"Diet-30"``, ``"G2"``)."""
    reactions: list[Reaction]
    """Reactions, in data-set order."""
    species: dict[str, Species]
    """Every species a reaction uses, by name."""
    categories: dict[str, str] = field(default_factory=dict)
    """Category of each subset (empty when the benchmark has none)."""
    weights: dict[str, float] = field(default_factory=dict)
    """WTMAD-2 weight ``56.84 / |dE|_i`` of each subset (empty: plain MAD)."""
    notes: list[str] = field(default_factory=list)
    """Paragraphs the report prints about the set (how the headline figure is defined)."""

    def __post_init__(self) -> None:
        missing = sorted({s for r in self.reactions for s in r.species} - set(self.species))
        if missing:
            raise BenchmarkDataError(f"{self.name}: reactions use species without geometry: {', '.join(missing[:5])}")

    @property
    def subsets(self) -> list[str]:
        """Subset names in order of first appearance."""
        return list(dict.fromkeys(r.subset for r in self.reactions))

    def used_species(self) -> list[Species]:
        """Species that some reaction uses, each once, in order of first use."""
        names = dict.fromkeys(s for r in self.reactions for s in r.species)
        return [self.species[n] for n in names]
