"""GMTKN55 in its official layout: reactions from the ``.res`` files, species from ``struc.xyz``.

The directory is a clone of github.com/grimme-lab/GMTKN55 (Goerigk et al., PCCP 19, 32184
(2017)): one folder per subset with a ``.res`` file (BH76 also ``.resRC``, the reaction
energies of subset BH76RC) and one folder per species holding ``struc.xyz`` (Angstrom),
``.CHRG`` (net charge) and ``.UHF`` (unpaired electrons), each absent meaning 0.

A reaction line of a ``.res`` file is a shell command,
``$tmer SPECIES x C1 C2 ... $w REF``: SPECIES are paths ``NAME/$f`` written one by one or
as bash brace lists (``{h2,h}/$f``; with a shared prefix ``h{,2+_1.0}/$f`` = ``h``,
``h2+_1.0``), C the stoichiometric coefficients and REF the reference energy in kcal/mol.
BH76's ``.resRC`` writes ``tmer2++`` for ``$tmer``. The subset categories and the weights
of WTMAD-2 are those of the repository's own evaluator (``utils/constants.py``,
``utils/statistics.py``).

Nothing here runs a calculation; errors name the file (:class:`BenchmarkDataError`).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers

from ase_nnxc.benchmarks.reactions import BenchmarkDataError, Reaction, ReactionSet, Species
from ase_nnxc.benchmarks.statistics import subset_weights
from ase_nnxc.units import ANGSTROM_TO_BOHR

#: Environment variable naming the default GMTKN55 directory.
ENVIRONMENT_VARIABLE = "ASE_NNXC_GMTKN55"

#: The five categories of the official evaluator, with their subsets (``utils/constants.py``).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "smallreactions": (
        "W4-11", "G21EA", "G21IP", "DIPCS10", "PA26", "SIE4x4", "ALKBDE10", "YBDE18", "AL2X6",
        "HEAVYSB11", "NBPRC", "ALK8", "RC21", "G2RC", "BH76RC", "FH51", "TAUT15", "DC13",
    ),
    "largereactions": ("MB16-43", "DARC", "RSE43", "BSR36", "CDIE20", "ISO34", "ISOL24", "C60ISO", "PArel"),
    "barrierheights": ("BH76", "BHPERI", "BHDIV10", "INV24", "BHROT27", "PX13", "WCPT18"),
    "intermolecular": (
        "RG18", "ADIM6", "S22", "S66", "HEAVY28", "WATER27", "CARBHB12", "PNICO23", "HAL59", "AHB21",
        "CHB6", "IL16",
    ),
    "intramolecular": ("IDISP", "ICONF", "ACONF", "Amino20x4", "PCONF21", "MCONF", "SCONF", "UPU23", "BUT14DIOL"),
}  # fmt: skip
#: What each category key stands for (the wording of Goerigk et al. 2017).
CATEGORY_TITLES = {
    "smallreactions": "basic properties and reaction energies of small systems",
    "largereactions": "reaction energies of large systems and isomerisations",
    "barrierheights": "reaction barrier heights",
    "intermolecular": "intermolecular noncovalent interactions",
    "intramolecular": "intramolecular noncovalent interactions",
}
#: All 55 subsets, category by category.
SUBSETS: tuple[str, ...] = tuple(s for members in CATEGORIES.values() for s in members)
#: Subset of each name.
CATEGORY_OF: dict[str, str] = {s: c for c, members in CATEGORIES.items() for s in members}
#: Subsets whose reactions live in another subset's folder (and file).
_LOCATION = {"BH76RC": ("BH76", ".resRC")}
_REACTION_START = ("$tmer", "tmer2++")


def expand_braces(token: str) -> list[str]:
    """Bash brace expansion of one word: ``A{M,D}2`` -> ``AM2, AD2``; ``h{,2+}`` -> ``h, h2+``.

    Raises
    ------
    ValueError
        For an unmatched brace.

    """
    start = token.find("{")
    if start < 0:
        if "}" in token:
            raise ValueError(f"unmatched '}}' in {token!r}")
        return [token]
    depth, parts, last = 0, [], start + 1
    for i in range(start, len(token)):
        if token[i] == "{":
            depth += 1
        elif token[i] == "}":
            depth -= 1
            if depth == 0:
                parts.append(token[last:i])
                prefix, suffix = token[:start], token[i + 1 :]
                return [w for part in parts for w in expand_braces(prefix + part + suffix)]
        elif token[i] == "," and depth == 1:
            parts.append(token[last:i])
            last = i + 1
    raise ValueError(f"unmatched '{{' in {token!r}")


def _species_name(path: str) -> str:
    # 'h2/$f' -> 'h2': the one path component that is not a shell variable.
    names = [p for p in path.split("/") if p and not p.startswith("$")]
    if len(names) != 1:
        raise ValueError(f"cannot tell the species in {path!r}")
    return names[0]


def parse_res_line(line: str) -> tuple[list[str], list[int], float] | None:
    """Species, coefficients and reference (kcal/mol) of one ``.res`` line; ``None`` if no reaction.

    Raises
    ------
    ValueError
        For a reaction line that cannot be read (the reason, without the file).

    """
    words = line.split("#", 1)[0].split()
    if not words or words[0] not in _REACTION_START:
        return None
    if "x" not in words or "$w" not in words or words.index("$w") < words.index("x"):
        raise ValueError("a reaction line needs '... x C1 C2 ... $w REF'")
    x, w = words.index("x"), words.index("$w")
    species = [_species_name(path) for word in words[1:x] for path in expand_braces(word)]
    try:
        coefficients = [int(c) for c in words[x + 1 : w]]
    except ValueError:
        raise ValueError(f"coefficients {' '.join(words[x + 1 : w])!r} are not all integers") from None
    if w + 1 >= len(words):
        raise ValueError("no reference value after '$w'")
    try:
        reference = float(words[w + 1])
    except ValueError:
        raise ValueError(f"reference value {words[w + 1]!r} is not a number") from None
    if not species or len(species) != len(coefficients):
        raise ValueError(f"{len(species)} species but {len(coefficients)} coefficients")
    if 0 in coefficients:
        raise ValueError("a coefficient is 0")
    if not np.isfinite(reference):
        raise ValueError(f"reference value {reference} is not finite")
    return species, coefficients, reference


def read_structure(path: Path, name: str) -> Species:
    """A species from ``path/struc.xyz`` (Angstrom) and ``path/.CHRG``, ``path/.UHF``."""
    xyz = path / "struc.xyz"
    if not path.is_dir():
        raise BenchmarkDataError(f"{xyz}: no such file (species {name}: no such directory)")
    if not xyz.is_file():
        raise BenchmarkDataError(f"{xyz}: no such file (species {name})")
    lines = xyz.read_text(errors="replace").splitlines()
    try:
        natom = int(lines[0].split()[0])
        symbols, coords = [], []
        for line in lines[2 : 2 + natom]:
            symbol, *xyz_text = line.split()[:4]
            symbols.append(symbol.capitalize())
            coords.append([float(v) for v in xyz_text])
        numbers = [atomic_numbers[s] for s in symbols]
        positions = np.array(coords, dtype=np.float64).reshape(natom, 3)
    except (IndexError, ValueError, KeyError) as err:
        raise BenchmarkDataError(f"{xyz}: not a readable xyz file ({type(err).__name__}: {err})") from None
    return Species(
        name, numbers, positions * ANGSTROM_TO_BOHR, _integer_file(path / ".CHRG"), _integer_file(path / ".UHF"),
        source=str(xyz),
    )  # fmt: skip


def _integer_file(path: Path) -> int:
    if not path.is_file():
        return 0
    words = path.read_text().split()
    try:
        return int(words[0]) if words else 0
    except ValueError:
        raise BenchmarkDataError(f"{path}: {words[0]!r} is not an integer") from None


class GMTKN55:
    """A GMTKN55 directory in the official layout.

    Parameters
    ----------
    root
        The directory (a clone of grimme-lab/GMTKN55); ``None`` reads ``$ASE_NNXC_GMTKN55``.

    Examples
    --------
    >>> data = GMTKN55("GMTKN55")  # doctest: +SKIP
    >>> data.reactions("W4-11")[0].components  # doctest: +SKIP
    (('W4-11/h2', -1), ('W4-11/h', 2))

    """

    def __init__(self, root: str | os.PathLike | None = None):
        if root is None:
            root = os.environ.get(ENVIRONMENT_VARIABLE)
            if not root:
                raise BenchmarkDataError(f"no GMTKN55 directory given (pass a path or set ${ENVIRONMENT_VARIABLE})")
        self.root = Path(root)
        if not self.root.is_dir():
            raise BenchmarkDataError(f"{self.root}: no such GMTKN55 directory")
        self._reactions: dict[str, list[Reaction]] = {}
        self._species: dict[str, Species] = {}

    def res_file(self, subset: str) -> Path:
        """The file that holds the reactions of ``subset``."""
        if subset not in CATEGORY_OF:
            raise BenchmarkDataError(f"{subset!r} is not a GMTKN55 subset; known: {', '.join(SUBSETS)}")
        folder, name = _LOCATION.get(subset, (subset, ".res"))
        directory = self.root / folder
        if not directory.is_dir():
            raise BenchmarkDataError(f"{directory}: no such subset directory (GMTKN55 subset {subset})")
        path = directory / name
        if not path.is_file():
            raise BenchmarkDataError(f"{path}: no such file (reactions of GMTKN55 subset {subset})")
        return path

    def reactions(self, subset: str) -> list[Reaction]:
        """The reactions of ``subset`` in file order (``index`` is the 1-based position)."""
        if subset not in self._reactions:
            path = self.res_file(subset)
            folder = _LOCATION.get(subset, (subset,))[0]
            reactions = []
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
                try:
                    parsed = parse_res_line(line)
                except ValueError as err:
                    raise BenchmarkDataError(f"{path}, line {number}: {err}: {' '.join(line.split())!r}") from None
                if parsed is not None:
                    species, coefficients, reference = parsed
                    components = tuple((f"{folder}/{s}", c) for s, c in zip(species, coefficients))
                    reactions.append(Reaction(subset, len(reactions) + 1, components, reference))
            if not reactions:
                raise BenchmarkDataError(f"{path}: no reaction lines")
            self._reactions[subset] = reactions
        return self._reactions[subset]

    def species(self, name: str) -> Species:
        """The species ``"FOLDER/NAME"`` (read once)."""
        if name not in self._species:
            self._species[name] = read_structure(self.root / name, name)
        return self._species[name]

    @cached_property
    def mean_absolute_references(self) -> dict[str, float]:
        """``|dE|_i``: each subset's mean absolute reference energy (kcal/mol), from all 55 ``.res`` files."""
        return {s: float(np.mean([abs(r.reference) for r in self.reactions(s)])) for s in SUBSETS}

    @cached_property
    def grand_mean_absolute_reference(self) -> float:
        """``<|dE|>``, the mean of ``|dE|_i`` over the 55 subsets (kcal/mol).

        56.84 in the 2017 paper; 57.82 at commit ab515efb of grimme-lab/GMTKN55, whose
        references have been revised since (UPU23's ``.res`` cites values of 2024). Like the
        repository's own evaluator, the weights use the value of the data read.
        """
        return float(np.mean(list(self.mean_absolute_references.values())))

    @cached_property
    def weights(self) -> dict[str, float]:
        """WTMAD-2 weight ``<|dE|> / |dE|_i`` of each subset, from the references of all 55 subsets."""
        return subset_weights(r for s in SUBSETS for r in self.reactions(s))

    def reaction_set(
        self, subsets=None, selection: dict[str, tuple[int, ...]] | None = None, name: str = "GMTKN55"
    ) -> ReactionSet:
        """Reactions of ``subsets`` (all 55 when ``None``), or the 1-based ``selection`` per subset.

        Geometries of every species used are read here, so a missing file fails before any
        calculation. Weights are the official WTMAD-2 weights.
        """
        if selection is not None:
            chosen = []
            for subset, indices in selection.items():
                reactions = self.reactions(subset)
                for i in indices:
                    if not 1 <= i <= len(reactions):
                        raise BenchmarkDataError(
                            f"{self.res_file(subset)}: reaction {i} asked for, but the file has {len(reactions)}"
                        )
                    chosen.append(reactions[i - 1])
        else:
            chosen = [r for s in (SUBSETS if subsets is None else subsets) for r in self.reactions(s)]
        species = {n: self.species(n) for r in chosen for n in r.species}
        used = {r.subset: CATEGORY_OF[r.subset] for r in chosen}
        return ReactionSet(
            name,
            chosen,
            species,
            categories=used,
            weights={s: self.weights[s] for s in used},
            notes=[
                "WTMAD-2 (Goerigk et al. 2017) = (1 / sum_i N_i) sum_i N_i (<|dE|> / |dE|_i) MAD_i over the "
                "subsets i, i.e. the mean over all reactions of (<|dE|> / |dE|_i) |error|; |dE|_i is subset i's "
                "mean absolute reference energy and <|dE|> their mean over the 55 subsets, both from the "
                f"references in the .res files, as the repository's evaluator computes them: <|dE|> = "
                f"{self.grand_mean_absolute_reference:.2f} kcal/mol for these data (56.84 in the 2017 paper, "
                "whose references have been revised since: UPU23's .res cites values of 2024).",
                "Categories: "
                + "; ".join(f"{k} = {v}" for k, v in CATEGORY_TITLES.items() if k in used.values())
                + ".",
            ],
        )
